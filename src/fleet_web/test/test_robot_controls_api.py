"""Robot controls and the site map over HTTP: who (the operator and the key) and why reach the
manager; a bad operator name is a 422 naming the field; the site map comes from the manager."""

from __future__ import annotations

import pathlib

import test_app as app_test
from test_app import FakeBackend, run, serve

web_yaml = app_test.web_yaml  # the same web.yaml fixture


def test_controls_carry_the_operator_and_the_key(web_yaml: pathlib.Path,
                                                  tmp_path: pathlib.Path) -> None:
    backend = FakeBackend()

    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, backend=backend):
            status, body, _ = await s.req('POST', '/api/v1/robots/r1/commands', token='ops',
                                          json={'command': 'pause', 'operator': ' Ann ',
                                                'reason': 'spill'})
            assert status == 202 and body['command'] == 'pause'
            status, _, _ = await s.req('POST', '/api/v1/robots/r1/commands', token='ops',
                                       json={'command': 'resume'})
            assert status == 202
            status, _, _ = await s.req('POST', '/api/v1/robots/r1/decommission',
                                       token='admin',
                                       json={'operator': 'Bo', 'reason': 'lidar'})
            assert status == 200
            status, body, _ = await s.req('POST', '/api/v1/robots/r1/commands', token='ops',
                                          json={'command': 'pause', 'operator': 'x' * 101})
            assert status == 422 and body['error']['field'] == 'operator'
            status, body, _ = await s.req('POST', '/api/v1/robots/r1/recommission',
                                          token='admin', json={'operator': 7})
            assert status == 422 and body['error']['field'] == 'operator'
    run(check())
    (r1, pause, ann, spill), (_, resume, key_only, _), (_, decomm, bo, lidar) = \
        backend.controls
    assert (r1, pause, spill, resume, decomm, lidar) == ('r1', 'pause', 'spill', 'resume',
                                                        'decommission', 'lidar')
    assert ann.startswith('Ann (key ') and ann.endswith(')') and key_only in ann
    assert bo.startswith('Bo (key ') and '(key ' not in key_only


def test_site_map_is_the_managers(web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    backend = FakeBackend()
    site = {'site': 's', 'frame_id': 'map', 'areas': [], 'docks': [], 'occupancy': None,
            'bounds': {'x_min': 0, 'y_min': 0, 'x_max': 1, 'y_max': 1}}
    backend.json_answers[('site', 'map')] = site

    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, backend=backend):
            status, body, _ = await s.req('GET', '/api/v1/site/map', token='reader')
            assert (status, body) == (200, site)
            status, _, _ = await s.req('GET', '/api/v1/site/map', token=None)
            assert status == 401
    run(check())
    assert backend.json_requests[-1][:2] == ('site', 'map')
