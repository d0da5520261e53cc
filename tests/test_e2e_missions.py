"""End-to-end: missions as a client of the HTTP API sees them (issue "missions").

Real processes on loopback: the fleet manager, the HTTP bridge and five simulated robots
(one process). One fleet is started for the whole module and the tests run in file order;
each waits for the missions it submits to end, so the next one starts from an idle fleet.
What is asserted is what a user sees: HTTP bodies and status codes, the mission and event
lists, and the simulated robots' own ROS parameters (``goals_received``, the number of Nav2
goals each robot accepted, counts executions independently of the manager).
"""

from __future__ import annotations

import json
import math
import pathlib
import random
import re
from typing import Any, Callable, Iterator, TypeVar
import uuid

import pytest

from fleet_testing import ApiClient, Proc, RosGraph, fleet_env, free_port, processes, wait_for
from fleet_web.convert import epoch_from_iso

pytestmark = pytest.mark.e2e

T = TypeVar('T')
TOKEN = 'e2e-missions-admin-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
ROBOTS = ('robot1', 'robot2', 'robot3', 'robot4', 'robot5')  # simulated, in one process
ABSENT_ROBOT = 'robot6'  # in the fleet definition, never started
SPEED = 5.0  # m/s
ANGULAR_SPEED = 6.0  # rad/s
MAX_ATTEMPTS = 2
OFFLINE_GRACE = 5.0  # s: robot_lost_after. Not shorter: with other test processes on the
# machine, a robot process can go unheard for a few seconds, and its mission is then
# (rightly) requeued, which the SIGKILL test counts as a repeat.
MAP = (0.0, 0.0, 16.0, 16.0)  # x_min, y_min, x_max, y_max
NAV_NO_VALID_PATH = 208  # the Nav2 code the simulator's fail_next_goal aborts with

FLEET_YAML = """\
site: e2e-missions
robot_defaults: {capabilities: [tote], group: floor}
robots:
  - {id: robot1, capabilities: [tote], group: floor, dock: dock_1}
  - {id: robot2, capabilities: [tote], group: floor, dock: dock_2}
  - {id: robot3, capabilities: [tote], group: floor, dock: dock_3}
  - {id: robot4, capabilities: [tote, lift], group: heavy, dock: dock_4}
  - {id: robot5, capabilities: [tote, lift], group: heavy, dock: dock_5}
  # Listed but never started: missions pinned to it stay queued and are never executed.
  - {id: robot6, capabilities: [tote], group: floor, dock: dock_6}
map:
  frame_id: map
  areas:
    - {name: floor, x_min: 0.0, y_min: 0.0, x_max: 16.0, y_max: 16.0}
  docks:
    dock_1: {x: 2.0, y: 1.0, theta: 1.5708}
    dock_2: {x: 5.0, y: 1.0, theta: 1.5708}
    dock_3: {x: 8.0, y: 1.0, theta: 1.5708}
    dock_4: {x: 11.0, y: 1.0, theta: 1.5708}
    dock_5: {x: 14.0, y: 1.0, theta: 1.5708}
    dock_6: {x: 15.0, y: 15.0, theta: 0.0}
"""

# The bridge's config (the documented config/web.yaml format): no webhooks, and a rate limit
# high enough for polling once API keys and rate limiting are enforced.
WEB_YAML = """\
api_keys: []
rate_limit: {per_second: 10000, burst: 10000}
webhooks: []
"""

# mission.state transitions a client may see (from, to); None is "submitted".
TRANSITIONS = {(None, 'queued'), ('queued', 'assigned'), ('assigned', 'active'),
               ('active', 'succeeded'), ('assigned', 'queued'), ('active', 'queued'),
               ('active', 'active'), ('assigned', 'failed'), ('active', 'failed'),
               ('queued', 'canceled'), ('assigned', 'canceled'), ('active', 'canceled'),
               ('queued', 'failed')}
CLEAN = ['queued', 'assigned', 'active', 'succeeded']


