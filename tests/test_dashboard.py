"""End to end: the operator dashboard in real headless Chromium against the demo fleet.

The demo (3 simulated robots, manager, HTTP bridge; no generated missions) serves the page at
``/``. The test signs in with ``?token=``, waits for the fleet table, makes robot1 stuck (sim
parameter ``fault``) and sends it a mission: the shipped workflow opens a ``robot_stuck``
incident after 3 recoveries, whose card must appear live (SSE, no reload). Acknowledging it
in the page must change it in the API. The screenshot goes to tests/artifacts/dashboard.png
(git-ignored) and to the test's tmp dir.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (never
``playwright install``: the browser is the system's); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any, Iterator

import pytest
import yaml

from fleet_sim.demo import anchor_map_files
from fleet_testing import REPO, Proc, RosGraph, fleet_env, free_port, get_json, http, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run',
                 '--disable-quic']
TOKEN = 'dashboard-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
ROBOTS = ('robot1', 'robot2', 'robot3')
ARTIFACTS = REPO / 'tests' / 'artifacts'
RECOVERY_INTERVAL = 0.3  # s between the stuck robot's recoveries (default 1 s)

# No module-level skip: launch_testing's pytest plugin imports every test module of a
# folder while collecting it, and a skip raised there would skip the whole folder.
try:
    from playwright import sync_api
except ImportError:
    sync_api = None
if not os.access(CHROMIUM, os.X_OK):
    pytestmark = [pytestmark, pytest.mark.skip(
        reason=f'{CHROMIUM} is not installed (apt-get install chromium; '
               'scripts/setup.sh --test-deps does it as root)')]
elif sync_api is None:
    pytestmark = [pytestmark, pytest.mark.skip(
        reason='the playwright package is not installed (pip install -r '
               'requirements/test.txt; scripts/setup.sh --test-deps does it)')]


def three_robot_fleet(tmp_path: pathlib.Path) -> pathlib.Path:
    """The shipped fleet.yaml with only the robots the demo runs: the table shows exactly
    them (robots listed but never started would show as offline rows)."""
    shipped = REPO / 'src' / 'fleet_bringup' / 'config' / 'fleet.yaml'
    data = anchor_map_files(yaml.safe_load(shipped.read_text()), shipped.parent)
    data['robots'] = [r for r in data['robots'] if r['id'] in ROBOTS]
    path = tmp_path / 'fleet.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


class Demo:
    """``python -m fleet_sim.demo`` on a free port, with its API helpers."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.proc = Proc('demo', [
            '-m', 'fleet_sim.demo', '--robots', str(len(ROBOTS)), '--port', str(self.port),
            '--database', str(tmp_path / 'fleet.db'), '--missions', '0',
            '--fleet-config', str(three_robot_fleet(tmp_path))],
            tmp_path, fleet_env(FLEET_TOKEN=TOKEN))

    def get(self, path: str) -> Any:
        return get_json(f'{self.url}/api/v1{path}', AUTH)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        status, data, _ = http('POST', f'{self.url}/api/v1{path}', body, AUTH)
        return status, data

    def log_tail(self) -> str:
        return self.proc.output()[-4000:]


@pytest.fixture
def demo(tmp_path: pathlib.Path) -> Iterator[Demo]:
    d = Demo(tmp_path)
    try:
        def all_online() -> bool:
            page = d.get('/robots')
            return bool(page) and sorted(r['id'] for r in page['items']
                                         if r['connectivity'] == 'online') == list(ROBOTS)
        wait_for(all_online, timeout=60, interval=0.2,
                 message=f'{", ".join(ROBOTS)} online in the demo')
        yield d
    finally:
        d.proc.stop()


@pytest.fixture
def graph() -> Iterator[RosGraph]:
    g = RosGraph()
    yield g
    g.close()




