"""The fleet agent: one per robot, in the robot's namespace.

It adapts the robot's own graph (odometry, battery, /diagnostics, Nav2's navigator and
behavior servers) to the fleet's fleet-level topics: RobotStatus at the report rate,
RobotEvent for discrete facts (through a durable outbox: nothing is lost while the manager
or the network is away, or when the agent restarts), and RobotCommand from the manager
(execute, cancel, pause, resume, return to dock). See :mod:`fleet_agent.link`,
:mod:`fleet_agent.outbox` and :mod:`fleet_agent.missions`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray
from nav2_msgs.action import NavigateToPose
from nav_msgs.msg import Odometry
import rclpy
from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import BatteryState

from fleet_agent.config_sync import ConfigSync, SyncParams
from fleet_agent.core import BatteryWatch, Point, SendWindow, derive_mode, yaw_from_quaternion
from fleet_agent.health import AgentHealth, HealthSample, RateMeter
from fleet_agent.link import FleetLink
from fleet_agent.missions import MissionRunner
from fleet_agent.nav2_watch import Nav2Watch, Nav2WatchConfig, declare_watch_parameters
from fleet_agent.outbox import Outbox, OutboxError
from fleet_agent.params import AgentParams
from fleet_common.params import declare_params, help_text
from fleet_common.ros import run_nodes
from fleet_msgs.msg import Pose2D, RobotCommand, RobotEvent, RobotStatus

MODE_PAUSED = 5  # RobotStatus.MODE_PAUSED


def default_state_dir(robot_id: str) -> str:
    """$ROS_HOME/fleet_agent/<robot_id> (ROS_HOME defaults to ~/.ros)."""
    home = os.environ.get('ROS_HOME') or os.path.join(os.path.expanduser('~'), '.ros')
    return os.path.join(home, 'fleet_agent', robot_id)


class FleetAgent(Node):
    """Adapter between one robot's graph and the fleet."""

    def __init__(self, robot_id: str = '', namespace: str | None = None, **kwargs: Any) -> None:
        ns = namespace if namespace is not None else (f'/{robot_id}' if robot_id else None)
        if ns is not None:
            kwargs['namespace'] = ns
        super().__init__('fleet_agent', **kwargs)
        self.params = self._declare(robot_id)
        p = self.params
        self.robot_id = p.robot_id or self.get_namespace().strip('/')
        if not self.robot_id:
            raise ValueError('fleet_agent needs robot_id or a namespace')
        self._seq = 0
        self._pose = (0.0, 0.0, 0.0)
        self._heard = False
        self._heard_at: float | None = None
        self._battery: float | None = None
        self._charging = False
        self._diag_level = 0
        self._dock_handle: Any = None
        self._battery_watch = BatteryWatch(p.battery_low, p.battery_critical)
        outbox = self._open_outbox()
        self.link = FleetLink(self, self.robot_id, outbox,
                              SendWindow(p.send_window, p.resend_after),
                              status_topic=p.status_topic, events_topic=p.events_topic,
                              commands_topic=p.commands_topic, acks_topic=p.acks_topic,
                              on_command=self._on_command)
        self.create_subscription(Odometry, p.odom_topic, self._on_odom, 10)
        self.create_subscription(BatteryState, p.battery_topic, self._on_battery, 10)
        self.create_subscription(DiagnosticArray, p.diagnostics_topic, self._on_diagnostics, 10)
        self._watch = Nav2Watch(self, self.emit, declare_watch_parameters(self),
                                context=self._watch_context)
        self.runner = MissionRunner(self, self.link.emit, self._now, lambda: self._pose,
                                    p.frame_id, p.navigate_to_pose_action,
                                    p.navigate_through_poses_action, p.nav_server_timeout,
                                    self._watch.on_nav_feedback_recoveries)
        self._dock_client = ActionClient(self, NavigateToPose, p.navigate_to_pose_action)
        self.create_timer(1.0 / p.report_rate, self._report)
        self._status_rate = RateMeter()
        self._health = AgentHealth(self, self.robot_id, self._health_sample)
        self.runner.recover(outbox.job)
        self.config_sync = ConfigSync(self, self.emit, SyncParams(
            self.robot_id, p.software_version, p.config_check_period, p.version_source,
            p.installer_command, p.installer_timeout, p.install_verify_timeout,
            os.path.dirname(outbox.path) if outbox.path != ':memory:' else ''),
            self._busy, self._healthy_since, lambda: self.runner.job.mission_id
            if self.runner.job else '')
        self.get_logger().info(
            f'agent for {self.robot_id} up (report every {1.0 / p.report_rate:.2f} s; outbox '
            f'{outbox.path}: epoch {outbox.epoch}, {outbox.pending()} events waiting)')

    def _declare(self, robot_id: str) -> AgentParams:
        return declare_params(self, AgentParams(robot_id=robot_id) if robot_id
                              else AgentParams)

    def _open_outbox(self) -> Outbox:
        p = self.params
        if p.state_dir == ':memory:':
            path = ':memory:'
        else:
            path = os.path.join(p.state_dir or default_state_dir(self.robot_id), 'outbox.db')
        try:
            return Outbox(path, p.outbox_max_events, p.outbox_max_age, p.outbox_sync.value,
                          clock=self._now)
        except OutboxError as exc:
            raise ValueError(f'parameter state_dir: {exc}') from None

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _health_sample(self) -> HealthSample:
        return HealthSample(self.link.manager_present(), self.link.outbox.pending(),
                            self.params.outbox_max_events, self._status_rate.rate(),
                            self.params.report_rate)

    def _watch_context(self) -> dict[str, Any]:
        job = self.runner.job
        return {'mission_id': job.mission_id} if job else {}

    def _busy(self) -> str:
        """Why the robot is not idle ('' when it is): a mission or the drive to its dock."""
        if self.runner.job is not None:
            return f'executing mission {self.runner.job.mission_id}'
        if self._dock_handle is not None:
            return 'driving to its dock'
        return ''

    def _healthy_since(self, since: float) -> str:
        """Why the robot is not healthy since ``since`` ('' when it is)."""
        if self._heard_at is None or self._heard_at < since:
            return 'no odometry or battery state since the install'
        if self._diag_level >= 2:
            return f'diagnostics at level {self._diag_level}'
        return ''

    def destroy_node(self) -> None:
        self.config_sync.destroy()
        self._watch.destroy()
        self.runner.destroy()
        self.link.destroy()
        super().destroy_node()

    # -- the robot's graph -------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        q = msg.pose.pose.orientation
        self._pose = (msg.pose.pose.position.x, msg.pose.pose.position.y,
                      yaw_from_quaternion(q.x, q.y, q.z, q.w))
        self._heard = True
        self._heard_at = self._now()

    def _on_battery(self, msg: BatteryState) -> None:
        level = float(msg.percentage)
        self._battery = None if math.isnan(level) else min(1.0, max(0.0, level))
        self._charging = msg.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_CHARGING
        self._heard = True
        self._heard_at = self._now()
        crossing = self._battery_watch.update(self._battery)
        if crossing is not None:
            severity = {'battery_low': 1, 'battery_critical': 3, 'battery_ok': 0}[crossing]
            self.emit(crossing, severity, f'battery at {level:.0%}', {'battery': level})

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        levels = [int.from_bytes(s.level, 'little') if isinstance(s.level, bytes)
                  else int(s.level) for s in msg.status]
        worst = max(levels, default=0)
        previous, self._diag_level = self._diag_level, worst
        if worst != previous:
            names = [s.name for s, level in zip(msg.status, levels) if level == worst]
            self.emit('diagnostics_level', min(worst, 3),
                      f'diagnostics level {previous} -> {worst}',
                      {'from': previous, 'to': worst, 'components': names})

    # -- reporting ---------------------------------------------------------------------------
    def _report(self) -> None:
        # The job is read before the outbox's last seq (in publish_status): an event
        # written in between only makes the status name a later seq, never an earlier one.
        job = self.runner.job
        navigating = job is not None or self._dock_handle is not None
        mode: int = derive_mode(self._diag_level, navigating, self._charging, self._heard)
        if job is not None and job.paused and int(mode) != 4:
            mode = MODE_PAUSED
        x, y, theta = self._pose
        self._seq += 1
        msg = RobotStatus(
            robot_id=self.robot_id, seq=self._seq, stamp=self.get_clock().now().to_msg(),
            software_version=self.config_sync.software_version, mode=int(mode),
            battery=float('nan') if self._battery is None else self._battery,
            pose=Pose2D(x=x, y=y, theta=theta, frame_id=self.params.frame_id),
            diagnostics_level=min(self._diag_level, 255),
            report_period=1.0 / self.params.report_rate)
        if job is not None:
            msg.current_mission_id, msg.current_attempt = job.mission_id, job.attempt
            msg.mission_progress = job.progress
            msg.distance_remaining = job.distance_remaining
            msg.waypoint_index = job.waypoint_index
            msg.number_of_recoveries = job.recoveries
        self.link.publish_status(msg)
        self._status_rate.tick()

    def emit(self, type_: str, severity: int, message: str, data: dict[str, Any]) -> None:
        """Report a robot event (written to the outbox, then sent)."""
        self.link.emit(type_, severity, message, data, self._now())

    # -- commands from the manager -----------------------------------------------------------
    def _on_command(self, msg: RobotCommand) -> None:
        command = msg.command
        try:
            args = json.loads(msg.args_json) if msg.args_json else {}
        except ValueError:
            args = None
        if not isinstance(args, dict):
            self.get_logger().warning(f'command {msg.id} ({command}): args_json is not an '
                                      'object; ignored')
            return
        if command in (RobotCommand.CONFIGURE, RobotCommand.SET_PARAMETERS,
                       RobotCommand.INSTALL):
            self._config_command(msg, command, args)
            return
        if command == RobotCommand.EXECUTE_MISSION and self.config_sync.installing:
            self.emit('mission.refused', 1, f'mission {msg.mission_id} refused: installing '
                      'software', {'mission_id': msg.mission_id, 'attempt': int(msg.attempt),
                                   'reason': 'installing software',
                                   'error_code': RobotEvent.MISSION_BUSY})
            return
        if command == RobotCommand.EXECUTE_MISSION:
            points = [Point(w.x, w.y, w.theta, w.frame_id or self.params.frame_id, w.dwell)
                      for w in msg.waypoints]
            self._cancel_dock()
            self.runner.start(msg.mission_id, int(msg.attempt), points)
            return
        if command == RobotCommand.CANCEL_MISSION:
            if self.runner.cancel(msg.mission_id, int(msg.attempt), str(args.get('reason', ''))):
                self.emit('command', 0, f'command {command}', {
                    'command': command, 'command_id': int(msg.id),
                    'args': {**args, 'mission_id': msg.mission_id, 'attempt': msg.attempt}})
            return
        handlers = {RobotCommand.PAUSE: self._pause, RobotCommand.RESUME: self._resume,
                    RobotCommand.RETURN_TO_DOCK: self._return_to_dock}
        handler = handlers.get(command)
        if handler is None:
            self.get_logger().warning(f'command {msg.id}: unknown command {command!r}')
            return
        error = handler(args)
        data = {'command': command, 'args': args, 'command_id': int(msg.id)}
        if error:
            self.emit('command_refused', 1, f'command {command} refused: {error}',
                      {**data, 'reason': error})
        else:
            self.emit('command', 0, f'command {command}', data)

    def _config_command(self, msg: RobotCommand, command: str, args: dict[str, Any]) -> None:
        """configure, set_parameters, install: see fleet_agent.config_sync."""
        sync = self.config_sync
        if command == RobotCommand.CONFIGURE:
            error = sync.configure(args)
            if error:
                self.emit('command_refused', 1, f'command {command} refused: {error}',
                          {'command': command, 'command_id': int(msg.id), 'reason': error})
        elif command == RobotCommand.SET_PARAMETERS:
            sync.set_parameters(args)
        else:
            sync.install(args)

    def _pause(self, args: dict[str, Any]) -> str:
        self.runner.pause()
        return ''

    def _resume(self, args: dict[str, Any]) -> str:
        self.runner.resume()
        return ''

    def _return_to_dock(self, args: dict[str, Any]) -> str:
        try:
            x, y = float(args['x']), float(args['y'])
            theta = float(args.get('theta', 0.0))
        except (KeyError, TypeError, ValueError):
            return 'return_to_dock needs numeric x and y'
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(theta)):
            return 'return_to_dock: x, y and theta must be finite'
        if self.runner.job is not None:
            return f'executing mission {self.runner.job.mission_id}; cancel it first'
        if not self._dock_client.server_is_ready():
            return 'Nav2 is not available'
        goal = NavigateToPose.Goal(pose=self.runner.pose_stamped(Point(x, y, theta)))
        self._dock_client.send_goal_async(goal).add_done_callback(self._on_dock_goal)
        return ''

    def _cancel_dock(self) -> None:
        if self._dock_handle is not None:
            self._dock_handle.cancel_goal_async()
            self._dock_handle = None

    def _on_dock_goal(self, future: Any) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            return
        self._dock_handle = handle
        handle.get_result_async().add_done_callback(self._on_dock_result)

    def _on_dock_result(self, future: Any) -> None:
        self._dock_handle = None
        wrapped = future.result()
        ok = wrapped is not None and wrapped.status == GoalStatus.STATUS_SUCCEEDED
        self.emit('docked' if ok else 'dock_failed', 0 if ok else 1,
                  'reached the dock' if ok else 'could not reach the dock', {})


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog='fleet_agent',
        description='The fleet agent of one robot: adapts its Nav2, odometry, battery and '
                    'diagnostics to the fleet, and keeps its events in a durable outbox '
                    'until the manager acknowledges them. Run it in the robot\'s namespace, '
                    'e.g. fleet_agent --ros-args -r __ns:=/robot1 -p software_version:=1.2.0 '
                    '-p state_dir:=/var/lib/fleet_agent.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='ROS parameters (also in config/params.yaml, section /**/fleet_agent):\n'
               + help_text(AgentParams) + '\n' + help_text(Nav2WatchConfig, 'nav2_watch.'))


def main(args: list[str] | None = None) -> None:
    """Run one agent (namespace and robot_id from --ros-args) until Ctrl-C or SIGTERM."""
    argv = args if args is not None else sys.argv
    build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    raise SystemExit(run_nodes(lambda: [FleetAgent()], argv))


if __name__ == '__main__':
    main()
