"""The simulated navigator: ``navigate_to_pose`` and ``navigate_through_poses``.

One navigation goal runs at a time across both actions; a newer goal preempts the running
one, which aborts with error code 0, as in Nav2. A goal aborts at once with 208 under the
``fail_next_goal`` fault (which then clears) and with 206 when a pose lies in a blocked
area. While the robot makes no progress (``stuck`` fault, a blocked area in the way, an
empty battery) the navigator calls its own behavior servers through ActionClients, cycling
spin, backup and wait, one every ``recovery_interval``; after ``max_recoveries`` it aborts
with 105. Recoveries show on ``behavior_tree_log`` (RUNNING, then SUCCESS or FAILURE) and
on the behaviors' action status topics, as Nav2's do.
"""

import enum
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from action_msgs.msg import GoalStatus
from geometry_msgs.msg import Point, PoseStamped
from nav2_msgs.action import BackUp, NavigateThroughPoses, NavigateToPose, Spin, Wait
from nav2_msgs.msg import BehaviorTreeLog
from rclpy.action import ActionClient, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.task import Future

from fleet_sim import codes, physics, releases
from fleet_sim.base import Route
from fleet_sim.convert import (
    MAP_FRAME,
    bt_status_change,
    duration_msg,
    pose_from_msg,
    pose_is_finite,
    quaternion,
    time_msg,
)
from fleet_sim.goals import GoalRun, GoalServer, GoalState, Host
from fleet_sim.params import Fault, SimConfig

#: A recovery call that has not answered this long (s) after its time allowance has failed.
RECOVERY_GRACE = 2.0
#: How long (s) a recovery waits for the robot's own behavior server to be discovered.
BEHAVIOR_SERVER_WAIT = 1.0


class BtStatus(str, enum.Enum):
    """Behavior-tree node statuses reported on ``behavior_tree_log``."""

    IDLE = 'IDLE'
    """The node is not running."""

    RUNNING = 'RUNNING'
    """The node was ticked and has not finished."""

    SUCCESS = 'SUCCESS'
    """The node finished successfully."""

    FAILURE = 'FAILURE'
    """The node finished unsuccessfully."""


class RecoveryBehavior(enum.Enum):
    """Recoveries the navigator cycles through while stuck; values are the BT node names."""

    SPIN = 'Spin'
    """Turn in place, through the ``spin`` action."""

    BACKUP = 'BackUp'
    """Drive backwards a little, through the ``backup`` action."""

    WAIT = 'Wait'
    """Wait a moment, through the ``wait`` action."""


RECOVERY_CYCLE: Tuple[RecoveryBehavior, ...] = (
    RecoveryBehavior.SPIN, RecoveryBehavior.BACKUP, RecoveryBehavior.WAIT)
_BT_UIDS = {RecoveryBehavior.SPIN: 1, RecoveryBehavior.BACKUP: 2, RecoveryBehavior.WAIT: 3}


def recovery_goal(behavior: RecoveryBehavior, config: SimConfig) -> Any:
    """Return the goal of ``behavior``, sized to fit one ``recovery_interval``."""
    interval = config.recovery_interval
    if behavior is RecoveryBehavior.SPIN:
        return Spin.Goal(target_yaw=min(math.pi / 2.0, 0.8 * config.angular_speed * interval),
                         time_allowance=duration_msg(interval))
    if behavior is RecoveryBehavior.BACKUP:
        speed = 0.25 * config.speed
        return BackUp.Goal(target=Point(x=min(0.15, 0.8 * speed * interval)), speed=speed,
                           time_allowance=duration_msg(interval))
    return Wait.Goal(time=duration_msg(0.5 * interval))


