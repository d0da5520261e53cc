"""End to end: the dashboard's site map and robot controls in real headless Chromium against
the demo fleet (3 simulated robots, manager, HTTP bridge), as tests/test_dashboard.py runs it.

* The map shows every robot where the API says it is: the test reads the drawn robots off the
  page (``window.fleetMap.drawnRobots()``: their centres in page coordinates), converts each
  back to world coordinates with the page's own transform, compares with
  ``/api/v1/robots``, and clicks one at its drawn position to open its popup.
* Pausing robot2 from its map popup (confirm step, operator name and reason) cancels the
  simulator's Nav2 goal (``/robot2/sim`` parameter ``goals_canceled``), shows ``paused`` in the
  popup, the fleet table and the API, and the mission says it waits on the paused robot;
  resuming it from the popup finishes the mission. Both commands are in the audit trail with
  the operator's name and reason.
* The stuck-robot rule pauses robot1: the API says ``paused``, and the robot's pause and the
  operator's resume from the map are on the incident's timeline; the mission then finishes.
* A frame of the map with 1,000 robots is timed in the browser (``fleetMap.benchmark``).

Screenshots of the map, the robot popup and the fleet table go to tests/artifacts/.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import test_dashboard as dashboard
from test_dashboard import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROBOTS,
    TOKEN,
    Demo,
    save_screenshot,
    sync_api,
)

from fleet_testing import RosGraph, wait_for

pytestmark = pytest.mark.e2e
if sync_api is None or not pathlib.Path(CHROMIUM).exists():
    pytestmark = [pytestmark, pytest.mark.skip(
        reason='needs Debian\'s chromium and the playwright package (see test_dashboard)')]

OPERATOR = 'Map Tester'
POSITION_TOLERANCE = 0.05  # m: robots at rest; what the page shows against the API
FRAME_BUDGET_MS = 50.0  # a frame with 1,000 robots; about 1-5 ms measured (see README)


# The same demo (3 robots, no generated missions) and ROS graph as the dashboard test.
demo = dashboard.demo
graph = dashboard.graph


def robots_by_id(demo: Demo) -> dict[str, Any]:
    return {r['id']: r for r in demo.get('/robots')['items']}


def drawn(page: Any) -> dict[str, Any]:
    return {d['id']: d for d in page.evaluate('window.fleetMap.drawnRobots()')}


def control(page: Any, robot_id: str, command: str, reason: str) -> None:
    """Open the robot's popup by clicking it on the map, then confirm ``command``."""
    d = drawn(page)[robot_id]
    page.mouse.click(d['clientX'], d['clientY'])
    popup = page.get_by_test_id('map-popup')
    wait_for(lambda: popup.is_visible() and f'Robot {robot_id}' in popup.inner_text(),
             timeout=10, message=f'the popup of {robot_id}')
    popup.get_by_test_id(f'map-action-{command}').click()
    popup.get_by_test_id('map-operator').fill(OPERATOR)
    popup.get_by_test_id('map-reason').fill(f'{command} from the map test')
    popup.get_by_test_id('map-confirm').click()
    message = popup.get_by_test_id('map-popup-message')
    wait_for(lambda: message.count() and 'sent' in message.inner_text(), timeout=15,
             message=f'{command} to be sent (popup: {popup.inner_text()!r})')


def mission_to(demo: Demo, robot_id: str, x: float, y: float) -> str:
    code, mission = demo.post('/missions', {'waypoints': [{'x': x, 'y': y}],
                                            'pinned_robot': robot_id, 'client_ref': robot_id})
    assert code == 201, mission
    return str(mission['id'])


def open_incident(demo: Demo, robot_id: str) -> str | None:
    items = demo.get(f'/incidents?robot_id={robot_id}&type=robot_stuck')['items']
    return next((i['id'] for i in items if i['state'] != 'resolved'), None)


def timeline_has(demo: Demo, incident: str, kind: str, who: str, command: str) -> bool:
    return any(e['kind'] == kind and e['who'].startswith(who) and command in e['note']
               for e in demo.get(f'/incidents/{incident}')['timeline'])


def position_errors(page: Any, demo: Demo) -> list[str]:
    """Where a robot is drawn off its API pose (read back off the page); [] when every robot
    of the API is drawn where the API says it is."""
    api = robots_by_id(demo)
    shown = drawn(page)
    if sorted(shown) != sorted(api):
        return [f'drawn {sorted(shown)}, API {sorted(api)}']
    errors = []
    for robot_id, d in shown.items():
        x, y = page.evaluate('([x, y]) => window.fleetMap.pageToWorld(x, y)',
                             [d['pageX'], d['pageY']])
        pose = api[robot_id]['pose']
        if abs(x - pose['x']) >= POSITION_TOLERANCE or abs(y - pose['y']) \
                >= POSITION_TOLERANCE:
            errors.append(f'{robot_id} drawn at ({x:.3f}, {y:.3f}), API {pose}')
    return errors


