"""In-process tests of SimRobot over real DDS.

Every test gets its own robot (unique namespace) plus a client node, spinning together on one
executor in a background thread: the project's executor (``make_executor()``, rclpy's
EventsExecutor driven by a ``spin_once`` loop) unless a test asks for another; the tests
marked with ``EXECUTORS`` run on all three. Run with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
and a private ROS_DOMAIN_ID.
"""

import itertools
import math
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

from action_msgs.msg import GoalInfo, GoalStatus, GoalStatusArray
from action_msgs.srv import CancelGoal
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Point, PoseStamped, Twist
from nav2_msgs.action import (
    AssistedTeleop,
    BackUp,
    DriveOnHeading,
    NavigateThroughPoses,
    NavigateToPose,
    Spin,
)
from nav2_msgs.msg import BehaviorTreeLog
from nav_msgs.msg import Odometry
import pytest
import rclpy
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.context import Context
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_action_status_default
from rclpy.task import Future
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Empty

from fleet_common.ros import make_executor, spin
from fleet_sim import codes
from fleet_sim.sim_node import SimRobot

TIMEOUT = 10.0  # s, upper bound for any single condition in these tests
_robot_numbers = itertools.count(1)
#: Executors the node must work on: the project's (EventsExecutor), and rclpy's two.
EXECUTORS = pytest.mark.parametrize('executor_kind', ['project', 'single', 'multi'])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.01)


def wait_future(future: Future, what: str, timeout: float = TIMEOUT) -> Any:
    """Wait for an rclpy future completed by the background executor; return its result."""
    wait_for(future.done, what, timeout)
    return future.result()


def pose_stamped(x: float, y: float, yaw: float = 0.0) -> PoseStamped:
    pose = PoseStamped()
    pose.header.frame_id = 'map'
    pose.pose.position.x = x
    pose.pose.position.y = y
    pose.pose.orientation.z = math.sin(yaw / 2.0)
    pose.pose.orientation.w = math.cos(yaw / 2.0)
    return pose


def odom_yaw(msg: Odometry) -> float:
    q = msg.pose.pose.orientation
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def new_executor(kind: str, context: Context) -> Any:
    """Return the executor ``kind`` names: 'project', 'single' or 'multi'."""
    if kind == 'project':
        return make_executor(context)
    if kind == 'single':
        return SingleThreadedExecutor(context=context)
    return MultiThreadedExecutor(num_threads=4, context=context)