class Fleet(ApiClient):
    """The module's processes, an HTTP client for the bridge and ROS clients for the sims."""

    def __init__(self, log_dir: pathlib.Path, procs: list[Proc], graph: RosGraph,
                 port: int) -> None:
        self.auth = AUTH
        self.log_dir = log_dir
        self.procs = procs
        self.graph = graph
        self.base = f'http://127.0.0.1:{port}'
        self.fleet_config = log_dir / 'fleet.yaml'
        self.database = log_dir / 'fleet.db'
        self.by_name: dict[str, Proc] = {}
        self.node = graph.node('e2e_missions_client')
        self.manager: Proc | None = None

    # -- processes ---------------------------------------------------------------------------
    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, args, self.log_dir, env=env)
        self.procs.append(proc)
        self.by_name[name] = proc
        return proc

    def start_manager(self, name: str) -> Proc:
        self.manager = self.start(name, [
            '-m', 'fleet_manager.manager_node', '--ros-args',
            '-p', f'database:={self.database}', '-p', f'fleet_config:={self.fleet_config}',
            '-p', 'report_period:=0.2', '-p', 'stale_after_periods:=3.0',
            '-p', 'offline_after_periods:=10.0', '-p', 'tick_period:=0.05',
            '-p', f'robot_lost_after:={OFFLINE_GRACE}', '-p', f'max_attempts:={MAX_ATTEMPTS}'])
        return self.manager

    def logs(self, lines: int = 40) -> str:
        return '\n'.join(f'--- {p.name} ({p.log_path}) ---\n{p.tail(lines)}'
                         for p in self.procs)

    def check_alive(self) -> None:
        """Fail at once, with its log, when a product process has died."""
        for proc in (self.manager, self.by_name.get('robots'), self.by_name.get('web')):
            if proc is not None and not proc.alive():
                raise AssertionError(f'{proc.name} exited with code {proc.popen.returncode}:'
                                     f'\n{proc.tail(60)}')

    def wait(self, condition: Callable[[], T], timeout: float, message: str,
             interval: float = 0.05) -> T:
        """wait_for (failing early if a process died), with the log tails on failure."""
        def check() -> T:
            self.check_alive()
            return condition()
        try:
            return wait_for(check, timeout, interval=interval, message=message)
        except AssertionError as exc:
            raise AssertionError(f'{exc}\n{self.logs()}') from None

    # -- HTTP: request() and get() come from ApiClient --------------------------------

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        status, mission, _ = self.request('POST', '/api/v1/missions', body)
        assert status == 201, f'POST /api/v1/missions {body} -> {status} {mission}\n{self.logs()}'
        return mission

    def robots(self) -> dict[str, dict[str, Any]]:
        """The simulated robots as the API shows them (robot6 never runs and is left out)."""
        body = self.get('/api/v1/robots') or {'items': []}
        return {r['id']: r for r in body['items'] if r['id'] in ROBOTS}

    def missions(self) -> dict[str, dict[str, Any]]:
        body = self.get('/api/v1/missions?limit=1000')
        return {m['id']: m for m in body['items']} if body else {}

    def mission(self, mission_id: str) -> dict[str, Any]:
        return self.get(f'/api/v1/missions/{mission_id}') or {}

    def state_events(self, mission_id: str) -> list[dict[str, Any]]:
        status, body, _ = self.request('GET', f'/api/v1/missions/{mission_id}/events')
        assert status == 200, (mission_id, status, body)
        return [e for e in body['items'] if e['kind'] == 'mission.state']

    def all_events(self, mission_id: str) -> list[dict[str, Any]]:
        status, body, _ = self.request('GET', f'/api/v1/missions/{mission_id}/events')
        assert status == 200, (mission_id, status, body)
        return body['items']

    def log(self) -> list[dict[str, Any]]:
        """The whole event log, oldest first (paged through the API)."""
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            status, body, _ = self.request('GET', f'/api/v1/events?after={after}&limit=1000')
            assert status == 200, body
            out += body['items']
            if len(body['items']) < 1000:
                return out
            after = body['items'][-1]['id']

    def robot_events(self, robot_id: str, after: int = 0) -> list[dict[str, Any]]:
        status, body, _ = self.request(
            'GET', f'/api/v1/events?robot_id={robot_id}&kind=robot.event&after={after}'
            f'&limit=1000')
        assert status == 200, body
        return body['items']

    def last_event_id(self) -> int:
        status, body, _ = self.request('GET', '/api/v1/events?limit=1')
        assert status == 200, body
        return int(body['last_id'])

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait for every robot online and idle with no mission, and no mission in flight."""
        def idle() -> bool:
            robots = self.robots()
            if len(robots) != len(ROBOTS):
                return False
            if any(r['connectivity'] != 'online' or r['mode'] not in ('idle', 'charging')
                   or r['current_mission_id'] for r in robots.values()):
                return False
            return not any(m['state'] in ('queued', 'assigned', 'active')
                           for m in self.missions().values())
        self.wait(idle, timeout, 'an idle fleet (all robots online and idle, no mission '
                  'in flight)', interval=0.1)

    # -- the simulated robots' parameters -----------------------------------------------------
    def get_param(self, robot_id: str, name: str) -> Any:
        return self.graph.get_parameter(f'/{robot_id}/sim', name)

    def set_param(self, robot_id: str, name: str, value: str | float) -> None:
        value = value if isinstance(value, str) else float(value)
        self.graph.set_parameters(f'/{robot_id}/sim', **{name: value})

    def goals_received(self) -> dict[str, int]:
        return {r: int(self.get_param(r, 'goals_received')) for r in ROBOTS}


@pytest.fixture(scope='module')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    log_dir = tmp_path_factory.mktemp('e2e_missions')
    (log_dir / 'fleet.yaml').write_text(FLEET_YAML)
    web_config = log_dir / 'web.yaml'
    web_config.write_text(WEB_YAML)
    port = free_port()
    graph = RosGraph()
    try:
        with processes(log_dir) as procs:
            f = Fleet(log_dir, procs, graph, port)
            f.start_manager('manager')
            f.start('robots', ['-m', 'fleet_sim.fleet', *ROBOTS, '--report-rate', '5',
                               '--speed', str(SPEED), '--fleet-config', str(f.fleet_config)])
            f.start('web', ['-m', 'fleet_web.web_node', '--port', str(port),
                            '--state', str(log_dir / 'fleet_web.db'),
                            '--config', str(web_config)], env=fleet_env(FLEET_TOKEN=TOKEN))
            f.wait(lambda: (f.get('/api/v1/health') or {}).get('manager') == 'reachable', 30.0,
                   'the bridge to serve and reach the manager')
            f.wait_idle(30.0)
            for r in ROBOTS:  # fast robots: turn in place at 6 rad/s (default 1.5)
                f.set_param(r, 'angular_speed', ANGULAR_SPEED)
            yield f
    finally:
        graph.close()


# -- helpers for the assertions ----------------------------------------------------------------
def chain_problems(events: list[dict[str, Any]]) -> list[str]:
    """Problems with a mission's mission.state events: gaps, wrong order, bad transitions."""
    problems = []
    ids = [e['id'] for e in events]
    if ids != sorted(set(ids)):
        problems.append(f'ids not strictly increasing: {ids}')
    previous = None
    for e in events:
        p = e['payload']
        if p.get('from') != previous:
            problems.append(f'event {e["id"]} comes from {p.get("from")!r}, the previous state '
                            f'was {previous!r}')
        if (p.get('from'), p.get('state')) not in TRANSITIONS:
            problems.append(f'event {e["id"]}: transition {p.get("from")!r} -> '
                            f'{p.get("state")!r}')
        previous = p.get('state')
    return problems


