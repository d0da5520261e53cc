"""fleetctl against a real aiohttp server on 127.0.0.1 serving canned API answers.

Most tests call ``fleet_cli.main.main`` in-process and read what it printed; the ``--follow``
tests run it as a child process so that signals reach it as they would from a shell.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Awaitable, Callable, Iterator

from aiohttp import web
import pytest

import fleet_cli
from fleet_cli import main as fleetctl
import fleet_common
from fleet_common.events import matches_any

TOKEN = 'ctl-test-token'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROBOTS: list[dict[str, Any]] = [
    {'id': 'robot1', 'connectivity': 'online', 'mode': 'working', 'battery': 0.87,
     'pose': {'x': 12.25, 'y': 3.5, 'theta': 1.57}, 'last_seen': '2026-01-01T10:00:00.000Z',
     'software_version': '1.4.2', 'decommissioned': False, 'capabilities': ['tote'],
     'current_mission_id': 'm-1'},
    {'id': 'robot2', 'connectivity': 'stale', 'mode': 'idle', 'battery': 0.4,
     'pose': {'x': 2.0, 'y': 1.0, 'theta': 0.0}, 'last_seen': '2026-01-01T09:59:50.000Z',
     'software_version': '1.4.2', 'decommissioned': False, 'capabilities': ['tote', 'lift'],
     'current_mission_id': None},
    {'id': 'robot-with-a-long-name', 'connectivity': 'offline', 'mode': 'unknown',
     'battery': None, 'pose': {'x': 0.0, 'y': 0.0, 'theta': 0.0}, 'last_seen': None,
     'software_version': '', 'decommissioned': True, 'capabilities': [],
     'current_mission_id': None},
]

MISSION: dict[str, Any] = {
    'id': 'm-1', 'state': 'active', 'robot_id': 'robot1', 'priority': 2,
    'waypoints': [{'x': 1.0, 'y': 2.0, 'theta': 0.0, 'dwell': 0.0},
                  {'x': 10.0, 'y': 2.0, 'theta': 1.57, 'dwell': 5.0}],
    'capabilities': ['tote'], 'pinned_robot': None, 'client_ref': 'order-17',
    'attempts': 1, 'created_at': '2026-01-01T09:58:00.000Z',
    'updated_at': '2026-01-01T09:58:02.000Z', 'failure_reason': None}
DONE_MISSION: dict[str, Any] = {**MISSION, 'id': 'm-0', 'state': 'succeeded',
                                'client_ref': 'order-16'}

INCIDENT: dict[str, Any] = {
    'id': 'INC-7', 'type': 'robot_stuck', 'severity': 'SEV2', 'state': 'triggered',
    'title': 'Robot stuck', 'robot_id': 'robot1', 'mission_id': 'm-1', 'area': 'aisle_b',
    'pose': {'x': 12.0, 'y': 9.0, 'theta': 0.0},
    'opened_at': '2026-01-01T09:59:00.000Z', 'last_seen': '2026-01-01T09:59:30.000Z',
    'count': 4, 'recurrence': {'text': '3rd time this week in aisle_b'},
    'runbook': {'title': 'Robot stuck (repeated Nav2 recoveries)',
                'steps': [{'text': 'Look at the camera feed.', 'detail': ''},
                          {'text': 'Clear the obstacle.', 'detail': 'Pallets often slip.'}]},
    'context': {'trajectory': [{'time': 1.0, 'x': 11.0, 'y': 9.0, 'theta': 0.0,
                                'battery': 0.9, 'mode': 'working'}],
                'software_version': '1.4.2', 'recent_events': [], 'config_changes': []},
    'timeline': [{'time': '2026-01-01T09:59:00.000Z', 'kind': 'opened', 'who': 'rule',
                  'note': 'stuck robot', 'data': {}}],
    'escalation': {'level': 1, 'repeat': 0, 'next_at': None}, 'bag_path': None,
}


def _event(eid: int, kind: str, robot: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    return {'id': eid, 'time': f'2026-01-01T10:00:{eid:02d}.000Z', 'kind': kind,
            'robot_id': robot, 'payload': payload}


EVENTS = [
    _event(1, 'robot.registered', 'robot1', {}),
    _event(2, 'robot.connectivity', 'robot2', {'from': 'online', 'to': 'stale',
                                               'reason': 'no status for 3 s'}),
    _event(3, 'mission.state', 'robot1', {'mission_id': 'm-1', 'state': 'active',
                                          'from': 'assigned', 'attempt': 1,
                                          'reason': 'accepted by robot'}),
    _event(4, 'robot.event', 'robot1', {'type': 'recovery_started', 'severity': 1,
                                        'message': 'spin'}),
    _event(5, 'incident.opened', 'robot1', {'id': 'INC-7', 'severity': 'SEV2',
                                            'state': 'triggered', 'title': 'Robot stuck'}),
]
LIVE_EVENTS = [
    _event(6, 'incident.acknowledged', 'robot1', {'id': 'INC-7', 'severity': 'SEV2',
                                                  'state': 'acknowledged',
                                                  'title': 'Robot stuck'}),
    _event(7, 'notification.sent', 'robot1', {'target': 'alice', 'channel': 'pager',
                                              'message': 'INC-7 Robot stuck'}),
]


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.json_response({'error': {'code': code, 'message': message, 'field': field}},
                             status=status)


class CannedApi:
    """The fleet API's routes that fleetctl uses, answering from canned data, on a free
    port of 127.0.0.1 in a background thread. ``requests`` records what was asked."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reset()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.stream_connections = 0

    def reset(self) -> None:
        self.requests = []
        self.missions = {m['id']: copy.deepcopy(m) for m in (MISSION, DONE_MISSION)}
        self.incidents = {INCIDENT['id']: copy.deepcopy(INCIDENT)}
        self.fleet = copy.deepcopy(ROBOTS)
        self.idempotency: dict[str, str] = {}
        self.commands = 0
        self.stream_connections = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> 'CannedApi':
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get('/api/v1/robots', self.robots)
        r.add_get('/api/v1/robots/{id}', self.robot)
        r.add_post('/api/v1/robots/{id}/commands', self.command)
        r.add_post('/api/v1/robots/{id}/{change:decommission|recommission}', self.service)
        r.add_get('/api/v1/missions', self.list_missions)
        r.add_post('/api/v1/missions', self.submit)
        r.add_get('/api/v1/missions/{id}', self.mission)
        r.add_get('/api/v1/missions/{id}/events', self.mission_events)
        r.add_post('/api/v1/missions/{id}/cancel', self.cancel)
        r.add_get('/api/v1/incidents', self.list_incidents)
        r.add_get('/api/v1/incidents/{id}', self.incident)
        r.add_post('/api/v1/incidents/{id}/{action:ack|resolve}', self.incident_action)
        r.add_get('/api/v1/events', self.events)
        r.add_get('/api/v1/events/stream', self.stream)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    # -- middleware and views -----------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append({'method': request.method, 'path': request.path,
                              'query': dict(request.query), 'body': body,
                              'headers': dict(request.headers)})
        if request.headers.get('Authorization') != f'Bearer {TOKEN}':
            return _error(401, 'unauthorized',
                          'a valid bearer token is required (Authorization: Bearer <token>)')
        return await handler(request)

    @staticmethod
    def _page(items: list[Any], request: web.Request, total: int | None = None
              ) -> web.Response:
        limit = int(request.query.get('limit', 100))
        return web.json_response({'items': items[:limit], 'total': len(items)
                                  if total is None else total, 'limit': limit, 'offset': 0})

    async def robots(self, request: web.Request) -> web.Response:
        return self._page(self.fleet, request)

    async def robot(self, request: web.Request) -> web.Response:
        for r in self.fleet:
            if r['id'] == request.match_info['id']:
                return web.json_response(r)
        return _error(404, 'not_found', f'unknown robot {request.match_info["id"]!r}')

    async def command(self, request: web.Request) -> web.Response:
        robot_id = request.match_info['id']
        robot = next((r for r in self.fleet if r['id'] == robot_id), None)
        if robot is None:
            return _error(404, 'not_found', f'unknown robot {robot_id!r}')
        if robot['connectivity'] != 'online':
            return _error(409, 'conflict', f'robot {robot_id} is {robot["connectivity"]}: '
                          'the command would not reach it', 'robot_id')
        self.commands += 1
        body = await request.json()
        return web.json_response({'robot_id': robot_id, 'command': body['command'],
                                  'accepted': True, 'command_id': 40 + self.commands},
                                 status=202)

    async def service(self, request: web.Request) -> web.Response:
        robot = next((r for r in self.fleet if r['id'] == request.match_info['id']), None)
        if robot is None:
            return _error(404, 'not_found', 'unknown robot')
        await request.json()
        return web.json_response(
            {**robot, 'decommissioned': request.match_info['change'] == 'decommission'})

    async def list_missions(self, request: web.Request) -> web.Response:
        items = [m for m in self.missions.values()
                 if request.query.get('state', m['state']) == m['state']
                 and request.query.get('robot_id', m['robot_id']) == m['robot_id']]
        return self._page(items, request, total=len(items) + 10)

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body['waypoints'][0]['x'] > 100:
            return _error(422, 'invalid', 'x is outside the map', 'waypoints[0].x')
        key = request.headers.get('Idempotency-Key', '')
        if key and key in self.idempotency:
            return web.json_response(self.missions[self.idempotency[key]], status=200)
        mission = {**MISSION, 'id': f'm-{len(self.missions) + 1}', 'state': 'queued',
                   'robot_id': None, 'attempts': 0, 'waypoints': body['waypoints'],
                   'priority': body.get('priority', 0)}
        self.missions[mission['id']] = mission
        if key:
            self.idempotency[key] = mission['id']
        return web.json_response(mission, status=201)

    def _mission_or_404(self, request: web.Request) -> dict[str, Any] | web.Response:
        mission = self.missions.get(request.match_info['id'])
        if mission is None:
            return _error(404, 'not_found', f'unknown mission {request.match_info["id"]!r}')
        return mission

    async def mission(self, request: web.Request) -> web.Response:
        m = self._mission_or_404(request)
        return m if isinstance(m, web.Response) else web.json_response(m)

    async def mission_events(self, request: web.Request) -> web.Response:
        items = [e for e in EVENTS if e['payload'].get('mission_id') == request.match_info['id']]
        return web.json_response({'items': items, 'total': len(items)})

    async def cancel(self, request: web.Request) -> web.Response:
        m = self._mission_or_404(request)
        if isinstance(m, web.Response):
            return m
        if m['state'] in ('succeeded', 'failed', 'canceled'):
            return _error(409, 'conflict', f'mission {m["id"]} already finished '
                          f'({m["state"]})')
        m['state'] = 'canceled'
        return web.json_response(m)

    async def list_incidents(self, request: web.Request) -> web.Response:
        items = [i for i in self.incidents.values()
                 if request.query.get('state', i['state']) == i['state']]
        return self._page(items, request)

    async def incident(self, request: web.Request) -> web.Response:
        inc = self.incidents.get(request.match_info['id'])
        if inc is None:
            return _error(404, 'not_found', f'unknown incident {request.match_info["id"]!r}')
        return web.json_response(inc)

    async def incident_action(self, request: web.Request) -> web.Response:
        inc = self.incidents.get(request.match_info['id'])
        if inc is None:
            return _error(404, 'not_found', f'unknown incident {request.match_info["id"]!r}')
        if inc['state'] == 'resolved':
            return _error(409, 'conflict', f'incident {inc["id"]} is already resolved')
        note = (await request.json()).get('note', '')
        action = request.match_info['action']
        inc['state'] = 'acknowledged' if action == 'ack' else 'resolved'
        inc['timeline'].append({'time': '2026-01-01T10:01:00.000Z', 'kind': action,
                                'who': 'ctl', 'note': note, 'data': {}})
        return web.json_response(inc)

    async def events(self, request: web.Request) -> web.Response:
        after = int(request.query.get('after', 0))
        limit = int(request.query.get('limit', 100))
        kinds = [k for k in request.query.get('kind', '').split(',') if k]
        robot = request.query.get('robot_id', '')
        window = [e for e in EVENTS if e['id'] > after][:limit]
        items = [e for e in window if matches_any(kinds, e['kind'])
                 and (not robot or e['robot_id'] == robot)]
        return web.json_response({'items': items, 'last_id': EVENTS[-1]['id'],
                                  'next_after': window[-1]['id'] if window else after})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The live events after Last-Event-ID; the first connection drops after one event,
        so that a client has to reconnect (and say where it was)."""
        self.stream_connections += 1
        first = self.stream_connections == 1
        cursor = int(request.headers.get('Last-Event-ID', '0'))
        resp = web.StreamResponse(headers={'Content-Type': 'text/event-stream'})
        await resp.prepare(request)
        await resp.write(b'retry: 2000\n\n: a comment line\n\n')
        for e in [e for e in EVENTS + LIVE_EVENTS if e['id'] > cursor][:1 if first else None]:
            await resp.write(f'id: {e["id"]}\nevent: {e["kind"]}\n'
                             f'data: {json.dumps(e)}\n\n'.encode())
        if first:
            return resp
        try:
            while True:
                await asyncio.sleep(0.2)
                await resp.write(b': keep-alive\n\n')
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp


@pytest.fixture(scope='module')
def server() -> Iterator[CannedApi]:
    api = CannedApi().start()
    yield api
    api.stop()


@pytest.fixture
def api(server: CannedApi) -> CannedApi:
    server.reset()
    return server


def run(api: CannedApi | None, *argv: str, token: str | None = TOKEN
        ) -> tuple[int, str, str]:
    """Run fleetctl in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    args = ['--url', api.url if api else 'http://127.0.0.1:9']
    if token is not None:
        args += ['--token', token]
    code = fleetctl.main([*args, *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# -- robots ------------------------------------------------------------------------------------
def test_robots_list_prints_an_aligned_table(api: CannedApi) -> None:
    code, out, err = run(api, 'robots', 'list')
    assert (code, err) == (0, '')
    lines = out.splitlines()
    assert lines[0].split() == ['ID', 'CONN', 'MODE', 'BATTERY', 'POSE', 'VERSION', 'MISSION',
                                'LAST', 'SEEN', 'DECOMM']
    assert lines[1].split()[:7] == ['robot1', 'online', 'working', '87%', '12.2,3.5', '1.4.2',
                                    'm-1']
    # Columns line up: every row has CONN where the header has it.
    col = lines[0].index('CONN')
    assert [line[col:].split()[0] for line in lines[1:4]] == ['online', 'stale', 'offline']
    assert lines[3].split()[3] == '-'  # no battery reading
    assert lines[-1] == '3 robots, 1 online'
    assert all(line == line.rstrip() for line in lines)


def test_robots_without_action_lists(api: CannedApi) -> None:
    code, out, _ = run(api, 'robots')
    assert code == 0 and out.splitlines()[1].startswith('robot1 ')


def test_robots_show(api: CannedApi) -> None:
    code, out, _ = run(api, 'robots', 'show', 'robot2')
    assert code == 0
    assert 'connectivity:   stale' in out
    assert 'capabilities:   tote, lift' in out
    assert 'mission:        -' in out


def test_robots_show_unknown_is_the_servers_message(api: CannedApi) -> None:
    code, out, err = run(api, 'robots', 'show', 'ghost')
    assert (code, out) == (1, '')
    assert err == "fleetctl: unknown robot 'ghost'\n"


def test_json_prints_the_raw_answer(api: CannedApi) -> None:
    code, out, _ = run(api, '--json', 'robots')
    assert code == 0
    assert json.loads(out)['items'] == ROBOTS


def test_robots_list_sorts_ids_naturally(api: CannedApi) -> None:
    api.fleet = [{**ROBOTS[0], 'id': rid} for rid in ('robot10', 'robot2', 'Robot3', 'robot1')]
    code, out, _ = run(api, 'robots', 'list')
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:5]] == [
        'robot1', 'robot2', 'Robot3', 'robot10']
    code, out, _ = run(api, 'robots', '--json')  # the raw answer keeps the server's order
    assert [r['id'] for r in json.loads(out)['items']] == [
        'robot10', 'robot2', 'Robot3', 'robot1']


