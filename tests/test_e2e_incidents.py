"""End to end: a stuck simulated robot becomes one routed, escalated, documented incident.

Real processes (manager, two simulated robots with their agents, the HTTP bridge) over real
DDS and HTTP on 127.0.0.1. The workflow is the shipped one with short escalation timeouts.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, Iterator

from action_msgs.msg import GoalStatus, GoalStatusArray
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
import yaml

from fleet_testing import REPO, Proc, RosGraph, fleet_env, free_port, get_json, http, wait_for
from fleet_web.convert import epoch_from_iso

TOKEN = 'incident-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
LEVEL_TIMEOUT = 3.0  # s before an unacknowledged incident goes to the next level


def make_workflows(tmp_path: pathlib.Path) -> pathlib.Path:
    data = yaml.safe_load(
        (REPO / 'src' / 'fleet_bringup' / 'config' / 'workflows.yaml').read_text())
    data['escalation_policies']['default'] = {
        'levels': [{'targets': ['oncall:operators'], 'timeout': LEVEL_TIMEOUT},
                   {'targets': ['shift_lead'], 'timeout': LEVEL_TIMEOUT}],
        'repeat': 1}  # after level 2, level 1 again: an ack must prevent that
    path = tmp_path / 'workflows.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


class Fleet:
    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.tmp = tmp_path
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}/api/v1'
        self.procs: list[Proc] = []
        workflows = make_workflows(tmp_path)
        web_yaml = tmp_path / 'web.yaml'
        web_yaml.write_text('rate_limit: {per_second: 1000, burst: 1000}\n')
        env = fleet_env(FLEET_TOKEN=TOKEN)
        self.procs.append(Proc('manager', [
            '-m', 'fleet_manager.manager_node', '--ros-args',
            '-p', f'database:={tmp_path / "fleet.db"}',
            '-p', f'fleet_config:={REPO / "src" / "fleet_bringup" / "config" / "fleet.yaml"}',
            '-p', f'workflows_config:={workflows}', '-p', 'report_period:=0.2',
            '-p', 'tick_period:=0.05', '-p', 'max_attempts:=10'], tmp_path, env))
        self.procs.append(Proc('robots', ['-m', 'fleet_sim.fleet', 'robot1', 'robot2',
                                          '--report-rate', '5', '--speed', '2'], tmp_path, env))
        self.procs.append(Proc('web', ['-m', 'fleet_web.web_node', '--port', str(self.port),
                                       '--state', str(tmp_path / 'web.db'),
                                       '--config', str(web_yaml)], tmp_path, env))

    def get(self, path: str) -> Any:
        return get_json(self.base + path, AUTH)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        status, data, _ = http('POST', self.base + path, body if body is not None else {},
                               AUTH)
        return status, data

    def events(self, **filters: str) -> list[dict[str, Any]]:
        out, after = [], 0
        while True:
            status, page, _ = http('GET', f'{self.base}/events?after={after}&limit=1000',
                                   headers=AUTH)
            assert status == 200, page
            if not page['items']:
                return [e for e in out if all(e.get(k) == v for k, v in filters.items())]
            out += page['items']
            after = page['next_after']

    def logs(self) -> str:
        return '\n'.join(f'--- {p.name}\n{p.output()[-3000:]}' for p in self.procs)


@pytest.fixture(scope='module')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp('incidents'))
    try:
        def online() -> bool:
            robots = f.get('/robots')
            return bool(robots) and {r['id'] for r in robots['items']
                                     if r['connectivity'] == 'online'} >= {'robot1', 'robot2'}
        wait_for(online, timeout=60, message='robot1 and robot2 online')
        yield f
    finally:
        codes = {p.name: p.stop() for p in f.procs}
        assert codes == {'manager': 0, 'robots': 0, 'web': 0}, f.logs()
        for p in f.procs:
            assert 'Traceback' not in p.output(), p.output()[-3000:]




def recovery_events(fleet: Fleet, robot: str) -> list[dict[str, Any]]:
    return [e for e in fleet.events(kind='robot.event', robot_id=robot)
            if e['payload']['type'] == 'recovery_started']


def test_stuck_robot_incident_lifecycle(fleet: Fleet) -> None:
    graph = RosGraph()
    try:
        status_node = graph.node('nav_status_watch')
        statuses: list[GoalStatusArray] = []
        status_node.create_subscription(
            GoalStatusArray, '/robot1/navigate_to_pose/_action/status', statuses.append,
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL))
        graph.set_parameters('/robot1/sim', fault='stuck', recovery_interval=0.3,
                       max_recoveries=200)
        status, mission = fleet.post('/missions', {
            'waypoints': [{'x': 2.0, 'y': 12.0}], 'pinned_robot': 'robot1',
            'client_ref': 'stuck-1'})
        assert status == 201, mission

        def one_incident() -> list[dict[str, Any]] | None:
            page = fleet.get('/incidents?robot_id=robot1')
            return page['items'] if page and page['items'] else None
        incidents = wait_for(one_incident, timeout=30, message='an incident for robot1')
        assert len(incidents) == 1, incidents
        inc = fleet.get(f'/incidents/{incidents[0]["id"]}')
        assert inc['type'] == 'robot_stuck' and inc['state'] == 'triggered'
        assert inc['mission_id'] == mission['id']
        assert inc['context']['software_version'] == '1.0.0'
        assert len(inc['context']['trajectory']) >= 3
        assert inc['runbook'] and len(inc['runbook']['steps']) >= 2
        assert inc['area'] == 'docks'

        # Opened within 1 s of the third recovery (both times from the manager's clock).
        recs = recovery_events(fleet, 'robot1')
        opened = [e for e in fleet.events(kind='incident.opened')
                  if e['payload']['id'] == inc['id']]
        assert len(recs) >= 3 and len(opened) == 1
        delay = epoch_from_iso(opened[0]['time']) - epoch_from_iso(recs[2]['time'])
        assert 0.0 <= delay < 1.0, delay

        # The configured auto-action (pause) reaches the simulated robot: its Nav2 goal is
        # canceled.
        wait_for(lambda: any(s.status == GoalStatus.STATUS_CANCELED
                             for arr in statuses for s in arr.status_list),
                 timeout=15, message='robot1 navigation goal canceled by the pause')
        # Resume: the robot tries again, recovers again, and the incident is updated.
        status, _ = fleet.post('/robots/robot1/commands', {'command': 'resume'})
        assert status == 202
        wait_for(lambda: fleet.get(f'/incidents/{inc["id"]}')['count'] > inc['count'],
                 timeout=20, message='further recoveries update the incident')
        assert len(fleet.get('/incidents?robot_id=robot1')['items']) == 1

        # Unacknowledged, it escalates to level 2 after the level timeout, not before.
        def level2() -> list[dict[str, Any]]:
            return [e for e in fleet.events(kind='notification.sent')
                    if e['payload']['incident_id'] == inc['id'] and e['payload']['level'] == 2]
        l2 = wait_for(level2, timeout=LEVEL_TIMEOUT + 10, message='level 2 notification')
        first = [e for e in fleet.events(kind='notification.sent')
                 if e['payload']['incident_id'] == inc['id']][0]
        # The notifications' own times are the escalator's clock (the log stamps them when
        # they are written, which can be later).
        gap = l2[0]['payload']['time'] - first['payload']['time']
        assert gap >= LEVEL_TIMEOUT - 0.05, gap
        assert l2[0]['payload']['target'] == 'shift_lead'

        # Acknowledge over HTTP: escalation stops. Unacknowledged, the policy's repeat would
        # notify level 1 again LEVEL_TIMEOUT after level 2.
        assert fleet.get(f'/incidents/{inc["id"]}')['escalation']['next_at'] is not None
        status, acked = fleet.post(f'/incidents/{inc["id"]}/ack', {'note': 'on my way'})
        assert status == 200 and acked['state'] == 'acknowledged', acked
        assert acked['escalation']['next_at'] is None
        sent = len([e for e in fleet.events(kind='notification.sent')
                    if e['payload']['incident_id'] == inc['id']])
        repeat_due = l2[0]['payload']['time'] + LEVEL_TIMEOUT

        def manager_clock_past_repeat() -> bool:
            # Each command is logged with the manager's clock; once one is logged after the
            # repeat was due, the escalator (ticking every 50 ms) has had its chance.
            assert fleet.post('/robots/robot2/commands', {'command': 'resume'})[0] == 202
            logged = fleet.events(kind='robot.event', robot_id='robot2')
            return any(epoch_from_iso(e['time']) > repeat_due + 0.5 for e in logged)
        wait_for(manager_clock_past_repeat, timeout=LEVEL_TIMEOUT + 15, interval=0.2,
                 message='the manager\'s clock past the time the repeat was due')
        assert len([e for e in fleet.events(kind='notification.sent')
                    if e['payload']['incident_id'] == inc['id']]) == sent

        # Resolve records the note; acknowledging a resolved incident is a conflict.
        status, resolved = fleet.post(f'/incidents/{inc["id"]}/resolve',
                                      {'note': 'box removed from aisle'})
        assert status == 200 and resolved['state'] == 'resolved'
        assert any(t.get('note') == 'box removed from aisle' for t in resolved['timeline'])
        status, err = fleet.post(f'/incidents/{inc["id"]}/ack', {'note': 'late'})
        assert status == 409 and err['error']['code'] == 'conflict'
        status, err, _ = http('GET', fleet.base + '/incidents/INC-NOPE', headers=AUTH)
        assert status == 404 and err['error']['code'] == 'not_found'

        # The snapshot bag reads back with rosbags.
        check_bag(pathlib.Path(resolved['bag_path']), 'robot1')

        # A second stuck episode in the same area after resolution: a new incident that
        # says it recurred.
        status, _ = fleet.post('/robots/robot1/commands', {'command': 'resume'})
        assert status == 202

        def second() -> dict[str, Any] | None:
            items = fleet.get('/incidents?robot_id=robot1')['items']
            fresh = [i for i in items if i['id'] != inc['id']]
            return fresh[0] if fresh else None
        again = wait_for(second, timeout=30, message='a second incident')
        again = fleet.get(f'/incidents/{again["id"]}')
        assert again['recurrence'] and re.search(r'2nd', again['recurrence']['text']), again
    finally:
        try:
            graph.set_parameters('/robot1/sim', fault='none')
        finally:
            graph.close()


def check_bag(path: pathlib.Path, robot: str) -> None:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    assert path.is_dir(), path
    store = get_typestore(Stores.ROS2_JAZZY)
    msg_dir = REPO / 'src' / 'fleet_msgs' / 'msg'
    types: dict[str, Any] = {}
    for name in ('Pose2D', 'RobotStatus', 'RobotEvent'):
        types.update(get_types_from_msg((msg_dir / f'{name}.msg').read_text(),
                                        f'fleet_msgs/msg/{name}'))
    store.register(types)
    with Reader(path) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics['/fleet/robot_status'] == 'fleet_msgs/msg/RobotStatus'
        assert topics[f'/{robot}/odom'] == 'nav_msgs/msg/Odometry'
        counts: dict[str, int] = {}
        stamps = []
        for conn, stamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
            stamps.append(stamp)
            if conn.topic == '/fleet/robot_status':
                assert msg.robot_id == robot
            if conn.topic == '/fleet/robot_events':
                assert msg.robot_id == robot and msg.type
        assert counts['/fleet/robot_status'] >= 3, counts
        assert counts.get('/fleet/robot_events', 0) >= 3, counts
        assert max(stamps) - min(stamps) <= 61e9