class RecoveryCall:
    """One recovery requested from the robot's own behavior server; polled, never awaited.

    :meth:`poll` sends the goal once the server is discovered, then follows the goal
    response and the result. It fails when the server stays undiscovered for
    :data:`BEHAVIOR_SERVER_WAIT` s or does not answer by ``now + allowance +``
    :data:`RECOVERY_GRACE`. Once it has returned a verdict it keeps returning it.
    """

    def __init__(self, behavior: RecoveryBehavior, client: ActionClient, goal: Any,
                 now: float, allowance: float) -> None:
        self.behavior = behavior
        self.error = ''
        self._client = client
        self._goal = goal
        self._server_deadline = now + BEHAVIOR_SERVER_WAIT
        self._deadline = now + allowance + RECOVERY_GRACE
        self._send_future: Optional[Future] = None
        self._goal_handle: Any = None
        self._result_future: Optional[Future] = None
        self._verdict: Optional[bool] = None

    def poll(self, now: float) -> Optional[bool]:
        """Return None while the recovery runs, else whether it succeeded."""
        if self._verdict is None:
            self._verdict = self._advance(now)
        return self._verdict

    def _advance(self, now: float) -> Optional[bool]:
        if self._send_future is None:
            if not self._client.server_is_ready():
                if now < self._server_deadline:
                    return None
                self.error = f'{self.behavior.value} server is not available'
                return False
            self._send_future = self._client.send_goal_async(self._goal)
        if self._result_future is None:
            if not self._send_future.done():
                return self._expire(now)
            handle = self._send_future.result()
            if handle is None or not handle.accepted:
                self.error = 'goal rejected'
                return False
            self._goal_handle = handle
            self._result_future = handle.get_result_async()
        if not self._result_future.done():
            return self._expire(now)
        response = self._result_future.result()
        if response is None:
            self.error = 'no result'
            return False
        self.error = response.result.error_msg
        return (response.status == GoalStatus.STATUS_SUCCEEDED
                and response.result.error_code == 0)

    def _expire(self, now: float) -> Optional[bool]:
        if now <= self._deadline:
            return None
        self.error = 'no answer in time'
        self.cancel()
        return False

    def cancel(self) -> None:
        """Ask the behavior server to cancel the recovery if it is still running."""
        if self._goal_handle is not None and (
                self._result_future is None or not self._result_future.done()):
            self._goal_handle.cancel_goal_async()


