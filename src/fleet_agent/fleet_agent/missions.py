"""Executing one mission at a time through the robot's Nav2, as an async job.

:class:`MissionRunner` turns a mission's waypoints into Nav2 goals (NavigateToPose, or
NavigateThroughPoses for consecutive waypoints without dwell), waits at dwells, pauses,
resumes and cancels, and reports through the agent's durable outbox:
``mission.started`` (written with the job before the first Nav2 goal is sent),
``mission.finished`` (with the outcome, written as the job is cleared), ``nav_aborted``.
The job is persisted, so an agent that restarts knows it was interrupted: it cancels the
Nav2 goal its previous run left behind and reports the attempt failed
(``MISSION_AGENT_RESTARTED``), and the manager requeues the mission at once.

Everything runs as coroutines on the agent's single-threaded executor: no callback blocks.
"""

from __future__ import annotations

import math
from typing import Any, Awaitable, Callable

from action_msgs.msg import GoalStatus
from action_msgs.srv import CancelGoal
from fleet_msgs.msg import RobotEvent
from geometry_msgs.msg import PoseStamped
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose
from rclpy.action import ActionClient
from rclpy.task import Future

from fleet_agent.core import Leg, Point, mission_progress, plan_legs, quaternion_from_yaw

E = RobotEvent  # the outcome codes (MISSION_*) are declared on RobotEvent
Emit = Callable[..., int]


