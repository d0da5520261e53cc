"""The manager's ROS parameters: declared once, read into a frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


@dataclass(frozen=True)
class ManagerParams:
    """Everything the manager is configured with (units in the field comments)."""

    fleet_config: str = ''  # path to fleet.yaml; empty means the installed default
    database: str = 'fleet.db'  # path of the SQLite fleet store
    report_period: float = 1.0  # s, default agent report period for connectivity timeouts
    stale_after_periods: float = 3.0  # report periods without status before "stale"
    offline_after_periods: float = 10.0  # report periods without status before "offline"
    accept_unknown_robots: bool = True  # register robots that report but are not in fleet.yaml
    tick_period: float = 0.2  # s between timeout/assignment checks
    summary_period: float = 1.0  # s between fleet/summary messages
    robot_flush_period: float = 2.0  # s between saves of the registry's latest poses
    status_topic: str = '/fleet/robot_status'  # where agents publish RobotStatus
    robot_events_topic: str = '/fleet/robot_events'  # where agents publish RobotEvent
    robot_commands_topic: str = '/fleet/robot_commands'  # where the manager sends commands
    robot_acks_topic: str = '/fleet/robot_acks'  # where the manager acknowledges events
    ingest_period: float = 0.05  # s between batches of received statuses and events
    max_events_per_batch: int = 2000  # robot events applied per batch at most
    max_seq_jump: int = 1_000_000  # seqs ahead of the committed one still held back
    max_clock_skew: float = 86400.0  # s an agent's epoch may lie in the manager's future
    store_sync: str = 'full'  # full (durable across power loss) or normal (across crashes)
    assignment_policy: str = 'greedy_nearest'  # registered assignment policy name
    battery_floor: float = 0.2  # 0..1; below it a robot takes no mission and goes to its dock
    max_attempts: int = 3  # attempts per mission before it fails
    robot_lost_after: float = 300.0  # s out of reach before a robot's mission is requeued
    dispatch_retry: float = 2.0  # s between resends of a mission the robot has not taken
    dispatch_timeout: float = 30.0  # s an online robot may leave its mission untaken
    mission_memory: float = 3600.0  # s finished missions stay in memory (always in the store)
    restore_grace: float = 10.0  # s after a restart before robots and missions can time out
    events_page_limit: int = 1000  # most events one fleet/get_events call returns
    slo_config: str = ''  # path to slos.yaml; empty means slos.yaml beside fleet_config
    workflows_config: str = ''  # path to workflows.yaml; empty: beside fleet_config
    bag_directory: str = ''  # where snapshot bags go; empty: <database dir>/bags
    bag_seconds: float = 60.0  # s of robot history in each incident's snapshot bag
    telemetry_period: float = 5.0  # s between stored telemetry samples per robot
    telemetry_retention: float = 7 * 24 * 3600.0  # s of telemetry history kept


_DESCRIPTIONS: dict[str, tuple[str, Any]] = {
    'fleet_config': ('Path of the fleet definition YAML (robots, capabilities, docks, areas); '
                     'empty uses the installed config/fleet.yaml.', None),
    'database': ('Path of the SQLite fleet store (registry, missions, event log).', None),
    'report_period': ('Default agent report period in seconds, used for connectivity '
                      'timeouts until a robot reports its own.', (0.01, 3600.0)),
    'stale_after_periods': ('Report periods without a status before a robot is stale.',
                            (1.0, 1000.0)),
    'offline_after_periods': ('Report periods without a status before a robot is offline.',
                              (1.0, 10000.0)),
    'accept_unknown_robots': ('Register robots that report but are not listed in the fleet '
                              'definition (they get robot_defaults).', None),
    'tick_period': ('Seconds between connectivity/timeout checks and assignment rounds.',
                    (0.01, 60.0)),
    'summary_period': ('Seconds between fleet/summary messages.', (0.05, 3600.0)),
    'robot_flush_period': ('Seconds between saves of robots\' latest status to the store.',
                           (0.1, 3600.0)),
    'status_topic': ('Topic on which agents publish fleet_msgs/RobotStatus.', None),
    'robot_events_topic': ('Topic on which agents publish fleet_msgs/RobotEvent.', None),
    'robot_commands_topic': ('Topic on which the manager sends fleet_msgs/RobotCommand to '
                             'the agents.', None),
    'robot_acks_topic': ('Topic on which the manager acknowledges robot events '
                         '(fleet_msgs/RobotAcks).', None),
    'ingest_period': ('Seconds between batches of received statuses and robot events.',
                      (0.005, 10.0)),
    'max_events_per_batch': ('Most robot events applied in one batch; the rest wait for the '
                             'next (agents pace their resends on the acknowledgements).',
                             (1, 1_000_000)),
    'max_seq_jump': ('Largest distance ahead of the committed seq at which a robot event is '
                     'held back (resent in order later) rather than rejected.',
                     (1, 2**62)),
    'max_clock_skew': ('Seconds an agent\'s outbox epoch (its creation time) may lie in the '
                       'manager\'s future before its events are rejected.', (1.0, 10 * 86400.0)),
    'store_sync': ('Durability of each commit: full (reaches the disk before robots are '
                   'acknowledged; survives power loss) or normal (survives a crash of the '
                   'manager, not of the machine).', None),
    'assignment_policy': ('Name of the registered assignment policy.', None),
    'battery_floor': ('State of charge (0..1) below which a robot takes no mission and is '
                      'sent to its dock.', (0.0, 1.0)),
    'max_attempts': ('Attempts per mission (on different robots where possible) before it '
                     'fails.', (1, 100)),
    'robot_lost_after': ('Seconds a robot with a mission may be out of reach (it may still be '
                         'executing it) before the mission returns to the queue with the '
                         'next attempt number; a robot that comes back later with the old '
                         'attempt is told to stop and its outcome is only recorded.',
                         (0.0, 7 * 86400.0)),
    'dispatch_retry': ('Seconds between resends of an assigned mission its robot has not '
                       'taken yet.', (0.1, 3600.0)),
    'dispatch_timeout': ('Seconds an online robot that reports no mission (with all its '
                         'events committed) may leave an assigned mission untaken before '
                         'the attempt fails.', (1.0, 86400.0)),
    'mission_memory': ('Seconds a finished mission stays in the manager\'s memory; older ones '
                       'are read from the store.', (0.0, 30 * 86400.0)),
    'restore_grace': ('Seconds after configure (a restart) before restored robots can go '
                      'stale and in-flight missions can be requeued: time for discovery and '
                      'for the agents\' buffered events.', (0.0, 3600.0)),
    'events_page_limit': ('Most events one fleet/get_events call returns.', (1, 100000)),
    'slo_config': ('Path of the SLO definitions YAML; empty uses slos.yaml beside the fleet '
                   'definition (none there: no SLOs).', None),
    'workflows_config': ('Path of the incident workflows YAML (rules, escalation); empty uses '
                         'workflows.yaml beside the fleet definition.', None),
    'bag_directory': ('Directory of incident snapshot bags (MCAP); empty uses bags/ beside '
                      'the database.', None),
    'bag_seconds': ('Seconds of robot history in each incident snapshot bag.', (1.0, 3600.0)),
    'telemetry_period': ('Seconds between stored telemetry samples of one robot '
                         '(downsampling of its status reports).', (0.1, 3600.0)),
    'telemetry_retention': ('Seconds of telemetry history kept in the store.',
                            (60.0, 366 * 24 * 3600.0)),
}


def declare(node: Node) -> None:
    """Declare every manager parameter once, with its description and range."""
    for f in fields(ManagerParams):
        description, rng = _DESCRIPTIONS[f.name]
        desc = ParameterDescriptor(description=description)
        if rng is not None and isinstance(f.default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(rng[0]),
                                                            to_value=float(rng[1]))]
        elif rng is not None and isinstance(f.default, int) and not isinstance(f.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(rng[0]), to_value=int(rng[1]),
                                               step=1)]
        node.declare_parameter(f.name, f.default, desc)


def read(node: Node) -> ManagerParams:
    """Read the declared parameters into a ManagerParams."""
    values = {f.name: node.get_parameter(f.name).value for f in fields(ManagerParams)}
    return ManagerParams(**values)
