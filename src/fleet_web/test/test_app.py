"""The HTTP app over real sockets, against an in-memory backend (the FleetBackend Protocol)."""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web
import pytest

from fleet_common.events import matches_any
from fleet_web.api_errors import ConflictError, NotFoundError, Unprocessable
from fleet_web.app import WebConfig, create_app, load_services
from fleet_web.auth import hash_token
from fleet_web.ros_bridge import EventFeed
from fleet_web.routes import ROUTES
from fleet_web.runtime import make_runner

TOKENS = {'admin': 'admin-token', 'reader': 'read-token', 'ops': 'ops-token',
          'wms': 'wms-token'}


class FakeBackend:
    """An in-memory fleet: robots, an event log and missions."""

    def __init__(self) -> None:
        self.robots = [{'id': 'r1', 'connectivity': 'online', 'mode': 'idle', 'battery': 0.5,
                        'pose': {'x': 1.0, 'y': 2.0, 'theta': 0.0},
                        'last_seen': '2026-01-01T00:00:00.000Z', 'software_version': '1.0',
                        'decommissioned': False, 'capabilities': [],
                        'current_mission_id': None}]
        self.events: list[dict[str, Any]] = []
        self.feeds: set[EventFeed] = set()
        self.missions: dict[str, dict[str, Any]] = {}
        self.kind_queries: list[list[str]] = []
        self.json_answers: dict[tuple[str, str], Any] = {}
        """(service, action) -> a result, a function of the body, or an error to raise."""
        self.json_requests: list[tuple[str, str, dict[str, Any], str, str]] = []
        self.keys: dict[str, str] = {}  # idempotency key -> mission id, as the manager keeps
        self.submitted: list[dict[str, Any]] = []
        self.state = 'active'  # the manager's lifecycle state
        self.incidents: list[dict[str, Any]] = []
        self.controls: list[tuple[str, str, str, str]] = []
        """(robot, command or decommission/recommission, who, reason) as sent."""

    def append(self, kind: str, live: bool = True) -> dict[str, Any]:
        e = {'id': len(self.events) + 1, 'time': '2026-01-01T00:00:00.000Z', 'kind': kind,
             'robot_id': 'r1', 'payload': {}}
        self.events.append(e)
        if live:
            for f in self.feeds:
                f.queue.put_nowait(e)
        return e

    async def list_robots(self, robot_id: str = '') -> list[dict[str, Any]]:
        if robot_id:
            found = [r for r in self.robots if r['id'] == robot_id]
            if not found:
                raise NotFoundError(f'unknown robot {robot_id!r}')
            return found
        return self.robots

    async def get_events(self, after: int, limit: int, kinds: list[str],
                         robot_id: str = '') -> tuple[list[dict[str, Any]], int]:
        # The manager filters the log by the patterns as given; so does this fake.
        self.kind_queries.append(list(kinds))
        out = [e for e in self.events if e['id'] > after and matches_any(kinds, e['kind'])]
        return out[:limit], len(self.events)

    async def manager_state(self) -> str:
        return self.state

    async def list_incidents(self, state: str, robot_id: str, type_: str,
                             since: float | None, until: float | None, offset: int,
                             limit: int) -> tuple[list[dict[str, Any]], int]:
        found = [i for i in self.incidents if not state or i['state'] == state]
        return found[offset:offset + limit], len(found)

    async def get_report(self, name: str) -> dict[str, Any]:
        return {}

    async def submit_mission(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.submitted.append(body)
        if body.get('pinned_robot') == 'ghost':
            raise Unprocessable('robot ghost is not in the fleet', 'pinned_robot')
        key = body.get('idempotency_key')
        if key and key in self.keys:
            return self.missions[self.keys[key]], True
        m = {'id': f'm{len(self.missions) + 1}', 'state': 'queued', 'robot_id': None,
             'priority': body.get('priority', 0), 'waypoints': body['waypoints'],
             'client_ref': body.get('client_ref'), 'attempts': 0, 'created_at': None,
             'updated_at': None, 'failure_reason': None,
             'callback_url': body.get('callback_url')}
        self.missions[m['id']] = m
        if key:
            self.keys[key] = m['id']
        return m, False

    async def cancel_mission(self, mission_id: str, reason: str) -> dict[str, Any]:
        if mission_id not in self.missions:
            raise NotFoundError('unknown mission')
        if self.missions[mission_id]['state'] == 'canceled':
            raise ConflictError('already canceled')
        self.missions[mission_id]['state'] = 'canceled'
        return self.missions[mission_id]

    async def get_mission(self, mission_id: str) -> tuple[dict[str, Any], list[Any]]:
        if mission_id not in self.missions:
            raise NotFoundError('unknown mission')
        return self.missions[mission_id], []

    async def list_missions(self, *args: Any) -> tuple[list[dict[str, Any]], int]:
        return list(self.missions.values()), len(self.missions)

    async def set_robot_service(self, robot_id: str, in_service: bool, reassign: bool,
                                reason: str, who: str = '') -> dict[str, Any]:
        robot = (await self.list_robots(robot_id))[0]
        self.controls.append((robot_id, 'recommission' if in_service else 'decommission',
                              who, reason))
        return robot

    async def robot_command(self, robot_id: str, command: str, args: dict[str, Any],
                            who: str, reason: str) -> int:
        await self.list_robots(robot_id)
        self.controls.append((robot_id, command, who, reason))
        return 1

    async def get_telemetry(self, robot_id: str, since: float | None, until: float | None,
                            step: float) -> list[dict[str, Any]]:
        await self.list_robots(robot_id)
        return [{'time': None, 'battery': 0.5, 'x': 0.0, 'y': 0.0, 'theta': 0.0,
                 'mode': 'idle', 'diagnostics_level': 0, 'connectivity': 'online'}]

    async def json_call(self, service: str, action: str, body: dict[str, Any],
                        who: str = '', reason: str = '') -> dict[str, Any]:
        self.json_requests.append((service, action, dict(body), who, reason))
        answer = self.json_answers.get((service, action), {'items': [], 'total': 0})
        if isinstance(answer, Exception):
            raise answer
        return answer(body) if callable(answer) else answer

    async def log_bridge_event(self, kind: str, payload: dict[str, Any]) -> int:
        return self.append(kind)['id']

    def subscribe(self) -> EventFeed:
        feed = EventFeed()
        self.feeds.add(feed)
        return feed

    def unsubscribe(self, feed: EventFeed) -> None:
        self.feeds.discard(feed)


@pytest.fixture
def web_yaml(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / 'web.yaml'
    path.write_text(json.dumps({
        'api_keys': [
            {'name': 'admin', 'token_sha256': hash_token(TOKENS['admin']), 'scopes': ['admin']},
            {'name': 'reader', 'token_sha256': hash_token(TOKENS['reader']), 'scopes': ['read']},
            {'name': 'ops', 'token_sha256': hash_token(TOKENS['ops']),
             'scopes': ['read', 'incidents:write']},
            {'name': 'wms', 'token_sha256': hash_token(TOKENS['wms']),
             'scopes': ['read', 'missions:write']}],
        'rate_limit': {'per_second': 1000, 'burst': 1000}}))
    return path


class Served:
    def __init__(self, base: str, backend: FakeBackend, session: aiohttp.ClientSession,
                 services: Any = None):
        self.base, self.backend, self.session = base, backend, session
        self.services = services

    async def req(self, method: str, path: str, token: str | None = 'admin',
                  **kw: Any) -> tuple[int, Any, Any]:
        headers = dict(kw.pop('headers', {}))
        if token:
            headers['Authorization'] = f'Bearer {TOKENS[token]}'
        async with self.session.request(method, self.base + path, headers=headers,
                                        **kw) as resp:
            text = await resp.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            return resp.status, body, resp.headers


async def serve(web_yaml: pathlib.Path, tmp_path: pathlib.Path,
                backend: FakeBackend | None = None, state: pathlib.Path | None = None,
                **config: Any) -> AsyncIterator[Served]:
    backend = backend or FakeBackend()
    services = load_services(str(web_yaml), str(state or tmp_path / 'state.db'), env={})
    app = create_app(WebConfig(**{'max_body_bytes': 4096, **config}), backend, services)
    runner = make_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        try:
            yield Served(f'http://127.0.0.1:{port}', backend, session, services)
        finally:
            await runner.cleanup()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


# One request per route class: (method, path, body, scope needed).
ROUTE_CASES = [
    ('GET', '/api/v1/robots', None, 'read'),
    ('GET', '/api/v1/robots/r1', None, 'read'),
    ('GET', '/api/v1/events', None, 'read'),
    ('GET', '/api/v1/missions', None, 'read'),
    ('GET', '/api/v1/webhooks/deliveries', None, 'read'),
    ('POST', '/api/v1/missions', {'waypoints': [{'x': 1, 'y': 2}]}, 'missions:write'),
    ('POST', '/api/v1/robots/r1/commands', {'command': 'pause'}, 'incidents:write'),
    ('POST', '/api/v1/robots/r1/decommission', {}, 'admin'),
]
ALLOWED = {'read': {'reader', 'ops', 'wms', 'admin'}, 'missions:write': {'wms', 'admin'},
           'incidents:write': {'ops', 'admin'}, 'admin': {'admin'}}


def test_every_route_declares_a_scope_and_cases_cover_each_scope() -> None:
    scopes = {getattr(h, 'scope', 'undeclared') for _, _, h in ROUTES}
    assert 'undeclared' not in scopes
    assert {c[3] for c in ROUTE_CASES} == scopes - {None}


@pytest.mark.parametrize('method,path,body,scope', ROUTE_CASES)
def test_auth_401_403_and_allowed(web_yaml: pathlib.Path, tmp_path: pathlib.Path,
                                  method: str, path: str, body: Any, scope: str) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            status, err, headers = await s.req(method, path, token=None, json=body)
            assert status == 401 and err['error']['code'] == 'unauthorized'
            assert headers['WWW-Authenticate'] == 'Bearer'
            status, _, _ = await s.req(method, path, token=None, json=body,
                                       headers={'Authorization': 'Bearer wrong'})
            assert status == 401
            for who in TOKENS:
                status, resp, _ = await s.req(method, path, token=who, json=body)
                if who in ALLOWED[scope]:
                    assert status < 300, (who, status, resp)
                else:
                    assert status == 403 and resp['error']['code'] == 'forbidden', (who, resp)
    run(check())


def test_public_routes_and_errors(web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            status, body, _ = await s.req('GET', '/api/v1/health', token=None)
            assert status == 200 and body['manager'] == 'reachable'
            status, body, _ = await s.req('GET', '/api/v1/openapi.json', token=None)
            assert status == 200 and '/api/v1/missions' in body['paths']
            status, body, _ = await s.req('GET', '/api/v1/robots/nope')
            assert status == 404 and body['error']['code'] == 'not_found'
            status, body, _ = await s.req('GET', '/api/v1/robots?id_contains=R1')
            assert status == 200 and [r['id'] for r in body['items']] == ['r1'], body
            status, body, _ = await s.req('GET', '/api/v1/robots?id_contains=nobody')
            assert status == 200 and body['items'] == [] and body['total'] == 0, body
            status, body, _ = await s.req('GET', '/api/v1/robots?id_contains=' + 'x' * 65)
            assert status == 400 and body['error']['field'] == 'id_contains', body
            status, body, _ = await s.req('GET', '/api/v1/nowhere')
            assert status == 404 and body == {'error': {'code': 'not_found',
                                                        'message': 'Not Found', 'field': None}}
            status, body, _ = await s.req('POST', '/api/v1/missions', data=b'{"waypoints": [',
                                          headers={'Content-Type': 'application/json'})
            assert status == 400 and body['error']['code'] == 'bad_request'
            status, body, _ = await s.req('POST', '/api/v1/missions',
                                          data=b'{"waypoints":[{"x": NaN, "y": 0}]}')
            assert status == 422 and body['error']['field'] == 'waypoints[0].x'
            cases = [({'waypoints': []}, 'waypoints'),
                     ({'waypoints': [{'x': '1', 'y': 0}]}, 'waypoints[0].x'),
                     ({'waypoints': [{'x': 1}]}, 'waypoints[0].y'),
                     ({'waypoints': [{'x': 1, 'y': 1}], 'priority': 1.5}, 'priority'),
                     ({'waypoints': [{'x': 1, 'y': 1}], 'colour': 'red'}, 'colour'),
                     ({'waypoints': [{'x': 1, 'y': 1}], 'pinned_robot': 'ghost'},
                      'pinned_robot')]
            for payload, field in cases:
                status, body, _ = await s.req('POST', '/api/v1/missions', json=payload)
                assert status == 422 and body['error']['field'] == field, (payload, body)
            status, body, _ = await s.req('POST', '/api/v1/missions',
                                          json={'waypoints': [{'x': 1, 'y': 1}] * 400})
            assert status == 413 and body['error']['code'] == 'payload_too_large'
            status, body, _ = await s.req('GET', '/api/v1/missions?since=2026-01-02T00:00:00Z'
                                          '&until=2026-01-01T00:00:00Z')
            assert status == 200 and body['items'] == [] and body['total'] == 0  # empty range
            status, body, _ = await s.req('GET', '/api/v1/missions?until=')
            assert status == 400 and body['error']['field'] == 'until'
            status, body, _ = await s.req('GET', '/api/v1/events?after=-1')
            assert status == 400 and body['error']['field'] == 'after'
            status, body, _ = await s.req('POST', '/api/v1/missions/nope/cancel')
            assert status == 404
            base = '/api/v1/robots/r1/telemetry'
            status, body, _ = await s.req('GET', f'{base}?since=2026-01-01T00:00:00Z'
                                          '&until=2026-03-01T00:00:00Z')
            assert status == 422 and body['error']['field'] == 'until'  # wider than 7 days
            status, body, _ = await s.req('GET', f'{base}?since=2026-01-02T00:00:00Z'
                                          '&until=2026-01-01T00:00:00Z')
            assert status == 200 and body['items'] == []  # an empty range
            status, body, _ = await s.req('GET', f'{base}?since=yesterday')
            assert status == 400 and body['error']['field'] == 'since'
            status, body, _ = await s.req('GET', f'{base}?step=-5')
            assert status == 400 and body['error']['field'] == 'step'
            status, body, _ = await s.req('GET', f'{base}?step=60')
            assert status == 200 and len(body['items']) == 1
    run(check())


def test_rate_limit_answers_429_with_retry_after(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'web.yaml'
    path.write_text(json.dumps({'api_keys': [{'name': 'admin', 'scopes': ['admin'],
                                              'token_sha256': hash_token(TOKENS['admin'])}],
                                'rate_limit': {'per_second': 0.5, 'burst': 2}}))

    async def check() -> None:
        async for s in serve(path, tmp_path):
            codes = [(await s.req('GET', '/api/v1/robots'))[0] for _ in range(3)]
            assert codes == [200, 200, 429]
            status, body, headers = await s.req('GET', '/api/v1/robots')
            assert status == 429 and int(headers['Retry-After']) >= 1
    run(check())


async def read_sse(resp: aiohttp.ClientResponse, count: int) -> list[tuple[int, str]]:
    """Read ``count`` SSE events as (id, kind); the kind is read from the data, and a named
    message (an ``event:`` line, which EventSource.onmessage never sees) fails."""
    out: list[tuple[int, str]] = []
    event_id, kind = None, None
    while len(out) < count:
        line = (await resp.content.readline()).decode().rstrip('\n')
        assert not line.startswith('event:'), line
        if line.startswith('id: '):
            event_id = int(line[4:])
        elif line.startswith('data: '):
            data = json.loads(line[6:])
            assert data['id'] == event_id, line
            kind = data['kind']
        elif line == '' and event_id is not None:
            out.append((event_id, kind or ''))
            event_id = kind = None
    return out


def test_sse_resumes_from_last_event_id_without_gaps(web_yaml: pathlib.Path,
                                                     tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        backend = FakeBackend()
        for _ in range(5):
            backend.append('robot.connectivity', live=False)
        async for s in serve(web_yaml, tmp_path, backend):
            auth = {'Authorization': f'Bearer {TOKENS["reader"]}'}
            async with s.session.get(s.base + '/api/v1/events/stream?after=0',
                                     headers=auth) as resp:
                assert resp.headers['Content-Type'].startswith('text/event-stream')
                first = await read_sse(resp, 5)
                backend.append('mission.state')
                first += await read_sse(resp, 1)
            assert [i for i, _ in first] == [1, 2, 3, 4, 5, 6]
            # While disconnected: events 7..9, one of them never sent live (a lost message).
            backend.append('mission.state')
            backend.append('robot.event', live=False)
            backend.append('mission.state')
            headers = dict(auth, **{'Last-Event-ID': '6'})
            async with s.session.get(s.base + '/api/v1/events/stream',
                                     headers=headers) as resp:
                resumed = await read_sse(resp, 3)
                # A live event that skips an id makes the stream fill the gap from the log.
                backend.append('robot.event', live=False)
                backend.append('mission.state')
                resumed += await read_sse(resp, 2)
            assert [i for i, _ in resumed] == [7, 8, 9, 10, 11]
            async with s.session.get(s.base + '/api/v1/events/stream?kind=mission.*',
                                     headers=dict(auth, **{'Last-Event-ID': '0'})) as resp:
                only = await read_sse(resp, 4)
            assert only == [(6, 'mission.state'), (7, 'mission.state'), (9, 'mission.state'),
                            (11, 'mission.state')]
    run(check())


def test_sse_without_a_cursor_starts_from_now(web_yaml: pathlib.Path,
                                             tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        backend = FakeBackend()
        for _ in range(3):
            backend.append('robot.connectivity', live=False)
        async for s in serve(web_yaml, tmp_path, backend):
            auth = {'Authorization': f'Bearer {TOKENS["reader"]}'}
            async with s.session.get(s.base + '/api/v1/events/stream', headers=auth) as resp:
                await resp.content.readline()  # retry: the stream is open
                backend.append('mission.state')
                assert await read_sse(resp, 1) == [(4, 'mission.state')]
    run(check())


def test_stream_ticket_opens_the_stream_only_and_expires(web_yaml: pathlib.Path,
                                                        tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        backend = FakeBackend()
        backend.append('robot.connectivity', live=False)
        async for s in serve(web_yaml, tmp_path, backend):
            status, body, _ = await s.req('POST', '/api/v1/events/stream-ticket', token=None)
            assert status == 401
            status, body, _ = await s.req('POST', '/api/v1/events/stream-ticket',
                                          token='reader')
            assert status == 201 and body['expires_in'] == 60, body
            ticket = body['ticket']
            assert body['url'] == f'/api/v1/events/stream?ticket={ticket}'
            assert TOKENS['reader'] not in ticket
            for _ in range(2):  # usable again within its lifetime (EventSource reconnects)
                async with s.session.get(s.base + body['url'] + '&after=0') as resp:
                    assert resp.status == 200
                    assert await read_sse(resp, 1) == [(1, 'robot.connectivity')]
            # Any other route refuses it, naming the ticket.
            status, err, _ = await s.req('GET', f'/api/v1/robots?ticket={ticket}', token=None)
            assert status == 401 and err['error']['field'] == 'ticket', err
            assert 'events/stream only' in err['error']['message']
            # Expired, tampered with, or another bridge's: 401 saying so.
            tickets = s.services.tickets
            old, _ = tickets.issue(s.services.keys.principal('reader'), now=time.time() - 61)
            forged = ticket[:-2] + ('AA' if not ticket.endswith('AA') else 'BB')
            for bad, words in ((old, 'expired'), (forged, 'unknown'), ('x', 'malformed')):
                status, err, _ = await s.req('GET', f'/api/v1/events/stream?ticket={bad}',
                                             token=None)
                assert status == 401 and words in err['error']['message'], (bad, err)
                assert err['error']['field'] == 'ticket'
    run(check())


def test_event_kind_patterns_go_to_the_backend_and_bad_ones_are_400(
        web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        backend = FakeBackend()
        for kind in ('robot.connectivity', 'incident.opened', 'mission.state',
                     'incident.resolved', 'slo.alert'):
            backend.append(kind, live=False)
        async for s in serve(web_yaml, tmp_path, backend):
            status, body, _ = await s.req('GET', '/api/v1/events?kind=*.opened,mission.state'
                                          '&after=0', token='reader')
            assert status == 200
            assert [e['kind'] for e in body['items']] == ['incident.opened', 'mission.state']
            assert body['next_after'] == 3 and body['last_id'] == 5
            assert [q for q in backend.kind_queries if q][-1] == ['*.opened', 'mission.state']
            status, body, _ = await s.req('GET', '/api/v1/events?kind=incident.*')
            assert [e['id'] for e in body['items']] == [2, 4]
            status, body, _ = await s.req('GET', '/api/v1/events?kind=')
            assert len(body['items']) == 5 and backend.kind_queries[-1] == []
            # Only the requests' queries count: the bridge's own pump reads the log too.
            queries = sum(1 for q in backend.kind_queries if q)
            for bad in ('incident.[a-z]', 'mission state', 'a' * 101, 'x,robot/*'):
                for path in ('/api/v1/events', '/api/v1/events/stream'):
                    status, body, _ = await s.req('GET', path, params={'kind': bad})
                    assert status == 400, (path, bad, body)
                    assert body['error']['code'] == 'bad_request'
                    assert body['error']['field'] == 'kind'
            # Refused before reaching the fleet.
            assert sum(1 for q in backend.kind_queries if q) == queries
    run(check())


def test_sse_kind_globs_match_like_everywhere_else(web_yaml: pathlib.Path,
                                                  tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        backend = FakeBackend()
        for kind in ('incident.opened', 'robot.connectivity', 'incident.resolved'):
            backend.append(kind, live=False)
        async for s in serve(web_yaml, tmp_path, backend):
            auth = {'Authorization': f'Bearer {TOKENS["reader"]}'}
            async with s.session.get(s.base + '/api/v1/events/stream?kind=*.opened,robot.*'
                                     '&after=0', headers=auth) as resp:
                first = await read_sse(resp, 2)
                backend.append('slo.alert')
                backend.append('robot.event')
                first += await read_sse(resp, 1)
            assert first == [(1, 'incident.opened'), (2, 'robot.connectivity'),
                             (5, 'robot.event')]
    run(check())
