"""End to end: configuration as code, drift, staged rollouts gated on missions, audit.

Real processes over real DDS and HTTP on 127.0.0.1: the manager, four simulated robots with
their agents (the agents read and set parameters of the robots' Nav2 nodes through their
parameter services, and install releases with the simulator's installer), the robots'
Nav2 parameter nodes, and the HTTP bridge. Robots 1-2 are in Phoenix (reconcile), 3-4 in
Chicago (report). The tests run in order on one fleet:

1. drift: a Nav2 parameter set by hand is reported within two report periods, reconciled
   in Phoenix, an incident in Chicago;
2. bad input: an invalid directory is refused naming file and key, nothing changes; a
   rollback to an unknown revision is a 404;
3. bad release: ``1.1.0-bad`` fails half of its goals in the simulator; the canary alone is
   updated, only when idle, the gate fails after its minimum missions, and it rolls back;
4. good release: every step to 100 %, every robot reports the new version;
5. promoting an aborted rollout is a 409;
6. the audit trail lists all of it with who and when.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

import pytest

from fleet_testing import REPO, ApiClient, Proc, RosGraph, fleet_env, free_port
from fleet_testing import wait_for as _wait_for
from fleet_web.convert import epoch_from_iso

T = TypeVar('T')
ROBOTS = ['robot1', 'robot2', 'robot3', 'robot4']
PERIOD = 1.0  # s: the agents' config_check_period (the drift "report period")
TOKENS = {'alice': 'alice-rollout-token', 'bob': 'bob-rollout-token'}
NAV_PARAM = 'FollowPath.desired_linear_vel'

DESIRED = {
    'robots.yaml': 'robots:\n  robot1: {site: phoenix}\n  robot2: {site: phoenix}\n'
                   '  robot3: {site: chicago}\n  robot4: {site: chicago}\n',
    'groups.yaml': 'groups:\n'
                   '  - {name: phoenix, selector: {site: phoenix}, reconcile: reconcile}\n'
                   '  - {name: chicago, selector: {site: chicago}, reconcile: report}\n',
    'releases.yaml': "releases:\n  - {version: 1.0.0, artifact: 'reg/stack:1.0.0'}\n"
                     "  - {version: 1.1.0-bad, artifact: 'reg/stack:1.1.0-bad'}\n"
                     "  - {version: 1.1.0, artifact: 'reg/stack:1.1.0'}\n",
    'parameters.yaml': 'parameter_sets:\n  - name: nav2-base\n    groups: [phoenix, chicago]\n'
                       '    nodes:\n      controller_server: {FollowPath: {desired_linear_vel: '
                       '0.8}}\n      local_costmap/local_costmap: '
                       '{inflation_layer.inflation_radius: 0.55}\n',
    'rollouts.yaml': 'analysis:\n  - name: quick\n    min_missions: 4\n'
                     '    min_baseline_missions: 2\n    metrics:\n'
                     '      mission_success: {min: 0.8, max_degradation: 0.2}\n'
                     'strategies:\n  - name: staged\n    analysis: quick\n'
                     '    spread_by: [site]\n    install_timeout_s: 120\n    steps:\n'
                     '      - {name: canary, robots: 1, bake: {missions: 8}}\n'
                     '      - {percent: 50, bake: {missions: 4}}\n'
                     '      - {percent: 100}\n'
                     'rollout_policy: {default_strategy: staged}\n',
}
INSTALLER = ('{python} -m fleet_sim.installer --robot {robot_id} --version {version} '
             '--restart-seconds 0.5')
AGENT_PARAMS = f'''/**/fleet_agent:
  ros__parameters:
    config_check_period: {PERIOD}
    version_source: 'sim:software_version'
    installer_command: '{INSTALLER}'
    install_verify_timeout: 30.0
'''


def wait_for(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.1,
             message: str = 'condition') -> T:
    """fleet_testing.wait_for, polling the HTTP API at most ten times a second."""
    return _wait_for(condition, timeout, interval, message)


class Fleet(ApiClient):
    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}/api/v1'
        self.auth = {'Authorization': f'Bearer {TOKENS["alice"]}'}
        web_yaml = tmp / 'web.yaml'
        web_yaml.write_text(json.dumps({
            'rate_limit': {'per_second': 1000, 'burst': 1000},
            'api_keys': [{'name': who, 'token_env': f'TOKEN_{who.upper()}', 'scopes': ['admin']}
                         for who in TOKENS]}))
        agent_yaml = tmp / 'agent.yaml'
        agent_yaml.write_text(AGENT_PARAMS)
        env = fleet_env(**{f'TOKEN_{w.upper()}': t for w, t in TOKENS.items()},
                        FLEET_SIM_SEED='0')
        config = REPO / 'src' / 'fleet_bringup' / 'config'
        self.procs = [
            Proc('manager', ['-m', 'fleet_manager.manager_node', '--ros-args',
                             '-p', f'database:={tmp / "fleet.db"}',
                             '-p', f'fleet_config:={config / "fleet.yaml"}',
                             '-p', 'report_period:=0.2', '-p', 'tick_period:=0.1',
                             '-p', 'max_attempts:=20', '-p', 'rollout_tick_period:=0.2',
                             '-p', 'config_resend_after:=2.0', '-p', 'reconcile_retry:=3.0'],
                 tmp, env),
            Proc('robots', ['-m', 'fleet_sim.fleet', *ROBOTS, '--report-rate', '5',
                            '--speed', '2', '--ros-args', '--params-file', str(agent_yaml)],
                 tmp, env),
            Proc('nav2', ['-m', 'fleet_sim.nav2_params', *ROBOTS], tmp, env),
            Proc('web', ['-m', 'fleet_web.web_node', '--port', str(self.port),
                         '--state', str(tmp / 'web.db'), '--config', str(web_yaml)], tmp, env),
        ]

    def as_(self, who: str) -> dict[str, str]:
        return {'Authorization': f'Bearer {TOKENS[who]}'}

    def post(self, path: str, body: Any = None, who: str = 'alice') -> tuple[int, Any]:
        status, data, _ = self.request('POST', path, body if body is not None else {},
                                       self.as_(who))
        return status, data

    def events(self, kind: str = '') -> list[dict[str, Any]]:
        out, after = [], 0
        while True:
            page = self.get(f'/events?after={after}&limit=1000' + (f'&kind={kind}' if kind
                                                                     else ''))
            assert page is not None
            if not page['items']:
                return out
            out += page['items']
            after = page['next_after']

    def robot_events(self, type_: str, robot: str = '') -> list[dict[str, Any]]:
        return [e for e in self.events('robot.event') if e['payload']['type'] == type_
                and (not robot or e['robot_id'] == robot)]

    def versions(self) -> dict[str, str]:
        robots = self.get('/robots') or {'items': []}
        return {r['id']: r['software_version'] for r in robots['items'] if r['id'] in ROBOTS}

    def logs(self) -> str:
        return '\n'.join(f'--- {p.name}\n{p.tail(60)}' for p in self.procs)


class Feeder:
    """Keeps about three missions queued (short trips along the main aisle)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.submitted = 0

    def _run(self) -> None:
        spots = itertools.cycle([(3.0, 3.0), (7.0, 3.5), (5.0, 2.5), (9.0, 3.0), (1.5, 3.5)])
        while not self.stop.is_set():
            queued = self.fleet.get('/missions?state=queued&limit=1')
            if queued is not None and queued['total'] < 3:
                x, y = next(spots)
                status, _ = self.fleet.post('/missions', {'waypoints': [{'x': x, 'y': y}]})
                self.submitted += status == 201
            self.stop.wait(0.3)

    def __enter__(self) -> 'Feeder':
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture(scope='module')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp('rollouts'))
    try:
        def online() -> bool:
            robots = f.get('/robots')
            return bool(robots) and {r['id'] for r in robots['items']
                                     if r['connectivity'] == 'online'} >= set(ROBOTS)
        wait_for(online, timeout=90, message='four robots online')
        # The bridge answers 503 until it has discovered the manager's desired-state service
        # (robots can be online before that on a loaded machine); a 503 applied nothing.
        status, applied = wait_for(
            lambda: (lambda r: r if r[0] != 503 else None)(
                f.post('/config/apply', {'files': DESIRED, 'reason': 'baseline'})),
            timeout=30, message='the bridge to reach the desired-state service')
        assert status == 201 and applied['revision'] == 1, applied
        yield f
    finally:
        codes = {p.name: p.stop() for p in f.procs}
        assert codes == {'manager': 0, 'robots': 0, 'nav2': 0, 'web': 0}, f.logs()
        for p in f.procs:
            assert 'Traceback' not in p.output(), p.output()[-3000:]


