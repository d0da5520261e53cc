"""In-process tests of the manager lifecycle node over real DDS."""

from __future__ import annotations

import json
import math
import pathlib
import sqlite3
import time

import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleet_common.events import RobotConnectivity
from fleet_manager.core.model import NewEvent
from fleet_manager.manager_node import FleetManager
from fleet_manager.store import FleetStore
from fleet_msgs.msg import FleetEvent, FleetSummary, Pose2D, RobotStatus
from fleet_msgs.srv import GetEvents, ListRobots
from fleet_testing import Collector, RosGraph, wait_for

FLEET = """
robots:
  - {id: r1, capabilities: [tote]}
  - {id: r2, capabilities: [tote]}
"""


@pytest.fixture
def graph() -> RosGraph:
    g = RosGraph()
    yield g
    g.close()


def make_manager(graph: RosGraph, tmp_path: pathlib.Path, fleet: str = FLEET,
                 **params: object) -> FleetManager:
    cfg = tmp_path / 'fleet.yaml'
    if not cfg.exists():
        cfg.write_text(fleet)
    overrides = [Parameter('database', value=str(tmp_path / 'fleet.db')),
                 Parameter('fleet_config', value=str(cfg)),
                 Parameter('tick_period', value=0.05), Parameter('summary_period', value=0.1),
                 Parameter('report_period', value=0.2)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return graph.add(FleetManager(context=graph.context, parameter_overrides=overrides))


def status(robot_id: str, seq: int, x: float = 1.0, y: float = 2.0) -> RobotStatus:
    return RobotStatus(robot_id=robot_id, seq=seq, software_version='1.2.3', mode=1,
                       battery=0.8, pose=Pose2D(x=x, y=y, theta=0.5), report_period=0.2)


class Client:
    """A test node that talks to the manager like the bridge does."""

    def __init__(self, graph: RosGraph) -> None:
        self.graph = graph
        self.node = graph.node('test_client')
        self.pub = self.node.create_publisher(RobotStatus, '/fleet/robot_status', 100)
        self.summary = Collector(self.node, FleetSummary, 'fleet/summary')
        self.events = Collector(self.node, FleetEvent, 'fleet/events', 1000)
        self.list = self.node.create_client(ListRobots, 'fleet/list_robots')
        self.get_events = self.node.create_client(GetEvents, 'fleet/get_events')

    def robots(self) -> ListRobots.Response:
        return self.graph.call(self.list, ListRobots.Request())

    def wait_matched(self) -> None:
        wait_for(lambda: self.pub.get_subscription_count() > 0, message='manager subscription')

    def connectivity(self, robot_id: str) -> str | None:
        resp = self.robots()
        return next((r.connectivity for r in resp.robots if r.robot_id == robot_id), None)


def test_invalid_config_refuses_to_configure_naming_file_and_key(graph: RosGraph,
                                                                 tmp_path: pathlib.Path) -> None:
    manager = make_manager(graph, tmp_path, fleet='robots:\n  - {id: r1, dock: nowhere}\n')
    assert manager.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert str(tmp_path / 'fleet.yaml') in manager.configure_error
    assert 'robots[0].dock' in manager.configure_error
    assert manager.store is None


def test_bad_parameter_refuses_to_configure(graph: RosGraph, tmp_path: pathlib.Path) -> None:
    manager = make_manager(graph, tmp_path, assignment_policy='astrology')
    assert manager.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert 'assignment_policy' in manager.configure_error


def test_event_retention_shorter_than_an_slo_period_refuses_to_configure(
        graph: RosGraph, tmp_path: pathlib.Path) -> None:
    slos = tmp_path / 'slos.yaml'
    slos.write_text('slos:\n  - {name: monthly, sli: mission_success, objective: 0.99, '
                    'period_s: 2592000}\n')
    manager = make_manager(graph, tmp_path, slo_config=str(slos),
                           event_retention=14 * 86400.0)
    assert manager.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert manager.configure_error.startswith(
        'parameter event_retention: 1.2096e+06 s is shorter than the period_s of SLO '
        'monthly'), manager.configure_error
    assert manager.store is None
    ok = make_manager(graph, tmp_path, slo_config=str(slos), event_retention=0.0)
    assert ok.trigger_configure() == TransitionCallbackReturn.SUCCESS


def test_active_manager_prunes_events_and_telemetry_older_than_their_retention(
        graph: RosGraph, tmp_path: pathlib.Path) -> None:
    now = time.time()
    store = FleetStore(str(tmp_path / 'fleet.db'), sync='normal')
    old = store.append([NewEvent.of(RobotConnectivity('stale', 'online', 'test'), 'r1')
                        for _ in range(5)], now - 30 * 86400.0)
    with store.transaction() as tx:
        tx.add_telemetry([{'robot_id': 'r1', 'time': now - 3 * 86400.0, 'battery': 0.5,
                           'x': 0.0, 'y': 0.0, 'theta': 0.0, 'mode': 1,
                           'diagnostics_level': 0, 'connectivity': 'online'}])
    store.close()
    manager = make_manager(graph, tmp_path, event_retention=8 * 86400.0,
                           telemetry_retention=86400.0, robot_flush_period=0.1)
    manager.trigger_configure()
    manager.trigger_activate()

    def rows() -> tuple[list[tuple[int, str]], int]:
        # The node's connection belongs to its executor threads: read through our own.
        conn = sqlite3.connect(f'file:{tmp_path / "fleet.db"}?mode=ro', uri=True)
        try:
            return (conn.execute('SELECT id, kind FROM events ORDER BY id').fetchall(),
                    conn.execute('SELECT COUNT(*) FROM telemetry').fetchone()[0])
        finally:
            conn.close()

    kept, samples = wait_for(lambda: (lambda r: r if len(r[0]) == 1 and not r[1] else None)(
        rows()), message='old events and samples pruned')
    assert kept[0][1] == 'manager.configured'
    assert kept[0][0] > old[-1].id


def test_registry_lifecycle_and_bad_statuses(graph: RosGraph, tmp_path: pathlib.Path) -> None:
    manager = make_manager(graph, tmp_path)
    client = Client(graph)
    assert manager.trigger_configure() == TransitionCallbackReturn.SUCCESS
    # Configured but inactive: services answer NOT_ACTIVE.
    resp = client.robots()
    assert not resp.success and resp.error_code == ListRobots.Response.NOT_ACTIVE
    manager.trigger_activate()
    client.wait_matched()

    # Bad statuses are dropped and counted; the manager keeps answering. (Statuses are
    # best effort: the first ones after matching may be lost, so they are sent until seen.)
    nan = status('r1', 2)
    nan.pose.x = math.nan

    def rejected() -> bool:
        client.pub.publish(status('', 1))
        client.pub.publish(nan)
        return any(s.statuses_rejected >= 2 for s in client.summary.snapshot())
    wait_for(rejected, interval=0.2, message='two rejected statuses in the summary')
    assert client.connectivity('r1') == 'offline'

    client.pub.publish(status('r1', 3))
    wait_for(lambda: client.connectivity('r1') == 'online', message='r1 online')
    r1 = next(r for r in client.robots().robots if r.robot_id == 'r1')
    assert (r1.pose.x, r1.pose.y, r1.software_version) == (1.0, 2.0, '1.2.3')

    # No more statuses: stale after 3 periods (0.6 s), offline after 10 (2 s).
    wait_for(lambda: client.connectivity('r1') == 'stale', timeout=5, message='r1 stale')
    wait_for(lambda: client.connectivity('r1') == 'offline', timeout=5, message='r1 offline')
    log = client.graph.call(client.get_events, GetEvents.Request(after_id=0, limit=100)).events
    changes = [json.loads(e.payload_json)['to'] for e in log
               if (e.robot_id, e.kind) == ('r1', 'robot.connectivity')]
    assert changes == ['online', 'stale', 'offline']

    # Deactivate: no summaries, no processing, services refuse.
    manager.trigger_deactivate()
    mark = len(client.summary.snapshot())
    client.pub.publish(status('r2', 10))
    resp = client.robots()
    assert resp.error_code == ListRobots.Response.NOT_ACTIVE
    # Reactivating proves the executor kept running; r2's status sent while inactive was
    # not processed, and no summary was published in between.
    manager.trigger_activate()
    wait_for(lambda: len(client.summary.snapshot()) > mark, message='summaries resume')
    assert client.connectivity('r2') == 'offline'
    assert len([s for s in client.summary.snapshot()[mark:] if s.online]) == 0
    client.pub.publish(status('r2', 11))
    wait_for(lambda: client.connectivity('r2') == 'online', message='r2 processed again')


def test_restart_restores_registry_and_event_log(graph: RosGraph,
                                                 tmp_path: pathlib.Path) -> None:
    manager = make_manager(graph, tmp_path, report_period=5.0)
    client = Client(graph)
    manager.trigger_configure()
    manager.trigger_activate()
    client.wait_matched()
    client.pub.publish(status('r1', 100, x=7.0))
    client.pub.publish(status('extra', 5, x=3.0))
    wait_for(lambda: client.connectivity('extra') == 'online', message='extra online')
    before = graph.call(client.get_events, GetEvents.Request(after_id=0, limit=100))
    assert [e.kind for e in before.events].count('robot.connectivity') == 2
    manager.trigger_deactivate()
    manager.trigger_cleanup()  # closes the store
    graph.remove(manager)

    manager2 = make_manager(graph, tmp_path, report_period=5.0)
    manager2.trigger_configure()
    manager2.trigger_activate()
    resp = wait_for(lambda: (lambda r: r if r.success else None)(client.robots()),
                    message='restarted manager answers')
    restored = {r.robot_id: r for r in resp.robots}
    assert set(restored) == {'r1', 'r2', 'extra'}
    assert restored['r1'].pose.x == 7.0 and restored['r1'].connectivity == 'online'
    after = graph.call(client.get_events, GetEvents.Request(after_id=0, limit=100))
    restored_log = [(e.id, e.kind, e.payload_json) for e in after.events]
    # The whole log survives the restart; the restart itself adds a manager.configured entry.
    assert restored_log[:len(before.events)] == \
        [(e.id, e.kind, e.payload_json) for e in before.events]
    assert [k for _, k, _ in restored_log[len(before.events):]] == ['manager.configured']
    assert [e.kind for e in before.events].count('manager.configured') == 1
    # Statuses are snapshots: whatever arrives last is the robot's state, whatever its seq
    # (so no single status, a replay or a forged maximal seq, can make the manager ignore
    # the robot's next ones).
    def r1_x() -> float:
        return next(r for r in client.robots().robots if r.robot_id == 'r1').pose.x
    client.pub.publish(status('r1', 2**64 - 1, x=99.0))
    wait_for(lambda: r1_x() == 99.0, message='the maximal seq applied')
    client.pub.publish(status('r1', 1, x=8.0))
    wait_for(lambda: r1_x() == 8.0, message='the next status applied all the same')


def manager_entities(manager: FleetManager) -> dict[str, list[str]]:
    """Every DDS-backed entity the manager node and its API node created (their own lists:
    exact, and free of other tests' nodes in the discovery graph)."""
    nodes = (manager, manager.api.node)
    return {
        'publishers': sorted(p.topic_name for n in nodes for p in n.publishers),
        'subscriptions': sorted(s.topic_name for n in nodes for s in n.subscriptions),
        'services': sorted(s.srv_name for n in nodes for s in n.services),
        'clients': sorted(c.srv_name for n in nodes for c in n.clients),
        'waitables': sorted(type(w).__name__ for n in nodes for w in n.waitables),
    }


def test_services_answer_while_the_node_executor_is_busy(graph: RosGraph,
                                                          tmp_path: pathlib.Path) -> None:
    """A request never waits in the node's executor queue (behind statuses and timers): the
    API thread answers it while the executor is stuck in a long callback."""
    import threading
    manager = make_manager(graph, tmp_path)
    client = Client(graph)
    manager.trigger_configure()
    manager.trigger_activate()
    assert 'fleet/list_robots' in manager_entities(manager)['services']
    assert 'fleet/list_robots' not in [s.srv_name for s in manager.services]
    assert client.robots().success
    inside, release = threading.Event(), threading.Event()

    def busy() -> None:
        inside.set()
        release.wait(60)
    timer = manager.create_timer(0.01, busy)
    try:
        assert inside.wait(10), 'the blocking callback never ran'
        resp = client.robots()  # RosGraph.call fails after 10 s without an answer
        assert resp.success and sorted(r.robot_id for r in resp.robots) == ['r1', 'r2']
    finally:
        manager.destroy_timer(timer)
        release.set()


def test_dds_entities_do_not_grow_with_the_fleet(graph: RosGraph,
                                                 tmp_path: pathlib.Path) -> None:
    from fleet_msgs.msg import Mission, Waypoint
    from fleet_msgs.srv import SubmitMission
    manager = make_manager(graph, tmp_path, report_period=30.0)
    client = Client(graph)
    manager.trigger_configure()
    manager.trigger_activate()
    client.wait_matched()
    submit = client.node.create_client(SubmitMission, 'fleet/submit_mission')

    def online() -> int:
        return sum(1 for r in client.robots().robots if r.connectivity == 'online')

    def grow_to(robots: int) -> dict[str, list[str]]:
        def report() -> bool:
            # Statuses are best effort: a burst may lose some, so report until all are in.
            for i in range(robots):
                s = status(f'bot{i}', 1, x=float(i), y=0.0)
                s.report_period = 30.0
                client.pub.publish(s)
            return online() >= robots
        wait_for(report, timeout=60, interval=0.5, message=f'{robots} robots online')
        for i in range(5):  # missions dispatched to robots: no per-robot client appears
            resp = graph.call(submit, SubmitMission.Request(mission=Mission(
                waypoints=[Waypoint(x=float(i), y=1.0)])))
            assert resp.success, resp.error_msg
        wait_for(lambda: manager.domain is not None and not manager.domain.board.has_queued(),
                 timeout=10, message='the missions dispatched')
        return manager_entities(manager)

    at_10 = grow_to(10)
    at_1000 = grow_to(1000)
    assert at_10 == at_1000
    assert not any('/bot' in name for names in at_1000.values() for name in names)
    assert '/fleet/robot_commands' in at_1000['publishers']
    assert not at_1000['clients'] and 'ActionClient' not in at_1000['waitables']
