"""Executing one mission at a time through the robot's Nav2.

:class:`MissionRunner` turns a mission's waypoints into Nav2 goals (NavigateToPose, or
NavigateThroughPoses for consecutive waypoints without dwell), waits at dwells, pauses,
resumes and cancels, and reports through the agent's durable outbox:
``mission.started`` (written with the job before the first Nav2 goal is sent),
``mission.finished`` (with the outcome, written as the job is cleared), ``nav_aborted``.
The job is persisted, so an agent that restarts knows it was interrupted: it cancels the
Nav2 goals its previous run left behind and reports the attempt failed
(``MISSION_AGENT_RESTARTED``), and the manager requeues the mission at once.

A job is a small state machine driven by callbacks (goal responses, results, one-shot
timers), never by a coroutine waiting on a future: rclpy's EventsExecutor keeps re-running
a task that waits, at the cost of most of a core per waiting task.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from action_msgs.msg import GoalStatus
from action_msgs.srv import CancelGoal
from geometry_msgs.msg import PoseStamped
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose
from rclpy.action import ActionClient

from fleet_agent.core import Leg, Point, mission_progress, plan_legs, quaternion_from_yaw
from fleet_msgs.msg import RobotEvent

E = RobotEvent  # the outcome codes (MISSION_*) are declared on RobotEvent
Emit = Callable[..., int]
SERVER_POLL = 0.1
"""s between checks for a Nav2 action server (or cancel service) that is not there yet."""
CANCEL_ALL_WAIT = 10.0
"""s to wait for Nav2's cancel services after a restart before giving up on them."""


class Job:
    """What the agent is driving the robot through right now."""

    def __init__(self, mission_id: str, attempt: int, points: list[Point]) -> None:
        self.mission_id = mission_id
        self.attempt = attempt
        self.legs: list[Leg] = plan_legs(points)
        self.total = len(points)
        self.leg = 0
        self.done_points = 0
        self.nav_handle: Any = None
        self.sending = False
        self.dwell_timer: Any = None
        self.waited = 0.0
        self.cancel_reason = ''
        self.paused = False
        self.pause_canceled = False
        """A pause canceled the running Nav2 goal; its CANCELED result is not an outcome."""
        self.finished = False
        self.recoveries = 0
        self.progress = 0.0
        self.distance_remaining = 0.0
        self.waypoint_index = 0

    def to_json(self) -> dict[str, Any]:
        """The job as the outbox keeps it."""
        return {'mission_id': self.mission_id, 'attempt': self.attempt}

    @property
    def moving(self) -> bool:
        """True while a Nav2 goal is being sent or runs, or the robot dwells."""
        return self.sending or self.nav_handle is not None or self.dwell_timer is not None


class Outcome:
    """How a job ended: an error code (MISSION_*) and what Nav2 said."""

    def __init__(self, code: int = E.MISSION_OK, message: str = '', nav_code: int = 0,
                 nav_message: str = '') -> None:
        self.code, self.message = code, message
        self.nav_code, self.nav_message = nav_code, nav_message

    @property
    def name(self) -> str:
        """succeeded, canceled or failed."""
        return {E.MISSION_OK: 'succeeded', E.MISSION_CANCELED: 'canceled'}.get(
            self.code, 'failed')