@pytest.fixture(scope='module')
def graph() -> Iterator[RosGraph]:
    g = RosGraph()
    yield g
    g.close()


def config_of(fleet: Fleet, robot: str) -> dict[str, Any]:
    robots = fleet.get('/config/robots') or {'items': []}
    return next((r for r in robots['items'] if r['robot_id'] == robot), {})


def test_hand_set_parameters_drift_then_reconcile_or_open_an_incident(
        fleet: Fleet, graph: RosGraph) -> None:
    wait_for(lambda: all(config_of(fleet, r).get('state') == 'in_sync' for r in ROBOTS), 60,
             message='every robot in sync with revision 1')
    changed_at = {}
    for robot in ('robot1', 'robot3'):
        assert graph.get_parameter(f'/{robot}/controller_server', NAV_PARAM) == 0.8
    set_at = time.time()
    for robot in ('robot1', 'robot3'):
        graph.set_parameters(f'/{robot}/controller_server', **{NAV_PARAM: 1.5})
        changed_at[robot] = time.time()  # the node holds the new value from here on

    def drifted(robot: str) -> dict[str, Any] | None:
        return next((e for e in fleet.events('config.drift') if e['robot_id'] == robot
                     and e['payload']['state'] == 'drifted'
                     and epoch_from_iso(e['time']) >= set_at), None)
    for robot, policy in (('robot1', 'reconcile'), ('robot3', 'report')):
        event = wait_for(lambda robot=robot: drifted(robot), 15, message=f'{robot} drift')
        assert event['payload']['policy'] == policy
        assert event['payload']['params'] == [{'node': 'controller_server', 'name': NAV_PARAM,
                                               'declared': 0.8, 'actual': 1.5}]
        report = next(e for e in fleet.robot_events('config.report', robot)
                      if e['payload']['data']['drifted'] and e['payload']['stamp'] >= set_at)
        # Seen by the agent within two report periods, logged by the manager just after.
        assert report['payload']['stamp'] - changed_at[robot] <= 2 * PERIOD, report
        assert epoch_from_iso(event['time']) - changed_at[robot] <= 2 * PERIOD + 1.0, event

    # Phoenix reconciles: the declared value is set back through set_parameters.
    done = wait_for(lambda: [e for e in fleet.events('config.reconciled')
                             if e['robot_id'] == 'robot1' and e['payload']['ok']], 20,
                    message='robot1 reconciled')[0]
    assert done['payload']['who'] == 'reconciler'
    assert graph.get_parameter('/robot1/controller_server', NAV_PARAM) == 0.8
    wait_for(lambda: config_of(fleet, 'robot1').get('state') == 'in_sync', 15,
             message='robot1 in sync again')

    # Chicago only reports: an incident, and the hand-set value stays.
    incident = wait_for(lambda: (fleet.get('/incidents?robot_id=robot3') or {}).get('items'),
                        15, message='a drift incident for robot3')[0]
    assert incident['type'] == 'config_drift', incident
    assert graph.get_parameter('/robot3/controller_server', NAV_PARAM) == 1.5
    assert not [e for e in fleet.events('config.reconciled') if e['robot_id'] == 'robot3']
    assert not (fleet.get('/incidents?robot_id=robot1') or {}).get('items')
    graph.set_parameters('/robot3/controller_server', **{NAV_PARAM: 0.8})
    wait_for(lambda: config_of(fleet, 'robot3').get('state') == 'in_sync', 15,
             message='robot3 set back by hand')