@pytest.mark.parametrize('argv', [
    ['--json', 'robots'], ['robots', '--json'], ['robots', 'list', '--json'],
    ['robots', '--json', 'list'], ['--json', 'robots', 'list', '--json']])
def test_json_is_accepted_before_or_after_the_verb(api: CannedApi, argv: list[str]) -> None:
    code, out, err = run(api, *argv)
    assert (code, err) == (0, '')
    assert json.loads(out)['items'] == ROBOTS


def test_json_after_the_verb_of_every_resource(api: CannedApi) -> None:
    code, out, _ = run(api, 'missions', 'list', '--json', '--state', 'active')
    assert code == 0 and [m['id'] for m in json.loads(out)['items']] == ['m-1']
    code, out, _ = run(api, 'incidents', 'show', 'INC-7', '--json')
    assert code == 0 and json.loads(out)['id'] == 'INC-7'
    code, out, _ = run(api, 'events', 'tail', '-n', '2', '--json')
    assert code == 0 and [e['id'] for e in json.loads(out)] == [4, 5]
    code, out, _ = run(api, 'missions', 'submit', '--waypoint', '5,6', '--json')
    assert code == 0 and json.loads(out)['state'] == 'queued'


def test_robots_command_sends_reason_and_args_and_prints_the_command_id(
        api: CannedApi) -> None:
    code, out, err = run(api, 'robots', 'command', 'robot1', 'return_to_dock',
                         '--reason', 'battery swap', '--arg', 'dock=dock_a',
                         '--arg', 'x=1.5', '--arg', 'y=-2', '--yes')
    assert (code, err) == (0, '')
    assert out == 'robot1: return_to_dock sent (command 41)\n'
    sent = api.requests[-1]
    assert (sent['method'], sent['path']) == ('POST', '/api/v1/robots/robot1/commands')
    assert sent['body'] == {'command': 'return_to_dock', 'reason': 'battery swap',
                            'args': {'dock': 'dock_a', 'x': 1.5, 'y': -2}}
    code, out, _ = run(api, 'robots', 'command', 'robot1', 'pause', '--json', '-y')
    assert code == 0 and json.loads(out)['command_id'] == 42
    assert api.requests[-1]['body'] == {'command': 'pause', 'args': {}}