class Harness:
    """A SimRobot and a client node spinning on one executor in a background thread."""

    def __init__(self, context: Context, executor_kind: str = 'project',
                 **overrides: Any) -> None:
        self.robot_id = f'robot{next(_robot_numbers)}'
        self.robot = SimRobot(self.robot_id, 0.0, 0.0, 0.0, context=context, **overrides)
        self.node = Node(f'sim_test_client_{self.robot_id}', context=context)
        self.executor = new_executor(executor_kind, context)
        self.executor.add_node(self.robot)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=spin, args=(self.executor, self._stop, context),
                                       daemon=True)
        self.thread.start()
        self.robot_destroyed = False
        self._extra_nodes: List[Node] = []

        self._lock = threading.Lock()
        self._odom: Optional[Odometry] = None
        self.node.create_subscription(Odometry, self.topic('odom'), self._on_odom, 10)
        self.navigate = ActionClient(self.node, NavigateToPose, self.topic('navigate_to_pose'))
        self.navigate_through = ActionClient(
            self.node, NavigateThroughPoses, self.topic('navigate_through_poses'))
        self.params = AsyncParameterClient(self.node, self.topic('sim'))
        assert self.navigate.wait_for_server(timeout_sec=TIMEOUT)
        assert self.navigate_through.wait_for_server(timeout_sec=TIMEOUT)
        assert self.params.wait_for_services(timeout_sec=TIMEOUT)

    def topic(self, name: str) -> str:
        return f'/{self.robot_id}/{name}'

    def add_node(self, node: Node) -> Node:
        """Spin ``node`` too (destroyed with the harness); return it."""
        self.executor.add_node(node)
        self._extra_nodes.append(node)
        return node

    def stop_spinning(self) -> None:
        self._stop.set()
        self.executor.wake()
        self.thread.join(timeout=TIMEOUT)
        assert not self.thread.is_alive(), 'the executor thread did not stop'

    def close(self) -> None:
        self.stop_spinning()
        if not self.robot_destroyed:
            self.robot.destroy_node()
        for node in [self.node, *self._extra_nodes]:
            node.destroy_node()
        self.executor.shutdown()

    def _on_odom(self, msg: Odometry) -> None:
        with self._lock:
            self._odom = msg

    @property
    def odom(self) -> Optional[Odometry]:
        with self._lock:
            return self._odom

    def send(self, client: ActionClient, goal: Any,
             feedback: Optional[List[Any]] = None) -> ClientGoalHandle:
        callback = None if feedback is None else (lambda msg: feedback.append(msg.feedback))
        handle = wait_future(client.send_goal_async(goal, feedback_callback=callback),
                             'the goal response')
        assert handle.accepted
        return handle

    def go_to(self, x: float, y: float, yaw: float = 0.0,
              feedback: Optional[List[Any]] = None) -> ClientGoalHandle:
        return self.send(self.navigate, NavigateToPose.Goal(pose=pose_stamped(x, y, yaw)),
                         feedback)

    def result(self, handle: ClientGoalHandle, timeout: float = TIMEOUT) -> Any:
        return wait_future(handle.get_result_async(), 'the navigation result', timeout)

    def get_param(self, name: str) -> Any:
        response = wait_future(self.params.get_parameters([name]), f'parameter {name}')
        return parameter_value_to_python(response.values[0])

    def set_param(self, name: str, value: Any) -> Any:
        response = wait_future(self.params.set_parameters([Parameter(name, value=value)]),
                               f'setting parameter {name}')
        return response.results[0]


@pytest.fixture(scope='module')
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture
def make_harness(context: Context) -> Iterator[Callable[..., Harness]]:
    harnesses: List[Harness] = []

    def make(executor_kind: str = 'project', **overrides: Any) -> Harness:
        harness = Harness(context, executor_kind, **overrides)
        harnesses.append(harness)
        return harness

    yield make
    for harness in reversed(harnesses):
        harness.close()


@EXECUTORS
def test_navigate_to_pose_moves_the_robot_and_succeeds(make_harness, executor_kind: str) -> None:
    sim = make_harness(executor_kind, speed=2.0, odom_rate=20.0)
    feedback: List[NavigateToPose.Feedback] = []
    handle = sim.go_to(1.0, 0.5, math.pi / 2.0, feedback)
    response = sim.result(handle)
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert response.result.error_code == codes.NAV_ERROR_NONE

    def odom_at_goal() -> bool:
        odom = sim.odom
        return odom is not None and math.hypot(
            odom.pose.pose.position.x - 1.0, odom.pose.pose.position.y - 0.5) <= 0.05
    wait_for(odom_at_goal, 'odometry at the goal')
    odom = sim.odom
    assert odom.header.frame_id == 'odom' and odom.child_frame_id == 'base_link'
    assert odom_yaw(odom) == pytest.approx(math.pi / 2.0, abs=0.01)
    assert feedback, 'no navigation feedback'
    assert feedback[0].distance_remaining > feedback[-1].distance_remaining
    assert feedback[0].distance_remaining == pytest.approx(math.hypot(1.0, 0.5), abs=0.2)
    assert sim.robot.battery_level < 1.0
    assert sim.get_param('goals_received') == 1