def shoot(target: Any, tmp_path: pathlib.Path, name: str) -> None:
    """Screenshot one element to tests/artifacts/<name> (and the test's tmp dir)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(ARTIFACTS / name))
    (tmp_path / name).write_bytes((ARTIFACTS / name).read_bytes())
    print(f'screenshot: {ARTIFACTS / name}')


def test_site_map_robot_controls_and_true_state(
        demo: Demo, graph: RosGraph, tmp_path: pathlib.Path, record_property: Any) -> None:
    site = demo.get('/site/map')
    assert site['site'] == 'demo-warehouse' and site['occupancy']['width'] == 300
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.on('console', lambda m: problems.append(f'console.{m.type}: {m.text}')
                if m.type == 'error' else None)
        page.on('pageerror', lambda e: problems.append(f'page error: {e}'))
        try:
            page.goto(f'{demo.url}/?token={TOKEN}')
            canvas = page.get_by_test_id('site-map')
            wait_for(lambda: canvas.get_attribute('data-robots-drawn') == str(len(ROBOTS)),
                     timeout=30, message='the map to draw the 3 robots')
            assert sorted(drawn(page)) == list(ROBOTS)
            wait_for(lambda: not position_errors(page, demo), timeout=10,
                     message=f'the drawn robots to match the API: {position_errors(page, demo)}')
            shoot(page.locator('#map-panel'), tmp_path, 'map.png')

            frame_ms = page.evaluate('window.fleetMap.benchmark(1000, 30)')
            record_property('map_frame_ms_1000_robots', round(frame_ms, 2))
            print(f'map frame with 1,000 robots: {frame_ms:.2f} ms')
            assert frame_ms < FRAME_BUDGET_MS

            # Pause robot2 mid-mission from its popup: the simulator's Nav2 goal is canceled.
            mission = mission_to(demo, 'robot2', 28.0, 3.0)
            wait_for(lambda: robots_by_id(demo)['robot2']['mode'] == 'working', timeout=30,
                     message='robot2 working on its mission')
            canceled = graph.get_parameter('/robot2/sim', 'goals_canceled')
            control(page, 'robot2', 'pause', 'pause')
            wait_for(lambda: graph.get_parameter('/robot2/sim', 'goals_canceled') > canceled,
                     timeout=15, message='the simulator to see its Nav2 goal canceled')
            wait_for(lambda: robots_by_id(demo)['robot2']['mode'] == 'paused', timeout=15,
                     message='the API to say robot2 is paused')
            popup = page.get_by_test_id('map-popup')
            wait_for(lambda: popup.get_by_test_id('map-popup-mode').inner_text() == 'paused',
                     timeout=15, message='the popup to say paused')
            wait_for(lambda: (demo.get(f'/missions/{mission}') or {}).get('waiting_on'),
                     timeout=15, message='the mission to say it waits on the paused robot')
            m = demo.get(f'/missions/{mission}')
            assert m['state'] == 'active' and m['robot_paused'] is True
            assert 'robot2 is paused' in m['waiting_on']
            wait_for(lambda: popup.get_by_test_id('map-popup-waiting').count() > 0,
                     timeout=15, message='the popup to show what the mission waits on')
            shoot(page.locator('#map-panel'), tmp_path, 'map_popup.png')
            popup.get_by_role('button', name='Close').click()
            wait_for(lambda: not popup.is_visible(), timeout=5, message='the popup to close')
            row = page.locator('[data-testid="robot-row"][data-robot-id="robot2"]')
            wait_for(lambda: 'paused' in row.inner_text(), timeout=15,
                     message='the fleet table to say paused')
            shoot(page.locator('table.fleet'), tmp_path, 'fleet_table.png')

            control(page, 'robot2', 'resume', 'resume')
            wait_for(lambda: demo.get(f'/missions/{mission}')['state'] == 'succeeded',
                     timeout=90, message='the resumed mission to finish')
            audit = demo.get('/audit?kind=robot.command&robot_id=robot2')['items']
            sent = {(a.get('action') or a.get('kind'), a.get('who'), a.get('reason'))
                    for a in audit}
            who = f'{OPERATOR} (key'
            assert any(w and w.startswith(who) and r == 'pause from the map test'
                       for _, w, r in sent), audit
            assert any(w and w.startswith(who) and r == 'resume from the map test'
                       for _, w, r in sent), audit

            # The stuck rule pauses robot1: the API says paused, and its pause and the
            # operator's resume from the map are on the incident's timeline.
            graph.set_parameters('/robot1/sim', fault='stuck',
                                 recovery_interval=dashboard.RECOVERY_INTERVAL)
            stuck_mission = mission_to(demo, 'robot1', 6.0, 10.0)
            incident = wait_for(lambda: open_incident(demo, 'robot1'), timeout=60,
                                message='a robot_stuck incident for robot1')
            wait_for(lambda: robots_by_id(demo)['robot1']['mode'] == 'paused', timeout=20,
                     message='the stuck rule\'s pause to show in the API')
            graph.set_parameters('/robot1/sim', fault='none')
            control(page, 'robot1', 'resume', 'resume')
            wait_for(lambda: timeline_has(demo, incident, 'robot', 'robot1', 'pause')
                     and timeline_has(demo, incident, 'command', OPERATOR, 'resume'),
                     timeout=20, message='the pause and the resume on the timeline '
                     f'(now {demo.get(f"/incidents/{incident}")["timeline"]})')
            wait_for(lambda: demo.get(f'/missions/{stuck_mission}')['state'] == 'succeeded',
                     timeout=90, message='robot1\'s mission to finish after the resume')
        except BaseException:
            save_screenshot(page, tmp_path, 'map-failure.png')
            raise
        finally:
            browser.close()
    assert problems == [], 'the page logged errors:\n' + '\n'.join(problems)