def test_robots_command_refused_by_the_api(api: CannedApi) -> None:
    code, out, err = run(api, 'robots', 'command', 'robot2', 'pause', '--yes')
    assert (code, out) == (1, '')
    assert err == ('fleetctl: robot robot2 is stale: the command would not reach it '
                   '(field: robot_id)\n')


def test_robot_controls_ask_first_and_carry_who_and_why(
        api: CannedApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr('sys.stdin', io.StringIO('y\n'))
    code, out, err = run(api, 'robots', 'pause', 'robot1', '--operator', 'Alice',
                         '--reason', 'spill in aisle b')
    assert (code, err) == (0, '')
    assert out.startswith('Pause robot1? ') and '[y/N]' in out
    assert out.endswith('robot1: pause sent (command 41)\n')
    assert api.requests[-1]['body'] == {'command': 'pause', 'args': {},
                                        'reason': 'spill in aisle b', 'operator': 'Alice'}

    monkeypatch.setattr('sys.stdin', io.StringIO('n\n'))
    before = len(api.requests)
    code, out, err = run(api, 'robots', 'resume', 'robot1')
    assert code == 2 and 'not confirmed: nothing was sent' in err
    assert len(api.requests) == before

    monkeypatch.setattr('sys.stdin', io.StringIO(''))  # no terminal, no answer: refused
    code, _, err = run(api, 'robots', 'cancel-mission', 'robot1')
    assert code == 2 and len(api.requests) == before

    code, out, err = run(api, 'robots', 'decommission', 'robot1', '--yes', '--reassign',
                         '--reason', 'lidar broken')
    assert (code, err, out) == (0, '', 'robot1: decommissioned\n')
    sent = api.requests[-1]
    assert (sent['path'], sent['body']) == ('/api/v1/robots/robot1/decommission',
                                            {'reason': 'lidar broken', 'reassign_active': True})
    code, out, _ = run(api, 'robots', 'return-to-dock', 'robot1', '-y', '--arg', 'dock=dock_2')
    assert code == 0 and api.requests[-1]['body'] == {
        'command': 'return_to_dock', 'args': {'dock': 'dock_2'}}


@pytest.mark.parametrize('argv', [
    ['robots', 'command', 'robot1', 'fly'],
    ['robots', 'command', 'robot1'],
    ['robots', 'command', 'robot1', 'pause', '--arg', 'dock'],
    ['robots', 'command', 'robot1', 'pause', '--arg', '=1'],
    ['robots', 'command', 'robot1', 'pause', '--reason', 'x' * 1001]])
def test_robots_command_usage_errors(api: CannedApi, argv: list[str]) -> None:
    code, out, _ = run(api, *argv)
    assert (code, out) == (2, '')
    assert api.requests == []


# -- missions ----------------------------------------------------------------------------------
def test_missions_submit_sends_the_body_and_idempotency_key(api: CannedApi) -> None:
    argv = ['missions', 'submit', '--waypoint', '1,2', '--waypoint', '3.5,-4,1.57,10',
            '--priority', '3', '--capability', 'tote', '--capability', 'lift',
            '--pin', 'robot2', '--client-ref', 'order-99', '--idempotency-key', 'k-1']
    code, out, err = run(api, *argv)
    assert (code, err) == (0, '')
    assert out == 'mission m-3 submitted: queued\n'
    sent = api.requests[-1]
    assert sent['method'] == 'POST' and sent['path'] == '/api/v1/missions'
    assert sent['body'] == {
        'waypoints': [{'x': 1.0, 'y': 2.0}, {'x': 3.5, 'y': -4.0, 'theta': 1.57, 'dwell': 10.0}],
        'priority': 3, 'capabilities': ['tote', 'lift'], 'pinned_robot': 'robot2',
        'client_ref': 'order-99'}
    assert sent['headers']['Idempotency-Key'] == 'k-1'
    assert sent['headers']['Authorization'] == f'Bearer {TOKEN}'

    code, out, _ = run(api, *argv)
    assert code == 0
    assert out == 'mission m-3 already submitted (same Idempotency-Key): queued\n'


def test_missions_submit_minimal_body(api: CannedApi) -> None:
    code, out, _ = run(api, '--json', 'missions', 'submit', '--waypoint', '5,6')
    assert code == 0
    assert api.requests[-1]['body'] == {'waypoints': [{'x': 5.0, 'y': 6.0}]}
    assert 'Idempotency-Key' not in api.requests[-1]['headers']
    assert json.loads(out)['state'] == 'queued'


@pytest.mark.parametrize('waypoint', ['1', '1,2,3,4,5', '1,x', 'nan,2', '1,2,0,-1'])
def test_missions_submit_bad_waypoint_is_a_usage_error(api: CannedApi, waypoint: str) -> None:
    code, out, err = run(api, 'missions', 'submit', '--waypoint', waypoint)
    assert (code, out) == (2, '')
    assert err.startswith(f'fleetctl: --waypoint {waypoint!r}: ')
    assert api.requests == []


def test_missions_submit_refused_names_the_field(api: CannedApi) -> None:
    code, _, err = run(api, 'missions', 'submit', '--waypoint', '500,1')
    assert code == 1
    assert err == 'fleetctl: x is outside the map (field: waypoints[0].x)\n'


def test_missions_list_passes_filters(api: CannedApi) -> None:
    code, out, _ = run(api, 'missions', 'list', '--state', 'active', '--robot', 'robot1',
                       '--limit', '5')
    assert code == 0
    assert api.requests[-1]['query'] == {'state': 'active', 'robot_id': 'robot1',
                                         'limit': '5'}
    lines = out.splitlines()
    assert lines[0].split()[:4] == ['ID', 'STATE', 'ROBOT', 'PRIO']
    assert lines[1].split()[:6] == ['m-1', 'active', 'robot1', '2', '2', '1']
    assert lines[-1] == '(1 of 11 missions; use --limit for more)'


def test_missions_list_rejects_an_unknown_state(api: CannedApi) -> None:
    code, _, _ = run(api, 'missions', 'list', '--state', 'sleeping')
    assert code == 2
    assert api.requests == []


def test_missions_show_prints_waypoints_and_timeline(api: CannedApi) -> None:
    code, out, _ = run(api, 'missions', 'show', 'm-1')
    assert code == 0
    assert 'client ref:   order-17' in out
    assert 'waypoints:' in out and '10.0  2.0  1.57   5.0' in out
    assert 'm-1 assigned -> active (attempt 1): accepted by robot' in out


def test_missions_cancel(api: CannedApi) -> None:
    code, out, _ = run(api, 'missions', 'cancel', 'm-1', '--reason', 'blocked aisle')
    assert (code, out) == (0, 'mission m-1: canceled\n')
    assert api.requests[-1]['body'] == {'reason': 'blocked aisle'}


def test_missions_cancel_finished_is_refused(api: CannedApi) -> None:
    code, out, err = run(api, 'missions', 'cancel', 'm-0')
    assert (code, out) == (1, '')
    assert err == 'fleetctl: mission m-0 already finished (succeeded)\n'


# -- incidents ---------------------------------------------------------------------------------
def test_incidents_list(api: CannedApi) -> None:
    code, out, _ = run(api, 'incidents', 'list', '--state', 'triggered')
    assert code == 0
    assert api.requests[-1]['query']['state'] == 'triggered'
    lines = out.splitlines()
    assert lines[0].split() == ['ID', 'SEV', 'STATE', 'TYPE', 'ROBOT', 'AREA', 'COUNT',
                                'OPENED', 'TITLE']
    assert lines[1].split()[:7] == ['INC-7', 'SEV2', 'triggered', 'robot_stuck', 'robot1',
                                    'aisle_b', '4']
    assert lines[1].endswith('Robot stuck')


def test_incidents_show_has_context_runbook_and_timeline(api: CannedApi) -> None:
    code, out, _ = run(api, 'incidents', 'show', 'INC-7')
    assert code == 0
    assert 'recurrence: 3rd time this week in aisle_b' in out
    assert 'software:   1.4.2' in out
    assert 'runbook: Robot stuck (repeated Nav2 recoveries)' in out
    assert '  1. Look at the camera feed.' in out
    assert '  2. Clear the obstacle.\n     Pallets often slip.' in out
    assert 'opened  rule  stuck robot' in out


def test_incidents_ack_then_resolve(api: CannedApi) -> None:
    code, out, _ = run(api, 'incidents', 'ack', 'INC-7', '--note', 'on my way')
    assert (code, out) == (0, 'incident INC-7: acknowledged\n')
    assert api.requests[-1]['path'] == '/api/v1/incidents/INC-7/ack'
    assert api.requests[-1]['body'] == {'note': 'on my way'}

    code, out, _ = run(api, 'incidents', 'resolve', 'INC-7', '--note', 'pallet moved')
    assert (code, out) == (0, 'incident INC-7: resolved\n')

    code, out, err = run(api, 'incidents', 'ack', 'INC-7')
    assert (code, out) == (1, '')
    assert err == 'fleetctl: incident INC-7 is already resolved\n'


def test_incidents_resolve_needs_a_note(api: CannedApi) -> None:
    code, _, _ = run(api, 'incidents', 'resolve', 'INC-7')
    assert code == 2
    code, _, err = run(api, 'incidents', 'resolve', 'INC-7', '--note', '  ')
    assert code == 2 and 'note' in err
    assert api.requests == []


# -- events ------------------------------------------------------------------------------------
def test_events_tail_prints_the_last_events(api: CannedApi) -> None:
    code, out, _ = run(api, 'events', 'tail', '-n', '2')
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ['4', '5']
    assert lines[0].split()[3:5] == ['robot.event', 'robot1']
    assert lines[0].endswith('[1] recovery_started: spin')
    assert lines[1].endswith('INC-7 SEV2 triggered Robot stuck')


def test_events_tail_after_and_kind(api: CannedApi) -> None:
    code, out, _ = run(api, 'events', 'tail', '--after', '1', '--kind', 'robot.connectivity')
    assert code == 0
    assert out.splitlines()[0].endswith('online -> stale (no status for 3 s)')
    assert len(out.splitlines()) == 1
    assert api.requests[-1]['query']['kind'] == 'robot.connectivity'


def test_events_tail_json(api: CannedApi) -> None:
    code, out, _ = run(api, '--json', 'events', 'tail', '-n', '3')
    assert code == 0
    assert [e['id'] for e in json.loads(out)] == [3, 4, 5]


def test_events_tail_kind_globs_go_to_the_api_unchanged(api: CannedApi) -> None:
    code, out, _ = run(api, 'events', 'tail', '--after', '0',
                       '--kind', '*.opened,robot.connectivity')
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ['2', '5']
    assert api.requests[-1]['query']['kind'] == '*.opened,robot.connectivity'


@pytest.mark.parametrize('kind', ['incident.[ab]', 'mission state', 'x,robot/*', 'a' * 101])
def test_events_tail_bad_kind_pattern_is_a_usage_error(api: CannedApi, kind: str) -> None:
    code, out, err = run(api, 'events', 'tail', '--kind', kind)
    assert (code, out) == (2, '')
    assert err.startswith('fleetctl: --kind: kind pattern ')
    assert api.requests == []


def _child_env() -> dict[str, str]:
    """The environment of a child fleetctl: it imports the same fleet_cli and fleet_common
    as this test, and takes no URL or token from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if k not in ('FLEET_URL', 'FLEET_TOKEN')}
    roots = [str(pathlib.Path(m.__file__).resolve().parents[1])
             for m in (fleet_cli, fleet_common)]
    env['PYTHONPATH'] = os.pathsep.join([*roots, *filter(None, [env.get('PYTHONPATH')])])
    return env


def _spawn(api: CannedApi, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, '-m', 'fleet_cli', '--url', api.url, '--token', TOKEN, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env())


def _read_lines(proc: subprocess.Popen[str], count: int, timeout: float = 15.0) -> list[str]:
    """Read ``count`` lines of the child's stdout (fail after ``timeout`` s)."""
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        while len(lines) < count:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip('\n'))
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    return lines


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_events_follow_streams_reconnects_and_stops_on_signal(api: CannedApi,
                                                              sig: int) -> None:
    proc = _spawn(api, 'events', 'tail', '-n', '1', '--follow')
    try:
        lines = _read_lines(proc, 3)
        assert [line.split()[0] for line in lines] == ['5', '6', '7'], lines
        assert lines[1].endswith('INC-7 SEV2 acknowledged Robot stuck')
        assert lines[2].endswith('alice via pager: INC-7 Robot stuck')
        streams = [r for r in api.requests if r['path'] == '/api/v1/events/stream']
        # Started after the tail, then resumed after the one event the first stream sent.
        assert [s['headers'].get('Last-Event-ID') for s in streams] == ['5', '6']
        proc.send_signal(sig)
        code = proc.wait(10)
        assert code == 0
        assert 'Traceback' not in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_events_follow_prints_only_the_kinds_asked_for(api: CannedApi) -> None:
    # The canned stream sends every kind: the filtering seen here is fleetctl's own.
    proc = _spawn(api, 'events', 'tail', '--after', '3', '-n', '0', '--follow',
                  '--kind', 'incident.*,notification.*')
    try:
        lines = _read_lines(proc, 3)
        assert [line.split()[0] for line in lines] == ['5', '6', '7'], lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# -- auth, connection and usage errors ---------------------------------------------------------