def test_fail_next_goal_aborts_with_208_and_resets(make_harness) -> None:
    sim = make_harness(speed=2.0)
    assert sim.set_param('fault', 'fail_next_goal').successful
    response = sim.result(sim.go_to(1.0, 0.0))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == codes.COMPUTE_PATH_NO_VALID_PATH == 208
    assert 'inject' in response.result.error_msg.lower()
    assert sim.get_param('fault') == 'none'
    # The fault was one-shot: the next goal goes through.
    response = sim.result(sim.go_to(0.2, 0.0))
    assert response.status == GoalStatus.STATUS_SUCCEEDED


def test_goal_inside_a_blocked_area_aborts_with_206(make_harness) -> None:
    sim = make_harness(blocked_areas=['2.0,2.0,3.0,3.0'])
    response = sim.result(sim.go_to(2.5, 2.5))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == codes.COMPUTE_PATH_GOAL_OCCUPIED == 206
    assert 'blocked' in response.result.error_msg


def test_path_through_a_blocked_area_stops_at_its_edge(make_harness) -> None:
    sim = make_harness(speed=2.0, odom_rate=20.0, blocked_areas=['0.5,-1.0,0.7,1.0'],
                       recovery_interval=0.2, max_recoveries=1)
    response = sim.result(sim.go_to(1.5, 0.0))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == codes.FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS
    x = sim.robot.pose.x
    assert 0.3 < x < 0.5


@EXECUTORS
def test_stuck_runs_recoveries_then_aborts_with_105(make_harness, executor_kind: str) -> None:
    sim = make_harness(executor_kind, fault='stuck', max_recoveries=2,
                       recovery_interval=0.2)
    statuses: List[GoalStatusArray] = []
    bt_events: List[Any] = []
    sim.node.create_subscription(GoalStatusArray, sim.topic('spin/_action/status'),
                                 statuses.append, qos_profile_action_status_default)
    sim.node.create_subscription(
        BehaviorTreeLog, sim.topic('behavior_tree_log'),
        lambda msg: bt_events.extend(msg.event_log), 10)
    feedback: List[NavigateToPose.Feedback] = []
    response = sim.result(sim.go_to(1.0, 0.0, feedback=feedback))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == codes.FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS == 105

    def spin_goal_aborted() -> bool:
        return any(s.status == GoalStatus.STATUS_ABORTED
                   for msg in list(statuses) for s in msg.status_list)
    wait_for(spin_goal_aborted, 'the failed spin recovery on spin/_action/status')
    counts = [f.number_of_recoveries for f in feedback]
    assert counts == sorted(counts)
    assert {1, 2} <= set(counts)
    wait_for(lambda: any(e.node_name == 'Spin' and e.current_status == 'FAILURE'
                         for e in list(bt_events)), 'Spin FAILURE on behavior_tree_log')
    assert any(e.node_name == 'Spin' and e.current_status == 'RUNNING' for e in bt_events)
    odom = sim.odom
    assert odom is not None and odom.pose.pose.position.x == pytest.approx(0.0)


def test_clearing_stuck_lets_the_robot_move_on(make_harness) -> None:
    sim = make_harness(speed=2.0, fault='stuck', max_recoveries=50, recovery_interval=0.2)
    feedback: List[NavigateToPose.Feedback] = []
    handle = sim.go_to(0.5, 0.0, feedback=feedback)
    wait_for(lambda: any(f.number_of_recoveries >= 1 for f in list(feedback)),
             'a first recovery')
    assert sim.set_param('fault', 'none').successful
    response = sim.result(handle)
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert sim.robot.pose.x == pytest.approx(0.5, abs=0.05)


def test_invalid_parameter_values_are_rejected_with_a_reason(make_harness) -> None:
    sim = make_harness()
    result = sim.set_param('fault', 'explode')
    assert not result.successful
    assert 'fault must be one of' in result.reason and 'explode' in result.reason
    assert sim.get_param('fault') == 'none'
    result = sim.set_param('blocked_areas', ['1,2,3,4', '1,2,oops'])
    assert not result.successful
    assert 'entry 1' in result.reason and 'oops' in result.reason
    result = sim.set_param('goals_received', 7)
    assert not result.successful and 'goals_received' in result.reason
    assert sim.get_param('goals_received') == 0


