"""Errors the HTTP API maps to status codes; raised by the backend and the views."""

from __future__ import annotations


class ApiError(Exception):
    """An error with an HTTP status, a stable code, a message and optionally a field."""

    status = 500
    code = 'internal'

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, object]:
        """Return the one JSON error shape: ``{"error": {"code", "message", "field"}}``."""
        return {'error': {'code': self.code, 'message': self.message, 'field': self.field}}


class BadRequest(ApiError):
    """The request cannot be parsed (malformed JSON, wrong query types)."""

    status, code = 400, 'bad_request'


class Unauthorized(ApiError):
    """No or an unknown bearer token."""

    status, code = 401, 'unauthorized'


class Forbidden(ApiError):
    """The token lacks the scope the route needs."""

    status, code = 403, 'forbidden'


class NotFoundError(ApiError):
    """The named object does not exist."""

    status, code = 404, 'not_found'


class ConflictError(ApiError):
    """The request conflicts with the current state."""

    status, code = 409, 'conflict'


class PayloadTooLarge(ApiError):
    """The body exceeds the limit."""

    status, code = 413, 'payload_too_large'


class Unprocessable(ApiError):
    """The request parses but is invalid; ``field`` names what to fix."""

    status, code = 422, 'invalid'


class RateLimited(ApiError):
    """Too many requests for this token."""

    status, code = 429, 'rate_limited'

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeout(ApiError):
    """The request body did not arrive in time."""

    status, code = 408, 'request_timeout'


class Unavailable(ApiError):
    """The fleet manager did not answer in time (or the bridge's storage failed)."""

    status, code = 503, 'unavailable'


class NotActive(Unavailable):
    """The fleet manager answers but is not active (its lifecycle state is not active)."""

    code = 'not_active'
