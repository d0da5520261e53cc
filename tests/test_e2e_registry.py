"""End-to-end: the registry as a user of the HTTP API sees it (issue "foundation").

Real processes (manager, HTTP bridge, simulated robots) talk real DDS and HTTP on loopback.
One fleet is started for the whole module; the tests run in file order and the last one
stops every process with SIGTERM.
"""

from __future__ import annotations

import pathlib
import re
import signal
import time
from typing import Any, Callable, Iterator, TypeVar

import pytest

from fleet_testing import ApiClient, Proc, fleet_env, free_port, processes, wait_for
from fleet_web.convert import epoch_from_iso

pytestmark = pytest.mark.e2e

T = TypeVar('T')
TOKEN = 'e2e-registry-admin-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
REPORT_PERIOD = 0.2  # s: the robots report at 5 Hz
STALE_AFTER = 3.0  # periods
OFFLINE_AFTER = 10.0  # periods
SOFTWARE_VERSION = '2.3.4-e2e'
ISO_Z = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$')

FLEET_YAML = """\
site: e2e-registry
robot_defaults: {capabilities: [tote], group: floor}
robots:
  - {id: robot1, capabilities: [tote], group: floor, dock: dock_1}
  - {id: robot2, capabilities: [tote], group: floor, dock: dock_2}
  - {id: robot3, capabilities: [tote, lift], group: heavy, dock: dock_3}
  - {id: robot4, capabilities: [tote], group: floor, dock: dock_4}
map:
  frame_id: map
  areas:
    - {name: floor, x_min: 0.0, y_min: 0.0, x_max: 10.0, y_max: 10.0}
  docks:
    dock_1: {x: 1.0, y: 1.0, theta: 1.5708}
    dock_2: {x: 3.0, y: 1.0, theta: 1.5708}
    dock_3: {x: 5.0, y: 1.0, theta: 1.5708}
    dock_4: {x: 7.0, y: 1.0, theta: 1.5708}
"""
DOCKS = {'robot1': (1.0, 1.0), 'robot2': (3.0, 1.0), 'robot3': (5.0, 1.0), 'robot4': (7.0, 1.0)}

# The bridge's config (the documented config/web.yaml format): no webhooks, and a rate limit
# high enough for polling once API keys and rate limiting are enforced.
WEB_YAML = """\
api_keys: []
rate_limit: {per_second: 10000, burst: 10000}
webhooks: []
"""


class Fleet(ApiClient):
    """The processes of this module and an HTTP client for the bridge."""

    def __init__(self, log_dir: pathlib.Path, procs: list[Proc], fleet_config: pathlib.Path,
                 port: int) -> None:
        self.auth = AUTH
        self.log_dir = log_dir
        self.procs = procs
        self.fleet_config = fleet_config
        self.base = f'http://127.0.0.1:{port}'
        self.by_name: dict[str, Proc] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, args, self.log_dir, env=env)
        self.procs.append(proc)
        self.by_name[name] = proc
        return proc

    def logs(self, lines: int = 40) -> str:
        return '\n'.join(f'--- {p.name} ({p.log_path}) ---\n{p.tail(lines)}'
                         for p in self.procs)

    def wait(self, condition: Callable[[], T], timeout: float, message: str) -> T:
        """wait_for, with the processes' log tails in the failure message."""
        try:
            return wait_for(condition, timeout, interval=0.05, message=message)
        except AssertionError as exc:
            raise AssertionError(f'{exc}\n{self.logs()}') from None

    # -- HTTP: request() and get() come from ApiClient --------------------------------


@pytest.fixture(scope='module')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    log_dir = tmp_path_factory.mktemp('e2e_registry')
    fleet_config = log_dir / 'fleet.yaml'
    fleet_config.write_text(FLEET_YAML)
    web_config = log_dir / 'web.yaml'
    web_config.write_text(WEB_YAML)
    port = free_port()
    with processes(log_dir) as procs:
        f = Fleet(log_dir, procs, fleet_config, port)
        f.start('manager', [
            '-m', 'fleet_manager.manager_node', '--ros-args',
            '-p', f'database:={log_dir / "fleet.db"}', '-p', f'fleet_config:={fleet_config}',
            '-p', f'report_period:={REPORT_PERIOD}',
            '-p', f'stale_after_periods:={STALE_AFTER}',
            '-p', f'offline_after_periods:={OFFLINE_AFTER}',
            '-p', 'tick_period:=0.05', '-p', 'robot_lost_after:=2.0', '-p', 'max_attempts:=3'])
        f.start('robots', [
            '-m', 'fleet_sim.fleet', 'robot1', 'robot2', 'robot3', '--report-rate', '5',
            '--speed', '5', '--fleet-config', str(fleet_config),
            '--software-version', SOFTWARE_VERSION])
        f.start('web', ['-m', 'fleet_web.web_node', '--port', str(port),
                        '--state', str(log_dir / 'fleet_web.db'), '--config', str(web_config)],
                env=fleet_env(FLEET_TOKEN=TOKEN))
        f.wait(lambda: (f.get('/api/v1/health') or {}).get('manager') == 'reachable', 30.0,
               'the bridge to serve and reach the manager')
        yield f


