"""The rollouts feature in a real manager node over DDS: desired state revisions, refusals
naming file and key, the audit trail, and a rollout driven by robot events."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import threading
import time
from typing import Any, Iterator

from builtin_interfaces.msg import Time as TimeMsg
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleet_manager.manager_node import FleetManager
from fleet_msgs.msg import Pose2D, RobotCommand, RobotEvent, RobotStatus
from fleet_msgs.srv import JsonCall
from fleet_testing import Collector, RosGraph, wait_for

FLEET = """
site: test-site
robots:
  - {id: r1, capabilities: [tote]}
  - {id: r2, capabilities: [tote]}
"""
DESIRED = {
    'groups.yaml': 'groups:\n  - {name: all, selector: {}, reconcile: report}\n',
    'releases.yaml': ("releases:\n  - {version: 1.0.0, artifact: 'reg/r:1.0.0'}\n"
                      "  - {version: 1.1.0, artifact: 'reg/r:1.1.0'}\n"),
    'params.yaml': ('parameter_sets:\n  - name: nav\n    groups: [all]\n    nodes:\n'
                    '      controller_server: {FollowPath.max_vel_x: 0.5}\n'),
    'rollouts.yaml': (
        'analysis:\n  - {name: quick, min_missions: 1, min_baseline_missions: 0,\n'
        '     metrics: {mission_success: {min: 0.5}}}\n'
        'strategies:\n  - name: two-step\n    analysis: quick\n    steps:\n'
        '      - {name: canary, robots: 1, bake: {missions: 1}}\n'
        '      - {percent: 100}\n'
        'rollout_policy: {default_strategy: two-step}\n'),
}


class Robots:
    """Two fake agents: statuses at 10 Hz and robot events from an outbox of our own."""

    def __init__(self, graph: RosGraph) -> None:
        self.node = graph.node('fake_agents')
        self.versions = {'r1': '1.0.0', 'r2': '1.0.0'}
        self.epoch = int(time.time() * 1e6)
        self.seq = {'r1': 0, 'r2': 0}
        self.status_pub = self.node.create_publisher(RobotStatus, '/fleet/robot_status', 100)
        self.events_pub = self.node.create_publisher(RobotEvent, '/fleet/robot_events', 100)
        self.commands = Collector(self.node, RobotCommand, '/fleet/robot_commands', 1000)
        self._lock = threading.Lock()
        self.node.create_timer(0.1, self._statuses)

    def _statuses(self) -> None:
        with self._lock:
            for robot, version in self.versions.items():
                self.status_pub.publish(RobotStatus(
                    robot_id=robot, seq=1, software_version=version, mode=1, battery=0.9,
                    pose=Pose2D(x=1.0, y=1.0), report_period=0.2, epoch=self.epoch,
                    event_seq=self.seq[robot]))

    def emit(self, robot: str, type_: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.seq[robot] += 1
            self.events_pub.publish(RobotEvent(
                robot_id=robot, epoch=self.epoch, seq=self.seq[robot], stamp=TimeMsg(),
                type=type_, data_json=json.dumps(data)))

    def sent(self, command: str) -> list[tuple[str, dict[str, Any]]]:
        return [(m.robot_id, json.loads(m.args_json)) for m in self.commands.snapshot()
                if m.command == command]


@pytest.fixture
def setup(tmp_path: pathlib.Path) -> Iterator[tuple[RosGraph, FleetManager, Any]]:
    graph = RosGraph()
    cfg = tmp_path / 'fleet.yaml'
    cfg.write_text(FLEET)
    manager = graph.add(FleetManager(context=graph.context, parameter_overrides=[
        Parameter('database', value=str(tmp_path / 'fleet.db')),
        Parameter('fleet_config', value=str(cfg)), Parameter('tick_period', value=0.05),
        Parameter('report_period', value=0.2), Parameter('rollout_tick_period', value=0.05),
        Parameter('config_resend_after', value=0.5)]))
    assert manager.trigger_configure() == TransitionCallbackReturn.SUCCESS
    manager.trigger_activate()
    client = graph.node('rollout_client')
    calls = {name: client.create_client(JsonCall, f'fleet/{name}')
             for name in ('desired_state', 'rollouts', 'audit')}

    def call(service: str, action: str, body: Any = None, who: str = 'alice',
             reason: str = '') -> JsonCall.Response:
        return graph.call(calls[service], JsonCall.Request(
            action=action, body_json=json.dumps(body or {}), who=who, reason=reason))
    yield graph, manager, call
    graph.close()


def result(resp: JsonCall.Response) -> Any:
    assert resp.success, (resp.error_code, resp.error_msg, resp.error_field)
    return json.loads(resp.result_json)


def test_revisions_refusals_rollouts_and_audit(setup: Any) -> None:
    graph, manager, call = setup
    robots = Robots(graph)
    bad = dict(DESIRED, **{'groups.yaml': 'groups:\n  - {name: all, reconcile: sometimes}\n'})
    resp = call('desired_state', 'apply', {'files': bad}, reason='typo')
    assert not resp.success and resp.error_code == JsonCall.Response.INVALID
    assert resp.error_field == 'groups.yaml: groups[0].reconcile', resp.error_field
    assert call('desired_state', 'current').error_code == JsonCall.Response.NOT_FOUND

    applied = result(call('desired_state', 'apply', {'files': DESIRED}, reason='first'))
    assert applied['revision'] == 1 and not applied['unchanged']
    again = result(call('desired_state', 'apply', {'files': DESIRED}))
    assert again == {**again, 'revision': 1, 'unchanged': True}
    rollback = call('desired_state', 'rollback', {'number': 7})
    assert rollback.error_code == JsonCall.Response.NOT_FOUND
    current = result(call('desired_state', 'current'))
    assert current['number'] == 1 and current['who'] == 'alice'
    assert set(current['files']) == set(DESIRED)

    # Both robots are sent their declared parameters once they are online.
    wait_for(lambda: {r for r, _ in robots.sent('configure')} == {'r1', 'r2'}, 10,
             message='configure commands')
    rollout = result(call('rollouts', 'create', {'release': '1.1.0'}, reason='new nav'))
    assert rollout['id'] == 'R-1' and rollout['order'][0] == 'r1'
    wait_for(lambda: robots.sent('install'), 10, message='an install command')
    assert [r for r, _ in robots.sent('install')] == ['r1']
    assert robots.sent('install')[0][1] == {'version': '1.1.0', 'artifact': 'reg/r:1.1.0',
                                            'rollout_id': 'R-1'}
    robots.emit('r1', 'install.started', {'version': '1.1.0', 'rollout_id': 'R-1'})
    robots.versions['r1'] = '1.1.0'
    robots.emit('r1', 'install.finished', {'outcome': 'succeeded', 'version': '1.1.0',
                                           'previous_version': '1.0.0', 'rollout_id': 'R-1'})
    wait_for(lambda: result(call('rollouts', 'get', {'id': 'R-1'}))['bake_started'], 10,
             message='the canary baking')
    promoted = result(call('rollouts', 'promote', {'id': 'R-1'}, who='bob', reason='ok'))
    assert promoted['step'] == 1
    wait_for(lambda: [r for r, _ in robots.sent('install')] == ['r1', 'r2'], 10,
             message='the second install')
    aborted = result(call('rollouts', 'abort', {'id': 'R-1'}, who='carol', reason='stop'))
    assert aborted['state'] == 'rolling_back'
    conflict = call('rollouts', 'promote', {'id': 'R-1'})
    assert conflict.error_code == JsonCall.Response.CONFLICT and 'rolling_back' in \
        conflict.error_msg
    assert call('rollouts', 'get', {'id': 'R-9'}).error_code == JsonCall.Response.NOT_FOUND

    audit = result(call('audit', 'list', {'limit': 500}))
    kinds = [(e['kind'], e['who']) for e in audit['items']]
    for expected in [('config.refused', 'alice'), ('config.applied', 'alice'),
                     ('rollout.created', 'alice'), ('rollout.promoted', 'bob'),
                     ('rollout.aborted', 'carol'), ('robot.install', 'rollout-controller')]:
        assert expected in kinds, kinds
    assert all(isinstance(e['time'], float) for e in audit['items'])
    bobs = result(call('audit', 'list', {'who': 'bob'}))
    assert {e['kind'] for e in bobs['items']} == {'rollout.promoted'}
    # Paginated newest first; ``until`` keeps entries logged meanwhile out of the pages.
    until = audit['items'][0]['time'] + 1e-6
    whole = result(call('audit', 'list', {'limit': 500, 'until': until}))
    page = result(call('audit', 'list', {'limit': 2, 'offset': 1, 'until': until}))
    assert page['total'] == whole['total'] >= 10
    assert [e['id'] for e in page['items']] == [e['id'] for e in whole['items'][1:3]]
    ids = [e['id'] for e in whole['items']]
    assert ids == sorted(ids, reverse=True)


def test_workflows_and_slos_of_the_applied_state_take_effect_at_the_next_configure(
        setup: Any) -> None:
    graph, manager, call = setup
    slos = ('slos:\n  - name: only_this\n    sli: mission_success\n    objective: 0.9\n'
            '    period_s: 86400\n    alerts: []\n')
    files = dict(DESIRED, **{'slos.yaml': slos})
    applied = result(call('desired_state', 'apply', {'files': files}))
    assert applied['diff']['next_configure'] == ['slos.yaml']
    from fleet_msgs.srv import GetReport
    report = graph.node('report_client').create_client(GetReport, 'fleet/get_report')

    def slo_names() -> list[str]:
        resp = graph.call(report, GetReport.Request(name='slos'))
        assert resp.success, resp.error_msg
        return [s['slo'] for s in json.loads(resp.report_json)['items']]
    assert 'only_this' not in slo_names()
    assert manager.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert manager.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert manager.trigger_configure() == TransitionCallbackReturn.SUCCESS, \
        manager.configure_error
    manager.trigger_activate()
    assert slo_names() == ['only_this']
    assert result(call('desired_state', 'current'))['number'] == 1  # survived the cycle


def test_the_desired_state_directory_bootstraps_an_empty_store(tmp_path: pathlib.Path) -> None:
    desired = tmp_path / 'desired'
    (desired / 'site').mkdir(parents=True)
    for name, text in DESIRED.items():
        (desired / ('site' if name == 'params.yaml' else '') / name).write_text(text)
    (desired / 'notes.txt').write_text('not YAML: ignored')
    graph = RosGraph()
    try:
        cfg = tmp_path / 'fleet.yaml'
        cfg.write_text(FLEET)
        manager = graph.add(FleetManager(context=graph.context, parameter_overrides=[
            Parameter('database', value=str(tmp_path / 'fleet.db')),
            Parameter('fleet_config', value=str(cfg)), Parameter('tick_period', value=0.05),
            Parameter('rollout_tick_period', value=0.05),
            Parameter('desired_state_dir', value=str(desired))]))
        assert manager.trigger_configure() == TransitionCallbackReturn.SUCCESS
        manager.trigger_activate()
        db = sqlite3.connect(f'file:{tmp_path / "fleet.db"}?mode=ro', uri=True)

        def revisions() -> list[Any]:
            return db.execute('SELECT number, who, files FROM revisions').fetchall()
        (number, who, files), = wait_for(revisions, 10, message='the bootstrap revision')
        db.close()
        assert (number, who) == (1, 'manager')
        assert set(json.loads(files)) == {'groups.yaml', 'releases.yaml', 'site/params.yaml',
                                          'rollouts.yaml'}
    finally:
        graph.close()
