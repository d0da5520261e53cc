"""The HTTP API: ``create_app(config, backend)`` builds the aiohttp application.

Views are thin: parse and validate, await the backend (the fleet manager over ROS), shape
JSON. One error middleware maps every :class:`ApiError` (and aiohttp's own HTTP errors) to
the single JSON error shape ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleet_web import errors as store_errors, validate
from fleet_web.api_errors import ApiError, BadRequest, ConflictError, Forbidden
from fleet_web.api_errors import NotFoundError, PayloadTooLarge, RateLimited, Unauthorized
from fleet_web.api_errors import Unavailable
from fleet_web.auth import KeyStore, Principal
from fleet_web.metrics import Metrics
from fleet_web.openapi import document
from fleet_web.pump import EventPump
from fleet_web.ratelimit import RateLimiter
from fleet_web.ros_bridge import FleetBackend
from fleet_web.store import DeliveryStatus, Store
from fleet_web.webhooks import DeliveryWorker, Outbox, Subscription
from fleet_web.webhooks import load_subscriptions, read_config_file

LOG = logging.getLogger('fleet_web')
API = '/api/v1'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WebConfig:
    """How the bridge serves (units in comments)."""

    host: str = '127.0.0.1'
    port: int = 8080
    max_body_bytes: int = 256 * 1024  # bytes; larger bodies get 413
    page_limit: int = 100  # default page size of lists
    max_page_limit: int = 1000
    sse_heartbeat: float = 15.0  # s between SSE comments that keep proxies from closing
    version: str = '0.1.0'
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BridgeServices:
    """What the bridge owns besides the ROS backend: keys, limits, webhooks, metrics."""

    keys: KeyStore
    limiter: RateLimiter
    store: Store
    subscriptions: tuple[Subscription, ...]
    metrics: Metrics = field(default_factory=Metrics)
    metrics_public: bool = True


def load_services(config_path: str, state_path: str,
                  env: dict[str, str] | None = None) -> BridgeServices:
    """Read the bridge's YAML config and open its state database.

    Raises fleet_web.errors.ConfigError naming the file and key for a bad config.
    """
    raw = read_config_file(config_path) if config_path else {}
    allowed = {'api_keys', 'rate_limit', 'webhooks', 'metrics_public', 'mission_callbacks'}
    for key in raw:
        if key not in allowed:
            raise store_errors.ConfigError(config_path, key, 'unknown key (allowed: '
                                           f'{", ".join(sorted(allowed))})')
    keys = KeyStore.from_config(raw.get('api_keys'), file=config_path, env=env)
    limiter = RateLimiter.from_config(raw.get('rate_limit'), file=config_path)
    subs = list(load_subscriptions(raw.get('webhooks'), file=config_path, env=env))
    subs.append(mission_callbacks(raw.get('mission_callbacks'), config_path,
                                  os.environ if env is None else env))
    public = raw.get('metrics_public', True)
    if not isinstance(public, bool):
        raise store_errors.ConfigError(config_path, 'metrics_public', 'must be true or false')
    try:
        if os.path.dirname(state_path):
            os.makedirs(os.path.dirname(state_path), exist_ok=True)
        store = Store(state_path)
    except (OSError, sqlite3.Error) as exc:
        raise store_errors.ConfigError(state_path, '', f'cannot open the bridge state: {exc}') \
            from None
    return BridgeServices(keys, limiter, store, tuple(subs), Metrics(), public)


CALLBACKS = 'mission-callbacks'


def mission_callbacks(section: Any, file: str, env: Any) -> Subscription:
    """The built-in subscription that delivers a mission's end (succeeded, failed,
    canceled) to the ``callback_url`` it was submitted with, signed with
    ``mission_callbacks.secret`` (or the variable named by ``secret_env``) when set."""
    section = section or {}
    if not isinstance(section, dict):
        raise store_errors.ConfigError(file, 'mission_callbacks', 'must be a mapping')
    allowed = {'secret', 'secret_env', 'max_attempts', 'backoff_base_s', 'backoff_max_s'}
    for key in section:
        if key not in allowed:
            raise store_errors.ConfigError(file, f'mission_callbacks.{key}', 'unknown key '
                                           f'(allowed: {", ".join(sorted(allowed))})')
    secret = section.get('secret', '')
    if 'secret_env' in section:
        secret = env.get(str(section['secret_env']), '')
        if not secret:
            raise store_errors.ConfigError(file, 'mission_callbacks.secret_env',
                                           f'{section["secret_env"]} is not set')
    numbers = {}
    for key, default in (('max_attempts', 8), ('backoff_base_s', 1.0), ('backoff_max_s', 300.0)):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise store_errors.ConfigError(file, f'mission_callbacks.{key}',
                                           'must be a positive number')
        numbers[key] = value
    return Subscription(name=CALLBACKS, url='http://127.0.0.1/', events=('mission.state',),
                        secret=str(secret), format='json',
                        max_attempts=int(numbers['max_attempts']),
                        backoff_base_s=float(numbers['backoff_base_s']),
                        backoff_max_s=float(numbers['backoff_max_s']),
                        url_from_payload='callback_url',
                        payload_states=('succeeded', 'failed', 'canceled'))


BACKEND = web.AppKey('backend', FleetBackend)
CONFIG = web.AppKey('config', WebConfig)
SERVICES = web.AppKey('services', BridgeServices)
PUMP = web.AppKey('pump', EventPump)
PRINCIPAL = web.RequestKey('principal', Principal)


def scope(name: str | None) -> Callable[[Handler], Handler]:
    """Mark a view with the API-key scope it needs (None: public)."""
    def mark(handler: Handler) -> Handler:
        handler.scope = name  # type: ignore[attr-defined]
        return handler
    return mark


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda d: json.dumps(d, separators=(',', ':')))


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
        exc2 = PayloadTooLarge('the request body is too large')
        return json_response(exc2.body(), exc2.status)
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
    """Record the latency of every request by route template."""
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


def _list_query(request: web.Request, states: tuple[str, ...]
                ) -> tuple[int, int, str, float | None, float | None]:
    """Parse a list's query: (limit, offset, state, since, until); 400 naming the field."""
    cfg = request.app[CONFIG]
    limit = validate.query_int(request, 'limit', cfg.page_limit, 1, cfg.max_page_limit)
    offset = validate.query_int(request, 'offset', 0, 0, 10**9)
    state = request.query.get('state', '')
    if state and state not in states:
        raise BadRequest(f'state must be one of {", ".join(states)}', 'state')
    since, until = validate.query_range(request)
    return limit, offset, state, since, until