class Job:
    """What the agent is driving the robot through right now."""

    def __init__(self, mission_id: str, attempt: int, points: list[Point]) -> None:
        self.mission_id = mission_id
        self.attempt = attempt
        self.legs: list[Leg] = plan_legs(points)
        self.total = len(points)
        self.nav_handle: Any = None
        self.cancel_reason = ''
        self.paused = False
        self.resume: Future | None = None
        self.recoveries = 0
        self.progress = 0.0
        self.distance_remaining = 0.0
        self.waypoint_index = 0

    def to_json(self) -> dict[str, Any]:
        """The job as the outbox keeps it."""
        return {'mission_id': self.mission_id, 'attempt': self.attempt}


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
        self._node.executor.create_task(self._run_job(job))

    def cancel(self, mission_id: str, attempt: int, reason: str) -> bool:
        """Stop the job if it is ``mission_id`` (and, when ``attempt`` > 0, that attempt or
        a later one); True when a job was told to stop."""
        job = self.job
        if job is None or (mission_id and job.mission_id != mission_id) \
                or (attempt and attempt < job.attempt) or job.cancel_reason:
            return False
        job.cancel_reason = reason or 'canceled by the manager'
        self._interrupt(job)
        return True

    def pause(self) -> None:
        """Hold the robot where it is (the Nav2 goal is canceled, resumed later)."""
        job = self.job
        if job is not None and not job.paused:
            job.paused = True
            if job.nav_handle is not None:
                job.nav_handle.cancel_goal_async()

    def resume(self) -> None:
        """Continue a paused job."""
        job = self.job
        if job is not None and job.paused:
            job.paused = False
            if job.resume is not None and not job.resume.done():
                job.resume.set_result(True)

    def recover(self, previous: Any) -> None:
        """After a restart: cancel the Nav2 goals a previous run left and report its attempt
        as failed."""
        if not previous:
            return
        for client in self._cancel_all:
            # An all-zero goal id and stamp cancels every goal of the action server.
            client.call_async(CancelGoal.Request())
        mission_id, attempt = str(previous.get('mission_id', '')), \
            int(previous.get('attempt', 0))
        self._emit('mission.finished', 2, f'mission {mission_id} failed: the agent '
                   'restarted during the mission',
                   {'mission_id': mission_id, 'attempt': attempt, 'outcome': 'failed',
                    'reason': 'the agent restarted during the mission',
                    'error_code': E.MISSION_AGENT_RESTARTED, 'nav_error_code': 0,
                    'nav_error_msg': ''}, self._stamp(), job=None)

    def _interrupt(self, job: Job) -> None:
        if job.nav_handle is not None:
            job.nav_handle.cancel_goal_async()
        if job.resume is not None and not job.resume.done():
            job.resume.set_result(True)

    # -- the job -----------------------------------------------------------------------------
    async def _run_job(self, job: Job) -> None:
        try:
            outcome = await self._run(job)
        except Exception as exc:  # noqa: BLE001 - the job must always report its end
            outcome = Outcome(E.MISSION_NAV_FAILED, f'the agent failed: {exc!r}')
        # The outcome is written before the job is cleared: a status that reports no
        # mission then always names an event seq that includes the outcome.
        self._emit('mission.finished', 0 if outcome.name == 'succeeded' else 1,
                   f'mission {job.mission_id} {outcome.name}'
                   + (f': {outcome.message}' if outcome.message else ''),
                   {'mission_id': job.mission_id, 'attempt': job.attempt,
                    'outcome': outcome.name, 'reason': outcome.message,
                    'error_code': outcome.code, 'nav_error_code': outcome.nav_code,
                    'nav_error_msg': outcome.nav_message}, self._stamp(), job=None)
        self.done = (self.done + [(job.mission_id, job.attempt)])[-50:]
        self.job = None

    async def _run(self, job: Job) -> Outcome:
        done = 0
        index = 0
        while index < len(job.legs):
            leg = job.legs[index]
            if job.cancel_reason:
                return Outcome(E.MISSION_CANCELED, job.cancel_reason)
            if job.paused:
                job.resume = Future()
                await job.resume
                continue
            outcome = await self._drive(job, leg, done)
            if outcome is not None:
                if outcome.code == E.MISSION_CANCELED and job.paused and not job.cancel_reason:
                    continue  # paused mid-leg: drive the same leg again after resume
                return outcome
            done += len(leg.points)
            job.waypoint_index = done
            if leg.dwell > 0:
                await self._wait(self.sleep(leg.dwell), job)
                if job.cancel_reason:
                    return Outcome(E.MISSION_CANCELED, job.cancel_reason)
            index += 1
        job.progress = 1.0
        return Outcome()

    async def _wait(self, waiting: Awaitable[None], job: Job) -> None:
        """Wait for ``waiting`` or until the job is canceled (whichever comes first)."""
        job.resume = Future()
        task = self._node.executor.create_task(waiting)
        task.add_done_callback(lambda _: job.resume.done() or job.resume.set_result(True))
        await job.resume

    async def _drive(self, job: Job, leg: Leg, done: int) -> Outcome | None:
        """Send one leg to Nav2 and wait for it; None on success."""
        through = len(leg.points) > 1
        client = self._nav_through if through else self._nav_to
        if not client.server_is_ready() and not await self._wait_server(client):
            return Outcome(E.MISSION_NAV_UNAVAILABLE,
                           f'Nav2 action server {client._action_name} is not available')
        poses = [self.pose_stamped(p) for p in leg.points]
        goal: Any = NavigateThroughPoses.Goal(poses=poses) if through \
            else NavigateToPose.Goal(pose=poses[0])
        x0, y0, _ = self._pose()
        start = sum(math.hypot(b.x - a[0], b.y - a[1]) for a, b in
                    zip([(x0, y0)] + [(p.x, p.y) for p in leg.points[:-1]], leg.points))

        def feedback(fb: Any) -> None:
            f = fb.feedback
            job.recoveries = max(job.recoveries, int(f.number_of_recoveries))
            self._on_recoveries(int(f.number_of_recoveries))
            job.distance_remaining = float(f.distance_remaining)
            job.progress = mission_progress(job.total, done, len(leg.points), start,
                                            float(f.distance_remaining))

        handle = await client.send_goal_async(goal, feedback_callback=feedback)
        if handle is None or not handle.accepted:
            return Outcome(E.MISSION_NAV_FAILED, 'Nav2 rejected the goal')
        job.nav_handle = handle
        if job.cancel_reason or job.paused:
            handle.cancel_goal_async()
        wrapped = await handle.get_result_async()
        job.nav_handle = None
        status, res = wrapped.status, wrapped.result
        if status == GoalStatus.STATUS_SUCCEEDED:
            return None
        if status == GoalStatus.STATUS_CANCELED:
            return Outcome(E.MISSION_CANCELED, job.cancel_reason or 'navigation canceled')
        self._emit('nav_aborted', 2, f'Nav2 aborted: {res.error_msg or "no message"} '
                   f'(code {res.error_code})',
                   {'mission_id': job.mission_id, 'error_code': int(res.error_code),
                    'error_msg': res.error_msg, 'pose': list(self._pose())}, self._stamp())
        return Outcome(E.MISSION_NAV_FAILED,
                       f'navigation aborted: {res.error_msg or "no message"}',
                       int(res.error_code), res.error_msg)

    async def _wait_server(self, client: ActionClient) -> bool:
        """Wait up to the server timeout for a Nav2 server, without blocking the executor."""
        waited = 0.0
        while waited < self._timeout:
            if client.server_is_ready():
                return True
            await self.sleep(0.1)
            waited += 0.1
        return client.server_is_ready()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` inside a coroutine (a one-shot timer completes a future)."""
        fut: Future = Future()
        timer = None

        def fire() -> None:
            if timer is not None:
                timer.cancel()
            if not fut.done():
                fut.set_result(True)
        timer = self._node.create_timer(seconds, fire)
        try:
            await fut
        finally:
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
        """Release the action and service clients."""
        self._nav_to.destroy()
        self._nav_through.destroy()
        for client in self._cancel_all:
            self._node.destroy_client(client)