def test_bad_token_prints_the_servers_message(api: CannedApi) -> None:
    code, out, err = run(api, 'robots', token='wrong')
    assert (code, out) == (1, '')
    assert err == ('fleetctl: a valid bearer token is required '
                   '(Authorization: Bearer <token>)\n')


def test_missing_token_hints_at_the_option(api: CannedApi,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('FLEET_TOKEN', raising=False)
    code, _, err = run(api, 'robots', token=None)
    assert code == 1
    assert 'use --token or set FLEET_TOKEN' in err
    assert 'Authorization' not in api.requests[-1]['headers']


def test_url_and_token_from_the_environment(api: CannedApi,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('FLEET_URL', api.url)
    monkeypatch.setenv('FLEET_TOKEN', TOKEN)
    out = io.StringIO()
    assert fleetctl.main(['robots'], out=out, err=io.StringIO()) == 0
    assert out.getvalue().startswith('ID ')


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def test_no_server_exits_3_with_a_hint() -> None:
    port = _closed_port()
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    code = fleetctl.main(['--url', f'http://127.0.0.1:{port}', '--token', TOKEN, 'robots'],
                         out=out, err=err)
    assert code == 3
    assert out.getvalue() == ''
    assert err.getvalue().startswith(f'fleetctl: cannot reach the fleet API at '
                                     f'http://127.0.0.1:{port}: ')
    assert '--url' in err.getvalue()
    assert time.monotonic() - start < 5


def test_follow_without_server_exits_3() -> None:
    code, _, err = run(None, 'events', 'tail', '--after', '0', '--follow')
    assert code == 3 and 'cannot reach' in err


def test_the_ros2_run_launcher_is_executable_and_runs_fleetctl() -> None:
    # `ros2 run fleet_cli fleetctl` runs lib/fleet_cli/fleetctl, installed from here.
    launcher = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'fleetctl'
    assert os.access(launcher, os.X_OK)
    done = subprocess.run([sys.executable, str(launcher), 'robots', 'command', '--help'],
                          capture_output=True, text=True, env=_child_env(), timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('usage: fleetctl robots command')


@pytest.mark.parametrize('argv', [
    [], ['robots'], ['robots', 'show'], ['missions'], ['missions', 'submit'],
    ['missions', 'list'], ['missions', 'show'], ['missions', 'cancel'], ['incidents'],
    ['incidents', 'list'], ['incidents', 'show'], ['incidents', 'ack'],
    ['incidents', 'resolve'], ['events'], ['events', 'tail'],
    ['robots', 'command']])
def test_every_verb_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert fleetctl.main([*argv, '--help']) == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: fleetctl')


@pytest.mark.parametrize('argv', [[], ['fly'], ['robots', 'show'], ['missions', 'submit'],
                                  ['--timeout', '0', 'robots'], ['events', 'tail', '-n', 'x']])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert fleetctl.main(argv) == 2
    assert 'usage: fleetctl' in capsys.readouterr().err


REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.skipif(not (REPO / 'install' / 'fleet_cli').is_dir(),
                    reason='the workspace is not built (scripts/setup.sh)')
def test_fleetctl_is_on_path_after_sourcing_env_sh(api: CannedApi) -> None:
    """The README's step, in a shell that has nothing of the suite yet: ``. scripts/env.sh``
    then ``fleetctl``, with ``--json`` after the verb's own arguments."""
    env = {'HOME': os.environ.get('HOME', '/tmp'), 'PATH': '/usr/bin:/bin',
           'FLEET_URL': api.url, 'FLEET_TOKEN': TOKEN,
           'ROS_DOMAIN_ID': os.environ.get('ROS_DOMAIN_ID', '0')}
    script = f'. {REPO}/scripts/env.sh && command -v fleetctl && fleetctl robots list --json'
    done = subprocess.run(['bash', '-c', script], env=env, cwd='/', capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where, _, answer = done.stdout.partition('\n')
    assert where.endswith('/fleetctl'), done.stdout
    assert json.loads(answer)['items'] == ROBOTS