def test_invalid_fault_override_is_rejected_at_construction(context: Context) -> None:
    with pytest.raises(InvalidParameterValueException):
        SimRobot('robot_bad_fault', context=context, fault='explode')
    with pytest.raises(TypeError, match='no_such_parameter'):
        SimRobot('robot_bad_name', context=context, no_such_parameter=1)


@EXECUTORS
def test_goals_received_counts_accepted_goals(make_harness, executor_kind: str) -> None:
    sim = make_harness(executor_kind, speed=2.0, angular_speed=4.0, odom_rate=20.0)
    first = sim.go_to(10.0, 0.0)
    second = sim.go_to(0.3, 0.0)  # preempts the first goal, as Nav2 does
    assert sim.result(first).status == GoalStatus.STATUS_ABORTED
    assert sim.result(second).status == GoalStatus.STATUS_SUCCEEDED
    feedback: List[NavigateThroughPoses.Feedback] = []
    through = sim.send(sim.navigate_through, NavigateThroughPoses.Goal(
        poses=[pose_stamped(0.3, 0.3), pose_stamped(0.0, 0.3, math.pi)]), feedback)
    assert sim.result(through).status == GoalStatus.STATUS_SUCCEEDED
    assert max(f.number_of_poses_remaining for f in feedback) == 2
    # A goal without poses is rejected and not counted.
    rejected = wait_future(sim.navigate_through.send_goal_async(NavigateThroughPoses.Goal()),
                           'the goal response')
    assert not rejected.accepted
    assert sim.get_param('goals_received') == 3


@EXECUTORS
def test_cancel_stops_the_robot(make_harness, executor_kind: str) -> None:
    sim = make_harness(executor_kind, speed=0.5, odom_rate=20.0)
    handle = sim.go_to(5.0, 0.0)
    wait_for(lambda: sim.odom is not None and sim.odom.pose.pose.position.x > 0.05,
             'the robot to start moving')
    wait_future(handle.cancel_goal_async(), 'the cancel response')
    assert sim.result(handle).status == GoalStatus.STATUS_CANCELED
    wait_for(lambda: sim.odom.twist.twist.linear.x == 0.0, 'the robot to stop')
    assert sim.robot.pose.x < 1.0


def test_network_hook_follows_the_offline_fault(make_harness) -> None:
    sim = make_harness()
    calls: List[bool] = []
    sim.robot.set_network_hook(calls.append)
    assert calls == []
    assert sim.set_param('fault', 'offline').successful
    wait_for(lambda: calls == [False], 'the hook to be called with False')
    # The sim's parameter services stay reachable while the robot is offline.
    assert sim.set_param('fault', 'none').successful
    wait_for(lambda: calls == [False, True], 'the hook to be called with True')


def test_battery_state_and_diagnostics(make_harness) -> None:
    sim = make_harness(battery=0.15)
    batteries: List[BatteryState] = []
    diagnostics: List[DiagnosticArray] = []
    sim.node.create_subscription(BatteryState, sim.topic('battery_state'), batteries.append, 10)
    sim.node.create_subscription(
        DiagnosticArray, sim.topic('diagnostics'), diagnostics.append, 10)
    wait_for(lambda: batteries and diagnostics, 'battery_state and diagnostics')
    battery = batteries[-1]
    assert battery.present
    # Idle at its start position, which is the dock: charging.
    assert battery.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_CHARGING
    assert 0.15 <= battery.percentage < 0.2
    assert 18.0 < battery.voltage < 25.2
    statuses = {status.name: status for status in diagnostics[-1].status}
    assert set(statuses) == {'motors', 'battery'}
    assert statuses['battery'].level == DiagnosticStatus.WARN
    assert statuses['motors'].level == DiagnosticStatus.OK


