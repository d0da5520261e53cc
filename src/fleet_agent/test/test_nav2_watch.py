"""Nav2Watch: the plain decision logic, then the watch on a real graph with a stuck SimRobot.

The ROS tests run in-process over DDS; run them with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
and a private domain (FLEET_TEST_DOMAIN_ID).
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Iterator

import pytest

from fleet_agent.watch_logic import (
    BtRecoveryFilter,
    Edge,
    EdgeDetector,
    GoalSample,
    GoalTracker,
    RecoveryCounter,
    goal_id_hex,
    normalise_name,
    recovery_count_event,
    safety_event,
)
from fleet_agent.watch_logic import GoalStatusCode as S

TIMEOUT = 20.0


def g(goal_id: str, status: S, stamp: float = 0.0) -> GoalSample:
    return GoalSample(goal_id, stamp, int(status))


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


# -- GoalTracker -------------------------------------------------------------------------------

def test_goal_reported_once_per_state() -> None:
    t = GoalTracker('spin')
    assert t.update(0.0, [g('a', S.ACCEPTED)]) == []
    [started] = t.update(0.1, [g('a', S.EXECUTING)])
    assert (started.type, started.severity) == ('recovery_started', 1)
    assert started.data == {'behavior': 'spin', 'goal_id': 'a', 'status': 'executing',
                            'source': 'action_status'}
    assert t.update(0.2, [g('a', S.EXECUTING)]) == []
    assert t.update(0.3, [g('a', S.CANCELING)]) == []
    [failed] = t.update(0.6, [g('a', S.ABORTED)])
    assert (failed.type, failed.severity) == ('recovery_failed', 2)
    assert failed.data['status'] == 'aborted' and failed.data['elapsed'] == pytest.approx(0.5)
    # Later arrays keep listing the finished goal next to new ones.
    events = t.update(1.0, [g('a', S.ABORTED), g('b', S.EXECUTING, 1.0)])
    assert types(events) == ['recovery_started'] and events[0].data['goal_id'] == 'b'
    events = t.update(1.5, [g('a', S.ABORTED), g('b', S.SUCCEEDED, 1.0)])
    assert types(events) == ['recovery_succeeded'] and events[0].severity == 0
    assert t.update(2.0, [g('a', S.ABORTED), g('b', S.SUCCEEDED, 1.0)]) == []


def test_canceled_is_a_failure_and_canceling_a_start() -> None:
    t = GoalTracker('backup')
    t.update(0.0, [])
    assert types(t.update(0.1, [g('c', S.CANCELING)])) == ['recovery_started']
    [ev] = t.update(0.2, [g('c', S.CANCELED)])
    assert ev.type == 'recovery_failed' and ev.data['status'] == 'canceled'


def test_missed_execution_is_reported_late_but_history_is_not() -> None:
    t = GoalTracker('wait')
    # The first array replays goals that ended before the watch started: ignored.
    events = t.update(0.0, [g('old', S.ABORTED), g('live', S.EXECUTING)])
    assert [(e.type, e.data['goal_id']) for e in events] == [('recovery_started', 'live')]
    assert t.heard
    # Later, a goal seen for the first time already finished: both reports, marked late.
    events = t.update(1.0, [g('old', S.ABORTED), g('live', S.EXECUTING), g('quick', S.ABORTED)])
    assert types(events) == ['recovery_started', 'recovery_failed']
    assert events[0].data['late'] is True and 'late' not in events[1].data


def test_goal_memory_is_bounded_without_reporting_twice() -> None:
    t = GoalTracker('spin', memory=3)
    t.update(0.0, [])
    listed: list[GoalSample] = []
    reported: list[tuple[str, str]] = []
    for i in range(10):
        listed = [g(x.goal_id, S.ABORTED, x.stamp) for x in listed]
        listed.append(g(f'goal{i}', S.EXECUTING, float(i)))
        reported += [(e.type, e.data['goal_id']) for e in t.update(float(i), listed)]
        assert len(t) <= 3
    listed = [g(x.goal_id, S.ABORTED, x.stamp) for x in listed]
    reported += [(e.type, e.data['goal_id']) for e in t.update(10.0, listed)]
    assert sorted(reported) == sorted(
        [('recovery_started', f'goal{i}') for i in range(10)]
        + [('recovery_failed', f'goal{i}') for i in range(10)])
    # A goal forgotten because of the bound is not reported again when still listed.
    assert t.update(11.0, listed) == []
    with pytest.raises(ValueError):
        GoalTracker('spin', memory=0)


def test_unknown_status_numbers_are_ignored() -> None:
    t = GoalTracker('spin')
    assert t.update(0.0, [GoalSample('x', 0.0, 42)]) == []
    assert S.of(42) is S.UNKNOWN and S.SUCCEEDED.terminal and not S.EXECUTING.terminal


# -- BtRecoveryFilter ----------------------------------------------------------------------

NODES = ('Spin', 'BackUp', 'Wait', 'ClearEntireCostmap', 'ClearLocalCostmap')
BEHAVIORS = ('spin', 'backup', 'wait', 'drive_on_heading')


def test_bt_recoveries_reported_only_when_no_action_status_covers_them() -> None:
    covered = {'spin'}
    f = BtRecoveryFilter(NODES, BEHAVIORS, lambda b: b in covered)
    assert f.on_change('Spin', 1, 'IDLE', 'RUNNING') is None  # the spin status topic reports
    ev = f.on_change('BackUp', 2, 'IDLE', 'RUNNING')
    assert ev is not None and (ev.type, ev.severity) == ('bt_recovery', 1)
    assert ev.data == {'node': 'BackUp', 'uid': 2, 'from': 'IDLE', 'to': 'RUNNING',
                       'phase': 'started', 'recovery': 'BackUp', 'behavior': 'backup',
                       'source': 'behavior_tree_log'}
    ev = f.on_change('BackUp', 2, 'RUNNING', 'FAILURE')
    assert ev is not None and ev.data['phase'] == 'failed' and ev.severity == 2
    ev = f.on_change('BackUp', 2, 'RUNNING', 'SUCCESS')
    assert ev is not None and ev.data['phase'] == 'succeeded' and ev.severity == 0
    assert f.on_change('BackUp', 2, 'SUCCESS', 'IDLE') is None
    assert f.on_change('BackUp', 2, 'RUNNING', 'RUNNING') is None
    # Costmap clears are services: never covered by an action status topic.
    covered.update(BEHAVIORS)
    ev = f.on_change('ClearLocalCostmap-Subtree', 7, 'IDLE', 'RUNNING')
    assert ev is not None and ev.data['recovery'] == 'ClearLocalCostmap'
    assert ev.data['behavior'] == ''
    assert f.on_change('BackUp', 2, 'IDLE', 'RUNNING') is None


def test_bt_node_names_match_at_word_boundaries() -> None:
    f = BtRecoveryFilter(NODES, BEHAVIORS, lambda b: False)
    assert f.recovery_of('SpinRecovery') == 'Spin'
    assert f.recovery_of('Spin') == 'Spin'
    assert f.recovery_of('Spinner') is None
    assert f.recovery_of('ComputePathToPose') is None
    assert f.recovery_of('ClearEntireCostmap') == 'ClearEntireCostmap'
    assert f.behavior_of('BackUp') == 'backup' and f.behavior_of('Wait') == 'wait'
    assert normalise_name('DriveOnHeading') == normalise_name('drive_on_heading')


# -- edges and counts ----------------------------------------------------------------------

def test_edge_detector() -> None:
    e = EdgeDetector()
    assert e.update(False, 0.0) is None
    assert e.update(True, 1.0) is Edge.RISING and e.since == 1.0
    assert e.update(True, 2.0) is None
    assert e.update(False, 4.5) is Edge.FALLING
    assert EdgeDetector().update(True, 0.0) is Edge.RISING  # starting in a safety stop


def test_safety_events() -> None:
    stop = safety_event(Edge.RISING, '/r1/safety', None)
    assert (stop.type, stop.severity, stop.data) == ('safety_stop', 2, {'topic': '/r1/safety'})
    cleared = safety_event(Edge.FALLING, '/r1/safety', 3.5)
    assert (cleared.type, cleared.severity, cleared.data['duration']) == (
        'safety_cleared', 0, 3.5)


def test_recovery_counter() -> None:
    c = RecoveryCounter()
    assert [c.update(n) for n in (0, 1, 1, 3, 0, 2, 2)] == [0, 1, 0, 2, 0, 2, 0]
    c.reset()
    assert c.update(1) == 1
    ev = recovery_count_event(3, 2, False)
    assert ev.type == 'recovery_count' and ev.data['covered_by_action_status'] is False
    assert ev.data['count'] == 3 and ev.data['new'] == 2


def test_goal_id_hex() -> None:
    assert goal_id_hex([0, 1, 254, 255]) == '0001feff'
    assert goal_id_hex(bytes(range(16))) == bytes(range(16)).hex()


# -- on a ROS graph ------------------------------------------------------------------------

_robot_numbers = itertools.count(1)


class Recorder:
    """Collects what the watch emits (the agent's emit signature)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, type_: str, severity: int, message: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((type_, severity, message, data))

    def of(self, *kinds: str) -> list[tuple[str, int, str, dict[str, Any]]]:
        with self._lock:
            return [e for e in self.events if e[0] in kinds]


@pytest.fixture
def graph() -> Iterator[Any]:
    from fleet_testing import RosGraph
    g = RosGraph()
    yield g
    g.close()


def _pose(x: float, y: float) -> Any:
    from geometry_msgs.msg import PoseStamped
    msg = PoseStamped()
    msg.header.frame_id = 'map'
    msg.pose.position.x, msg.pose.position.y = x, y
    msg.pose.orientation.w = 1.0
    return msg


def test_stuck_sim_robot_recoveries_are_reported_once_each(graph: Any) -> None:
    from action_msgs.msg import GoalStatus
    from nav2_msgs.action import NavigateToPose
    from rclpy.action import ActionClient
    from rclpy.node import Node

    from fleet_agent.nav2_watch import Nav2Watch, status_topic
    from fleet_sim.sim_node import SimRobot
    from fleet_testing import wait_for

    robot = f'watch{next(_robot_numbers)}'
    sim = graph.add(SimRobot(robot, context=graph.context, fault='stuck',
                             recovery_interval=0.2, max_recoveries=3))
    node = graph.add(Node('fleet_agent', namespace=robot, context=graph.context))
    emitted = Recorder()
    watch = Nav2Watch(node, emitted, context=lambda: {'mission_id': 'm-7'})
    for behavior in ('spin', 'backup', 'wait'):
        topic = f'/{robot}/{status_topic(behavior)}'
        wait_for(lambda topic=topic: node.count_publishers(topic) > 0
                 and sim.count_subscribers(topic) > 0, TIMEOUT, message=f'{topic} discovered')
    navigate = ActionClient(node, NavigateToPose, 'navigate_to_pose')
    assert navigate.wait_for_server(timeout_sec=TIMEOUT)

    def navigate_once() -> Any:
        future = navigate.send_goal_async(
            NavigateToPose.Goal(pose=_pose(3.0, 0.0)),
            feedback_callback=lambda fb: watch.on_nav_feedback_recoveries(
                int(fb.feedback.number_of_recoveries)))
        handle: Any = wait_for(lambda: future.result() if future.done() else None, TIMEOUT,
                               message='the goal response')
        assert handle.accepted
        result = handle.get_result_async()
        wait_for(result.done, TIMEOUT, message='the navigation result')
        assert result.result().status == GoalStatus.STATUS_ABORTED
        assert result.result().result.error_code == 105

    navigate_once()
    wait_for(lambda: len(emitted.of('recovery_started', 'recovery_failed')) >= 6, TIMEOUT,
             message='three recoveries started and failed')
    # A second stuck goal: its status arrays keep listing the first goal's recoveries, so
    # once its own reports are in, any duplicate of the first round would be too.
    navigate_once()
    wait_for(lambda: len(emitted.of('recovery_started', 'recovery_failed')) >= 12, TIMEOUT,
             message='the second round of recoveries')
    wait_for(lambda: max((e[3]['count'] for e in emitted.of('recovery_count')), default=0)
             >= 3 and len(emitted.of('recovery_count')) >= 6, TIMEOUT,
             message='recovery counts of both goals')

    started = emitted.of('recovery_started')
    failed = emitted.of('recovery_failed')
    assert [e[3]['behavior'] for e in started] == ['spin', 'backup', 'wait'] * 2
    assert [e[3]['behavior'] for e in failed] == ['spin', 'backup', 'wait'] * 2
    started_ids = [e[3]['goal_id'] for e in started]
    assert len(set(started_ids)) == 6
    assert sorted(e[3]['goal_id'] for e in failed) == sorted(started_ids)
    assert all(e[1] == 1 and e[3]['mission_id'] == 'm-7' for e in started)
    assert all(e[1] == 2 and e[3]['status'] == 'aborted' for e in failed)
    assert not any(e[3].get('late') for e in started)
    # The BT log names the same behaviors; the status topics cover them, so no bt_recovery.
    assert emitted.of('bt_recovery') == []
    counts = emitted.of('recovery_count')
    assert [e[3]['count'] for e in counts] == [1, 2, 3, 1, 2, 3]
    assert all(e[3]['covered_by_action_status'] for e in counts)
    watch.destroy()
    navigate.destroy()


def test_safety_topic_edges_and_uncovered_bt_log(graph: Any) -> None:
    from builtin_interfaces.msg import Time
    from nav2_msgs.msg import BehaviorTreeLog, BehaviorTreeStatusChange
    from rclpy.node import Node
    from std_msgs.msg import Bool

    from fleet_agent.nav2_watch import Nav2Watch, Nav2WatchConfig
    from fleet_testing import wait_for

    robot = f'watch{next(_robot_numbers)}'
    node = graph.add(Node('fleet_agent', namespace=robot, context=graph.context))
    source = graph.add(Node('robot_side', namespace=robot, context=graph.context))
    emitted = Recorder()
    # No behavior server runs here: the BT log is the only source of recoveries.
    watch = Nav2Watch(node, emitted, Nav2WatchConfig(safety_topic='safety_stop'))
    safety = source.create_publisher(Bool, 'safety_stop', 10)
    bt_log = source.create_publisher(BehaviorTreeLog, 'behavior_tree_log', 10)
    wait_for(lambda: safety.get_subscription_count() > 0 and bt_log.get_subscription_count() > 0,
             TIMEOUT, message='the watch subscribed')
    assert not watch.covered('spin') and not watch.any_covered()

    for value in (False, True, True):
        safety.publish(Bool(data=value))
    wait_for(lambda: emitted.of('safety_stop'), TIMEOUT, message='safety_stop')
    safety.publish(Bool(data=False))
    wait_for(lambda: emitted.of('safety_cleared'), TIMEOUT, message='safety_cleared')
    [stop] = emitted.of('safety_stop')
    [cleared] = emitted.of('safety_cleared')
    assert stop[1] == 2 and stop[3]['topic'] == f'/{robot}/safety_stop'
    assert cleared[1] == 0 and cleared[3]['duration'] >= 0.0
    assert not math.isnan(cleared[3]['duration'])

    def change(name: str, before: str, after: str) -> BehaviorTreeStatusChange:
        return BehaviorTreeStatusChange(timestamp=Time(), node_name=name, uid=1,
                                        previous_status=before, current_status=after)
    bt_log.publish(BehaviorTreeLog(event_log=[
        change('Spin', 'IDLE', 'RUNNING'), change('FollowPath', 'IDLE', 'RUNNING')]))
    bt_log.publish(BehaviorTreeLog(event_log=[
        change('Spin', 'RUNNING', 'FAILURE'), change('Spin', 'FAILURE', 'IDLE')]))
    wait_for(lambda: len(emitted.of('bt_recovery')) >= 2, TIMEOUT, message='bt_recovery')
    assert [e[3]['phase'] for e in emitted.of('bt_recovery')] == ['started', 'failed']
    watch.on_nav_feedback_recoveries(1)
    [count] = emitted.of('recovery_count')
    assert count[3]['covered_by_action_status'] is False
    watch.destroy()


def test_parameters(graph: Any) -> None:
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from fleet_agent.nav2_watch import Nav2WatchConfig, declare_watch_parameters

    node = graph.add(Node('fleet_agent', namespace='params_robot', context=graph.context,
                          parameter_overrides=[
                              Parameter('nav2_watch.safety_topic', value='estop'),
                              Parameter('nav2_watch.behaviors', value=['spin', 'backup'])]))
    config = declare_watch_parameters(node)
    assert config == Nav2WatchConfig(behaviors=('spin', 'backup'), safety_topic='estop')