class NavigationRun(GoalRun):
    """One navigation goal: drive the route, recover while stuck, report, end."""

    def __init__(self, host: Host, navigator: 'Navigator', server: GoalServer,
                 goal_handle: ServerGoalHandle, now: float, action: Any,
                 poses: Sequence[PoseStamped]) -> None:
        super().__init__(host, server, goal_handle, now)
        self.action = action
        self.route = Route([pose_from_msg(pose) for pose in poses])
        self.frame_id = poses[0].header.frame_id or MAP_FRAME
        self.recoveries = 0
        self._navigator = navigator
        self._recovery: Optional[RecoveryCall] = None
        self._stuck_since: Optional[float] = None
        self._last_recovery_start: Optional[float] = None
        self._started = False

    def tick(self, now: float) -> None:
        if not self._started:
            self._started = True
            if not self._plan():
                return
            self.host.base.follow(self.route)
        if self.goal_handle.is_cancel_requested:
            self._end(GoalState.CANCELED)
        elif self.route.arrived:
            self._publish_feedback(now)
            self._end(GoalState.SUCCEEDED)
        else:
            self._recover(now)
            if not self.ended and self.feedback_due(now):
                self._publish_feedback(now)

    def supersede(self) -> None:
        """End the goal because a newer navigation goal took over."""
        self._end(GoalState.ABORTED, codes.NAV_ERROR_NONE,
                  'Preempted by a newer navigation goal')

    def shut_down(self, now: float) -> None:
        self._end(GoalState.ABORTED, codes.NAV_ERROR_NONE, 'The robot is shutting down')

    def _plan(self) -> bool:
        """Check the goal as Nav2's planner would; end it and return False if it fails."""
        config = self.host.config
        if config.fault is Fault.FAIL_NEXT_GOAL:
            self._navigator.clear_fault()
            self._end(GoalState.ABORTED, codes.COMPUTE_PATH_NO_VALID_PATH,
                      'Injected fault fail_next_goal: no valid path to the goal '
                      '(the fault has been reset to none)')
            return False
        failure = self._navigator.release_faults.failure(config.software_version)
        if failure is not None:  # a bad release regresses the controller (fleet_sim.releases)
            self._end(GoalState.ABORTED, *failure)
            return False
        for index, target in enumerate(self.route.targets):
            area = physics.point_in_areas(target.x, target.y, config.areas)
            if area is not None:
                self._end(GoalState.ABORTED, codes.COMPUTE_PATH_GOAL_OCCUPIED,
                          f'Goal pose {index} ({target.x:.2f}, {target.y:.2f}) lies in '
                          f'blocked area {area.x_min:g},{area.y_min:g},{area.x_max:g},'
                          f'{area.y_max:g}')
                return False
        return True

    def _recover(self, now: float) -> None:
        """Poll the running recovery; start the next one (or give up) while stuck."""
        config = self.host.config
        if self._recovery is not None:
            succeeded = self._recovery.poll(now)
            if succeeded is not None:
                self._navigator.recovery_ended(self._recovery, succeeded)
                self._recovery = None
        stuck = (config.fault is Fault.STUCK or self.route.blocked
                 or self.host.base.battery <= 0.0)
        if not stuck:
            self._stuck_since = None
            return
        if self._recovery is not None:
            return
        if self._stuck_since is None:
            self._stuck_since = now
        since = self._stuck_since
        if self._last_recovery_start is not None:
            since = max(since, self._last_recovery_start)
        if now < since + config.recovery_interval:
            return
        if self.recoveries >= config.max_recoveries:
            self._end(GoalState.ABORTED, codes.FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS,
                      f'Failed to make progress; gave up after {self.recoveries} recoveries')
            return
        behavior = RECOVERY_CYCLE[self.recoveries % len(RECOVERY_CYCLE)]
        self.recoveries += 1
        self._recovery = self._navigator.start_recovery(behavior, self.recoveries, now)
        self._last_recovery_start = now
        self.request_feedback()

    def _publish_feedback(self, now: float) -> None:
        pose = self.host.base.pose
        remaining = len(self.route.remaining)
        distance = self.route.distance_from(pose)
        feedback = self.action.Feedback()
        feedback.current_pose.header.stamp = time_msg(int(now * 1e9))
        feedback.current_pose.header.frame_id = self.frame_id
        feedback.current_pose.pose.position.x = pose.x
        feedback.current_pose.pose.position.y = pose.y
        feedback.current_pose.pose.orientation = quaternion(pose.theta)
        feedback.navigation_time = duration_msg(now - self.start)
        feedback.estimated_time_remaining = duration_msg(distance / self.host.config.speed)
        feedback.number_of_recoveries = min(self.recoveries, 2 ** 15 - 1)
        feedback.distance_remaining = distance
        if hasattr(feedback, 'number_of_poses_remaining'):
            feedback.number_of_poses_remaining = min(remaining, 2 ** 15 - 1)
        self.goal_handle.publish_feedback(feedback)

    def _end(self, state: GoalState, code: int = codes.NAV_ERROR_NONE,
             message: str = '') -> None:
        if self.ended:
            return
        if self._recovery is not None:
            self._navigator.abandon_recovery(self._recovery)
            self._recovery = None
        self.host.base.release(self.route)
        result = self.action.Result()
        result.error_code = code
        result.error_msg = message
        summary = f'Navigation goal ended: {state.value}, code {code} {message}'.rstrip()
        if code == codes.NAV_ERROR_NONE:
            self.host.get_logger().info(summary)
        else:
            self.host.get_logger().warning(summary)
        self._navigator.goal_ended(self, state)  # counted before any client sees the result
        self.complete(state, result)