def robot_problems(robot: dict[str, Any]) -> list[str]:
    """What is missing or wrong in an online robot's API representation."""
    problems = []
    rid = robot.get('id')
    if robot.get('connectivity') != 'online':
        problems.append(f'{rid}: connectivity {robot.get("connectivity")!r}')
    if robot.get('mode') not in ('idle', 'charging'):
        problems.append(f'{rid}: mode {robot.get("mode")!r} (an idle robot at its dock)')
    battery = robot.get('battery')
    if isinstance(battery, bool) or not isinstance(battery, (int, float)) \
            or not 0.0 <= battery <= 1.0:
        problems.append(f'{rid}: battery {battery!r} not in 0..1')
    pose = robot.get('pose') or {}
    if not all(isinstance(pose.get(k), (int, float)) for k in ('x', 'y', 'theta')):
        problems.append(f'{rid}: pose {pose!r}')
    elif rid in DOCKS and (abs(pose['x'] - DOCKS[rid][0]) > 0.05
                           or abs(pose['y'] - DOCKS[rid][1]) > 0.05):
        problems.append(f'{rid}: pose {pose!r} is not its dock {DOCKS[rid]}')
    last_seen = robot.get('last_seen')
    if not isinstance(last_seen, str) or not ISO_Z.match(last_seen):
        problems.append(f'{rid}: last_seen {last_seen!r} is not ISO-8601 UTC with Z')
    elif abs(epoch_from_iso(last_seen) - time.time()) > 10.0:
        problems.append(f'{rid}: last_seen {last_seen} is not recent')
    if robot.get('software_version') != SOFTWARE_VERSION:
        problems.append(f'{rid}: software_version {robot.get("software_version")!r}')
    return problems


def test_lists_three_online_robots_with_all_fields(fleet: Fleet) -> None:
    def all_online() -> dict[str, Any] | None:
        body = fleet.get('/api/v1/robots')
        if not body:
            return None
        online = [r for r in body['items']
                  if r['id'] in ('robot1', 'robot2', 'robot3') and not robot_problems(r)]
        return body if len(online) == 3 else None

    try:
        body = wait_for(all_online, 30.0, interval=0.1, message='three online robots')
    except AssertionError:
        body = fleet.get('/api/v1/robots')
        problems = [p for r in (body or {}).get('items', []) if r.get('id') != 'robot4'
                    for p in robot_problems(r)]
        raise AssertionError(f'robots not all online with every field within 30 s: '
                             f'{problems}\nGET /api/v1/robots: {body}\n{fleet.logs()}') from None

    assert set(body) >= {'items', 'total', 'limit', 'offset'}, body
    by_id = {r['id']: r for r in body['items']}
    # robot4 is in the fleet definition but its process does not run yet: listed, never seen.
    assert set(by_id) == {'robot1', 'robot2', 'robot3', 'robot4'}, body
    assert body['total'] == 4 and body['offset'] == 0, body
    assert by_id['robot4']['connectivity'] == 'offline', by_id['robot4']
    assert by_id['robot4']['last_seen'] is None, by_id['robot4']
    assert by_id['robot3']['capabilities'] == ['tote', 'lift'], by_id['robot3']

    one = fleet.get('/api/v1/robots/robot2')
    assert one is not None and one['id'] == 'robot2' and not robot_problems(one), one


