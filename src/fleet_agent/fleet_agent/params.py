"""The agent's ROS parameters: each described once, here, and read into a frozen dataclass.

Every field carries its default, description, unit and range
(:func:`fleet_common.params.param`); the descriptors, the ``/**/fleet_agent`` section of
``fleet_bringup/config/params.yaml`` and the ``--help`` text are all generated from it. After
changing a field, regenerate the file (``test_params`` fails until then)::

    python -m fleet_common.params src/fleet_bringup/config/params.yaml \\
        fleet_manager=fleet_manager.params:ManagerParams \\
        /**/fleet_agent=fleet_agent.params:AgentParams \\
        /**/fleet_agent:nav2_watch.=fleet_agent.nav2_watch:Nav2WatchConfig
"""

from __future__ import annotations

from dataclasses import dataclass
import enum

from fleet_common.params import param

__all__ = ['AgentParams', 'OutboxSync']

DAY_S = 86400.0


class OutboxSync(str, enum.Enum):
    """How durably the outbox writes each event."""

    FULL = 'full'
    """Every event is on disk before it is sent: it survives a power loss."""
    NORMAL = 'normal'
    """Every event survives a crash of the agent, not of the machine (faster)."""


@dataclass(frozen=True)
class AgentParams:
    """Everything the agent is configured with."""

    robot_id: str = param(
        '', 'Robot id reported to the fleet; empty uses the node namespace.')
    software_version: str = param(
        '0.0.0', 'Software version of the robot, reported in every status.')
    report_rate: float = param(
        1.0, 'Status reports per second.', unit='Hz', bounds=(0.01, 100.0))
    odom_topic: str = param('odom', 'nav_msgs/Odometry topic of the robot.')
    battery_topic: str = param('battery_state', 'sensor_msgs/BatteryState topic of the robot.')
    diagnostics_topic: str = param(
        'diagnostics', 'diagnostic_msgs/DiagnosticArray topic of the robot.')
    status_topic: str = param(
        '/fleet/robot_status', 'Topic the agent publishes fleet_msgs/RobotStatus on.')
    events_topic: str = param(
        '/fleet/robot_events', 'Topic the agent publishes fleet_msgs/RobotEvent on.')
    commands_topic: str = param(
        '/fleet/robot_commands', 'Topic the manager sends fleet_msgs/RobotCommand on.')
    acks_topic: str = param(
        '/fleet/robot_acks', 'Topic the manager acknowledges events on (fleet_msgs/RobotAcks).')
    state_dir: str = param(
        '', 'Directory of the durable outbox (outbox.db); empty uses '
        '$ROS_HOME/fleet_agent/<robot_id> (ROS_HOME defaults to ~/.ros); :memory: keeps it in '
        'memory only (lost on restart).')
    outbox_max_events: int = param(
        100_000, 'Most events kept for the manager; beyond it the oldest are replaced by one '
        'link.dropped notice.', unit='events', bounds=(2, 100_000_000))
    outbox_max_age: float = param(
        7 * DAY_S, 'Time an unacknowledged event is kept before it is dropped (with a '
        'link.dropped notice).', unit='s', bounds=(1.0, 366 * DAY_S))
    outbox_sync: OutboxSync = param(
        OutboxSync.FULL, 'full: every event is on disk before it is sent (survives power '
        'loss); normal: survives a crash of the agent, not of the machine.')
    send_window: int = param(
        100, 'Unacknowledged events in flight at most (paces replays after an outage).',
        unit='events', bounds=(1, 100_000))
    resend_after: float = param(
        1.0, 'Time without an acknowledgement before the window is sent again (doubling up '
        'to 10 s).', unit='s', bounds=(0.05, 60.0))
    navigate_to_pose_action: str = param(
        'navigate_to_pose', 'Nav2 NavigateToPose action name.')
    navigate_through_poses_action: str = param(
        'navigate_through_poses', 'Nav2 NavigateThroughPoses action name.')
    nav_server_timeout: float = param(
        5.0, 'Time to wait for a Nav2 action server before failing a goal.', unit='s',
        bounds=(0.1, 600.0))
    battery_low: float = param(
        0.2, 'State of charge below which a battery_low event is sent.', unit='fraction',
        bounds=(0.0, 1.0))
    battery_critical: float = param(
        0.1, 'State of charge below which a battery_critical event is sent.',
        unit='fraction', bounds=(0.0, 1.0))
    frame_id: str = param('map', 'Frame of reported poses and of Nav2 goals.')
    config_check_period: float = param(
        5.0, 'Time between reads of the declared parameters of the managed nodes (through '
        'their parameter services) for drift reports.', unit='s', bounds=(0.1, 3600.0))
    version_source: str = param(
        '', "node:parameter (relative to the robot namespace, e.g. sim:software_version) "
        "read through that node's parameter service as the software version; empty reports "
        'software_version, updated by successful installs.')
    installer_command: str = param(
        '', 'Command line run to install a release (no shell; {version}, {artifact}, '
        '{robot_id}, {python} are filled in), e.g. "/usr/local/bin/robot-update {artifact}"; '
        'exit code 0 means installed. Empty refuses installs.')
    installer_timeout: float = param(
        900.0, 'Time the installer may run before it is killed and the install fails.',
        unit='s', bounds=(1.0, DAY_S))
    install_verify_timeout: float = param(
        60.0, 'Time after the installer exits for the robot to report the new version and be '
        'healthy (odometry, no diagnostics error).', unit='s', bounds=(0.1, 3600.0))