def states(events: list[dict[str, Any]]) -> list[str]:
    return [e['payload']['state'] for e in events]


def random_waypoint(rng: random.Random) -> dict[str, float]:
    x_min, y_min, x_max, y_max = MAP
    return {'x': round(rng.uniform(x_min + 1.0, x_max - 1.0), 2),
            'y': round(rng.uniform(y_min + 2.0, y_max - 1.0), 2),
            'theta': round(rng.uniform(-math.pi, math.pi), 3)}


def wait_all_ended(fleet: Fleet, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Wait until every mission in ``ids`` is terminal; return them."""
    last: dict[str, dict[str, Any]] = {}

    def ended() -> bool:
        nonlocal last
        fleet.check_alive()
        seen = fleet.missions()
        if seen:
            last = seen
        return bool(seen) and all(seen.get(i, {}).get('state') in
                                  ('succeeded', 'failed', 'canceled') for i in ids)
    try:
        wait_for(ended, timeout, interval=0.25, message=f'{len(ids)} missions to end')
    except AssertionError as exc:
        if 'exited with code' in str(exc):
            raise
        hist: dict[str, int] = {}
        for i in ids:
            s = last.get(i, {}).get('state', 'missing')
            hist[s] = hist.get(s, 0) + 1
        raise AssertionError(f'{exc}; states: {hist}\n{fleet.logs()}') from None
    return {i: last[i] for i in ids}


def retried(fleet: Fleet, missions: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    """The mission.state events (id, state, robot, attempt, reason) of retried missions."""
    return {i: [(e['id'], e['payload']['state'], e['payload']['robot_id'],
                 e['payload']['attempt'], e['payload']['reason'])
                for e in fleet.state_events(i)]
            for i, m in missions.items() if m['attempts'] > 1}


def nearest(robots: dict[str, dict[str, Any]], x: float, y: float) -> list[tuple[float, str]]:
    return sorted((math.hypot(r['pose']['x'] - x, r['pose']['y'] - y), rid)
                  for rid, r in robots.items())


# -- bad input -----------------------------------------------------------------------------------
def test_bad_input_over_http_names_the_field(fleet: Fleet) -> None:
    before = fleet.get('/api/v1/missions?limit=1')['total']
    good_wp = {'x': 3.0, 'y': 4.0}
    cases: list[tuple[str, Any, tuple[int, ...], str | None]] = [
        ('no waypoints', {'waypoints': []}, (400, 422), 'waypoints'),
        ('waypoints missing', {'priority': 1}, (400, 422), 'waypoints'),
        ('huge coordinate', {'waypoints': [{'x': 1e9, 'y': 0.0}]}, (400, 422),
         'waypoints[0].x'),
        ('infinite coordinate', b'{"waypoints": [{"x": 1.0, "y": 1e400}]}', (400, 422),
         'waypoints[0].y'),
        ('x as a string', {'waypoints': [{'x': '1.0', 'y': 0.0}]}, (400, 422),
         'waypoints[0].x'),
        ('unknown pinned robot', {'waypoints': [good_wp], 'pinned_robot': 'robot99'},
         (400, 422), 'pinned_robot'),
        ('impossible capability', {'waypoints': [good_wp], 'capabilities': ['fly']},
         (400, 422), 'capabilities[0]'),
    ]
    failures = []
    for name, body, codes, field in cases:
        status, resp, _ = fleet.request('POST', '/api/v1/missions', body)
        error = resp.get('error') if isinstance(resp, dict) else None
        if status not in codes or not isinstance(error, dict) \
                or set(error) != {'code', 'message', 'field'} or error['field'] != field \
                or not error['message']:
            failures.append(f'{name}: {status} {resp} (want {codes} naming {field!r})')

    # NaN is not JSON: a 400 that names the field, or at least says NaN is the problem.
    status, resp, _ = fleet.request('POST', '/api/v1/missions',
                                    b'{"waypoints":[{"x": NaN, "y": 0}]}')
    error = resp.get('error') if isinstance(resp, dict) else None
    if status not in (400, 422) or not isinstance(error, dict) or not (
            error.get('field') == 'waypoints[0].x'
            or (error.get('field') is None and 'NaN' in error.get('message', ''))):
        failures.append(f'NaN: {status} {resp}')

    # An oversized body (> 256 KiB) is refused before it is parsed.
    big = json.dumps({'waypoints': [good_wp], 'client_ref': 'x' * (300 * 1024)}).encode()
    status, resp, _ = fleet.request('POST', '/api/v1/missions', big)
    error = resp.get('error') if isinstance(resp, dict) else None
    if status != 413 or not isinstance(error, dict) or error.get('code') != 'payload_too_large':
        failures.append(f'oversized body: {status} {str(resp)[:300]}')

    assert not failures, 'bad input not refused as it should be:\n' + '\n'.join(failures)
    assert fleet.get('/api/v1/missions?limit=1')['total'] == before, 'a bad mission was stored'


def test_bad_input_over_ros_service_names_the_field(fleet: Fleet) -> None:
    from fleet_msgs.msg import Mission, Waypoint
    from fleet_msgs.srv import SubmitMission
    client = fleet.node.create_client(SubmitMission, '/fleet/submit_mission')
    before = fleet.get('/api/v1/missions?limit=1')['total']
    good = [Waypoint(x=3.0, y=4.0)]
    cases = [
        ('no waypoints', Mission(), 'waypoints'),
        ('NaN x', Mission(waypoints=[Waypoint(x=float('nan'), y=0.0)]), 'waypoints[0].x'),
        ('infinite y', Mission(waypoints=[Waypoint(x=0.0, y=float('inf'))]), 'waypoints[0].y'),
        ('huge x', Mission(waypoints=[Waypoint(x=1e9, y=0.0)]), 'waypoints[0].x'),
        ('unknown pinned robot', Mission(waypoints=good, pinned_robot='robot99'),
         'pinned_robot'),
        ('impossible capability', Mission(waypoints=good, capabilities=['fly']),
         'capabilities[0]'),
    ]
    failures = []
    for name, mission, field in cases:
        resp = fleet.graph.call(client, SubmitMission.Request(mission=mission))
        if resp.success or resp.error_code != SubmitMission.Response.INVALID \
                or resp.error_field != field or not resp.error_msg or resp.mission.id:
            failures.append(f'{name}: success={resp.success} code={resp.error_code} '
                            f'field={resp.error_field!r} msg={resp.error_msg!r} '
                            f'(want INVALID naming {field!r})')
    fleet.node.destroy_client(client)
    assert not failures, 'bad submissions not refused:\n' + '\n'.join(failures)
    assert fleet.get('/api/v1/missions?limit=1')['total'] == before, 'a bad mission was stored'


# -- idempotency ---------------------------------------------------------------------------------
def test_idempotency_key(fleet: Fleet) -> None:
    key = f'e2e-{uuid.uuid4()}'
    # Pinned to the robot that never runs: the mission stays queued (nothing executes), and
    # is canceled at the end.
    body = {'waypoints': [{'x': 6.0, 'y': 6.0}], 'client_ref': 'idem-1',
            'pinned_robot': ABSENT_ROBOT}
    before = fleet.get('/api/v1/missions?limit=1')['total']

    s1, m1, h1 = fleet.request('POST', '/api/v1/missions', body, {'Idempotency-Key': key})
    assert s1 == 201, (s1, m1)
    try:
        assert h1.get('Location', '').endswith(f'/missions/{m1["id"]}'), h1
        s2, m2, _ = fleet.request('POST', '/api/v1/missions', body, {'Idempotency-Key': key})
        assert s2 == 200 and m2['id'] == m1['id'], f'repeat: {s2} {m2} (first: {m1})'
        other = dict(body, waypoints=[{'x': 7.0, 'y': 6.0}])
        s3, m3, _ = fleet.request('POST', '/api/v1/missions', other, {'Idempotency-Key': key})
        assert s3 == 409, f'same key, different body: {s3} {m3}'
        assert isinstance(m3, dict) and m3.get('error', {}).get('code') == 'conflict', m3
        assert fleet.get('/api/v1/missions?limit=1')['total'] == before + 1
        # Without a key the same body is a new mission.
        s4, m4, _ = fleet.request('POST', '/api/v1/missions', body)
        assert s4 == 201 and m4['id'] != m1['id'], (s4, m4)
        s5, m5, _ = fleet.request('POST', f'/api/v1/missions/{m4["id"]}/cancel', {})
        assert s5 == 200 and m5['state'] == 'canceled', (s5, m5)
    finally:
        status, mission, _ = fleet.request('POST', f'/api/v1/missions/{m1["id"]}/cancel', {})
    assert status == 200 and mission['state'] == 'canceled', (status, mission)
    assert mission['robot_id'] is None and mission['attempts'] == 0, mission
    events = fleet.state_events(m1['id'])
    assert states(events) == ['queued', 'canceled'], events


# -- 50 missions ---------------------------------------------------------------------------------
def test_fifty_missions_succeed_each_executed_once(fleet: Fleet) -> None:
    fleet.wait_idle()
    baseline = fleet.goals_received()
    rng = random.Random(20261121)
    ids = [fleet.submit({'waypoints': [random_waypoint(rng)], 'client_ref': f'batch-a-{i}'})['id']
           for i in range(50)]
    assert len(set(ids)) == 50

    ended = wait_all_ended(fleet, ids, 90.0)
    not_ok = {i: (m['state'], m['failure_reason']) for i, m in ended.items()
              if m['state'] != 'succeeded'}
    assert not not_ok, f'missions that did not succeed: {not_ok}\n{fleet.logs()}'

    goals = fleet.goals_received()
    delta = {r: goals[r] - baseline[r] for r in ROBOTS}
    assert sum(delta.values()) == 50, f'Nav2 goals accepted per robot during the run: ' \
                                      f'{delta}; missions with retries: {retried(fleet, ended)}'

    bad = {}
    for i in ids:
        events = fleet.state_events(i)
        problems = chain_problems(events)
        if states(events) != CLEAN:
            problems.append(f'states {states(events)}')
        if any(e['payload']['mission_id'] != i for e in events):
            problems.append('an event names another mission')
        robot = ended[i]['robot_id']
        if any(e['payload']['robot_id'] != robot for e in events[1:]):
            problems.append(f'events name robots {[e["payload"]["robot_id"] for e in events]}, '
                            f'the mission says {robot}')
        if ended[i]['attempts'] != 1:
            problems.append(f'attempts {ended[i]["attempts"]}')
        if problems:
            bad[i] = problems
    assert not bad, f'missions whose event list is not queued->assigned->active->succeeded: {bad}'


KILLS = 3
SIGKILL_MISSIONS = 120


def test_manager_sigkill_mid_run_loses_and_repeats_nothing(fleet: Fleet) -> None:
    """Three SIGKILLs of the manager under load: 200 missions, none lost, none run twice."""
    fleet.wait_idle()
    baseline = fleet.goals_received()
    rng = random.Random(7)
    # Every fifth mission waits 3 s at its waypoint, so some are surely still in flight on
    # their robots while the manager is down and restarting.
    dwell_ids: list[str] = []
    ids: list[str] = []
    for i in range(SIGKILL_MISSIONS):
        wp = random_waypoint(rng)
        if i % 5 == 0:
            wp['dwell'] = 3.0
        m = fleet.submit({'waypoints': [wp], 'client_ref': f'batch-b-{i}'})
        ids.append(m['id'])
        if 'dwell' in wp:
            dwell_ids.append(m['id'])

    boundaries: list[int] = []
    for kill in range(1, KILLS + 1):
        def progressed_some_in_flight(kill: int = kill) -> bool:
            snapshot = fleet.missions()
            done = sum(1 for i in ids if snapshot.get(i, {}).get('state') == 'succeeded')
            in_flight = [i for i in dwell_ids if snapshot.get(i, {}).get('state') == 'active']
            return done >= kill * SIGKILL_MISSIONS // (KILLS + 1) and len(in_flight) >= 1
        fleet.wait(progressed_some_in_flight, 120.0, f'progress before kill {kill} with a '
                   'dwelling mission active', interval=0.2)
        old = fleet.manager
        assert old is not None
        old.kill()
        restarted = fleet.start_manager(f'manager_restarted{kill}')
        m = fleet.wait(lambda proc=restarted: re.search(r'configured: .* last event (\d+)',
                                                        proc.output()),
                       30.0, f'manager restart {kill} to configure')
        # The newest event in the store when the restarted manager configured: every event
        # up to it was written by the manager killed before.
        boundaries.append(int(m.group(1)))
        fleet.wait(lambda: (fleet.get('/api/v1/health') or {}).get('manager') == 'reachable',
                   30.0, f'the bridge to reach the manager after restart {kill}')

    ended = wait_all_ended(fleet, ids, 240.0)
    not_ok = {i: (m['state'], m['failure_reason']) for i, m in ended.items()
              if m['state'] != 'succeeded'}
    assert not not_ok, f'missions lost or failed across the restarts: {not_ok}\n{fleet.logs()}'

    goals = fleet.goals_received()
    delta = {r: goals[r] - baseline[r] for r in ROBOTS}
    assert sum(delta.values()) == SIGKILL_MISSIONS, \
        f'Nav2 goals accepted per robot ({SIGKILL_MISSIONS} missions, each once): {delta}; ' \
        f'restarts at events {boundaries}; missions run more than once: ' \
        f'{retried(fleet, ended)}\n{fleet.logs()}'
    bad = {}
    for i in ids:
        events = fleet.state_events(i)
        problems = chain_problems(events)
        if not events or events[-1]['payload']['state'] != 'succeeded':
            problems.append('does not end succeeded')
        if any(e['payload']['attempt'] > 1 for e in events):
            problems.append('took more than one attempt: ' + '; '.join(
                f"{e['payload']['state']} {e['payload']['robot_id']} "
                f"#{e['payload']['attempt']} ({e['payload']['reason']})" for e in events))
        if problems:
            bad[i] = problems
    assert not bad, f'event lists across the restarts (at events {boundaries}): {bad}'
    # Nothing was lost from the log either: its ids have no gaps.
    ids_seen = [e['id'] for e in fleet.log()]
    assert ids_seen == list(range(1, len(ids_seen) + 1))


# -- faults ---------------------------------------------------------------------------------
def pick_target(robots: dict[str, dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """A waypoint next to one robot and clearly nearer to it than to any other robot."""
    best = None
    for rid, r in robots.items():
        x = min(max(r['pose']['x'] + 0.4, MAP[0] + 0.5), MAP[2] - 0.5)
        y = min(max(r['pose']['y'] + 0.4, MAP[1] + 0.5), MAP[3] - 0.5)
        ranked = nearest(robots, x, y)
        if ranked[0][1] == rid:
            margin = ranked[1][0] - ranked[0][0]
            if best is None or margin > best[0]:
                best = (margin, rid, {'x': round(x, 2), 'y': round(y, 2)})
    assert best is not None and best[0] > 1.0, f'robots too close together: {robots}'
    return best[1], best[2]


def test_failed_attempt_moves_to_another_robot(fleet: Fleet) -> None:
    fleet.wait_idle()
    robot_a, wp = pick_target(fleet.robots())
    fleet.set_param(robot_a, 'fault', 'fail_next_goal')
    try:
        mission = fleet.submit({'waypoints': [wp], 'client_ref': 'fail-once'})
        ended = wait_all_ended(fleet, [mission['id']], 30.0)[mission['id']]
    finally:
        fleet.set_param(robot_a, 'fault', 'none')
    events = fleet.state_events(mission['id'])
    summary = [(e['payload']['state'], e['payload']['robot_id'], e['payload']['attempt'],
                e['payload']['reason']) for e in events]
    assert ended['state'] == 'succeeded' and ended['attempts'] == 2, (ended, summary)
    assert not chain_problems(events), (chain_problems(events), summary)
    robot_b = ended['robot_id']
    assert robot_b and robot_b != robot_a, (robot_a, ended, summary)

    requeued = [e['payload'] for e in events if e['payload']['state'] == 'queued'
                and e['payload']['from'] is not None]
    assert len(requeued) == 1, summary
    first = requeued[0]
    assert first['robot_id'] == robot_a and first['attempt'] == 1, first
    assert first.get('nav_error_code') == NAV_NO_VALID_PATH, \
        f'the requeue event should carry the Nav2 error code: {first}'
    assigned = [e['payload'] for e in events if e['payload']['state'] == 'assigned']
    assert [(p['robot_id'], p['attempt']) for p in assigned] == [(robot_a, 1), (robot_b, 2)], \
        summary
    last = events[-1]['payload']
    assert (last['state'], last['robot_id'], last['attempt']) == ('succeeded', robot_b, 2), last
    assert fleet.get_param(robot_a, 'fault') == 'none'


def test_mission_fails_after_max_attempts(fleet: Fleet) -> None:
    fleet.wait_idle()
    for r in ROBOTS:
        fleet.set_param(r, 'fault', 'fail_next_goal')
    try:
        mission = fleet.submit({'waypoints': [{'x': 8.0, 'y': 8.0}], 'client_ref': 'fail-all'})
        ended = wait_all_ended(fleet, [mission['id']], 30.0)[mission['id']]
    finally:
        for r in ROBOTS:
            fleet.set_param(r, 'fault', 'none')
    events = fleet.state_events(mission['id'])
    summary = [(e['payload']['state'], e['payload']['robot_id'], e['payload']['attempt'],
                e['payload']['reason']) for e in events]
    assert ended['state'] == 'failed', (ended, summary)
    assert ended['attempts'] == MAX_ATTEMPTS, (ended, summary)
    reason = ended['failure_reason'] or ''
    assert f'{MAX_ATTEMPTS} attempt' in reason, f'failure_reason should name the attempts: ' \
                                                f'{reason!r}'
    assert not chain_problems(events), (chain_problems(events), summary)
    assigned = [e['payload'] for e in events if e['payload']['state'] == 'assigned']
    robots = [p['robot_id'] for p in assigned]
    assert [p['attempt'] for p in assigned] == [1, 2] and len(set(robots)) == 2, summary
    ends = [e['payload'] for e in events if e['payload']['state'] in ('queued', 'failed')
            and e['payload']['from'] is not None]
    assert [(p['state'], p['robot_id'], p['attempt']) for p in ends] == [
        ('queued', robots[0], 1), ('failed', robots[1], 2)], summary
    assert all(p.get('nav_error_code') == NAV_NO_VALID_PATH for p in ends), ends
    assert all(fleet.get_param(r, 'fault') == 'none' for r in ROBOTS)


def test_offline_robot_mission_requeued_and_robot_told_to_cancel(fleet: Fleet) -> None:
    fleet.wait_idle()
    robots = fleet.robots()
    # A waypoint far from every robot, so the one that takes it drives a while.
    grid = [(x + 0.5, y + 0.5) for x in range(1, 15) for y in range(2, 15)]
    clear = [p for p in grid if nearest(robots, *p)[1][0] - nearest(robots, *p)[0][0] > 1.0]
    assert clear, f'no waypoint with a clearly nearest robot: {robots}'
    x, y = max(clear, key=lambda p: nearest(robots, *p)[0][0])
    ranked = nearest(robots, x, y)
    robot_a = ranked[0][1]
    # robot_a crawls, so it is still driving when it comes back on the network.
    fleet.set_param(robot_a, 'speed', 0.2)
    try:
        mission = fleet.submit({'waypoints': [{'x': x, 'y': y}], 'client_ref': 'offline'})
        mid = mission['id']
        # Assignment runs at the manager's next tick, not inside the submission.
        mission = fleet.wait(lambda: fleet.mission(mid) if fleet.mission(mid).get('robot_id')
                             else None, 10.0, 'the mission assigned')
        assert mission['robot_id'] == robot_a, (mission, ranked)
        fleet.wait(lambda: fleet.mission(mid).get('state') == 'active', 10.0,
                   f'mission active on {robot_a}')
        after = fleet.last_event_id()

        fleet.set_param(robot_a, 'fault', 'offline')
        fleet.wait(lambda: fleet.robots()[robot_a]['connectivity'] == 'offline', 10.0,
                   f'{robot_a} offline')
        requeue = fleet.wait(
            lambda: next((e for e in fleet.state_events(mid) if e['payload']['state'] == 'queued'
                          and e['payload']['from'] is not None), None),
            OFFLINE_GRACE + 10.0, 'the mission requeued after the grace period')
        taken = fleet.wait(lambda: fleet.mission(mid) if fleet.mission(mid).get('robot_id')
                           not in (None, robot_a) else None, 10.0, 'another robot to take it')

        fleet.set_param(robot_a, 'fault', 'none')  # back on the network, still executing
        fleet.wait(lambda: fleet.robots()[robot_a]['connectivity'] == 'online', 10.0,
                   f'{robot_a} back online')

        def told_to_cancel() -> dict[str, Any] | None:
            for e in fleet.robot_events(robot_a, after):
                p = e['payload']
                if p.get('type') == 'command' and p['data'].get('command') == 'cancel_mission' \
                        and p['data'].get('args', {}).get('mission_id') == mid:
                    return e
            return None
        cancel = fleet.wait(told_to_cancel, 10.0, f'{robot_a} to be told to cancel {mid}')
        fleet.wait(lambda: fleet.robots()[robot_a]['current_mission_id'] is None, 10.0,
                   f'{robot_a} to stop reporting {mid}')
        ended = wait_all_ended(fleet, [mid], 30.0)[mid]
    finally:
        fleet.set_param(robot_a, 'fault', 'none')
        fleet.set_param(robot_a, 'speed', SPEED)

    events = fleet.state_events(mid)
    summary = [(e['id'], e['payload']['state'], e['payload']['robot_id'],
                e['payload']['attempt'], e['payload']['reason']) for e in events]
    assert ended['state'] == 'succeeded', (ended, summary)
    robot_b = ended['robot_id']
    assert robot_b == taken['robot_id'] and robot_b != robot_a, (ended, summary)
    assert not chain_problems(events), (chain_problems(events), summary)
    rq = requeue['payload']
    assert (rq['from'], rq['robot_id'], rq['attempt']) == ('active', robot_a, 1), rq
    assert 'out of reach' in rq['reason'], rq

    # The requeue came offline_grace after the robot went offline, not before.
    status, body, _ = fleet.request(
        'GET', f'/api/v1/events?robot_id={robot_a}&kind=robot.connectivity&after={after}')
    offline_at = next(epoch_from_iso(e['time']) for e in body['items']
                      if e['payload']['to'] == 'offline')
    assert epoch_from_iso(requeue['time']) - offline_at >= OFFLINE_GRACE - 0.01, (requeue, body)
    assert events[-1]['payload']['robot_id'] == robot_b and events[-1]['payload']['attempt'] == 2

    # robot_a's own account: the cancel command came after it was back, and its attempt ended
    # canceled (it did not finish the mission).
    assert cancel['id'] > requeue['id'], (cancel, requeue)
    finished = [e['payload'] for e in fleet.robot_events(robot_a, after)
                if e['payload'].get('type') == 'mission.finished'
                and e['payload']['data'].get('mission_id') == mid]
    assert [p['data']['outcome'] for p in finished] == ['canceled'], finished
    assert fleet.robots()[robot_a]['current_mission_id'] is None
