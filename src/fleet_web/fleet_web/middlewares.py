"""The app's middlewares, outermost first: request metrics, the one error mapping, strict
input, auth.

The error middleware maps every :class:`ApiError` (and aiohttp's own HTTP errors) to the
single JSON error shape ``{"error": {"code", "message", "field"}}``; a storage error of the
bridge's own database is a 503 (``storage_unavailable``), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import urllib.parse

from aiohttp import web

from fleet_web import errors as store_errors
from fleet_web.api_errors import (
    ApiError,
    BadRequest,
    ConflictError,
    Forbidden,
    NotFoundError,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from fleet_web.appkeys import PRINCIPAL, SERVICES
from fleet_web.auth import Principal
from fleet_web.settings import BridgeServices
from fleet_web.status import storage_reason
from fleet_web.tickets import TicketError
from fleet_web.views.common import Handler, json_response

LOG = logging.getLogger('fleet_web')


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map errors to the JSON error shape; an unexpected error is logged and becomes 500."""
    try:
        return await handler(request)
    except RateLimited as exc:
        return json_response(exc.body(), exc.status,
                             {'Retry-After': str(max(1, int(exc.retry_after + 0.999)))})
    except ApiError as exc:
        headers = {'WWW-Authenticate': 'Bearer'} if exc.status == 401 else None
        return json_response(exc.body(), exc.status, headers)
    except store_errors.NotFound as exc:
        return json_response(NotFoundError(str(exc)).body(), 404)
    except store_errors.Conflict as exc:
        return json_response(ConflictError(str(exc)).body(), 409)
    except web.HTTPRequestEntityTooLarge:
        too_large = PayloadTooLarge('the request body is too large')
        return json_response(too_large.body(), too_large.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: 'not_found', 405: 'method_not_allowed'}.get(exc.status, 'http_error')
        headers = {'Allow': exc.headers['Allow']} if 'Allow' in exc.headers else None
        return json_response({'error': {'code': code, 'message': exc.reason, 'field': None}},
                             exc.status, headers)
    except sqlite3.Error as exc:
        request.app[SERVICES].health.storage.fail(storage_reason(exc), time.time())
        LOG.warning('storage error serving %s %s: %s', request.method, request.path,
                    storage_reason(exc))
        return json_response({'error': {'code': 'storage_unavailable', 'message':
                                        'the bridge cannot use its storage now', 'field': None}},
                             503)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the one place that turns a bug into a 500, logged
        LOG.exception('unhandled error serving %s %s', request.method, request.path)
        return json_response({'error': {'code': 'internal', 'message': 'internal error',
                                        'field': None}}, 500)


def _strict_utf8(raw: bytes, what: str, field: str) -> None:
    """Raise BadRequest naming ``field`` unless ``raw`` is UTF-8 without NUL characters."""
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        raise BadRequest(f'{what} must be valid UTF-8', field) from None
    if '\x00' in text:
        raise BadRequest(f'{what} must not contain NUL characters', field)


@web.middleware
async def strict_input_middleware(request: web.Request,
                                  handler: Handler) -> web.StreamResponse:
    """Refuse headers, paths and query strings that are not strict UTF-8 (or hold NUL):
    400 naming the header, ``path`` or the query parameter, before anything reads them."""
    for name, value in request.raw_headers:
        _strict_utf8(value, f'the {name.decode("latin-1")} header',
                     name.decode('latin-1'))
    _strict_utf8(urllib.parse.unquote_to_bytes(request.rel_url.raw_path), 'the path', 'path')
    for pair in request.rel_url.raw_query_string.split('&'):
        raw_name, _, raw_value = pair.partition('=')
        name_bytes = urllib.parse.unquote_to_bytes(raw_name.replace('+', ' '))
        field = name_bytes.decode('utf-8', 'replace') or 'query'
        _strict_utf8(name_bytes, 'a query parameter name', 'query')
        _strict_utf8(urllib.parse.unquote_to_bytes(raw_value.replace('+', ' ')),
                     f'query parameter {field}', field)
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the bearer token and the route's scope, then the token's rate limit.

    A route without a declared scope needs ``admin``: forgetting to declare one never opens
    a route to everybody. Failed authentications are counted per client address; past the
    ``auth_failures`` budget every authentication from that address gets 429 with
    Retry-After (a valid token too: the address is guessing), until the budget refills.
    """
    if request.match_info.http_exception is not None:
        return await handler(request)
    needed = getattr(request.match_info.handler, 'scope', 'admin')
    if needed is None:
        return await handler(request)
    services = request.app[SERVICES]
    address = request.remote or 'unknown'
    now = time.monotonic()
    allowed, retry_after = services.auth_failures.peek(address, now)
    if not allowed:
        raise RateLimited('too many failed authentications from this address', retry_after)
    ticket = request.query.get('ticket')
    principal: Principal | None
    if ticket is not None and 'Authorization' not in request.headers:
        principal = _ticket_principal(request, services, ticket, address, now)
    else:
        principal = services.keys.authenticate(request.headers.get('Authorization'))
    if principal is None:
        services.auth_failures.check(address, now)
        services.metrics.auth_failures.inc()
        raise Unauthorized('a valid bearer token is required (Authorization: Bearer <token>)')
    if not principal.allows(needed):
        raise Forbidden(f'this token lacks the {needed!r} scope')
    allowed, retry_after = services.limiter.check(principal.name, now)
    if not allowed:
        raise RateLimited('too many requests for this token', retry_after)
    request[PRINCIPAL] = principal
    return await handler(request)


def _ticket_principal(request: web.Request, services: BridgeServices, ticket: str,
                      address: str, now: float) -> Principal:
    """The principal of a ``?ticket=`` (routes marked ``accepts_ticket`` only); a refusal is
    a 401 naming ``ticket`` and counts as a failed authentication."""
    try:
        if services.tickets is None or not getattr(request.match_info.handler,
                                                    'accepts_ticket', False):
            raise TicketError('a stream ticket is valid for GET /api/v1/events/stream only; '
                              'use Authorization: Bearer <token> here')
        return services.tickets.check(ticket)
    except TicketError as exc:
        services.auth_failures.check(address, now)
        services.metrics.auth_failures.inc()
        raise Unauthorized(str(exc), 'ticket') from None


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the latency of every request by route template (SSE streams excepted)."""
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else 'unmatched'
        if not name.endswith('/events/stream'):
            request.app[SERVICES].metrics.http.labels(request.method, name, str(status)) \
                .observe(time.perf_counter() - start)


MIDDLEWARES = (metrics_middleware, error_middleware, strict_input_middleware, auth_middleware)
"""In the order the app applies them (the first is outermost)."""
