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
    assignment_policy: str = 'greedy_nearest'  # registered assignment policy name
    battery_floor: float = 0.2  # 0..1; below it a robot takes no mission and goes to its dock
    max_attempts: int = 3  # attempts per mission before it fails
    offline_grace: float = 10.0  # s a robot may be out of reach before its mission is requeued
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
    'assignment_policy': ('Name of the registered assignment policy.', None),
    'battery_floor': ('State of charge (0..1) below which a robot takes no mission and is '
                      'sent to its dock.', (0.0, 1.0)),
    'max_attempts': ('Attempts per mission (on different robots where possible) before it '
                     'fails.', (1, 100)),
    'offline_grace': ('Seconds a robot with a mission may be out of reach before the mission '
                      'returns to the queue.', (0.0, 86400.0)),
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