def test_behavior_servers_move_the_robot(make_harness) -> None:
    sim = make_harness(angular_speed=3.0, odom_rate=20.0)
    allowance = Duration(sec=5)
    spin = ActionClient(sim.node, Spin, sim.topic('spin'))
    backup = ActionClient(sim.node, BackUp, sim.topic('backup'))
    drive = ActionClient(sim.node, DriveOnHeading, sim.topic('drive_on_heading'))
    for client in (spin, backup, drive):
        assert client.wait_for_server(timeout_sec=TIMEOUT)

    response = sim.result(sim.send(spin, Spin.Goal(target_yaw=math.pi / 2.0,
                                                   time_allowance=allowance)))
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert sim.robot.pose.theta == pytest.approx(math.pi / 2.0)
    response = sim.result(sim.send(backup, BackUp.Goal(target=Point(x=0.2), speed=0.5,
                                                       time_allowance=allowance)))
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert sim.robot.pose.y == pytest.approx(-0.2)  # backwards while facing +y
    response = sim.result(sim.send(drive, DriveOnHeading.Goal(
        target=Point(x=0.5, y=0.1), speed=0.5, time_allowance=allowance)))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == codes.DRIVE_ON_HEADING_INVALID_INPUT


def test_counters_count_succeeded_and_canceled_navigation_goals(make_harness) -> None:
    sim = make_harness(speed=2.0, angular_speed=4.0, odom_rate=20.0)
    assert [sim.get_param(n) for n in ('goals_succeeded', 'goals_canceled')] == [0, 0]
    assert sim.result(sim.go_to(0.3, 0.0)).status == GoalStatus.STATUS_SUCCEEDED
    assert sim.get_param('goals_succeeded') == 1
    # Neither an aborted goal nor a preempted one counts.
    assert sim.set_param('fault', 'fail_next_goal').successful
    assert sim.result(sim.go_to(1.0, 0.0)).status == GoalStatus.STATUS_ABORTED
    preempted = sim.go_to(10.0, 0.0)
    handle = sim.go_to(-10.0, 0.0)
    assert sim.result(preempted).status == GoalStatus.STATUS_ABORTED
    wait_future(handle.cancel_goal_async(), 'the cancel response')
    assert sim.result(handle).status == GoalStatus.STATUS_CANCELED
    assert sim.get_param('goals_succeeded') == 1
    assert sim.get_param('goals_canceled') == 1
    assert sim.get_param('goals_received') == 4
    for name in ('goals_succeeded', 'goals_canceled'):
        result = sim.set_param(name, 5)
        assert not result.successful and name in result.reason
    assert sim.get_param('goals_succeeded') == 1


def cancel_all(node: Node, service: str) -> CancelGoal.Response:
    """Send a cancel-all request (zero goal id, zero stamp) to ``service``; return the answer."""
    client = node.create_client(CancelGoal, service)
    try:
        assert client.wait_for_service(timeout_sec=TIMEOUT), f'{service} not available'
        request = CancelGoal.Request(goal_info=GoalInfo())
        assert not any(request.goal_info.goal_id.uuid) and request.goal_info.stamp.sec == 0
        return wait_future(client.call_async(request), f'the answer of {service}')
    finally:
        node.destroy_client(client)


