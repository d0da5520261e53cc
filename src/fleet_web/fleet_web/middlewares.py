"""The app's middlewares, outermost first: request metrics, the one error mapping, auth.

The error middleware maps every :class:`ApiError` (and aiohttp's own HTTP errors) to the
single JSON error shape ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from fleet_web import errors as store_errors
from fleet_web.api_errors import ApiError, ConflictError, Forbidden, NotFoundError
from fleet_web.api_errors import PayloadTooLarge, RateLimited, Unauthorized
from fleet_web.appkeys import PRINCIPAL, SERVICES
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
        return json_response({'error': {'code': code, 'message': exc.reason, 'field': None}},
                             exc.status)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the one place that turns a bug into a 500, logged
        LOG.exception('unhandled error serving %s %s', request.method, request.path)
        return json_response({'error': {'code': 'internal', 'message': 'internal error',
                                        'field': None}}, 500)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the bearer token and the route's scope, then the token's rate limit.

    A route without a declared scope needs ``admin``: forgetting to declare one never opens
    a route to everybody.
    """
    if request.match_info.http_exception is not None:
        return await handler(request)
    needed = getattr(request.match_info.handler, 'scope', 'admin')
    if needed is None:
        return await handler(request)
    services = request.app[SERVICES]
    principal = services.keys.authenticate(request.headers.get('Authorization'))
    if principal is None:
        raise Unauthorized('a valid bearer token is required (Authorization: Bearer <token>)')
    if not principal.allows(needed):
        raise Forbidden(f'this token lacks the {needed!r} scope')
    allowed, retry_after = services.limiter.check(principal.name, time.monotonic())
    if not allowed:
        raise RateLimited('too many requests for this token', retry_after)
    request[PRINCIPAL] = principal
    return await handler(request)


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


MIDDLEWARES = (metrics_middleware, error_middleware, auth_middleware)
"""In the order the app applies them (the first is outermost)."""
