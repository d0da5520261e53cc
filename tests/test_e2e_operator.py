"""End to end: what an operator's tools see across a bridge restart.

Real processes (manager, two simulated robots with their agents, the HTTP bridge) over real
DDS and HTTP on 127.0.0.1, and Debian's Chromium for the browser test:

* ``/metrics`` still counts an open incident after the bridge restarts (the gauge is rebuilt
  from the manager's incidents, not from the bridge's cursor);
* a browser ``EventSource`` opened with a stream ticket receives every event through
  ``onmessage`` and, when the bridge restarts under it, resumes by itself (Last-Event-ID)
  with no gap, events logged during the outage included.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any, Iterator

import pytest
import yaml

from fleet_msgs.srv import SendRobotCommand
from fleet_sim.demo import anchor_map_files
from fleet_testing import REPO, ApiClient, Proc, RosGraph, fleet_env, free_port, http, wait_for

TOKEN = 'operator-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run',
                 '--disable-quic']
try:
    from playwright import sync_api
except ImportError:
    sync_api = None
BROWSER_SKIP = (f'{CHROMIUM} is not installed' if not os.access(CHROMIUM, os.X_OK) else
                'the playwright package is not installed' if sync_api is None else '')


class Fleet(ApiClient):
    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.auth = AUTH
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.base = f'{self.url}/api/v1'
        self.web_yaml = tmp / 'web.yaml'
        self.web_yaml.write_text('rate_limit: {per_second: 1000, burst: 1000}\n')
        shipped = REPO / 'src' / 'fleet_bringup' / 'config' / 'fleet.yaml'
        # map.occupancy is relative to the shipped file; the copy names the same map.
        fleet = anchor_map_files(yaml.safe_load(shipped.read_text()), shipped.parent)
        fleet['robots'] = fleet['robots'][:2]
        (tmp / 'fleet.yaml').write_text(yaml.safe_dump(fleet))
        env = fleet_env(FLEET_TOKEN=TOKEN)
        self.manager = Proc('manager', [
            '-m', 'fleet_manager.manager_node', '--ros-args',
            '-p', f'database:={tmp / "fleet.db"}', '-p', f'fleet_config:={tmp / "fleet.yaml"}',
            '-p', 'report_period:=0.2', '-p', 'tick_period:=0.05'], tmp, env)
        self.robots = Proc('robots', ['-m', 'fleet_sim.fleet', 'robot1', 'robot2',
                                      '--report-rate', '5', '--speed', '2'], tmp, env)
        self.bridges = [self.start_bridge('web1')]

    @property
    def bridge(self) -> Proc:
        return self.bridges[-1]

    def start_bridge(self, name: str) -> Proc:
        return Proc(name, ['-m', 'fleet_web.web_node', '--port', str(self.port),
                           '--state', str(self.tmp / 'web.db'), '--config',
                           str(self.web_yaml)], self.tmp, fleet_env(FLEET_TOKEN=TOKEN))

    def restart_bridge(self) -> None:
        """Stop the bridge (SIGTERM, as a service manager does) and start it again."""
        assert self.bridge.stop() == 0, self.bridge.tail()
        self.bridges.append(self.start_bridge(f'web{len(self.bridges) + 1}'))

    def wait_bridge(self) -> None:
        wait_for(lambda: (self.get('/health') or {}).get('manager') == 'reachable',
                 timeout=30, message='the bridge up, talking to the manager')

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        status, data, _ = self.request('POST', path, body if body is not None else {})
        return status, data

    def metric(self, name: str) -> float | None:
        status, text, _ = http('GET', f'{self.url}/metrics')
        if status != 200:
            return None
        found = re.search(rf'^{re.escape(name)} (\S+)$', text, re.M)
        return float(found.group(1)) if found else None

    def log_ids(self, after: int) -> list[int]:
        ids = []
        while True:
            page = self.get(f'/events?after={after}&limit=1000')
            assert page is not None
            if not page['items']:
                return ids
            ids += [e['id'] for e in page['items']]
            after = page['next_after']

    def procs(self) -> list[Proc]:
        return [self.manager, self.robots, *self.bridges]


@pytest.fixture(scope='module')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp('operator'))
    try:
        wait_for(lambda: sum(r['connectivity'] == 'online'
                             for r in (f.get('/robots') or {}).get('items', [])) == 2,
                 timeout=60, message='robot1 and robot2 online')
        yield f
    finally:
        codes = {p.name: p.stop() for p in reversed(f.procs())}
        assert set(codes.values()) == {0}, codes
        for p in f.procs():
            assert 'Traceback' not in p.output(), p.output()[-3000:]


def test_open_incidents_gauge_survives_a_bridge_restart(fleet: Fleet) -> None:
    graph = RosGraph()
    try:
        graph.set_parameters('/robot1/sim', fault='stuck', recovery_interval=0.3,
                             max_recoveries=200)
        status, mission = fleet.post('/missions', {'waypoints': [{'x': 2.0, 'y': 12.0}],
                                                   'pinned_robot': 'robot1'})
        assert status == 201, mission
        incident = wait_for(lambda: (fleet.get('/incidents?state=triggered') or {}).get('items'),
                            timeout=30, message='an incident for the stuck robot1')
        assert len(incident) == 1, incident
        wait_for(lambda: fleet.metric('fleet_incidents_open') == 1.0, timeout=10,
                 message='fleet_incidents_open 1 before the restart')
        graph.set_parameters('/robot1/sim', fault='none')
        # The operator resumes the robot the stuck rule paused: an intervention on its
        # mission, in the mission's view and on its timeline.
        status, _ = fleet.post('/robots/robot1/commands', {'command': 'resume',
                                                           'reason': 'box moved'})
        assert status == 202

        def resume_on_timeline() -> list[dict[str, Any]]:
            timeline = fleet.get(f'/missions/{mission["id"]}/events')['items']
            return [e for e in timeline if e['kind'] == 'robot.event'
                    and e['payload']['type'] == 'command'
                    and e['payload']['data'].get('command') == 'resume']
        resumed = wait_for(resume_on_timeline, timeout=15, message='the resume on the timeline')
        assert resumed[0]['payload']['intervention'] is True, resumed
        flagged = [e for e in fleet.get(f'/missions/{mission["id"]}/events')['items']
                   if e['kind'] == 'robot.event' and e['payload'].get('intervention')]
        assert fleet.get(f'/missions/{mission["id"]}')['interventions'] == len(flagged) >= 1
    finally:
        graph.close()

    fleet.restart_bridge()
    fleet.wait_bridge()
    # The restarted bridge reads the log only after its cursor, where no incident opened.
    wait_for(lambda: fleet.metric('fleet_incidents_open') == 1.0, timeout=10,
             message='fleet_incidents_open 1 after the restart '
                     f'(it says {fleet.metric("fleet_incidents_open")})')
    online = fleet.metric('fleet_robots{connectivity="online"}')
    assert online == 2.0, online
    # And it follows the log from there: resolving it brings the gauge to 0.
    status, body = fleet.post(f'/incidents/{incident[0]["id"]}/resolve', {'note': 'cleared'})
    assert status == 200, body
    wait_for(lambda: fleet.metric('fleet_incidents_open') == 0.0, timeout=10,
             message='fleet_incidents_open 0 once resolved')


EVENT_SOURCE_JS = """(url) => {
  window.got = []; window.opens = 0; window.closed = false; window.named = [];
  const source = new EventSource(url);
  source.onopen = () => { window.opens += 1; };
  source.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    window.got.push({id: Number(msg.lastEventId), dataId: event.id, kind: event.kind});
  };
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) window.closed = true; };
  window.source = source;
}"""


@pytest.mark.skipif(bool(BROWSER_SKIP), reason=BROWSER_SKIP or 'runs')
def test_browser_event_source_with_a_ticket_resumes_without_a_gap(fleet: Fleet) -> None:
    fleet.wait_bridge()
    status, ticket = fleet.post('/events/stream-ticket')
    assert status == 201, ticket
    graph = RosGraph()
    command = graph.node('operator_test').create_client(SendRobotCommand, '/fleet/robot_command')

    def command_over_ros(n: int) -> None:
        """Log events without the bridge (it may be down): robot.command via the manager."""
        for _ in range(n):
            resp = graph.call(command, SendRobotCommand.Request(
                robot_id='robot2', command='resume', args_json='{}', who='test', reason='gap'))
            assert resp.success, resp.error_msg

    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f'{fleet.url}/api/v1/health')  # any page of the bridge's origin
            start_id = fleet.get('/events?after=4611686018427387904&limit=1')['last_id']
            page.evaluate(EVENT_SOURCE_JS, ticket['url'])
            wait_for(lambda: page.evaluate('window.opens') == 1, timeout=10,
                     message='the EventSource open')
            command_over_ros(3)
            wait_for(lambda: len(page.evaluate('window.got')) >= 3, timeout=15,
                     message='events through onmessage')
            before = page.evaluate('window.got')
            # From now: nothing older than the stream.
            assert before[0]['id'] > start_id, (before[0], start_id)

            fleet.restart_bridge()  # the connection drops server-side
            command_over_ros(3)  # logged while the bridge is down or starting
            fleet.wait_bridge()
            wait_for(lambda: page.evaluate('window.opens') >= 2, timeout=20,
                     message='the EventSource reconnected by itself')
            command_over_ros(3)
            last = fleet.get('/events?after=4611686018427387904&limit=1')['last_id']
            wait_for(lambda: page.evaluate('window.got')[-1]['id'] >= last, timeout=20,
                     message=f'the browser caught up to event {last}')
            got = page.evaluate('window.got')
            assert not page.evaluate('window.closed')
            browser.close()
    finally:
        graph.close()
    ids = [e['id'] for e in got]
    assert all(e['id'] == e['dataId'] and e['kind'] for e in got), got
    first = ids[0]
    # Every event from the first one received on, once each, in order: no gap, no repeat.
    assert ids == fleet.log_ids(first - 1)[:len(ids)], ids
    assert ids == list(range(first, first + len(ids))), ids
    assert len(ids) >= 9
    for proc in fleet.bridges:  # the ticket is a credential: never logged
        assert ticket['ticket'] not in proc.output()
    print(json.dumps({'events': len(ids), 'first': first, 'last': ids[-1]}))


@pytest.mark.skipif(bool(BROWSER_SKIP), reason=BROWSER_SKIP or 'runs')
def test_phone_layout_puts_open_incidents_above_the_missions(fleet: Fleet) -> None:
    fleet.wait_bridge()
    graph = RosGraph()
    try:
        graph.set_parameters('/robot1/sim', fault='stuck', recovery_interval=0.3,
                             max_recoveries=200)
        for n in range(6):  # mission rows to push an incident down, as on a busy site
            status, _ = fleet.post('/missions', {'waypoints': [{'x': 20.0 + n, 'y': 3.0}],
                                                 'pinned_robot': 'robot1'})
            assert status == 201
        incident = wait_for(lambda: (fleet.get('/incidents?state=triggered') or {}).get(
            'items'), timeout=30, message='an open incident')[0]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={'width': 390, 'height': 844},
                                    device_scale_factor=2)
            page.goto(f'{fleet.url}/?token={TOKEN}')
            card = page.locator(f'[data-testid="incident-card"]'
                                f'[data-incident-id="{incident["id"]}"]')
            card.wait_for(timeout=15000)
            page.locator('#mission-rows tr').first.wait_for(timeout=15000)
            tops = page.evaluate("""() => Object.fromEntries(
                [['incident', '[data-testid="incident-card"]'], ['missions', '#mission-rows tr'],
                 ['fleet', '#robot-rows tr']].map(([k, sel]) => [k,
                 document.querySelector(sel).getBoundingClientRect().top + scrollY]))""")
            width = page.evaluate('document.documentElement.scrollWidth')
            artifacts = REPO / 'tests' / 'artifacts'
            artifacts.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(artifacts / 'phone.png'), full_page=True)
            browser.close()
        assert tops['incident'] < tops['fleet'] < tops['missions'], tops
        assert tops['incident'] < 844, f'the open incident is not on the first screen: {tops}'
        assert width <= 390, f'the page is {width} px wide on a 390 px screen'
    finally:
        graph.set_parameters('/robot1/sim', fault='none')
        graph.close()