def open_page(pw: Any, problems: list[str]) -> tuple[Any, Any]:
    """Launch Debian's Chromium and open a 1280x800 page whose console errors and uncaught
    exceptions are appended to ``problems``; return (browser, page)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={'width': 1280, 'height': 800})
    page.on('console', lambda m: problems.append(f'console.{m.type}: {m.text}')
            if m.type == 'error' else None)
    page.on('pageerror', lambda e: problems.append(f'page error: {e}'))
    return browser, page


def save_screenshot(page: Any, tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    """Save a screenshot to tests/artifacts/<name> and to the test's tmp dir."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    shutil.copy(path, tmp_path / name)
    print(f'screenshot: {path} (copy: {tmp_path / name})')
    return path


def test_dashboard_shows_the_fleet_and_acknowledges_a_live_incident(
        demo: Demo, graph: RosGraph, tmp_path: pathlib.Path,
        record_property: Any) -> None:
    status, page_html, headers = http('GET', f'{demo.url}/')
    assert status == 200 and 'text/html' in headers.get('Content-Type', ''), (
        f'GET / answered {status}: the dashboard is not served (wire the page and '
        '/static/ routes into fleet_web/app.py)')
    assert 'data-testid="robot-count"' in page_html

    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser, page = open_page(pw, problems)
        try:
            page.goto(f'{demo.url}/?token={TOKEN}')

            # The fleet table: one row per robot, the count header, the token off the URL.
            rows = page.locator('[data-testid="robot-row"]')
            wait_for(lambda: rows.count() == len(ROBOTS), timeout=20,
                     message=f'{len(ROBOTS)} robot rows (have {rows.count()})')
            assert sorted(rows.evaluate_all('rs => rs.map(r => r.dataset.robotId)')) \
                == list(ROBOTS)
            count = page.get_by_test_id('robot-count')
            wait_for(lambda: count.inner_text().strip() == '3 robots · 3 online', timeout=20,
                     message=f'the robot count (now {count.inner_text()!r})')
            assert 'token' not in page.url
            assert page.evaluate("sessionStorage.getItem('fleet.token')") == TOKEN
            page.evaluate('window.__sameDocument = true')  # gone if the page reloads

            # Make robot1 stuck and give it a mission: 3 recoveries open a robot_stuck
            # incident, which must show up in the open page by itself.
            graph.set_parameters('/robot1/sim', fault='stuck',
                           recovery_interval=RECOVERY_INTERVAL)
            code, mission = demo.post('/missions', {
                'waypoints': [{'x': 6.0, 'y': 10.0}], 'pinned_robot': 'robot1',
                'client_ref': 'dashboard-test'})
            assert code == 201, mission

            card = page.locator('[data-testid="incident-card"][data-state="triggered"]')
            try:
                card.first.wait_for(timeout=60_000)
            except sync_api.TimeoutError:
                incidents = demo.get('/incidents')
                raise AssertionError(
                    'no triggered incident card appeared within 60 s; the API lists '
                    f'{incidents!r}\n--- demo log\n{demo.log_tail()}') from None
            assert page.evaluate('window.__sameDocument === true'), 'the page reloaded'
            card = card.first
            incident_id = card.get_attribute('data-incident-id')
            assert incident_id
            api_incident = demo.get(f'/incidents/{incident_id}')
            assert api_incident and api_incident['type'] == 'robot_stuck', api_incident
            assert api_incident['robot_id'] == 'robot1'
            assert 'Robot stuck' in card.inner_text()

            # Acknowledge it in the page; the API says so, and so does the card.
            card.locator('textarea').fill('looking at it (dashboard test)')
            card.get_by_test_id('ack-button').click()
            acked = page.locator(f'[data-testid="incident-card"]'
                                 f'[data-incident-id="{incident_id}"]')
            wait_for(lambda: acked.get_attribute('data-state') == 'acknowledged', timeout=15,
                     message='the card to show acknowledged')
            after = demo.get(f'/incidents/{incident_id}')
            assert after and after['state'] == 'acknowledged', after
            assert acked.get_by_test_id('ack-button').is_disabled()
            assert acked.get_by_test_id('resolve-button').is_enabled()

            path = save_screenshot(page, tmp_path, 'dashboard.png')
            record_property('screenshot', str(path))
        except BaseException:
            save_screenshot(page, tmp_path, 'dashboard-failure.png')
            raise
        finally:
            browser.close()
    assert problems == [], 'the page logged errors:\n' + '\n'.join(problems)
