"""The configuration, rollout and audit routes over real sockets against the fake backend:
validation naming the field, status codes, scopes, who is passed on, times as ISO-8601."""

from __future__ import annotations

import pathlib
from typing import Any

import test_app
from test_app import FakeBackend, run, serve

from fleet_web.api_errors import ConflictError, NotFoundError, Unprocessable

web_yaml = test_app.web_yaml  # the fixture, shared with test_app

ROLLOUT = {'id': 'R-1', 'release': '1.1.0', 'state': 'progressing', 'step': 0, 'steps': 3,
           'target': 1, 'scope': 4, 'created_at': 1767225600.0, 'updated_at': 1767225601.5,
           'step_started': 1767225600.0, 'bake_started': None,
           'robots': {'r1': {'phase': 'waiting', 'since': 1767225600.0, 'sent_at': None}}}


def test_config_routes(web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    backend = FakeBackend()
    backend.json_answers[('desired_state', 'apply')] = lambda body: {
        'revision': 3, 'unchanged': False, 'diff': {}, 'robots_affected': ['r1']}
    backend.json_answers[('desired_state', 'rollback')] = NotFoundError('unknown revision 9')
    backend.json_answers[('desired_state', 'diff')] = Unprocessable(
        "groups.yaml: groups[0].reconcile: must be report or reconcile, got 'x'",
        'groups.yaml: groups[0].reconcile')
    backend.json_answers[('desired_state', 'revisions')] = {
        'items': [{'number': 3, 'time': 1767225600.0, 'who': 'admin', 'reason': 'r',
                   'digest': 'd', 'files': ['a.yaml']}], 'total': 3}

    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, backend):
            files = {'groups.yaml': 'groups: []\n'}
            status, body, headers = await s.req('POST', '/api/v1/config/apply',
                                                json={'files': files, 'reason': 'tune'})
            assert status == 201 and body['revision'] == 3, body
            assert headers['Location'] == '/api/v1/config/revisions/3'
            assert backend.json_requests[-1] == ('desired_state', 'apply', {'files': files},
                                                 'admin', 'tune')
            status, body, _ = await s.req('POST', '/api/v1/config/apply', json={'files': []})
            assert status == 422 and body['error']['field'] == 'files'
            status, body, _ = await s.req('POST', '/api/v1/config/diff', json={'files': files})
            assert status == 422 and body['error']['field'] == 'groups.yaml: groups[0].reconcile'
            status, body, _ = await s.req('POST', '/api/v1/config/apply', token='reader',
                                          json={'files': files})
            assert status == 403
            status, body, _ = await s.req('POST', '/api/v1/config/revisions/9/rollback')
            assert status == 404, body
            status, body, _ = await s.req('POST', '/api/v1/config/revisions/x/rollback')
            assert status == 400 and body['error']['field'] == 'number'
            status, body, _ = await s.req('GET', '/api/v1/config/revisions?limit=1',
                                          token='reader')
            assert status == 200 and body['total'] == 3 and body['limit'] == 1
            assert body['items'][0]['time'] == '2026-01-01T00:00:00.000Z'
    run(check())


def test_rollout_routes(web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    backend = FakeBackend()
    backend.json_answers[('rollouts', 'create')] = ROLLOUT
    backend.json_answers[('rollouts', 'list')] = {'items': [ROLLOUT], 'total': 1}
    backend.json_answers[('rollouts', 'promote')] = ConflictError(
        'rollout R-1 is aborted: it cannot be promoted')
    backend.json_answers[('rollouts', 'get')] = NotFoundError("unknown rollout 'R-9'")

    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, backend):
            status, body, headers = await s.req('POST', '/api/v1/rollouts', json={
                'release': '1.1.0', 'groups': ['phoenix'], 'reason': 'nav fix'})
            assert status == 201 and headers['Location'] == '/api/v1/rollouts/R-1'
            assert body['created_at'] == '2026-01-01T00:00:00.000Z'
            assert body['robots']['r1']['since'] == '2026-01-01T00:00:00.000Z'
            assert backend.json_requests[-1] == (
                'rollouts', 'create', {'release': '1.1.0', 'groups': ['phoenix']}, 'admin',
                'nav fix')
            for bad, field in [({}, 'release'), ({'release': '1', 'groups': 'a'}, 'groups'),
                               ({'release': '1', 'colour': 'red'}, 'colour')]:
                status, body, _ = await s.req('POST', '/api/v1/rollouts', json=bad)
                assert status == 422 and body['error']['field'] == field, body
            status, body, _ = await s.req('POST', '/api/v1/rollouts/R-1/promote',
                                          json={'full': True})
            assert status == 409 and 'aborted' in body['error']['message']
            assert backend.json_requests[-1][2] == {'id': 'R-1', 'full': True}
            status, body, _ = await s.req('GET', '/api/v1/rollouts/R-9', token='reader')
            assert status == 404
            status, body, _ = await s.req('GET', '/api/v1/rollouts?state=paused',
                                          token='reader')
            assert status == 200 and body['total'] == 0
            status, body, _ = await s.req('GET', '/api/v1/rollouts?state=nope')
            assert status == 400 and body['error']['field'] == 'state'
            status, _, _ = await s.req('POST', '/api/v1/rollouts/R-1/abort', token='ops')
            assert status == 403
    run(check())


def test_audit_route(web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    backend = FakeBackend()
    entry: dict[str, Any] = {'id': 7, 'time': 1767225600.0, 'kind': 'rollout.aborted',
                             'who': 'carol', 'robot_id': None, 'target': 'R-1',
                             'action': 'rolling_back', 'reason': 'stop', 'payload': {}}
    backend.json_answers[('audit', 'list')] = {'items': [entry], 'total': 1}

    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, backend):
            status, body, _ = await s.req(
                'GET', '/api/v1/audit?who=carol&kind=rollout.*,config.*&limit=5&offset=0'
                '&since=2026-01-01T00:00:00Z', token='reader')
            assert status == 200 and body['items'][0]['time'] == '2026-01-01T00:00:00.000Z'
            sent = backend.json_requests[-1][2]
            assert sent['who'] == 'carol' and sent['kinds'] == ['rollout.*', 'config.*']
            assert sent['since'] == 1767225600.0 and sent['limit'] == 5
            status, body, _ = await s.req('GET', '/api/v1/audit?kind=bad/kind')
            assert status == 400 and body['error']['field'] == 'kind'
    run(check())