def test_killed_robot_goes_stale_then_offline_on_schedule(fleet: Fleet) -> None:
    lone = fleet.start('robot4', [
        '-m', 'fleet_sim.fleet', 'robot4', '--report-rate', '5', '--speed', '5',
        '--fleet-config', str(fleet.fleet_config), '--software-version', SOFTWARE_VERSION])

    def robot4() -> dict[str, Any]:
        return fleet.get('/api/v1/robots/robot4') or {}

    first = fleet.wait(lambda: robot4() if robot4().get('connectivity') == 'online' else None,
                       30.0, 'robot4 online')
    # Steady reporting: last_seen moves on (a few more statuses) before the crash.
    fleet.wait(lambda: (robot4().get('last_seen') or '') > first['last_seen'], 5.0,
               'robot4 to report again')

    kill_time = time.time()
    lone.kill()  # SIGKILL: the robot vanishes without a word
    seen: list[tuple[str, float]] = []

    def offline() -> bool:
        c = robot4().get('connectivity')
        if c and (not seen or seen[-1][0] != c):
            seen.append((c, time.time()))
        return c == 'offline'

    fleet.wait(offline, 15.0, 'robot4 offline after SIGKILL')
    assert [c for c, _ in seen] == ['online', 'stale', 'offline'] or \
        [c for c, _ in seen] == ['stale', 'offline'], f'connectivity as polled: {seen}'

    robot = robot4()
    last_seen = epoch_from_iso(robot['last_seen'])
    status, body, _ = fleet.request(
        'GET', '/api/v1/events?robot_id=robot4&kind=robot.connectivity&limit=1000')
    assert status == 200, body
    items = body['items']
    ids = [e['id'] for e in items]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), f'event ids not increasing: {ids}'
    assert all(e['kind'] == 'robot.connectivity' and e['robot_id'] == 'robot4' for e in items)
    steps = [(e['payload']['from'], e['payload']['to']) for e in items]
    assert steps == [('offline', 'online'), ('online', 'stale'), ('stale', 'offline')], \
        f'connectivity events of robot4: {items}'

    stale_at, offline_at = epoch_from_iso(items[1]['time']), epoch_from_iso(items[2]['time'])
    period, eps = REPORT_PERIOD, 0.01  # API times have millisecond precision
    # The last status arrived before the kill (give a status already in flight some slack).
    assert last_seen <= kill_time + 0.1, (robot, kill_time)
    assert kill_time - last_seen <= 1.0, f'robot4 was not reporting before the kill: {robot}'
    timing = (f'last status {robot["last_seen"]}, stale at {items[1]["time"]}, '
              f'offline at {items[2]["time"]}, kill at {kill_time:.3f}')
    assert stale_at - last_seen >= STALE_AFTER * period - eps, f'stale too early: {timing}'
    assert offline_at - last_seen >= OFFLINE_AFTER * period - eps, \
        f'offline before {OFFLINE_AFTER:g} report periods: {timing}'
    # At most one report period passed between the last status and the kill.
    assert offline_at - kill_time >= (OFFLINE_AFTER - 1) * period - eps, \
        f'offline too soon after the kill: {timing}'
    # ... and not much later than scheduled (tick period 0.05 s; generous for a busy machine).
    assert stale_at - last_seen <= STALE_AFTER * period + 1.0, f'stale too late: {timing}'
    assert offline_at - last_seen <= OFFLINE_AFTER * period + 1.0, f'offline too late: {timing}'


def test_unknown_robot_is_404_with_json_error(fleet: Fleet) -> None:
    status, body, headers = fleet.request('GET', '/api/v1/robots/no_such_robot')
    assert status == 404, (status, body)
    assert headers.get('Content-Type', '').startswith('application/json'), headers
    assert isinstance(body, dict) and set(body) == {'error'}, body
    error = body['error']
    assert set(error) == {'code', 'message', 'field'}, error
    assert error['code'] == 'not_found', error
    assert 'no_such_robot' in error['message'], error


def test_sigterm_exits_every_process_cleanly(fleet: Fleet) -> None:
    results = {}
    for name in ('robots', 'web', 'manager'):
        proc = fleet.by_name[name]
        assert proc.alive(), f'{name} died before SIGTERM:\n{proc.tail()}'
        code = proc.stop(signal.SIGTERM, timeout=20.0)
        results[name] = (code, proc.log_path.read_text(errors='replace'))
    bad = {name: code for name, (code, log) in results.items()
           if code != 0 or 'Traceback' in log}
    assert not bad, 'exit codes / tracebacks after SIGTERM: ' + '; '.join(
        f'{name}: exit {code}' for name, code in bad.items()) + '\n' + '\n'.join(
        f'--- {name} ---\n' + '\n'.join(results[name][1].splitlines()[-40:]) for name in bad)
