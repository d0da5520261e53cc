"""The rollout view in real headless Chromium, against the real HTTP app and a fake fleet.

The app (fleet_web.app.create_app) serves ``/rollouts`` over a socket; its backend answers
the manager's JSON calls from canned rollouts. The page must list them with their progress,
show the selected one's robots and gate results, send an abort (with the token, who is the
key's name) and show what the API answered, and list the drifted robots.

Needs Debian's chromium and the playwright package; skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import pathlib
import threading
from typing import Any, Iterator

from aiohttp import web
import pytest

from fleet_testing import wait_for
from fleet_web.api_errors import NotFoundError
from fleet_web.app import WebConfig, create_app, load_services
from fleet_web.auth import hash_token
from fleet_web.ros_bridge import EventFeed

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
TOKEN = 'rollout-view-token'

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f'{CHROMIUM} is not installed (apt-get install chromium)',
                allow_module_level=True)
sync_api = pytest.importorskip('playwright.sync_api',
                               reason='the playwright package is not installed')

GATE = {'verdict': 'fail', 'canary_missions': 4, 'baseline_missions': 9,
        'baseline_scope': 'window', 'detail': '', 'step': 0,
        'checks': [{'metric': 'mission_success', 'canary': 0.5, 'baseline': 1.0,
                    'limit': 'min 0.8', 'verdict': 'fail',
                    'detail': '0.5 below the minimum 0.8'}]}
STEPS = [{'name': 'canary', 'robots': 1, 'percent': None, 'bake_missions': 8,
          'bake_seconds': 0}, {'name': '50%', 'robots': None, 'percent': 50,
                               'bake_missions': 4, 'bake_seconds': 0},
         {'name': '100%', 'robots': None, 'percent': 100, 'bake_missions': 0,
          'bake_seconds': 0}]
ROLLOUTS = {
    'R-2': {'id': 'R-2', 'release': '1.1.0', 'state': 'progressing', 'pause_cause': None,
            'step': 1, 'step_name': '50%', 'steps': 3, 'target': 2, 'scope': 4,
            'created_by': 'bob', 'created_at': 1767225600.0, 'reason': 'nav tuning',
            'outcome': '', 'phases': {'updated': 2}, 'strategy': {'steps': STEPS},
            'order': ['robot3', 'robot1', 'robot4', 'robot2'],
            'robots': {'robot3': {'phase': 'updated', 'previous_version': '1.0.0'},
                       'robot1': {'phase': 'updated', 'previous_version': '1.0.0'}},
            'gates': [{**GATE, 'verdict': 'pass', 'checks': []}],
            'evaluation': {**GATE, 'verdict': 'inconclusive', 'canary_missions': 1,
                           'detail': '1 of 4 missions needed', 'checks': []}},
    'R-1': {'id': 'R-1', 'release': '1.1.0-bad', 'state': 'rolled_back', 'pause_cause': None,
            'step': 0, 'step_name': 'canary', 'steps': 3, 'target': 1, 'scope': 4,
            'created_by': 'alice', 'created_at': 1767222000.0, 'reason': 'try it',
            'outcome': 'gate failed', 'phases': {'reverted': 1},
            'strategy': {'steps': STEPS}, 'order': ['robot3'],
            'robots': {'robot3': {'phase': 'reverted', 'previous_version': '1.0.0'}},
            'gates': [GATE]},
}


class Fleet:
    """The part of the FleetBackend protocol the app and the page use."""

    def __init__(self) -> None:
        self.rollouts = copy.deepcopy(ROLLOUTS)
        self.calls: list[tuple[str, str, dict[str, Any], str, str]] = []

    async def json_call(self, service: str, action: str, body: dict[str, Any],
                        who: str = '', reason: str = '') -> dict[str, Any]:
        self.calls.append((service, action, body, who, reason))
        if service == 'rollouts' and action == 'list':
            return {'items': list(self.rollouts.values()), 'total': len(self.rollouts)}
        if service == 'rollouts' and action in ('get', 'abort'):
            r = self.rollouts.get(body['id'])
            if r is None:
                raise NotFoundError(f'unknown rollout {body["id"]!r}')
            if action == 'abort':
                r.update(state='rolling_back', evaluation=None)
            return r
        if service == 'desired_state' and action == 'robots':
            return {'revision': 4, 'items': [
                {'robot_id': 'robot3', 'state': 'drifted', 'policy': 'report',
                 'groups': ['chicago'], 'reported_version': '1.1.0', 'unreachable': [],
                 'drifted': [{'node': 'controller_server', 'name': 'FollowPath.x',
                              'declared': 0.8, 'actual': 1.5}]},
                {'robot_id': 'robot1', 'state': 'in_sync', 'policy': 'reconcile',
                 'groups': ['phoenix'], 'reported_version': '1.1.0', 'unreachable': [],
                 'drifted': []}]}
        raise NotFoundError(f'{service} {action}')

    async def list_robots(self, robot_id: str = '') -> list[dict[str, Any]]:
        return []

    async def list_incidents(self, *args: Any) -> tuple[list[dict[str, Any]], int]:
        return [], 0

    async def get_events(self, after: int, limit: int, kinds: list[str],
                         robot_id: str = '') -> tuple[list[dict[str, Any]], int]:
        return [], 0

    def subscribe(self) -> EventFeed:
        return EventFeed()

    def unsubscribe(self, feed: EventFeed) -> None:
        pass


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[tuple[str, Fleet]]:
    web_yaml = tmp_path / 'web.yaml'
    web_yaml.write_text(json.dumps({'api_keys': [{'name': 'carol', 'scopes': ['admin'],
                                                  'token_sha256': hash_token(TOKEN)}],
                                    'rate_limit': {'per_second': 1000, 'burst': 1000}}))
    fleet = Fleet()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[web.AppRunner, int]:
        services = load_services(str(web_yaml), str(tmp_path / 'state.db'), env={})
        runner = web.AppRunner(create_app(WebConfig(), fleet, services))  # type: ignore
        await runner.setup()
        site = web.TCPSite(runner, '127.0.0.1', 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(20)
    try:
        yield f'http://127.0.0.1:{port}', fleet
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_the_rollout_view_shows_progress_gates_drift_and_aborts(
        served: tuple[str, Fleet], tmp_path: pathlib.Path) -> None:
    url, fleet = served
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.on('console', lambda m: problems.append(f'console.{m.type}: {m.text}')
                if m.type == 'error' else None)
        page.on('pageerror', lambda e: problems.append(f'page error: {e}'))
        page.on('dialog', lambda d: d.accept())
        try:
            page.goto(f'{url}/rollouts?token={TOKEN}')
            rows = page.locator('[data-testid="rollout-row"]')
            wait_for(lambda: rows.count() == 2, 20, message='two rollout rows')
            assert rows.evaluate_all('rs => rs.map(r => r.dataset.id)') == ['R-2', 'R-1']
            assert '2/4' in rows.first.inner_text() and 'progressing' in rows.first.inner_text()
            assert 'token' not in page.url

            # The newest rollout is shown: its robots and its gates, newest first.
            wait_for(lambda: page.get_by_test_id('gate').count() == 2, 20,
                     message='R-2 gates')
            assert 'Gate now' in page.get_by_test_id('gate').first.inner_text()
            phases = page.get_by_test_id('robot-phases').inner_text()
            assert 'robot3' in phases and 'updated' in phases
            assert page.get_by_test_id('action-resume').is_disabled()

            rows.nth(1).click()  # the rolled back one: its failed gate, no action allowed
            wait_for(lambda: 'R-1' in page.locator('#detail-title').inner_text(), 10,
                     message='R-1 selected')
            gate = page.get_by_test_id('gate').first
            wait_for(lambda: 'mission_success' in gate.inner_text(), 10, message='R-1 gate')
            assert '0.5 below the minimum 0.8' in gate.inner_text()
            assert page.get_by_test_id('action-abort').is_disabled()

            rows.first.click()
            wait_for(lambda: page.get_by_test_id('action-abort').is_enabled(), 10,
                     message='abort enabled for R-2')
            page.get_by_test_id('action-abort').click()
            wait_for(lambda: 'now rolling back' in page.locator('#action-msg').inner_text(),
                     10, message='the abort acknowledged')
            abort = [c for c in fleet.calls if c[1] == 'abort']
            assert abort and abort[0][2] == {'id': 'R-2'} and abort[0][3] == 'carol'

            drift = page.locator('[data-testid="drift-row"]')
            wait_for(lambda: drift.count() == 1, 10, message='one drifted robot')
            assert 'FollowPath.x: 1.5 (declared 0.8)' in drift.first.inner_text()
            assert page.get_by_test_id('revision').inner_text() == \
                'Desired state: revision 4'
            page.screenshot(path=str(tmp_path / 'rollouts.png'))
        finally:
            browser.close()
    assert problems == [], 'the page logged errors:\n' + '\n'.join(problems)