class MissionRunner:
    """Runs the agent's missions through Nav2."""

    def __init__(self, node: Any, emit: Emit, stamp: Callable[[], float],
                 pose: Callable[[], tuple[float, float, float]], frame_id: str,
                 nav_to: str, nav_through: str, server_timeout: float,
                 on_recoveries: Callable[[int], None]) -> None:
        self._node = node
        self._emit = emit
        self._stamp = stamp
        self._pose = pose
        self._frame_id = frame_id
        self._timeout = server_timeout
        self._on_recoveries = on_recoveries
        self._nav_to = ActionClient(node, NavigateToPose, nav_to)
        self._nav_through = ActionClient(node, NavigateThroughPoses, nav_through)
        self._cancel_all = [node.create_client(CancelGoal, f'{name}/_action/cancel_goal')
                            for name in (nav_to, nav_through)]
        self._timers: set[Any] = set()
        self.job: Job | None = None
        self.done: list[tuple[str, int]] = []
        """Recently finished (mission, attempt)s: a resent command for one is ignored."""

    # -- commands ----------------------------------------------------------------------------
    def start(self, mission_id: str, attempt: int, points: list[Point]) -> None:
        """Start a mission, or say why not (``mission.refused``); a resend of the running or
        a finished attempt is ignored, and a higher attempt of the running mission is
        adopted (the manager requeued it to this same robot)."""
        job = self.job
        if (mission_id, attempt) in self.done:
            return
        if job is not None and job.mission_id == mission_id:
            if attempt > job.attempt:
                job.attempt = attempt
                self._emit('mission.started', 0, f'mission {mission_id} continues as attempt '
                           f'{attempt}', {'mission_id': mission_id, 'attempt': attempt},
                           self._stamp(), job=job.to_json())
            return
        if job is not None or not points:
            reason = (f'executing mission {job.mission_id}' if job is not None
                      else 'the mission has no waypoints')
            self._emit('mission.refused', 1, f'mission {mission_id} refused: {reason}',
                       {'mission_id': mission_id, 'attempt': attempt, 'reason': reason,
                        'error_code': E.MISSION_BUSY if job else E.MISSION_INVALID},
                       self._stamp())
            return
        job = self.job = Job(mission_id, attempt, points)
        self._emit('mission.started', 0, f'mission {mission_id} started',
                   {'mission_id': mission_id, 'attempt': attempt}, self._stamp(),
                   job=job.to_json())
        self._next_leg(job)

    def cancel(self, mission_id: str, attempt: int, reason: str) -> bool:
        """Stop the job if it is ``mission_id`` (and, when ``attempt`` > 0, that attempt or
        a later one); True when a job was told to stop."""
        job = self.job
        if job is None or (mission_id and job.mission_id != mission_id) \
                or (attempt and attempt < job.attempt) or job.cancel_reason:
            return False
        job.cancel_reason = reason or 'canceled by the manager'
        if job.nav_handle is not None:
            job.nav_handle.cancel_goal_async()  # the result callback finishes the job
        elif job.dwell_timer is not None:
            self._cancel_timer(job.dwell_timer)
            job.dwell_timer = None
            self._finish(job, Outcome(E.MISSION_CANCELED, job.cancel_reason))
        elif not job.sending:
            self._finish(job, Outcome(E.MISSION_CANCELED, job.cancel_reason))
        return True

    def pause(self) -> None:
        """Hold the robot where it is (the Nav2 goal is canceled and sent again on resume)."""
        job = self.job
        if job is not None and not job.paused:
            job.paused = True
            if job.nav_handle is not None:
                job.pause_canceled = True
                job.nav_handle.cancel_goal_async()

    def resume(self) -> None:
        """Continue a paused job."""
        job = self.job
        if job is not None and job.paused:
            job.paused = False
            if not job.moving:
                self._next_leg(job)

    def recover(self, previous: Any) -> None:
        """After a restart: cancel the Nav2 goals a previous run left and report its attempt
        as failed."""
        if not previous:
            return
        mission_id = str(previous.get('mission_id', ''))
        attempt = int(previous.get('attempt', 0))
        self._emit('mission.finished', 2, f'mission {mission_id} failed: the agent '
                   'restarted during the mission',
                   {'mission_id': mission_id, 'attempt': attempt, 'outcome': 'failed',
                    'reason': 'the agent restarted during the mission',
                    'error_code': E.MISSION_AGENT_RESTARTED, 'nav_error_code': 0,
                    'nav_error_msg': ''}, self._stamp(), job=None)
        for client in self._cancel_all:
            self._cancel_everything(client, 0.0)

    def _cancel_everything(self, client: Any, waited: float) -> None:
        """Send an all-zero CancelGoal (every goal of the action server) once it is there."""
        if client.service_is_ready():
            client.call_async(CancelGoal.Request())
        elif waited < CANCEL_ALL_WAIT:
            self._after(SERVER_POLL, lambda: self._cancel_everything(client,
                                                                     waited + SERVER_POLL))
        else:
            self._node.get_logger().warning(
                f'{client.srv_name} did not appear: a goal of the previous run may go on')

    # -- the job's steps ---------------------------------------------------------------------
    def _next_leg(self, job: Job) -> None:
        """Send the job's next leg to Nav2 (or end the job)."""
        if job is not self.job or job.finished:
            return
        if job.cancel_reason:
            self._finish(job, Outcome(E.MISSION_CANCELED, job.cancel_reason))
            return
        if job.paused:
            return  # resume() comes back here
        if job.leg >= len(job.legs):
            job.progress = 1.0
            self._finish(job, Outcome())
            return
        leg = job.legs[job.leg]
        client = self._nav_through if len(leg.points) > 1 else self._nav_to
        if not client.server_is_ready():
            if job.waited >= self._timeout:
                self._finish(job, Outcome(E.MISSION_NAV_UNAVAILABLE, 'Nav2 action server '
                                          f'{client._action_name} is not available'))
                return
            job.waited += SERVER_POLL
            job.sending = True
            self._after(SERVER_POLL, lambda: self._retry_leg(job))
            return
        job.waited = 0.0
        job.sending = True
        poses = [self.pose_stamped(p) for p in leg.points]
        goal: Any = NavigateThroughPoses.Goal(poses=poses) if len(leg.points) > 1 \
            else NavigateToPose.Goal(pose=poses[0])
        start = self._leg_length(leg)
        future = client.send_goal_async(goal, feedback_callback=lambda fb: self._feedback(
            job, leg, start, fb))
        future.add_done_callback(lambda f: self._goal_response(job, leg, f))

    def _retry_leg(self, job: Job) -> None:
        job.sending = False
        self._next_leg(job)

    def _leg_length(self, leg: Leg) -> float:
        x0, y0, _ = self._pose()
        return sum(math.hypot(b.x - a[0], b.y - a[1]) for a, b in
                   zip([(x0, y0)] + [(p.x, p.y) for p in leg.points[:-1]], leg.points))

    def _feedback(self, job: Job, leg: Leg, start: float, fb: Any) -> None:
        f = fb.feedback
        job.recoveries = max(job.recoveries, int(f.number_of_recoveries))
        self._on_recoveries(int(f.number_of_recoveries))
        job.distance_remaining = float(f.distance_remaining)
        job.progress = mission_progress(job.total, job.done_points, len(leg.points), start,
                                        float(f.distance_remaining))

    def _goal_response(self, job: Job, leg: Leg, future: Any) -> None:
        job.sending = False
        handle = future.result()
        if job is not self.job or job.finished:
            if handle is not None and handle.accepted:
                handle.cancel_goal_async()
            return
        if handle is None or not handle.accepted:
            self._finish(job, Outcome(E.MISSION_NAV_FAILED, 'Nav2 rejected the goal'))
            return
        job.nav_handle = handle
        if job.cancel_reason or job.paused:
            job.pause_canceled = job.paused
            handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(lambda f: self._leg_result(job, leg, f))

    def _leg_result(self, job: Job, leg: Leg, future: Any) -> None:
        job.nav_handle = None
        if job is not self.job or job.finished:
            return
        wrapped = future.result()
        status, res = wrapped.status, wrapped.result
        if status == GoalStatus.STATUS_SUCCEEDED:
            job.done_points += len(leg.points)
            job.waypoint_index = job.done_points
            if leg.dwell > 0 and not job.cancel_reason:
                job.dwell_timer = self._after(leg.dwell, lambda: self._dwelled(job))
                return
            job.leg += 1
            self._next_leg(job)
        elif status == GoalStatus.STATUS_CANCELED:
            if job.pause_canceled and not job.cancel_reason:
                job.pause_canceled = False
                if not job.paused:  # resumed before the cancel finished: drive on
                    self._next_leg(job)
                return  # paused mid-leg: resume() drives the same leg again
            self._finish(job, Outcome(E.MISSION_CANCELED,
                                      job.cancel_reason or 'navigation canceled'))
        else:
            self._emit('nav_aborted', 2, f'Nav2 aborted: {res.error_msg or "no message"} '
                       f'(code {res.error_code})',
                       {'mission_id': job.mission_id, 'error_code': int(res.error_code),
                        'error_msg': res.error_msg, 'pose': list(self._pose())},
                       self._stamp())
            self._finish(job, Outcome(E.MISSION_NAV_FAILED,
                                      f'navigation aborted: {res.error_msg or "no message"}',
                                      int(res.error_code), res.error_msg))

    def _dwelled(self, job: Job) -> None:
        job.dwell_timer = None
        job.leg += 1
        self._next_leg(job)

    def _finish(self, job: Job, outcome: Outcome) -> None:
        """Report the outcome (written before the job is cleared: a status that reports no
        mission then always names an event seq that includes it) and free the robot."""
        if job.finished:
            return
        job.finished = True
        self._emit('mission.finished', 0 if outcome.name == 'succeeded' else 1,
                   f'mission {job.mission_id} {outcome.name}'
                   + (f': {outcome.message}' if outcome.message else ''),
                   {'mission_id': job.mission_id, 'attempt': job.attempt,
                    'outcome': outcome.name, 'reason': outcome.message,
                    'error_code': outcome.code, 'nav_error_code': outcome.nav_code,
                    'nav_error_msg': outcome.nav_message}, self._stamp(), job=None)
        self.done = (self.done + [(job.mission_id, job.attempt)])[-50:]
        if self.job is job:
            self.job = None

    # -- timers ------------------------------------------------------------------------------
    def _after(self, seconds: float, then: Callable[[], None]) -> Any:
        """Call ``then`` once, ``seconds`` from now; return the timer (for cancelling)."""
        holder: list[Any] = []

        def fire() -> None:
            timer = holder[0]
            self._cancel_timer(timer)
            then()
        timer = self._node.create_timer(seconds, fire)
        holder.append(timer)
        self._timers.add(timer)
        return timer

    def _cancel_timer(self, timer: Any) -> None:
        if timer in self._timers:
            self._timers.discard(timer)
            timer.cancel()
            self._node.destroy_timer(timer)

    def pose_stamped(self, p: Point) -> PoseStamped:
        """A Nav2 goal pose for a waypoint."""
        msg = PoseStamped()
        msg.header.frame_id = p.frame_id or self._frame_id
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = p.x, p.y
        qx, qy, qz, qw = quaternion_from_yaw(p.theta)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = qx, qy, qz, qw
        return msg

    def destroy(self) -> None:
        """Release the timers and the action and service clients."""
        for timer in list(self._timers):
            self._cancel_timer(timer)
        self._nav_to.destroy()
        self._nav_through.destroy()
        for client in self._cancel_all:
            self._node.destroy_client(client)