def test_invalid_files_are_refused_naming_file_and_key(fleet: Fleet,
                                                       tmp_path: pathlib.Path) -> None:
    bad = tmp_path / 'desired'
    bad.mkdir()
    for name, text in DESIRED.items():
        (bad / name).write_text(text)
    (bad / 'groups.yaml').write_text(DESIRED['groups.yaml'].replace('reconcile: report',
                                                                    'reconcile: sometimes'))
    proc = subprocess.run([sys.executable, '-m', 'fleet_cli', '--url',
                           f'http://127.0.0.1:{fleet.port}', '--token', TOKENS['alice'],
                           'apply', '-f', str(bad), '--reason', 'typo'],
                          capture_output=True, text=True, timeout=60, env=fleet_env())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'groups.yaml: groups[1].reconcile' in proc.stderr, proc.stderr
    current = fleet.get('/config')
    assert current['number'] == 1 and current['files'] == DESIRED
    status, body = fleet.post('/config/revisions/99/rollback')
    assert status == 404, body
    assert fleet.get('/config')['number'] == 1


def busy_intervals(events: list[dict[str, Any]], robot: str) -> list[tuple[float, float]]:
    """When ``robot`` had a mission (assigned or active), from the mission events."""
    spans, started = [], {}
    for e in events:
        p = e['payload']
        key = (p['mission_id'], p['attempt'])
        if p['robot_id'] != robot:
            continue
        if p['state'] == 'assigned':
            started[key] = epoch_from_iso(e['time'])
        elif key in started and p['state'] != 'active':
            spans.append((started.pop(key), epoch_from_iso(e['time'])))
    return spans + [(t, float('inf')) for t in started.values()]


