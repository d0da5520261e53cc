"""fleetctl diff/apply/config/rollouts/audit against a real aiohttp server on 127.0.0.1
answering like the fleet API (canned)."""

from __future__ import annotations

import asyncio
import io
import pathlib
import threading
from typing import Any, Iterator

from aiohttp import web
import pytest

from fleet_cli import main as fleetctl

TOKEN = 'ctl-rollout-token'
ROLLOUT = {'id': 'R-1', 'release': '1.1.0', 'artifact': 'reg/x:1.1.0', 'state': 'paused',
           'pause_cause': 'inconclusive', 'step': 0, 'steps': 3, 'step_name': 'canary',
           'target': 1, 'scope': 4, 'created_at': '2026-01-01T10:00:00.000Z',
           'created_by': 'alice', 'reason': 'nav fix', 'phases': {'updated': 1},
           'order': ['robot1', 'robot3'],
           'robots': {'robot1': {'phase': 'updated', 'previous_version': '1.0.0'}},
           'evaluation': {'verdict': 'inconclusive', 'canary_missions': 2,
                          'baseline_missions': 9, 'baseline_scope': 'window',
                          'detail': '2 of 5 missions needed', 'checks': []},
           'gates': [{'step': 0, 'verdict': 'inconclusive', 'canary_missions': 2,
                      'baseline_missions': 9, 'baseline_scope': 'window', 'checks': [
                          {'metric': 'mission_success', 'canary': 1.0, 'baseline': 0.9,
                           'limit': 'min 0.8', 'verdict': 'pass', 'detail': ''}]}]}


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.json_response({'error': {'code': code, 'message': message, 'field': field}},
                             status=status)


class Api:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._record])
        r = app.router
        r.add_post('/api/v1/config/diff', self.diff)
        r.add_post('/api/v1/config/apply', self.apply)
        r.add_post('/api/v1/config/revisions/{n}/rollback', self.rollback)
        r.add_get('/api/v1/config/robots', self.robots)
        r.add_post('/api/v1/rollouts', self.created)
        r.add_get('/api/v1/rollouts/{id}', self.rollout)
        r.add_post('/api/v1/rollouts/{id}/promote', self.promote)
        r.add_get('/api/v1/audit', self.audit)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> 'Api':
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path_qs, body))
        if request.headers.get('Authorization') != f'Bearer {TOKEN}':
            return _error(401, 'unauthorized', 'a valid bearer token is required')
        return await handler(request)

    async def diff(self, request: web.Request) -> web.Response:
        return web.json_response({'revision': 2, 'robots_affected': ['robot10', 'robot2'],
                                  'diff': {'empty': False, 'lines': [
                                      '~ parameter_set nav: nodes.controller_server.x: '
                                      '0.5 -> 0.6']}})

    async def apply(self, request: web.Request) -> web.Response:
        files = (await request.json())['files']
        if 'bad.yaml' in files:
            return _error(422, 'invalid', 'bad.yaml: groups[0].reconcile: must be report or '
                          "reconcile, got 'x'", 'bad.yaml: groups[0].reconcile')
        return web.json_response({'revision': 3, 'unchanged': False, 'robots_affected': ['a'],
                                  'diff': {'lines': ['+ group phoenix']}}, status=201)

    async def rollback(self, request: web.Request) -> web.Response:
        return _error(404, 'not_found', f'unknown revision {request.match_info["n"]}')

    async def robots(self, request: web.Request) -> web.Response:
        return web.json_response({'revision': 3, 'items': [
            {'robot_id': 'robot2', 'state': 'drifted', 'policy': 'report', 'groups': ['chi'],
             'reported_version': '1.0.0', 'rollout': None, 'unreachable': [],
             'drifted': [{'node': 'controller_server', 'name': 'x', 'declared': 0.5,
                          'actual': 0.9}]}]})

    async def created(self, request: web.Request) -> web.Response:
        return web.json_response(ROLLOUT, status=201)

    async def rollout(self, request: web.Request) -> web.Response:
        return web.json_response(ROLLOUT)

    async def promote(self, request: web.Request) -> web.Response:
        return _error(409, 'conflict', 'rollout R-1 is aborted: it cannot be promoted')

    async def audit(self, request: web.Request) -> web.Response:
        return web.json_response({'items': [
            {'id': 9, 'time': '2026-01-01T10:00:00.000Z', 'who': 'carol',
             'kind': 'rollout.aborted', 'target': 'R-1', 'action': 'rolling_back',
             'reason': 'stop'}], 'total': 3, 'limit': 1, 'offset': 0})


