"""The agent's configuration and software handling: plain logic, then a real agent reading
and setting real parameter services, and running real installer processes."""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any, Iterator

from nav_msgs.msg import Odometry
import pytest
from rclpy.parameter import Parameter

from fleet_agent.agent_node import FleetAgent
from fleet_agent.config_logic import (
    DesiredConfig,
    InstallJob,
    InstallPhase,
    NodeRead,
    ValueKind,
    build_report,
    coerce,
    installer_argv,
)
from fleet_common.param_digest import node_digest
from fleet_msgs.msg import RobotCommand, RobotEvent, RobotStatus, Waypoint
from fleet_sim.nav2_params import nav2_param_nodes
from fleet_testing import Collector, RosGraph, wait_for


class FakeProcess:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def test_declared_config_and_reports() -> None:
    with pytest.raises(ValueError, match='nodes'):
        DesiredConfig.parse({'config_digest': 'x', 'nodes': ['a']})
    config = DesiredConfig.parse({'revision': 4, 'config_digest': 'abc', 'nodes': {
        'controller_server': {'rate': 20, 'speed': 0.5}, 'planner': {'tol': 0.1}}})
    report = build_report(config, {
        'controller_server': NodeRead({'rate': 20.0, 'speed': 0.7}),
        'planner': NodeRead(reachable=False, error='down')}, '1.2.0')
    assert report['config_digest'] == 'abc' and report['revision'] == 4
    assert report['drifted'] == ['controller_server.speed']  # 20 == 20.0
    assert report['nodes']['controller_server']['digest'] == node_digest(
        {'rate': 20, 'speed': 0.7})
    assert report['nodes']['planner'] == {'digest': '', 'values': {}, 'reachable': False,
                                          'error': 'down'}
    assert build_report(None, {}, '1.0')['nodes'] == {}


def test_coercion_and_installer_command_lines() -> None:
    assert coerce(1, ValueKind.DOUBLE) == 1.0 and isinstance(coerce(1, ValueKind.DOUBLE), float)
    assert coerce(2.0, ValueKind.INTEGER) == 2 and isinstance(coerce(2.0, ValueKind.INTEGER), int)
    assert coerce([1, 2], ValueKind.DOUBLE) == [1.0, 2.0]
    assert coerce(True, ValueKind.DOUBLE) is True and coerce('a', ValueKind.OTHER) == 'a'
    argv = installer_argv('update --to "{version}" {artifact}',
                          {'version': '1.1 beta', 'artifact': 'reg/x:1; rm -rf /'})
    assert argv == ['update', '--to', '1.1 beta', 'reg/x:1; rm -rf /']  # no shell, no split
    with pytest.raises(ValueError, match='no installer_command'):
        installer_argv('  ', {})
    with pytest.raises(ValueError, match='placeholder'):
        installer_argv('update {versoin}', {})


def test_install_job_runs_verifies_and_times_out() -> None:
    killed: list[bool] = []
    proc = FakeProcess()
    job = InstallJob('1.1.0', 'a', 'R-1', '1.0.0', proc, 100.0, timeout=10.0,
                     verify_timeout=5.0, kill=lambda: killed.append(True))
    healthy = lambda since: ''  # noqa: E731
    assert job.poll(105.0, '1.0.0', healthy) is None
    proc.code = 0
    assert job.poll(106.0, '1.0.0', healthy) is None and job.phase == InstallPhase.VERIFYING
    result = job.poll(107.0, '1.1.0', healthy)
    assert result is not None and result.succeeded and result.duration == 7.0
    slow = InstallJob('1.1.0', 'a', '', '1.0.0', FakeProcess(), 0.0, 10.0, 5.0,
                      kill=lambda: killed.append(True))
    timed_out = slow.poll(10.5, '1.0.0', healthy)
    assert timed_out is not None and not timed_out.succeeded and killed == [True]
    failing = FakeProcess()
    bad = InstallJob('1.1.0', 'a', '', '1.0.0', failing, 0.0, 10.0, 5.0, kill=lambda: None,
                     output=lambda: 'pulling...\nerror: manifest unknown\n')
    failing.code = 3
    res = bad.poll(1.0, '1.0.0', healthy)
    assert res is not None and res.exit_code == 3 and 'manifest unknown' in res.reason
    sick = InstallJob('1.1.0', 'a', '', '1.0.0', proc, 0.0, 10.0, 5.0, kill=lambda: None)
    assert sick.poll(1.0, '1.1.0', lambda since: 'diagnostics at level 2') is None
    res = sick.poll(6.5, '1.1.0', lambda since: 'diagnostics at level 2')
    assert res is not None and not res.succeeded and 'diagnostics at level 2' in res.reason