def check_installs_were_idle(fleet: Fleet) -> list[dict[str, Any]]:
    missions = fleet.events('mission.state')
    installs = [e for e in fleet.events('robot.install') if e['payload']['phase'] == 'started']
    for e in installs:
        at = epoch_from_iso(e['time'])
        assert e['payload'].get('mission_id') is None, e
        for start, end in busy_intervals(missions, e['robot_id']):
            assert not start < at < end, (e, start, end)
    return installs


def rollout(fleet: Fleet, rollout_id: str) -> dict[str, Any]:
    return fleet.get(f'/rollouts/{rollout_id}') or {}


def test_bad_release_updates_only_the_idle_canary_and_rolls_back(fleet: Fleet) -> None:
    with Feeder(fleet):
        wait_for(lambda: (fleet.get('/missions?state=active') or {}).get('total', 0) >= 2, 30,
                 0.25, 'robots busy with missions')
        status, r = fleet.post('/rollouts', {'release': '1.1.0-bad', 'reason': 'try it'})
        assert status == 201, r
        canary = r['order'][0]
        done = wait_for(lambda: rollout(fleet, r['id']).get('state') in (
            'rolled_back', 'completed', 'aborted'), 240, 0.25, 'the bad rollout to end')
        assert done
    final = rollout(fleet, r['id'])
    assert final['state'] == 'rolled_back', final
    gate = final['gates'][-1]
    assert gate['verdict'] == 'fail' and gate['step'] == 0
    assert gate['canary_missions'] >= 4  # the template's minimum
    success = next(c for c in gate['checks'] if c['metric'] == 'mission_success')
    assert success['verdict'] == 'fail' and success['canary'] < 0.8
    installs = check_installs_were_idle(fleet)
    assert {e['robot_id'] for e in installs} == {canary}  # nobody outside the canary step
    assert [e['payload']['version'] for e in installs] == ['1.1.0-bad', '1.0.0']
    commands = [e for e in fleet.events('robot.command') if e['payload']['command'] == 'install']
    assert {e['robot_id'] for e in commands} == {canary}
    wait_for(lambda: fleet.versions() == {robot: '1.0.0' for robot in ROBOTS}, 30,
             message='every robot on 1.0.0 again')


