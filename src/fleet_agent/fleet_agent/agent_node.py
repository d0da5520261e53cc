"""The fleet agent: one per robot, in the robot's namespace.

It adapts the robot's own graph (odometry, battery, /diagnostics, Nav2's navigator) to the
fleet interfaces: RobotStatus at the report rate, RobotEvent for discrete facts, the
ExecuteMission action and the robot_command service. Robot events are published
reliable and transient-local with a deep history, so what happened while the manager was
unreachable is delivered when it comes back (the manager de-duplicates by sequence number).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
from dataclasses import dataclass, fields
from typing import Any

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from action_msgs.msg import GoalStatus
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from fleet_msgs.action import ExecuteMission
from fleet_msgs.msg import Pose2D, RobotEvent, RobotStatus
from fleet_msgs.srv import RobotCommand
from geometry_msgs.msg import PoseStamped
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import BatteryState

from fleet_agent.core import BatteryWatch, Leg, Point, SeqCounter, derive_mode
from fleet_agent.core import mission_progress, plan_legs, quaternion_from_yaw
from fleet_agent.core import yaw_from_quaternion
from fleet_agent.health import AgentHealth, HealthSample, RateMeter
from fleet_agent.nav2_watch import Nav2Watch, declare_watch_parameters

COMMANDS = ('pause', 'resume', 'return_to_dock', 'cancel_mission')


@dataclass(frozen=True)
class AgentParams:
    """The agent's parameters (units in comments)."""

    robot_id: str = ''  # empty: the node's namespace without the leading slash
    software_version: str = '0.0.0'  # reported in every status
    report_rate: float = 1.0  # Hz of RobotStatus
    odom_topic: str = 'odom'
    battery_topic: str = 'battery_state'
    diagnostics_topic: str = 'diagnostics'
    status_topic: str = '/fleet/robot_status'
    events_topic: str = '/fleet/robot_events'
    event_buffer: int = 1000  # robot events kept for a manager that was unreachable
    navigate_to_pose_action: str = 'navigate_to_pose'
    navigate_through_poses_action: str = 'navigate_through_poses'
    nav_server_timeout: float = 5.0  # s to wait for Nav2's action server per goal
    battery_low: float = 0.2  # 0..1
    battery_critical: float = 0.1  # 0..1
    frame_id: str = 'map'  # frame of the poses the agent reports and sends to Nav2


_DESCRIPTIONS = {
    'robot_id': 'Robot id reported to the fleet; empty uses the node namespace.',
    'software_version': 'Software version of the robot, reported in every status.',
    'report_rate': 'Status reports per second (Hz).',
    'odom_topic': 'nav_msgs/Odometry topic of the robot.',
    'battery_topic': 'sensor_msgs/BatteryState topic of the robot.',
    'diagnostics_topic': 'diagnostic_msgs/DiagnosticArray topic of the robot.',
    'status_topic': 'Topic the agent publishes fleet_msgs/RobotStatus on.',
    'events_topic': 'Topic the agent publishes fleet_msgs/RobotEvent on.',
    'event_buffer': 'Robot events kept (transient local) for a manager that was unreachable.',
    'navigate_to_pose_action': 'Nav2 NavigateToPose action name.',
    'navigate_through_poses_action': 'Nav2 NavigateThroughPoses action name.',
    'nav_server_timeout': 'Seconds to wait for a Nav2 action server before failing a goal.',
    'battery_low': 'State of charge (0..1) below which a battery_low event is sent.',
    'battery_critical': 'State of charge (0..1) below which a battery_critical event is sent.',
    'frame_id': 'Frame of reported poses and of Nav2 goals.',
}
_RANGES = {'report_rate': (0.01, 100.0), 'nav_server_timeout': (0.1, 600.0),
           'battery_low': (0.0, 1.0), 'battery_critical': (0.0, 1.0)}


class _Job:
    """What the agent is driving the robot through right now."""

    def __init__(self, mission_id: str, attempt: int, legs: list[Leg], total: int) -> None:
        self.mission_id = mission_id
        self.attempt = attempt
        self.legs = legs
        self.total = total
        self.nav_handle: Any = None
        self.cancel_reason = ''
        self.paused = False
        self.resume: Future | None = None
        self.recoveries = 0


