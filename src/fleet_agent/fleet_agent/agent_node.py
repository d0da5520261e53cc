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
from dataclasses import dataclass, fields
from typing import Any

import rclpy
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray
from fleet_msgs.msg import Pose2D, RobotCommand, RobotEvent, RobotStatus
from nav2_msgs.action import NavigateToPose
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import BatteryState

from fleet_common.ros import run_nodes
from fleet_agent.config_sync import ConfigSync, SyncParams
from fleet_agent.core import BatteryWatch, Point, SendWindow, derive_mode
from fleet_agent.core import yaw_from_quaternion
from fleet_agent.health import AgentHealth, HealthSample, RateMeter
from fleet_agent.link import FleetLink
from fleet_agent.missions import MissionRunner
from fleet_agent.nav2_watch import Nav2Watch, declare_watch_parameters
from fleet_agent.outbox import Outbox, OutboxError

MODE_PAUSED = 5  # RobotStatus.MODE_PAUSED


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
    commands_topic: str = '/fleet/robot_commands'
    acks_topic: str = '/fleet/robot_acks'
    state_dir: str = ''  # outbox directory; empty: $ROS_HOME/fleet_agent/<robot_id>
    outbox_max_events: int = 100_000  # events kept for the manager at most
    outbox_max_age: float = 7 * 86400.0  # s an unacknowledged event is kept at most
    outbox_sync: str = 'full'  # full: each event reaches the disk; normal: survives crashes
    send_window: int = 100  # unacknowledged events in flight at most
    resend_after: float = 1.0  # s without an acknowledgement before resending
    navigate_to_pose_action: str = 'navigate_to_pose'
    navigate_through_poses_action: str = 'navigate_through_poses'
    nav_server_timeout: float = 5.0  # s to wait for Nav2's action server per goal
    battery_low: float = 0.2  # 0..1
    battery_critical: float = 0.1  # 0..1
    frame_id: str = 'map'  # frame of the poses the agent reports and sends to Nav2
    config_check_period: float = 5.0  # s between reads of the managed nodes' parameters
    version_source: str = ''  # node:parameter holding the software version; empty: own
    installer_command: str = ''  # command line of the installer; empty: no installs
    installer_timeout: float = 900.0  # s the installer may run before it is killed
    install_verify_timeout: float = 60.0  # s for the robot to come back healthy on it


_DESCRIPTIONS = {
    'robot_id': 'Robot id reported to the fleet; empty uses the node namespace.',
    'software_version': 'Software version of the robot, reported in every status.',
    'report_rate': 'Status reports per second (Hz).',
    'odom_topic': 'nav_msgs/Odometry topic of the robot.',
    'battery_topic': 'sensor_msgs/BatteryState topic of the robot.',
    'diagnostics_topic': 'diagnostic_msgs/DiagnosticArray topic of the robot.',
    'status_topic': 'Topic the agent publishes fleet_msgs/RobotStatus on.',
    'events_topic': 'Topic the agent publishes fleet_msgs/RobotEvent on.',
    'commands_topic': 'Topic the manager sends fleet_msgs/RobotCommand on.',
    'acks_topic': 'Topic the manager acknowledges events on (fleet_msgs/RobotAcks).',
    'state_dir': 'Directory of the durable outbox (outbox.db); empty uses '
                 '$ROS_HOME/fleet_agent/<robot_id> (ROS_HOME defaults to ~/.ros); '
                 ':memory: keeps it in memory only (lost on restart).',
    'outbox_max_events': 'Most events kept for the manager; beyond it the oldest are '
                         'replaced by one link.dropped notice.',
    'outbox_max_age': 'Seconds an unacknowledged event is kept before it is dropped (with a '
                      'link.dropped notice).',
    'outbox_sync': 'full: every event is on disk before it is sent (survives power loss); '
                   'normal: survives a crash of the agent, not of the machine.',
    'send_window': 'Unacknowledged events in flight at most (paces replays after an '
                   'outage).',
    'resend_after': 'Seconds without an acknowledgement before the window is sent again '
                    '(doubling up to 10 s).',
    'navigate_to_pose_action': 'Nav2 NavigateToPose action name.',
    'navigate_through_poses_action': 'Nav2 NavigateThroughPoses action name.',
    'nav_server_timeout': 'Seconds to wait for a Nav2 action server before failing a goal.',
    'battery_low': 'State of charge (0..1) below which a battery_low event is sent.',
    'battery_critical': 'State of charge (0..1) below which a battery_critical event is sent.',
    'frame_id': 'Frame of reported poses and of Nav2 goals.',
    'config_check_period': 'Seconds between reads of the declared parameters of the managed '
                           'nodes (through their parameter services) for drift reports.',
    'version_source': 'node:parameter (relative to the robot namespace, e.g. '
                      'sim:software_version) read through that node\'s parameter service as '
                      'the software version; empty reports software_version, updated by '
                      'successful installs.',
    'installer_command': 'Command line run to install a release (no shell; {version}, '
                         '{artifact}, {robot_id}, {python} are filled in), e.g. '
                         '"/usr/local/bin/robot-update {artifact}"; exit code 0 means '
                         'installed. Empty refuses installs.',
    'installer_timeout': 'Seconds the installer may run before it is killed and the install '
                         'fails.',
    'install_verify_timeout': 'Seconds after the installer exits for the robot to report the '
                              'new version and be healthy (odometry, no diagnostics error).',
}
_RANGES: dict[str, tuple[float, float]] = {
    'report_rate': (0.01, 100.0), 'nav_server_timeout': (0.1, 600.0),
    'battery_low': (0.0, 1.0), 'battery_critical': (0.0, 1.0),
    'outbox_max_events': (2, 100_000_000), 'outbox_max_age': (1.0, 366 * 86400.0),
    'send_window': (1, 100_000), 'resend_after': (0.05, 60.0),
    'config_check_period': (0.1, 3600.0), 'installer_timeout': (1.0, 86400.0),
    'install_verify_timeout': (0.1, 3600.0)}


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
        if p.outbox_sync not in ('full', 'normal'):
            raise ValueError(f'parameter outbox_sync: must be full or normal, not '
                             f'{p.outbox_sync!r}')
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
        for f in fields(AgentParams):
            desc = ParameterDescriptor(description=_DESCRIPTIONS[f.name])
            if f.name in _RANGES:
                lo, hi = _RANGES[f.name]
                if isinstance(f.default, float):
                    desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi)]
                else:
                    desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi),
                                                       step=1)]
            default = robot_id if f.name == 'robot_id' and robot_id else f.default
            self.declare_parameter(f.name, default, desc)
        return AgentParams(**{f.name: self.get_parameter(f.name).value
                              for f in fields(AgentParams)})

    def _open_outbox(self) -> Outbox:
        p = self.params
        if p.state_dir == ':memory:':
            path = ':memory:'
        else:
            path = os.path.join(p.state_dir or default_state_dir(self.robot_id), 'outbox.db')
        try:
            return Outbox(path, p.outbox_max_events, p.outbox_max_age, p.outbox_sync,
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
                    '-p state_dir:=/var/lib/fleet_agent; parameters are listed in '
                    'config/params.yaml (section fleet_agent).')


def main(args: list[str] | None = None) -> None:
    """Run one agent (namespace and robot_id from --ros-args) until Ctrl-C or SIGTERM."""
    argv = args if args is not None else sys.argv
    build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    raise SystemExit(run_nodes(lambda: [FleetAgent()], argv))


if __name__ == '__main__':
    main()