@pytest.fixture(scope='module')
def api() -> Iterator[Api]:
    a = Api().start()
    yield a
    a.stop()


def run(api: Api, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = fleetctl.main(['--url', f'http://127.0.0.1:{api.port}', '--token', TOKEN, *argv],
                         out, err)
    return code, out.getvalue(), err.getvalue()


def desired_dir(tmp_path: pathlib.Path, **files: str) -> pathlib.Path:
    for name, text in files.items():
        path = tmp_path / name.replace('__', '/')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_diff_and_apply_send_the_directory(api: Api, tmp_path: pathlib.Path) -> None:
    d = desired_dir(tmp_path, **{'groups.yaml': 'groups: []\n', 'site__phx.yml': 'x: 1\n',
                                 '.git__config.yaml': 'no\n', 'README.md': 'no\n'})
    code, out, _ = run(api, 'diff', '-f', str(d))
    assert code == 0 and 'changes against revision 2' in out
    assert 'nodes.controller_server.x: 0.5 -> 0.6' in out
    assert "2 robots' declared parameters would change: robot2, robot10" in out
    assert api.requests[-1][2] == {'files': {'groups.yaml': 'groups: []\n',
                                             'site/phx.yml': 'x: 1\n'}}
    code, out, _ = run(api, 'apply', '-f', str(d), '--reason', 'phoenix tuning')
    assert code == 0 and 'revision 3 applied; 1 robots get new parameters' in out
    assert '+ group phoenix' in out and api.requests[-1][2]['reason'] == 'phoenix tuning'


def test_refusals_and_usage_errors(api: Api, tmp_path: pathlib.Path) -> None:
    d = desired_dir(tmp_path, **{'bad.yaml': 'groups: [{name: a, reconcile: x}]\n'})
    code, out, err = run(api, 'apply', '-f', str(d))
    assert code == 1 and out == ''
    assert err == ("fleetctl: bad.yaml: groups[0].reconcile: must be report or reconcile, "
                   "got 'x' (field: bad.yaml: groups[0].reconcile)\n")
    code, _, err = run(api, 'config', 'rollback', '9')
    assert code == 1 and 'unknown revision 9' in err
    code, _, err = run(api, 'apply', '-f', str(tmp_path / 'nowhere'))
    assert code == 2 and 'not a directory' in err
    empty = tmp_path / 'empty'
    empty.mkdir()
    code, _, err = run(api, 'diff', '-f', str(empty))
    assert code == 2 and 'no *.yaml files' in err


def test_drift_rollouts_and_audit(api: Api) -> None:
    code, out, _ = run(api, 'config', 'drift')
    assert code == 0 and 'controller_server.x=0.9 (declared 0.5)' in out
    code, out, _ = run(api, 'rollouts', 'create', '1.1.0', '--group', 'phx', '--group', 'chi',
                       '--reason', 'nav fix')
    assert code == 0 and 'rollout R-1 of 1.1.0 started over 4 robots' in out
    assert api.requests[-1][2] == {'release': '1.1.0', 'reason': 'nav fix',
                                   'groups': ['phx', 'chi']}
    code, out, _ = run(api, 'rollouts', 'show', 'R-1')
    assert code == 0 and 'paused (inconclusive)' in out and 'robot1' in out
    assert 'gate now: inconclusive on 2 missions' in out and 'mission_success' in out
    code, _, err = run(api, 'rollouts', 'promote', 'R-1', '--full')
    assert code == 1 and 'cannot be promoted' in err
    assert api.requests[-1][2] == {'reason': '', 'full': True}
    code, out, _ = run(api, 'audit', '--who', 'carol', '--kind', 'rollout.*', '--limit', '1')
    assert code == 0 and 'carol' in out and 'rollout.aborted' in out
    assert '(1 of 3 entries; use --limit for more)' in out
    assert 'who=carol' in api.requests[-1][1] and 'kind=rollout.%2A' in api.requests[-1][1]
    code, _, err = run(api, 'audit', '--kind', 'bad/kind')
    assert code == 2 and '--kind' in err