class FleetAgent(Node):
    """Adapter between one robot's graph and the fleet."""

    def __init__(self, robot_id: str = '', namespace: str | None = None, **kwargs: Any) -> None:
        ns = namespace if namespace is not None else (f'/{robot_id}' if robot_id else None)
        if ns is not None:
            kwargs['namespace'] = ns
        super().__init__('fleet_agent', **kwargs)
        for f in fields(AgentParams):
            desc = ParameterDescriptor(description=_DESCRIPTIONS[f.name])
            if f.name in _RANGES:
                lo, hi = _RANGES[f.name]
                desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi)]
            default = robot_id if f.name == 'robot_id' and robot_id else f.default
            self.declare_parameter(f.name, default, desc)
        self.params = AgentParams(**{f.name: self.get_parameter(f.name).value
                                     for f in fields(AgentParams)})
        self.robot_id = self.params.robot_id or self.get_namespace().strip('/')
        if not self.robot_id:
            raise ValueError('fleet_agent needs robot_id or a namespace')
        self._lock = threading.RLock()
        self._seq = SeqCounter()
        self._pose = (0.0, 0.0, 0.0)
        self._heard = False
        self._battery: float | None = None
        self._charging = False
        self._diag_level = 0
        self._job: _Job | None = None
        self._dock_handle: Any = None
        self._battery_watch = BatteryWatch(self.params.battery_low, self.params.battery_critical)

        p = self.params
        sensors = MutuallyExclusiveCallbackGroup()
        self._nav_group = ReentrantCallbackGroup()
        self.create_subscription(Odometry, p.odom_topic, self._on_odom, 10,
                                 callback_group=sensors)
        self.create_subscription(BatteryState, p.battery_topic, self._on_battery, 10,
                                 callback_group=sensors)
        self.create_subscription(DiagnosticArray, p.diagnostics_topic, self._on_diagnostics, 10,
                                 callback_group=sensors)
        self._status_pub = self.create_publisher(RobotStatus, p.status_topic, 10)
        self._events_pub = self.create_publisher(RobotEvent, p.events_topic, QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=p.event_buffer,
            reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._nav_to = ActionClient(self, NavigateToPose, p.navigate_to_pose_action,
                                    callback_group=self._nav_group)
        self._nav_through = ActionClient(self, NavigateThroughPoses,
                                         p.navigate_through_poses_action,
                                         callback_group=self._nav_group)
        self._server = ActionServer(
            self, ExecuteMission, 'execute_mission', execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=self._nav_group)
        self.create_service(RobotCommand, 'robot_command', self._on_command,
                            callback_group=self._nav_group)
        self.create_timer(1.0 / p.report_rate, self._report, callback_group=sensors)
        self._watch = Nav2Watch(self, self.emit, declare_watch_parameters(self),
                                context=self._watch_context)
        self._status_rate = RateMeter()
        self._unlinked_events = 0
        self._health = AgentHealth(self, self.robot_id, self._health_sample)
        self.get_logger().info(f'agent for {self.robot_id} up (report every '
                               f'{1.0 / p.report_rate:.2f} s)')

    def _manager_linked(self) -> bool:
        return self._status_pub.get_subscription_count() > 0

    def _health_sample(self) -> HealthSample:
        linked = self._manager_linked()
        with self._lock:
            if linked:
                self._unlinked_events = 0
            return HealthSample(linked, self._unlinked_events, self.params.event_buffer,
                                self._status_rate.rate(), self.params.report_rate)

    def _watch_context(self) -> dict[str, Any]:
        with self._lock:
            return {'mission_id': self._job.mission_id} if self._job else {}

    def destroy_node(self) -> None:
        self._watch.destroy()
        super().destroy_node()

    # -- the robot's graph -------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        q = msg.pose.pose.orientation
        with self._lock:
            self._pose = (msg.pose.pose.position.x, msg.pose.pose.position.y,
                          yaw_from_quaternion(q.x, q.y, q.z, q.w))
            self._heard = True

    def _on_battery(self, msg: BatteryState) -> None:
        level = float(msg.percentage)
        with self._lock:
            self._battery = None if math.isnan(level) else min(1.0, max(0.0, level))
            self._charging = msg.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_CHARGING
            self._heard = True
            crossing = self._battery_watch.update(self._battery)
        if crossing is not None:
            severity = {'battery_low': 1, 'battery_critical': 3, 'battery_ok': 0}[crossing]
            self.emit(crossing, severity, f'battery at {level:.0%}', {'battery': level})

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        worst = max((int.from_bytes(s.level, 'little') if isinstance(s.level, bytes)
                     else int(s.level) for s in msg.status), default=0)
        with self._lock:
            previous, self._diag_level = self._diag_level, worst
        if worst != previous:
            names = [s.name for s in msg.status
                     if (int.from_bytes(s.level, 'little') if isinstance(s.level, bytes)
                         else int(s.level)) == worst]
            self.emit('diagnostics_level', min(worst, 3),
                      f'diagnostics level {previous} -> {worst}',
                      {'from': previous, 'to': worst, 'components': names})

    # -- reporting ---------------------------------------------------------------------------
    def _stamp(self) -> TimeMsg:
        return self.get_clock().now().to_msg()

    def _report(self) -> None:
        with self._lock:
            navigating = self._job is not None or self._dock_handle is not None
            mode = derive_mode(self._diag_level, navigating, self._charging, self._heard)
            x, y, theta = self._pose
            msg = RobotStatus(
                robot_id=self.robot_id, seq=self._seq.next(), stamp=self._stamp(),
                software_version=self.params.software_version, mode=int(mode),
                battery=float('nan') if self._battery is None else self._battery,
                pose=Pose2D(x=x, y=y, theta=theta, frame_id=self.params.frame_id),
                current_mission_id=self._job.mission_id if self._job else '',
                diagnostics_level=min(self._diag_level, 255),
                report_period=1.0 / self.params.report_rate)
        self._status_pub.publish(msg)
        self._status_rate.tick()

    def emit(self, type_: str, severity: int, message: str, data: dict[str, Any]) -> None:
        """Publish a robot event with the next sequence number."""
        with self._lock:
            seq = self._seq.next()
            if self._events_pub.get_subscription_count() == 0:
                self._unlinked_events += 1
        self._events_pub.publish(RobotEvent(
            robot_id=self.robot_id, seq=seq, stamp=self._stamp(), type=type_,
            severity=severity, message=message, data_json=json.dumps(data)))

    # -- missions ----------------------------------------------------------------------------
    def _on_goal(self, goal: ExecuteMission.Goal) -> GoalResponse:
        with self._lock:
            if self._job is not None:
                self.get_logger().warning(
                    f'refusing mission {goal.mission_id}: executing {self._job.mission_id}')
                return GoalResponse.REJECT
            if not goal.mission_id or not goal.waypoints:
                return GoalResponse.REJECT
            if self._dock_handle is not None:
                self._dock_handle.cancel_goal_async()
                self._dock_handle = None
            points = [Point(w.x, w.y, w.theta, w.frame_id or self.params.frame_id, w.dwell)
                      for w in goal.waypoints]
            self._job = _Job(goal.mission_id, goal.attempt, plan_legs(points), len(points))
        return GoalResponse.ACCEPT

    async def _execute(self, goal_handle: Any) -> ExecuteMission.Result:
        with self._lock:
            job = self._job
        assert job is not None
        self.emit('mission.started', 0, f'mission {job.mission_id} started',
                  {'mission_id': job.mission_id, 'attempt': job.attempt})
        result = ExecuteMission.Result()
        try:
            result = await self._run(goal_handle, job)
        finally:
            with self._lock:
                self._job = None
        outcome = {ExecuteMission.Result.NONE: 'succeeded',
                   ExecuteMission.Result.CANCELED: 'canceled'}.get(result.error_code, 'failed')
        if outcome == 'succeeded':
            goal_handle.succeed()
        elif outcome == 'canceled' and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        self.emit('mission.finished', 0 if outcome == 'succeeded' else 1,
                  f'mission {job.mission_id} {outcome}' + (f': {result.error_msg}'
                                                           if result.error_msg else ''),
                  {'mission_id': job.mission_id, 'attempt': job.attempt, 'outcome': outcome,
                   'reason': result.error_msg, 'error_code': result.error_code,
                   'nav_error_code': result.nav_error_code,
                   'nav_error_msg': result.nav_error_msg})
        return result

    def _fail(self, code: int, msg: str, nav_code: int = 0, nav_msg: str = '') -> Any:
        return ExecuteMission.Result(error_code=code, error_msg=msg, nav_error_code=nav_code,
                                     nav_error_msg=nav_msg)

    async def _run(self, goal_handle: Any, job: _Job) -> ExecuteMission.Result:
        done = 0
        leg_index = 0
        while leg_index < len(job.legs):
            leg = job.legs[leg_index]
            if goal_handle.is_cancel_requested or job.cancel_reason:
                return self._fail(ExecuteMission.Result.CANCELED,
                                  job.cancel_reason or 'canceled by the manager')
            if job.paused:
                job.resume = Future()
                await job.resume
                continue
            outcome = await self._drive(goal_handle, job, leg, done)
            if outcome is not None:
                if outcome.error_code == ExecuteMission.Result.CANCELED and job.paused \
                        and not job.cancel_reason and not goal_handle.is_cancel_requested:
                    continue  # paused mid-leg: drive the same leg again after resume
                return outcome
            done += len(leg.points)
            if leg.dwell > 0:
                await self._sleep(leg.dwell)
                if goal_handle.is_cancel_requested or job.cancel_reason:
                    return self._fail(ExecuteMission.Result.CANCELED,
                                      job.cancel_reason or 'canceled by the manager')
            leg_index += 1
        return ExecuteMission.Result(error_code=ExecuteMission.Result.NONE)

    async def _drive(self, goal_handle: Any, job: _Job, leg: Leg,
                     done: int) -> ExecuteMission.Result | None:
        """Send one leg to Nav2 and wait for it; None on success."""
        through = len(leg.points) > 1
        client = self._nav_through if through else self._nav_to
        if not client.wait_for_server(timeout_sec=0.0):
            ready = await self._wait_server(client)
            if not ready:
                return self._fail(ExecuteMission.Result.NAV_UNAVAILABLE,
                                  f'Nav2 action server {client._action_name} is not available')
        poses = [self._pose_stamped(p) for p in leg.points]
        if through:
            goal: Any = NavigateThroughPoses.Goal(poses=poses)
        else:
            goal = NavigateToPose.Goal(pose=poses[0])
        x0, y0, _ = self._pose
        start = sum(math.hypot(b.x - a[0], b.y - a[1]) for a, b in
                    zip([(x0, y0)] + [(p.x, p.y) for p in leg.points[:-1]], leg.points))

        def feedback(fb: Any) -> None:
            f = fb.feedback
            job.recoveries = max(job.recoveries, int(f.number_of_recoveries))
            self._watch.on_nav_feedback_recoveries(int(f.number_of_recoveries))
            goal_handle.publish_feedback(ExecuteMission.Feedback(
                progress=mission_progress(job.total, done, len(leg.points), start,
                                          float(f.distance_remaining)),
                distance_remaining=float(f.distance_remaining),
                waypoint_index=done, number_of_recoveries=job.recoveries))

        handle = await client.send_goal_async(goal, feedback_callback=feedback)
        if handle is None or not handle.accepted:
            return self._fail(ExecuteMission.Result.NAV_FAILED, 'Nav2 rejected the goal')
        with self._lock:
            job.nav_handle = handle
            cancel_now = bool(job.cancel_reason or job.paused or goal_handle.is_cancel_requested)
        if cancel_now:
            handle.cancel_goal_async()
        wrapped = await handle.get_result_async()
        with self._lock:
            job.nav_handle = None
        status, res = wrapped.status, wrapped.result
        if status == GoalStatus.STATUS_SUCCEEDED:
            return None
        if status == GoalStatus.STATUS_CANCELED or goal_handle.is_cancel_requested:
            return self._fail(ExecuteMission.Result.CANCELED,
                              job.cancel_reason or 'navigation canceled')
        self.emit('nav_aborted', 2, f'Nav2 aborted: {res.error_msg or "no message"} '
                  f'(code {res.error_code})',
                  {'mission_id': job.mission_id, 'error_code': int(res.error_code),
                   'error_msg': res.error_msg, 'pose': list(self._pose)})
        return self._fail(ExecuteMission.Result.NAV_FAILED,
                          f'navigation aborted: {res.error_msg or "no message"}',
                          int(res.error_code), res.error_msg)

    async def _wait_server(self, client: ActionClient) -> bool:
        """Wait up to nav_server_timeout for a Nav2 server, without blocking the executor."""
        deadline = self.get_clock().now().nanoseconds + self.params.nav_server_timeout * 1e9
        while self.get_clock().now().nanoseconds < deadline:
            if client.server_is_ready():
                return True
            await self._sleep(0.1)
        return client.server_is_ready()

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` inside a coroutine (a one-shot timer completes a future)."""
        fut: Future = Future()
        timer = None

        def fire() -> None:
            if timer is not None:
                timer.cancel()
            if not fut.done():
                fut.set_result(True)
        timer = self.create_timer(seconds, fire, callback_group=self._nav_group)
        try:
            await fut
        finally:
            self.destroy_timer(timer)

    def _pose_stamped(self, p: Point) -> PoseStamped:
        msg = PoseStamped()
        msg.header.frame_id = p.frame_id or self.params.frame_id
        msg.header.stamp = self._stamp()
        msg.pose.position.x, msg.pose.position.y = p.x, p.y
        qx, qy, qz, qw = quaternion_from_yaw(p.theta)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = qx, qy, qz, qw
        return msg

    # -- commands ----------------------------------------------------------------------------
    def _on_command(self, req: RobotCommand.Request,
                    resp: RobotCommand.Response) -> RobotCommand.Response:
        resp.success, resp.error_code = True, RobotCommand.Response.NONE
        if req.robot_id and req.robot_id != self.robot_id:
            resp.success, resp.error_code = False, RobotCommand.Response.NOT_FOUND
            resp.error_msg = f'this agent serves {self.robot_id!r}, not {req.robot_id!r}'
            return resp
        try:
            args = json.loads(req.args_json) if req.args_json else {}
            if not isinstance(args, dict):
                raise ValueError('args_json must be a JSON object')
        except ValueError as exc:
            resp.success, resp.error_code = False, RobotCommand.Response.INVALID
            resp.error_msg = f'args_json: {exc}'
            return resp
        if req.command not in COMMANDS:
            resp.success, resp.error_code = False, RobotCommand.Response.INVALID
            resp.error_msg = f'unknown command {req.command!r} (one of: {", ".join(COMMANDS)})'
            return resp
        error = getattr(self, f'_cmd_{req.command}')(args)
        if error:
            resp.success, resp.error_code = False, RobotCommand.Response.INVALID
            resp.error_msg = error
        else:
            self.emit('command', 0, f'command {req.command}', {'command': req.command,
                                                               'args': args})
        return resp

    def _cmd_pause(self, args: dict[str, Any]) -> str:
        with self._lock:
            job = self._job
            if job is None:
                return ''
            job.paused = True
            handle = job.nav_handle
        if handle is not None:
            handle.cancel_goal_async()
        return ''

    def _cmd_resume(self, args: dict[str, Any]) -> str:
        with self._lock:
            job = self._job
            if job is None or not job.paused:
                return ''
            job.paused = False
            fut = job.resume
        if fut is not None and not fut.done():
            fut.set_result(True)
        return ''

    def _cmd_cancel_mission(self, args: dict[str, Any]) -> str:
        mission_id = str(args.get('mission_id', ''))
        with self._lock:
            job = self._job
            if job is None or (mission_id and job.mission_id != mission_id):
                return ''  # not executing it: nothing to cancel
            job.cancel_reason = str(args.get('reason') or 'canceled by the manager')
            handle, fut = job.nav_handle, job.resume
        if handle is not None:
            handle.cancel_goal_async()
        if fut is not None and not fut.done():
            fut.set_result(True)
        return ''

    def _cmd_return_to_dock(self, args: dict[str, Any]) -> str:
        try:
            x, y = float(args['x']), float(args['y'])
            theta = float(args.get('theta', 0.0))
        except (KeyError, TypeError, ValueError):
            return 'return_to_dock needs numeric x and y in args_json'
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(theta)):
            return 'return_to_dock: x, y and theta must be finite'
        with self._lock:
            if self._job is not None:
                return f'executing mission {self._job.mission_id}; cancel it first'
        if not self._nav_to.server_is_ready():
            return 'Nav2 is not available'
        goal = NavigateToPose.Goal(pose=self._pose_stamped(Point(x, y, theta)))
        future = self._nav_to.send_goal_async(goal)
        future.add_done_callback(self._on_dock_goal)
        return ''

    def _on_dock_goal(self, future: Future) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            return
        with self._lock:
            self._dock_handle = handle
        handle.get_result_async().add_done_callback(self._on_dock_result)

    def _on_dock_result(self, future: Future) -> None:
        with self._lock:
            self._dock_handle = None
        wrapped = future.result()
        ok = wrapped is not None and wrapped.status == GoalStatus.STATUS_SUCCEEDED
        self.emit('docked' if ok else 'dock_failed', 0 if ok else 1,
                  'reached the dock' if ok else 'could not reach the dock', {})


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog='fleet_agent',
        description='The fleet agent of one robot: adapts its Nav2, odometry, battery and '
                    'diagnostics to the fleet. Run it in the robot\'s namespace, e.g. '
                    'fleet_agent --ros-args -r __ns:=/robot1 -p software_version:=1.2.0; '
                    'parameters are listed in config/params.yaml (section fleet_agent).')


def main(args: list[str] | None = None) -> None:
    """Run one agent (namespace and robot_id from --ros-args) until Ctrl-C or SIGTERM."""
    argv = args if args is not None else sys.argv
    build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    try:
        node = FleetAgent()
    except ValueError as exc:
        print(f'fleet_agent: {exc}')
        rclpy.try_shutdown()
        raise SystemExit(2)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        if rclpy.ok():  # only a context already shut down by the signal is expected here
            raise
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