def _page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {'items': items, 'total': total, 'limit': limit, 'offset': offset}


# -- views ------------------------------------------------------------------------------------
@scope(None)
async def health(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    try:
        robots = await backend.list_robots()
        manager = 'reachable'
    except Unavailable:
        robots, manager = [], 'unreachable'
    return json_response({'status': 'ok', 'manager': manager, 'robots': len(robots),
                          'version': request.app[CONFIG].version})


@scope('read')
async def list_robots(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    limit = validate.query_int(request, 'limit', cfg.page_limit, 1, cfg.max_page_limit)
    offset = validate.query_int(request, 'offset', 0, 0, 10**9)
    connectivity = request.query.get('connectivity', '')
    if connectivity and connectivity not in ('online', 'stale', 'offline'):
        raise BadRequest('connectivity must be online, stale or offline', 'connectivity')
    robots = await request.app[BACKEND].list_robots()
    # The backend hands out the same list object until the next registry snapshot, so the
    # serialised page can be reused for every request in between.
    key = (id(robots), len(robots), limit, offset, connectivity)
    memo = request.app[ROBOTS_PAGE]
    if memo.get('key') != key or memo.get('robots') is not robots:
        if connectivity:
            selected = [r for r in robots if r['connectivity'] == connectivity]
        else:
            selected = robots
        page = _page(selected[offset:offset + limit], len(selected), limit, offset)
        memo.update(key=key, robots=robots,
                    body=json.dumps(page, separators=(',', ':')).encode())
    return web.Response(body=memo['body'], content_type='application/json')


@scope('read')
async def get_robot(request: web.Request) -> web.Response:
    robots = await request.app[BACKEND].list_robots(request.match_info['robot_id'])
    return json_response(robots[0])


async def _set_service(request: web.Request, in_service: bool) -> web.Response:
    body = await validate.json_body(request, required=False)
    reassign = body.get('reassign_active', False)
    if not isinstance(reassign, bool):
        raise validate.Unprocessable('reassign_active must be a boolean', 'reassign_active')
    reason = body.get('reason', '')
    if not isinstance(reason, str):
        raise validate.Unprocessable('reason must be a string', 'reason')
    robot = await request.app[BACKEND].set_robot_service(
        request.match_info['robot_id'], in_service, reassign, reason)
    return json_response(robot)


@scope('admin')
async def decommission(request: web.Request) -> web.Response:
    return await _set_service(request, False)


@scope('admin')
async def recommission(request: web.Request) -> web.Response:
    return await _set_service(request, True)


@scope('incidents:write')
async def robot_command(request: web.Request) -> web.Response:
    body = await validate.json_body(request)
    command = body.get('command')
    if not isinstance(command, str) or not command:
        raise validate.Unprocessable('command is required', 'command')
    args = body.get('args', {})
    if not isinstance(args, dict):
        raise validate.Unprocessable('args must be an object', 'args')
    reason = body.get('reason', '')
    if not isinstance(reason, str) or len(reason) > 1000:
        raise validate.Unprocessable('reason must be a string of at most 1000 characters',
                                     'reason')
    robot_id = request.match_info['robot_id']
    command_id = await request.app[BACKEND].robot_command(
        robot_id, command, args, request[PRINCIPAL].name, reason)
    return json_response({'robot_id': robot_id, 'command': command, 'accepted': True,
                          'command_id': command_id}, 202)


def _kinds(request: web.Request) -> list[str]:
    raw = request.query.get('kind', '')
    return [k for k in raw.split(',') if k] if raw else []


def kind_matches(kind: str, patterns: list[str]) -> bool:
    """True when ``kind`` matches one of ``patterns`` (exact, or ``prefix.*``)."""
    if not patterns:
        return True
    for p in patterns:
        if p == kind or (p.endswith('.*') and kind.startswith(p[:-1])) or p == '*':
            return True
    return False


@scope('read')
async def list_events(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    after = validate.query_int(request, 'after', 0, 0, 2**62)
    limit = validate.query_int(request, 'limit', cfg.page_limit, 1, cfg.max_page_limit)
    kinds = _kinds(request)
    exact = [k for k in kinds if not k.endswith('*')]
    if len(exact) != len(kinds):
        exact = []  # wildcards are filtered here rather than by the manager
    events, last_id = await request.app[BACKEND].get_events(
        after, limit, exact, request.query.get('robot_id', ''))
    items = [e for e in events if kind_matches(e['kind'], kinds)]
    next_after = events[-1]['id'] if events else after
    return json_response({'items': items, 'last_id': last_id, 'next_after': next_after})


@scope('read')
async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events from the event log; resumes after ``Last-Event-ID`` or ``after``."""
    backend = request.app[BACKEND]
    cfg = request.app[CONFIG]
    cursor_raw = request.headers.get('Last-Event-ID') or request.query.get('after') or '0'
    try:
        cursor = int(cursor_raw)
        if cursor < 0:
            raise ValueError
    except ValueError:
        raise BadRequest('Last-Event-ID / after must be a non-negative integer',
                         'Last-Event-ID') from None
    kinds = _kinds(request)
    feed = backend.subscribe()  # subscribe first, so nothing falls between catch-up and live
    task = asyncio.current_task()
    if task is not None:
        request.app[STREAMS].add(task)
    resp = web.StreamResponse(headers={'Content-Type': 'text/event-stream',
                                       'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'})
    try:
        await resp.prepare(request)
        await resp.write(b'retry: 2000\n\n')

        async def send(event: dict[str, Any]) -> None:
            nonlocal cursor
            if event['id'] <= cursor:
                return
            cursor = event['id']
            if kind_matches(event['kind'], kinds):
                data = json.dumps(event, separators=(',', ':'))
                await resp.write(f'id: {event["id"]}\nevent: {event["kind"]}\n'
                                 f'data: {data}\n\n'.encode())

        async def catch_up() -> None:
            while True:
                events, last_id = await backend.get_events(cursor, 500, [])
                for e in events:
                    await send(e)
                if not events or cursor >= last_id:
                    return

        await catch_up()
        while not request.app[CLOSING].is_set():
            try:
                event = await asyncio.wait_for(feed.queue.get(), cfg.sse_heartbeat)
            except asyncio.TimeoutError:
                await resp.write(b': keep-alive\n\n')
                continue
            if feed.overflowed or event['id'] > cursor + 1:
                # Fell behind or missed a live message: fill the gap from the log.
                feed.overflowed = False
                await catch_up()
            await send(event)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    except Unavailable:
        pass  # the manager went away: end the stream; the client reconnects with its id
    finally:
        backend.unsubscribe(feed)
        if task is not None:
            request.app[STREAMS].discard(task)
    return resp


@scope('missions:write')
async def submit_mission(request: web.Request) -> web.Response:
    data = await validate.json_body(request)
    body = validate.mission_body(data)
    key = request.headers.get('Idempotency-Key', '')
    if len(key) > 256:
        raise validate.Unprocessable('Idempotency-Key must be at most 256 characters',
                                     'Idempotency-Key')
    body['idempotency_key'] = key
    mission, duplicate = await request.app[BACKEND].submit_mission(body)
    return json_response(mission, 200 if duplicate else 201,
                         {'Location': f'{API}/missions/{mission["id"]}'})


MISSION_STATES = ('queued', 'assigned', 'active', 'succeeded', 'failed', 'canceled')


@scope('read')
async def list_missions(request: web.Request) -> web.Response:
    limit, offset, state, since, until = _list_query(request, MISSION_STATES)
    items, total = await request.app[BACKEND].list_missions(
        state, request.query.get('robot_id', ''), since, until, offset, limit)
    return json_response(_page(items, total, limit, offset))


@scope('read')
async def get_mission(request: web.Request) -> web.Response:
    mission, _ = await request.app[BACKEND].get_mission(request.match_info['mission_id'])
    return json_response(mission)


@scope('read')
async def mission_events(request: web.Request) -> web.Response:
    _, events = await request.app[BACKEND].get_mission(request.match_info['mission_id'])
    return json_response({'items': events, 'total': len(events)})


@scope('missions:write')
async def cancel_mission(request: web.Request) -> web.Response:
    body = await validate.json_body(request, required=False)
    reason = body.get('reason', 'canceled over the API')
    if not isinstance(reason, str):
        raise validate.Unprocessable('reason must be a string', 'reason')
    mission = await request.app[BACKEND].cancel_mission(request.match_info['mission_id'],
                                                        reason)
    return json_response(mission)


STATIC_DIR = pathlib.Path(__file__).resolve().parent / 'static'
STATIC_TYPES = {'.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
                '.svg': 'image/svg+xml', '.png': 'image/png'}
PAGE_HEADERS = {
    'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache',
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer'}


@scope(None)
async def dashboard(request: web.Request) -> web.FileResponse:
    """The operator dashboard: a static page that asks for the API token itself."""
    return web.FileResponse(STATIC_DIR / 'index.html', headers=PAGE_HEADERS)


@scope(None)
async def static_file(request: web.Request) -> web.FileResponse:
    """The dashboard's scripts and styles (one directory, known types only)."""
    name = request.match_info['name']
    path = STATIC_DIR / name
    if name.startswith('.') or path.suffix not in STATIC_TYPES or not path.is_file():
        raise NotFoundError('no such file')
    return web.FileResponse(path, headers={'Content-Type': STATIC_TYPES[path.suffix],
                                           'Cache-Control': 'no-cache',
                                           'X-Content-Type-Options': 'nosniff'})


INCIDENT_STATES = ('triggered', 'acknowledged', 'resolved')


@scope('read')
async def list_incidents(request: web.Request) -> web.Response:
    limit, offset, state, since, until = _list_query(request, INCIDENT_STATES)
    items, total = await request.app[BACKEND].list_incidents(
        state, request.query.get('robot_id', ''), request.query.get('type', ''), since,
        until, offset, limit)
    return json_response(_page(items, total, limit, offset))


@scope('read')
async def get_incident(request: web.Request) -> web.Response:
    return json_response(await request.app[BACKEND].get_incident(
        request.match_info['incident_id']))


async def _incident_action(request: web.Request, action: str) -> web.Response:
    body = await validate.json_body(request, required=False)
    note = body.get('note', '')
    if not isinstance(note, str) or len(note) > 4000:
        raise validate.Unprocessable('note must be a string of at most 4000 characters',
                                     'note')
    who = body.get('who') or request[PRINCIPAL].name
    if not isinstance(who, str) or len(who) > 128:
        raise validate.Unprocessable('who must be a string of at most 128 characters', 'who')
    return json_response(await request.app[BACKEND].incident_action(
        action, request.match_info['incident_id'], who, note))


@scope('incidents:write')
async def ack_incident(request: web.Request) -> web.Response:
    return await _incident_action(request, 'ack')


@scope('incidents:write')
async def resolve_incident(request: web.Request) -> web.Response:
    return await _incident_action(request, 'resolve')


MAX_TELEMETRY_SPAN = 7 * 24 * 3600.0


@scope('read')
async def robot_telemetry(request: web.Request) -> web.Response:
    since, until = validate.query_range(request, MAX_TELEMETRY_SPAN)
    raw_step = request.query.get('step', '0')
    try:
        step = float(raw_step)
        if not 0 <= step <= 86400 or step != step:
            raise ValueError
    except ValueError:
        raise BadRequest('step must be a number of seconds between 0 and 86400',
                         'step') from None
    robot_id = request.match_info['robot_id']
    items = await request.app[BACKEND].get_telemetry(robot_id, since, until, step)
    return json_response({'robot_id': robot_id, 'items': items})


@scope('read')
async def slos(request: web.Request) -> web.Response:
    return json_response(await request.app[BACKEND].get_report('slos'))


@scope('read')
async def kpis(request: web.Request) -> web.Response:
    return json_response(await request.app[BACKEND].get_report('kpis'))


@scope(None)  # public unless metrics_public is false: checked below
async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not services.metrics_public:
        principal = services.keys.authenticate(request.headers.get('Authorization'))
        if principal is None or not principal.allows('read'):
            raise Unauthorized('a bearer token with the read scope is required')
    try:
        services.metrics.set_robots(await request.app[BACKEND].list_robots())
        if time.monotonic() - services.metrics.kpis_at >= KPI_REFRESH_S:
            services.metrics.kpis_at = time.monotonic()
            services.metrics.set_kpis(await request.app[BACKEND].get_report('kpis'))
    except Unavailable:
        pass  # serve the last known figures
    return web.Response(body=generate_latest(services.metrics.registry),
                        headers={'Content-Type': CONTENT_TYPE_LATEST})


KPI_REFRESH_S = 30.0
"""KPIs read the event log: refresh them on a scrape at most this often."""


@scope('read')
async def list_deliveries(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    limit = validate.query_int(request, 'limit', cfg.page_limit, 1, cfg.max_page_limit)
    offset = validate.query_int(request, 'offset', 0, 0, 10**9)
    status = request.query.get('status') or None
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise BadRequest('status must be one of '
                         f'{", ".join(s.value for s in DeliveryStatus)}', 'status')
    page = request.app[SERVICES].store.list_deliveries(
        status=DeliveryStatus(status) if status else None,
        subscription=request.query.get('subscription') or None, limit=limit, offset=offset)
    return json_response(_page([d.to_dict() for d in page.items], page.total, limit, offset))


@scope('admin')
async def retry_delivery(request: web.Request) -> web.Response:
    try:
        delivery_id = int(request.match_info['delivery_id'])
    except ValueError:
        raise NotFoundError('no such delivery') from None
    services = request.app[SERVICES]
    delivery = services.store.retry_dead(delivery_id, time.time())
    request.app[WORKER].notify()
    return json_response(delivery.to_dict(), 202)


@scope(None)
async def openapi(request: web.Request) -> web.Response:
    return json_response(document(request.app[CONFIG].version))


ROUTES: list[tuple[str, str, Handler]] = [
    ('GET', '/', dashboard),
    ('GET', '/static/{name}', static_file),
    ('GET', f'{API}/health', health),
    ('GET', f'{API}/openapi.json', openapi),
    ('GET', f'{API}/robots', list_robots),
    ('GET', f'{API}/robots/{{robot_id}}', get_robot),
    ('POST', f'{API}/robots/{{robot_id}}/decommission', decommission),
    ('POST', f'{API}/robots/{{robot_id}}/recommission', recommission),
    ('POST', f'{API}/robots/{{robot_id}}/commands', robot_command),
    ('GET', f'{API}/events', list_events),
    ('GET', f'{API}/events/stream', stream_events),
    ('POST', f'{API}/missions', submit_mission),
    ('GET', f'{API}/missions', list_missions),
    ('GET', f'{API}/missions/{{mission_id}}', get_mission),
    ('GET', f'{API}/missions/{{mission_id}}/events', mission_events),
    ('POST', f'{API}/missions/{{mission_id}}/cancel', cancel_mission),
    ('GET', f'{API}/robots/{{robot_id}}/telemetry', robot_telemetry),
    ('GET', f'{API}/incidents', list_incidents),
    ('GET', f'{API}/incidents/{{incident_id}}', get_incident),
    ('POST', f'{API}/incidents/{{incident_id}}/ack', ack_incident),
    ('POST', f'{API}/incidents/{{incident_id}}/resolve', resolve_incident),
    ('GET', f'{API}/slos', slos),
    ('GET', f'{API}/kpis', kpis),
    ('GET', f'{API}/webhooks/deliveries', list_deliveries),
    ('POST', f'{API}/webhooks/deliveries/{{delivery_id}}/retry', retry_delivery),
    ('GET', '/metrics', metrics),
]

WORKER = web.AppKey('worker', DeliveryWorker)
STREAMS = web.AppKey('streams', set)
ROBOTS_PAGE = web.AppKey('robots_page', dict)
CLOSING = web.AppKey('closing', asyncio.Event)


async def _close_streams(app: web.Application) -> None:
    """On shutdown, end the open SSE streams at once (clients reconnect with their id)."""
    app[CLOSING].set()
    for task in list(app[STREAMS]):
        task.cancel()


async def _background(app: web.Application) -> Any:
    """Run the webhook worker and the event pump for the app's lifetime; stop both cleanly."""
    services = app[SERVICES]
    session = aiohttp.ClientSession()
    worker = DeliveryWorker(
        services.store, services.subscriptions, session,
        on_outcome=lambda sub, outcome, _d: services.metrics.webhooks.labels(
            sub, getattr(outcome, 'value', str(outcome))).inc())
    outbox = Outbox(services.store, services.subscriptions, on_enqueued=worker.notify)
    pump = EventPump(app[BACKEND], outbox, services.metrics)
    app[WORKER] = worker
    app[PUMP] = pump
    await worker.start()
    task = asyncio.create_task(pump.run(), name='event-pump')
    try:
        yield
    finally:
        pump.stop()
        task.cancel()
        # Bounded: shutdown must not hang on a task that ignored its cancellation.
        await asyncio.wait({task}, timeout=5.0)
        await worker.stop()
        await session.close()
        services.store.close()


def create_app(config: WebConfig, backend: FleetBackend,
               services: BridgeServices) -> web.Application:
    """Build the application: routes, middlewares (metrics, errors, auth) and the background
    webhook worker and event pump."""
    app = web.Application(client_max_size=config.max_body_bytes,
                          middlewares=[metrics_middleware, error_middleware, auth_middleware])
    app[CONFIG] = config
    app[BACKEND] = backend
    app[SERVICES] = services
    app[STREAMS] = set()
    app[ROBOTS_PAGE] = {}
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_close_streams)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.cleanup_ctx.append(_background)
    return app