def test_cancel_all_cancels_the_running_navigation_goal(make_harness, context: Context) -> None:
    sim = make_harness(speed=0.5, odom_rate=20.0)
    handle = sim.go_to(5.0, 0.0)
    wait_for(lambda: sim.odom is not None and sim.odom.pose.pose.position.x > 0.05,
             'the robot to start moving')
    # A node that did not send the goal (say, the agent after a restart) cancels it.
    restarted = sim.add_node(Node('restarted_agent', namespace=sim.robot_id, context=context))
    response = cancel_all(restarted, sim.topic('navigate_to_pose/_action/cancel_goal'))
    assert response.return_code == CancelGoal.Response.ERROR_NONE
    assert [bytes(g.goal_id.uuid) for g in response.goals_canceling] == [
        bytes(handle.goal_id.uuid)]
    assert sim.result(handle).status == GoalStatus.STATUS_CANCELED
    wait_for(lambda: sim.odom.twist.twist.linear.x == 0.0, 'the robot to stop')
    assert sim.get_param('goals_canceled') == 1
    # Nothing left to cancel: a second cancel-all touches nothing, and the robot still works.
    again = cancel_all(restarted, sim.topic('navigate_to_pose/_action/cancel_goal'))
    assert list(again.goals_canceling) == []
    assert sim.result(sim.go_to(0.0, 0.0)).status == GoalStatus.STATUS_SUCCEEDED
    # The other navigator action answers cancel-all the same way for its own goals.
    through = sim.send(sim.navigate_through, NavigateThroughPoses.Goal(
        poses=[pose_stamped(3.0, 0.0), pose_stamped(3.0, 3.0)]))
    response = cancel_all(restarted, sim.topic('navigate_through_poses/_action/cancel_goal'))
    assert [bytes(g.goal_id.uuid) for g in response.goals_canceling] == [
        bytes(through.goal_id.uuid)]
    assert sim.result(through).status == GoalStatus.STATUS_CANCELED
    assert sim.get_param('goals_canceled') == 2


@EXECUTORS
def test_destroy_node_aborts_running_goals(make_harness, executor_kind: str) -> None:
    sim = make_harness(executor_kind, speed=0.5, odom_rate=20.0)
    statuses: List[int] = []
    sim.node.create_subscription(
        GoalStatusArray, sim.topic('navigate_to_pose/_action/status'),
        lambda msg: statuses.extend(s.status for s in msg.status_list),
        qos_profile_action_status_default)
    handle = sim.go_to(5.0, 0.0)
    wait_for(lambda: GoalStatus.STATUS_EXECUTING in list(statuses), 'the goal executing')
    # As SimulatedRobot.detach does: out of the executor, then destroyed.
    sim.executor.remove_node(sim.robot)
    sim.robot.destroy_node()
    sim.robot_destroyed = True
    wait_for(lambda: GoalStatus.STATUS_ABORTED in list(statuses),
             'the goal aborted on the status topic')
    assert handle.status in (GoalStatus.STATUS_EXECUTING, GoalStatus.STATUS_ABORTED)


def test_a_new_behavior_preempts_the_running_one_and_teleop_follows_commands(
        make_harness) -> None:
    sim = make_harness(angular_speed=0.5, odom_rate=20.0)
    spin = ActionClient(sim.node, Spin, sim.topic('spin'))
    teleop = ActionClient(sim.node, AssistedTeleop, sim.topic('assisted_teleop'))
    for client in (spin, teleop):
        assert client.wait_for_server(timeout_sec=TIMEOUT)
    turning = sim.send(spin, Spin.Goal(target_yaw=3.0, time_allowance=Duration(sec=30)))
    wait_for(lambda: sim.odom is not None and sim.odom.twist.twist.angular.z > 0.0,
             'the robot to turn')
    teleoperated = sim.send(teleop, AssistedTeleop.Goal(time_allowance=Duration(sec=30)))
    response = sim.result(turning)
    assert response.status == GoalStatus.STATUS_ABORTED
    assert 'preempted' in response.result.error_msg
    commands = sim.node.create_publisher(Twist, sim.topic('cmd_vel_teleop'), 10)
    command = Twist()
    command.linear.x = 0.5

    def moved_forward() -> bool:
        commands.publish(command)  # repeated: commands older than 0.5 s are ignored
        return sim.odom is not None and sim.odom.twist.twist.linear.x > 0.0
    wait_for(moved_forward, 'the robot to follow the teleop command')
    preempt = sim.node.create_publisher(Empty, sim.topic('preempt_teleop'), 10)
    result = teleoperated.get_result_async()

    def preempted() -> bool:
        preempt.publish(Empty())  # repeated until the subscription has matched
        return result.done()
    wait_for(preempted, 'the teleop goal to end')
    assert result.result().status == GoalStatus.STATUS_SUCCEEDED