class Robot:
    """An agent for r1 with its Nav2 parameter nodes, odometry, and a fake manager."""

    def __init__(self, graph: RosGraph, tmp: pathlib.Path, installer: str) -> None:
        self.graph = graph
        for n in nav2_param_nodes('r1', context=graph.context):
            graph.add(n)
        self.agent = graph.add(FleetAgent(robot_id='r1', context=graph.context,
                                          parameter_overrides=[
            Parameter('state_dir', value=str(tmp)),
            Parameter('config_check_period', value=0.2),
            Parameter('software_version', value='1.0.0'),
            Parameter('installer_command', value=installer),
            Parameter('install_verify_timeout', value=3.0),
            Parameter('report_rate', value=10.0)]))
        self.node = graph.node('fake_manager')
        self.events = Collector(self.node, RobotEvent, '/fleet/robot_events', 1000)
        self.statuses = Collector(self.node, RobotStatus, '/fleet/robot_status', 1000)
        self.commands = self.node.create_publisher(RobotCommand, '/fleet/robot_commands', 100)
        odom = self.node.create_publisher(Odometry, '/r1/odom', 10)
        self.node.create_timer(0.1, lambda: odom.publish(Odometry()))
        self.next_id = 1
        wait_for(lambda: self.commands.get_subscription_count() > 0, message='agent')

    def send(self, command: str, args: dict[str, Any], **fields: Any) -> None:
        self.next_id += 1
        self.commands.publish(RobotCommand(robot_id='r1', id=self.next_id, command=command,
                                           args_json=json.dumps(args), **fields))

    def reports(self, type_: str) -> list[dict[str, Any]]:
        seen: dict[int, dict[str, Any]] = {}
        for m in self.events.snapshot():
            if m.robot_id == 'r1' and m.type == type_:
                seen[m.seq] = json.loads(m.data_json)
        return [seen[s] for s in sorted(seen)]


@pytest.fixture
def graph() -> Iterator[RosGraph]:
    g = RosGraph()
    yield g
    g.close()


def test_drift_is_reported_and_reconciled_through_parameter_services(
        graph: RosGraph, tmp_path: pathlib.Path) -> None:
    robot = Robot(graph, tmp_path, '')
    declared = {'controller_server': {'FollowPath.desired_linear_vel': 0.8,
                                      'controller_frequency': 20},
                'planner_server': {'tolerance': 0.5}}  # no such node on this robot
    robot.send('configure', {'revision': 2, 'config_digest': 'cfg-2', 'nodes': declared})
    first = wait_for(lambda: [r for r in robot.reports('config.report')
                              if r['config_digest'] == 'cfg-2'], 10, message='a report')[0]
    assert first['drifted'] == [] and first['revision'] == 2
    assert first['nodes']['controller_server']['values'] == {
        'FollowPath.desired_linear_vel': 0.8, 'controller_frequency': 20.0}
    assert first['nodes']['planner_server']['reachable'] is False

    graph.set_parameters('/r1/controller_server', **{'FollowPath.desired_linear_vel': 1.4})
    drifted = wait_for(lambda: [r for r in robot.reports('config.report') if r['drifted']],
                       0.2 * 2 + 1.0, message='drift within two check periods')[0]
    assert drifted['drifted'] == ['controller_server.FollowPath.desired_linear_vel']
    assert drifted['nodes']['controller_server']['values'][
        'FollowPath.desired_linear_vel'] == 1.4

    robot.send('set_parameters', {'revision': 2, 'nodes': {'controller_server': {
        'FollowPath.desired_linear_vel': 0.8, 'controller_frequency': 20}}})
    done = wait_for(lambda: robot.reports('config.reconciled'), 10, message='reconciled')[0]
    assert done['ok'], done
    assert {(p['name'], p['ok']) for p in done['params']} == {
        ('FollowPath.desired_linear_vel', True), ('controller_frequency', True)}
    assert graph.get_parameter('/r1/controller_server', 'FollowPath.desired_linear_vel') == 0.8
    assert graph.get_parameter('/r1/controller_server', 'controller_frequency') == 20.0
    wait_for(lambda: not robot.reports('config.report')[-1]['drifted'], 5,
             message='in sync again')


def test_installs_run_the_installer_and_missions_wait(graph: RosGraph,
                                                      tmp_path: pathlib.Path) -> None:
    script = tmp_path / 'install.py'
    script.write_text('import sys, time\nif sys.argv[1].endswith("slow"): time.sleep(3)\n'
                      'if sys.argv[1].endswith("broken"):\n'
                      '    print("error: manifest unknown"); sys.exit(3)\n')
    robot = Robot(graph, tmp_path, f'{sys.executable} {script} {{version}}')
    robot.send('install', {'version': '1.1.0', 'artifact': 'reg/x:1.1.0', 'rollout_id': 'R-1'})
    finished = wait_for(lambda: robot.reports('install.finished'), 10, message='install')[0]
    assert finished['outcome'] == 'succeeded' and finished['exit_code'] == 0, finished
    assert finished['previous_version'] == '1.0.0' and finished['rollout_id'] == 'R-1'
    assert robot.reports('install.started')[0]['mission_id'] is None
    wait_for(lambda: robot.statuses.snapshot()[-1].software_version == '1.1.0', 5,
             message='the new version reported')

    robot.send('install', {'version': '1.2.0-broken'})
    failed = wait_for(lambda: robot.reports('install.finished')[1:], 10, message='failure')[0]
    assert failed['outcome'] == 'failed' and failed['exit_code'] == 3
    assert 'manifest unknown' in failed['reason']

    robot.send('install', {'version': '1.3.0-slow'})
    wait_for(lambda: robot.reports('install.started')[2:], 5, message='slow install')
    robot.send('execute_mission', {}, mission_id='m-1', attempt=1,
               waypoints=[Waypoint(x=1.0, y=1.0)])
    robot.send('install', {'version': '1.4.0'})
    refused = wait_for(lambda: robot.reports('mission.refused'), 5, message='refused')[0]
    assert refused['reason'] == 'installing software'
    busy = wait_for(lambda: robot.reports('install.refused'), 5, message='busy')[0]
    assert busy['retryable'] is True and 'another install' in busy['reason']
    wait_for(lambda: robot.reports('install.finished')[2:], 10, message='slow install done')