class Navigator:
    """The navigator's actions on ``node``, driving ``host``'s base.

    ``count(name)`` increments a counter parameter (``goals_received``, ``goals_succeeded``,
    ``goals_canceled``); ``clear_fault()`` resets the ``fault`` parameter to none.
    """

    def __init__(self, node: Any, host: Host, callback_group: Any,
                 count: Callable[[str], None], clear_fault: Callable[[], None]) -> None:
        self._node = node
        self._host = host
        self._count = count
        self.clear_fault = clear_fault
        self.release_faults = releases.ReleaseFaults.for_robot(
            node.get_namespace().strip('/'))
        self._current: Optional[NavigationRun] = None
        self._servers = [
            GoalServer(node, NavigateToPose, 'navigate_to_pose', self._start_to_pose,
                       lambda goal: self._accept([goal.pose]), callback_group),
            GoalServer(node, NavigateThroughPoses, 'navigate_through_poses',
                       self._start_through_poses, lambda goal: self._accept(list(goal.poses)),
                       callback_group),
        ]
        self._clients: Dict[RecoveryBehavior, ActionClient] = {
            behavior: ActionClient(node, action, name, callback_group=callback_group)
            for behavior, action, name in (
                (RecoveryBehavior.SPIN, Spin, 'spin'),
                (RecoveryBehavior.BACKUP, BackUp, 'backup'),
                (RecoveryBehavior.WAIT, Wait, 'wait'))}
        self._bt_log_pub = node.create_publisher(BehaviorTreeLog, 'behavior_tree_log', 10)

    def destroy(self) -> None:
        """Destroy the action clients and servers (end their goals first)."""
        for client in self._clients.values():
            client.destroy()
        for server in self._servers:
            server.destroy()

    def _accept(self, poses: List[PoseStamped]) -> GoalResponse:
        if self._host.closing:
            return GoalResponse.REJECT
        if not poses:
            self._node.get_logger().warning('Rejecting a navigation goal without poses')
            return GoalResponse.REJECT
        if not all(pose_is_finite(pose) for pose in poses):
            self._node.get_logger().warning('Rejecting a navigation goal with a non-finite pose')
            return GoalResponse.REJECT
        self._count('goals_received')
        return GoalResponse.ACCEPT

    def _start_to_pose(self, goal_handle: ServerGoalHandle) -> None:
        self._start(self._servers[0], NavigateToPose, goal_handle, [goal_handle.request.pose])

    def _start_through_poses(self, goal_handle: ServerGoalHandle) -> None:
        self._start(self._servers[1], NavigateThroughPoses, goal_handle,
                    list(goal_handle.request.poses))

    def _start(self, server: GoalServer, action: Any, goal_handle: ServerGoalHandle,
               poses: List[PoseStamped]) -> None:
        with self._host.lock:
            run = NavigationRun(self._host, self, server, goal_handle, self._host.now_s(),
                                action, poses)
            previous, self._current = self._current, run
            if previous is not None:
                previous.supersede()
            self._host.add_run(run)

    def goal_ended(self, run: NavigationRun, state: GoalState) -> None:
        """Count how a navigation goal ended and forget it."""
        if self._current is run:
            self._current = None
        if state is GoalState.SUCCEEDED:
            self._count('goals_succeeded')
        elif state is GoalState.CANCELED:
            self._count('goals_canceled')

    def start_recovery(self, behavior: RecoveryBehavior, number: int,
                       now: float) -> RecoveryCall:
        """Request recovery ``number`` of a goal from the behavior server."""
        config = self._host.config
        self._node.get_logger().info(f'Robot stuck: recovery {number} ({behavior.value})')
        self._publish_bt_change(behavior, BtStatus.IDLE, BtStatus.RUNNING)
        call = RecoveryCall(behavior, self._clients[behavior], recovery_goal(behavior, config),
                            now, config.recovery_interval)
        call.poll(now)  # sends the goal at once when the server is known
        return call

    def recovery_ended(self, call: RecoveryCall, succeeded: bool) -> None:
        """Report the end of a recovery on ``behavior_tree_log``."""
        if not succeeded:
            self._node.get_logger().info(
                f'Recovery {call.behavior.value} failed: {call.error}')
        self._publish_bt_change(call.behavior, BtStatus.RUNNING,
                                BtStatus.SUCCESS if succeeded else BtStatus.FAILURE)

    def abandon_recovery(self, call: RecoveryCall) -> None:
        """Cancel a recovery whose goal ended first; it counts as failed."""
        if not self._host.closing and self._node.context.ok():
            call.cancel()
        call.error = call.error or 'the navigation goal ended first'
        self.recovery_ended(call, False)

    def _publish_bt_change(self, behavior: RecoveryBehavior, previous: BtStatus,
                           current: BtStatus) -> None:
        if not self._node.context.ok():
            return
        self._bt_log_pub.publish(bt_status_change(
            self._node.get_clock().now().nanoseconds, behavior.value, _BT_UIDS[behavior],
            previous.value, current.value))