def test_good_release_reaches_every_robot(fleet: Fleet) -> None:
    with Feeder(fleet):
        status, r = fleet.post('/rollouts', {'release': '1.1.0', 'reason': 'nav tuning'},
                               who='bob')
        assert status == 201, r
        wait_for(lambda: rollout(fleet, r['id']).get('state') in (
            'rolled_back', 'completed', 'aborted'), 300, 0.25, 'the good rollout to end')
    final = rollout(fleet, r['id'])
    assert final['state'] == 'completed', final
    assert [g['verdict'] for g in final['gates']] == ['pass', 'pass']
    assert final['phases'] == {'updated': len(ROBOTS)}
    steps = [e['payload'] for e in fleet.events('rollout.step') if e['payload']['id'] == r['id']]
    assert [s['target'] for s in steps] == [1, 2, 4]
    wait_for(lambda: fleet.versions() == {robot: '1.1.0' for robot in ROBOTS}, 30,
             message='every robot reporting 1.1.0')
    check_installs_were_idle(fleet)


def test_promoting_an_aborted_rollout_is_a_conflict(fleet: Fleet) -> None:
    status, r = fleet.post('/rollouts', {'release': '1.0.0', 'groups': ['chicago'],
                                         'reason': 'downgrade test'})
    assert status == 201, r
    status, aborted = fleet.post(f'/rollouts/{r["id"]}/abort', {'reason': 'changed my mind'},
                                 who='bob')
    assert status == 200, aborted
    wait_for(lambda: rollout(fleet, r['id']).get('state') == 'aborted', 60,
             message='the rollout aborted')
    status, body = fleet.post(f'/rollouts/{r["id"]}/promote')
    assert status == 409 and 'aborted' in body['error']['message'], body


def test_the_audit_trail_says_who_did_what_and_when(fleet: Fleet) -> None:
    page = fleet.get('/audit?limit=1000')
    assert page is not None and page['total'] == len(page['items'])
    entries = page['items']
    assert all(e['time'] and e['who'] for e in entries), [e for e in entries if not e['who']]
    seen = {(e['kind'], e['who']) for e in entries}
    expected = {('config.applied', 'alice'), ('config.refused', 'alice'),
                ('config.reconciled', 'reconciler'), ('rollout.created', 'bob'),
                ('rollout.completed', 'rollout-controller'), ('rollout.aborted', 'bob'),
                ('robot.install', 'rollout-controller')}
    expected |= {('rollout.created', 'alice'), ('rollout.rolled_back', 'rollout-controller')}
    assert expected <= seen, expected - seen
    refused = next(e for e in entries if e['kind'] == 'config.refused')
    assert refused['reason'] == 'typo' and refused['payload']['key'] == 'groups[1].reconcile'
    reconcile = [e for e in entries if e['kind'] == 'robot.command'
                 and e['payload']['command'] == 'set_parameters']
    assert reconcile and reconcile[0]['who'] == 'reconciler'
    bobs = fleet.get('/audit?who=bob&limit=1000')
    assert {e['who'] for e in bobs['items']} == {'bob'}
    assert {'rollout.created', 'rollout.aborted'} <= {e['kind'] for e in bobs['items']}
    newest_first = [e['id'] for e in entries]
    assert newest_first == sorted(newest_first, reverse=True)
