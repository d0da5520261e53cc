"""The simulated behavior server: ``spin``, ``backup``, ``wait``, ``drive_on_heading`` and
``assisted_teleop``, as Nav2's behavior server offers them.

Each goal becomes a run that the robot's timer advances: motion behaviors hand the base a
:class:`~fleet_sim.base.Motion` (a newer one preempts it), ``wait`` just lets time pass.
A behavior ends when its motion does, on cancel, or when its time allowance runs out
(an allowance of 0 means none). The navigator calls these same servers as recoveries.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from nav2_msgs.action import AssistedTeleop, BackUp, DriveOnHeading, Spin, Wait
from rclpy.action import GoalResponse
from rclpy.action.server import ServerGoalHandle

from fleet_sim import codes
from fleet_sim.base import BehaviorOutcome, Motion, MotionKind
from fleet_sim.convert import duration_msg, duration_seconds
from fleet_sim.goals import GoalRun, GoalServer, GoalState, Host
from fleet_sim.params import Fault


@dataclass(frozen=True)
class BehaviorSpec:
    """How a behavior reports its end: action type, name and error codes.

    ``codes`` maps outcomes to error codes; the code under ``RUNNING`` stands for any
    failure without a code of its own.
    """

    action: Any
    name: str
    codes: Dict[BehaviorOutcome, int]
    timeout_message: str = ''

    def result(self, outcome: BehaviorOutcome, elapsed: float) -> Tuple[GoalState, Any]:
        """Return the terminal state and the filled result of a behavior that ended so."""
        result = self.action.Result()
        result.total_elapsed_time = duration_msg(elapsed)
        if outcome is BehaviorOutcome.SUCCEEDED:
            return GoalState.SUCCEEDED, result
        if outcome is BehaviorOutcome.CANCELED:
            return GoalState.CANCELED, result
        messages = {
            BehaviorOutcome.TIMEOUT: self.timeout_message or (
                f'Exceeded the time allowance before finishing {self.name}'),
            BehaviorOutcome.BLOCKED: f'{self.name} stopped: a blocked area is in the way',
            BehaviorOutcome.PREEMPTED: f'{self.name} preempted by another behavior',
            BehaviorOutcome.SHUTDOWN: 'The robot is shutting down',
        }
        result.error_code = self.codes.get(outcome, self.codes[BehaviorOutcome.RUNNING])
        result.error_msg = messages.get(outcome, f'{self.name} failed')
        return GoalState.ABORTED, result


SPIN = BehaviorSpec(Spin, 'spin', {
    BehaviorOutcome.RUNNING: codes.SPIN_UNKNOWN, BehaviorOutcome.TIMEOUT: codes.SPIN_TIMEOUT,
    BehaviorOutcome.BLOCKED: codes.SPIN_COLLISION_AHEAD})
BACKUP = BehaviorSpec(BackUp, 'backup', {
    BehaviorOutcome.RUNNING: codes.BACKUP_UNKNOWN,
    BehaviorOutcome.TIMEOUT: codes.BACKUP_TIMEOUT,
    BehaviorOutcome.BLOCKED: codes.BACKUP_COLLISION_AHEAD})
DRIVE_ON_HEADING = BehaviorSpec(DriveOnHeading, 'drive_on_heading', {
    BehaviorOutcome.RUNNING: codes.DRIVE_ON_HEADING_UNKNOWN,
    BehaviorOutcome.TIMEOUT: codes.DRIVE_ON_HEADING_TIMEOUT,
    BehaviorOutcome.BLOCKED: codes.DRIVE_ON_HEADING_COLLISION_AHEAD})
ASSISTED_TELEOP = BehaviorSpec(AssistedTeleop, 'assisted_teleop', {
    BehaviorOutcome.RUNNING: codes.ASSISTED_TELEOP_UNKNOWN,
    BehaviorOutcome.TIMEOUT: codes.ASSISTED_TELEOP_TIMEOUT})
WAIT = BehaviorSpec(Wait, 'wait', {
    BehaviorOutcome.RUNNING: codes.WAIT_UNKNOWN, BehaviorOutcome.TIMEOUT: codes.WAIT_TIMEOUT},
    timeout_message='The robot is still stuck after waiting')

#: Builds a behavior's feedback from its motion and the seconds since it started.
FeedbackBuilder = Callable[[Motion, float], Any]


class MotionRun(GoalRun):
    """A behavior that moves the base until its motion ends, it is canceled or times out.

    ``invalid`` (error code, message) aborts the goal at once instead: the request was
    accepted, as Nav2 does, but cannot be carried out.
    """

    def __init__(self, host: Host, server: GoalServer, goal_handle: ServerGoalHandle,
                 now: float, spec: BehaviorSpec, motion: Motion, allowance: float,
                 feedback: FeedbackBuilder, invalid: Optional[Tuple[int, str]] = None) -> None:
        super().__init__(host, server, goal_handle, now)
        self.spec = spec
        self.motion = motion
        self.allowance = allowance
        self._feedback = feedback
        self._invalid = invalid
        self._started = False

    def tick(self, now: float) -> None:
        if not self._started:
            self._started = True
            if self._invalid is not None:
                result = self.spec.action.Result()
                result.error_code, result.error_msg = self._invalid
                self.complete(GoalState.ABORTED, result)
                return
            self.host.base.start_motion(self.motion)
        elapsed = now - self.start
        outcome = self.motion.outcome
        if outcome is BehaviorOutcome.RUNNING:
            if self.goal_handle.is_cancel_requested:
                outcome = BehaviorOutcome.CANCELED
            elif 0.0 < self.allowance <= elapsed:
                outcome = BehaviorOutcome.TIMEOUT
            else:
                if self.feedback_due(now):
                    self.goal_handle.publish_feedback(self._feedback(self.motion, elapsed))
                return
        self._end(outcome, elapsed)

    def shut_down(self, now: float) -> None:
        self._end(BehaviorOutcome.SHUTDOWN, now - self.start)

    def _end(self, outcome: BehaviorOutcome, elapsed: float) -> None:
        self.host.base.end_motion(self.motion, outcome)
        self.complete(*self.spec.result(outcome, elapsed))


class WaitRun(GoalRun):
    """The ``wait`` behavior: lets ``duration`` s pass; fails if the robot is still stuck."""

    def __init__(self, host: Host, server: GoalServer, goal_handle: ServerGoalHandle,
                 now: float, duration: float) -> None:
        super().__init__(host, server, goal_handle, now)
        self.duration = duration

    def tick(self, now: float) -> None:
        elapsed = now - self.start
        if self.goal_handle.is_cancel_requested:
            outcome = BehaviorOutcome.CANCELED
        elif elapsed >= self.duration:
            # A stuck robot is still stuck after waiting: the recovery did not help.
            stuck = self.host.config.fault is Fault.STUCK
            outcome = BehaviorOutcome.TIMEOUT if stuck else BehaviorOutcome.SUCCEEDED
        else:
            if self.feedback_due(now):
                self.goal_handle.publish_feedback(
                    Wait.Feedback(time_left=duration_msg(self.duration - elapsed)))
            return
        self.complete(*WAIT.result(outcome, elapsed))

    def shut_down(self, now: float) -> None:
        self.complete(*WAIT.result(BehaviorOutcome.SHUTDOWN, now - self.start))


class BehaviorServer:
    """The five behavior actions of ``node``, acting on ``host``'s base."""

    def __init__(self, node: Any, host: Host, callback_group: Any) -> None:
        self._host = host
        self._servers: Dict[str, GoalServer] = {
            name: GoalServer(node, action, name, start, self._on_goal, callback_group)
            for action, name, start in (
                (Spin, 'spin', self._start_spin),
                (BackUp, 'backup', self._start_backup),
                (Wait, 'wait', self._start_wait),
                (DriveOnHeading, 'drive_on_heading', self._start_drive_on_heading),
                (AssistedTeleop, 'assisted_teleop', self._start_assisted_teleop))}

    def destroy(self) -> None:
        """Destroy the action servers (end their goals first)."""
        for server in self._servers.values():
            server.destroy()

    def _on_goal(self, _goal: Any) -> GoalResponse:
        return GoalResponse.REJECT if self._host.closing else GoalResponse.ACCEPT

    def _start_motion(self, name: str, goal_handle: ServerGoalHandle, spec: BehaviorSpec,
                      motion: Motion, feedback: FeedbackBuilder,
                      invalid: Optional[Tuple[int, str]] = None) -> None:
        allowance = duration_seconds(goal_handle.request.time_allowance)
        self._host.add_run(MotionRun(self._host, self._servers[name], goal_handle,
                                     self._host.now_s(), spec, motion, allowance, feedback,
                                     invalid))

    def _start_spin(self, goal_handle: ServerGoalHandle) -> None:
        motion = Motion(MotionKind.ROTATE, goal_handle.request.target_yaw,
                        self._host.config.angular_speed)
        self._start_motion('spin', goal_handle, SPIN, motion,
                           lambda m, _t: Spin.Feedback(angular_distance_traveled=m.progress))

    def _start_backup(self, goal_handle: ServerGoalHandle) -> None:
        goal = goal_handle.request
        invalid = None
        if goal.target.y != 0.0 or goal.target.z != 0.0 or goal.speed == 0.0:
            invalid = (codes.BACKUP_INVALID_INPUT,
                       'backup needs target.y = target.z = 0 and a speed')
        motion = Motion(MotionKind.DRIVE, -abs(goal.target.x), abs(goal.speed))
        self._start_motion('backup', goal_handle, BACKUP, motion,
                           lambda m, _t: BackUp.Feedback(distance_traveled=m.progress), invalid)

    def _start_drive_on_heading(self, goal_handle: ServerGoalHandle) -> None:
        goal = goal_handle.request
        invalid = None
        if (goal.target.y != 0.0 or goal.target.z != 0.0 or goal.speed == 0.0
                or goal.target.x * goal.speed < 0.0):
            invalid = (codes.DRIVE_ON_HEADING_INVALID_INPUT,
                       'drive_on_heading needs target.y = target.z = 0 and a speed with the '
                       'sign of target.x')
        motion = Motion(MotionKind.DRIVE, goal.target.x, abs(goal.speed))
        self._start_motion(
            'drive_on_heading', goal_handle, DRIVE_ON_HEADING, motion,
            lambda m, _t: DriveOnHeading.Feedback(distance_traveled=m.progress), invalid)

    def _start_assisted_teleop(self, goal_handle: ServerGoalHandle) -> None:
        self._start_motion(
            'assisted_teleop', goal_handle, ASSISTED_TELEOP, Motion(MotionKind.TELEOP),
            lambda _m, t: AssistedTeleop.Feedback(current_teleop_duration=duration_msg(t)))

    def _start_wait(self, goal_handle: ServerGoalHandle) -> None:
        duration = duration_seconds(goal_handle.request.time)
        self._host.add_run(WaitRun(self._host, self._servers['wait'], goal_handle,
                                   self._host.now_s(), duration))
