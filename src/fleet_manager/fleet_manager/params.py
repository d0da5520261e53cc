"""The manager's ROS parameters: each described once, here, and read into a frozen dataclass.

Every field carries its default, description, unit and range
(:func:`fleet_common.params.param`); the descriptors, the ``fleet_manager`` section of
``fleet_bringup/config/params.yaml`` and the ``--help`` text are all generated from it. After
changing a field, regenerate the file (``test_params`` fails until then)::

    python -m fleet_common.params src/fleet_bringup/config/params.yaml \\
        fleet_manager=fleet_manager.params:ManagerParams
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from rclpy.node import Node

from fleet_common.params import declare_params, param, read_params

__all__ = ['HISTORY_WINDOW_S', 'ManagerParams', 'check_event_retention', 'declare', 'read']

DAY_S = 86400.0
HISTORY_WINDOW_S = 7 * DAY_S
"""Event log history replayed at configure (SLO windows, rollout gates, incidents' config
changes) and read by the KPI report; the event retention may not be shorter."""


@dataclass(frozen=True)
class ManagerParams:
    """Everything the manager is configured with."""

    fleet_config: str = param(
        '', 'Path of the fleet definition YAML (robots, capabilities, docks, areas); empty uses '
        'the installed config/fleet.yaml.')
    database: str = param(
        'fleet.db', 'Path of the SQLite fleet store (registry, missions, event log).')
    report_period: float = param(
        1.0, 'Default agent report period, used for connectivity timeouts until a robot '
        'reports its own.', unit='s', bounds=(0.01, 3600.0))
    stale_after_periods: float = param(
        3.0, 'Report periods without a status before a robot is stale.', unit='periods',
        bounds=(1.0, 1000.0))
    offline_after_periods: float = param(
        10.0, 'Report periods without a status before a robot is offline.', unit='periods',
        bounds=(1.0, 10000.0))
    accept_unknown_robots: bool = param(
        True, 'Register robots that report but are not listed in the fleet definition (they '
        'get robot_defaults).')
    tick_period: float = param(
        0.2, 'Time between connectivity/timeout checks and assignment rounds.', unit='s',
        bounds=(0.01, 60.0))
    summary_period: float = param(
        1.0, 'Time between fleet/summary messages.', unit='s', bounds=(0.05, 3600.0))
    robot_flush_period: float = param(
        2.0, "Time between saves of robots' latest status to the store.", unit='s',
        bounds=(0.1, 3600.0))
    status_topic: str = param(
        '/fleet/robot_status', 'Topic on which agents publish fleet_msgs/RobotStatus.')
    robot_events_topic: str = param(
        '/fleet/robot_events', 'Topic on which agents publish fleet_msgs/RobotEvent.')
    robot_commands_topic: str = param(
        '/fleet/robot_commands', 'Topic on which the manager sends fleet_msgs/RobotCommand '
        'to the agents.')
    robot_acks_topic: str = param(
        '/fleet/robot_acks', 'Topic on which the manager acknowledges robot events '
        '(fleet_msgs/RobotAcks).')
    ingest_period: float = param(
        0.05, 'Time between batches of received statuses and robot events.', unit='s',
        bounds=(0.005, 10.0))
    max_statuses_per_batch: int = param(
        1000, 'Most robots whose latest status is applied in one batch; the others keep '
        'theirs for the next batch (a burst, such as a whole fleet registering, is spread '
        'over batches instead of stalling the node).', unit='robots', bounds=(1, 1_000_000))
    max_events_per_batch: int = param(
        2000, 'Most robot events applied in one batch; the rest wait for the next (agents '
        'pace their sending on the acknowledgements).', unit='events',
        bounds=(1, 1_000_000))
    max_seq_jump: int = param(
        1_000_000, 'Largest distance ahead of the committed seq at which a robot event is '
        'held back (resent in order later) rather than rejected.', unit='events',
        bounds=(1, 2**62))
    max_clock_skew: float = param(
        DAY_S, "Time an agent's outbox epoch (its creation time) may lie in the manager's "
        'future before its events are rejected.', unit='s', bounds=(1.0, 10 * DAY_S))
    store_sync: str = param(
        'full', 'Durability of each commit: full (on disk before robots are acknowledged; '
        'survives power loss) or normal (survives a crash of the manager, not of the '
        'machine).', constraints='One of: full, normal.')
    assignment_policy: str = param(
        'greedy_nearest', 'Name of the registered assignment policy.')
    battery_floor: float = param(
        0.2, 'State of charge below which a robot takes no mission and is sent to its dock.',
        unit='fraction of full charge', bounds=(0.0, 1.0))
    max_attempts: int = param(
        3, 'Attempts per mission (on different robots where possible) before it fails.',
        unit='attempts', bounds=(1, 100))
    robot_lost_after: float = param(
        300.0, 'Time a robot with a mission may be out of reach (it may still be executing '
        'it) before the mission returns to the queue with the next attempt number; a robot '
        'that comes back later with the old attempt is told to stop and its outcome is only '
        'recorded.', unit='s', bounds=(0.0, 7 * DAY_S))
    dispatch_retry: float = param(
        2.0, 'Time between resends of an assigned mission its robot has not taken yet.',
        unit='s', bounds=(0.1, 3600.0))
    dispatch_timeout: float = param(
        30.0, 'Time an online robot that reports no mission (with all its events committed) '
        'may leave an assigned mission untaken before the attempt fails.', unit='s',
        bounds=(1.0, DAY_S))
    mission_memory: float = param(
        3600.0, "Time a finished mission stays in the manager's memory; older ones are read "
        'from the store.', unit='s', bounds=(0.0, 30 * DAY_S))
    restore_grace: float = param(
        10.0, 'Time after configure (a restart) before restored robots can go stale and '
        "in-flight missions can be requeued: time for discovery and for the agents' buffered "
        'events.', unit='s', bounds=(0.0, 3600.0))
    events_page_limit: int = param(
        1000, 'Most events one fleet/get_events call returns.', unit='events',
        bounds=(1, 100000))
    slo_config: str = param(
        '', 'Path of the SLO definitions YAML; empty uses slos.yaml beside the fleet '
        'definition (none there: no SLOs).')
    workflows_config: str = param(
        '', 'Path of the incident workflows YAML (rules, escalation); empty uses '
        'workflows.yaml beside the fleet definition.')
    bag_directory: str = param(
        '', 'Directory of incident snapshot bags (MCAP); empty uses bags/ beside the '
        'database.')
    bag_seconds: float = param(
        60.0, 'Robot history in each incident snapshot bag.', unit='s', bounds=(1.0, 3600.0))
    telemetry_period: float = param(
        5.0, 'Time between stored telemetry samples of one robot (downsampling of its status '
        'reports).', unit='s', bounds=(0.1, 3600.0))
    telemetry_retention: float = param(
        7 * DAY_S, 'Telemetry history kept in the store; older samples are deleted in '
        'batches of at most 10000.', unit='s',
        bounds=(60.0, 366 * DAY_S))
    event_retention: float = param(
        90 * DAY_S, 'Event log kept in the store (audit, event history, SSE resume); older '
        'events are deleted in batches of at most 10000 (the newest manager.configured event '
        'stays). 0 keeps every event.', unit='s', bounds=(0.0, 3660 * DAY_S),
        constraints='0, or at least 7 days (the history replayed at configure) and every '
        "SLO's period_s.")
    desired_state_dir: str = param(
        '', 'Directory of desired-state YAML (groups, releases, parameter sets, rollout '
        'strategies) applied once, while the store holds no revision yet; afterwards only '
        'fleetctl apply changes the desired state. Empty: none.')
    config_resend_after: float = param(
        10.0, "Time before a robot whose agent reports another configuration than its "
        'declared one is sent it again (doubled after each send no report confirms, up to '
        '32 times as long).', unit='s', bounds=(0.1, DAY_S))
    reconcile_retry: float = param(
        30.0, 'Time between attempts to set the declared parameters on a drifted robot of a '
        'reconcile group.', unit='s', bounds=(0.1, DAY_S))
    rollout_tick_period: float = param(
        0.5, 'Time between steps of the rollout controller (installs, bakes, gates).',
        unit='s', bounds=(0.01, 60.0))


def check_event_retention(retention: float, windows: Mapping[str, float]) -> str:
    """Return why ``retention`` (s; 0 keeps every event) is too short for the longest of
    ``windows`` (what needs the event log -> seconds of history it needs), or ''."""
    if retention <= 0 or not windows:
        return ''
    name, longest = max(windows.items(), key=lambda item: item[1])
    if retention >= longest:
        return ''
    return (f'parameter event_retention: {retention:g} s is shorter than {name} '
            f'({longest:g} s, rebuilt from the event log after a restart); set at least '
            f'{longest:g}, or 0 to keep every event')


def declare(node: Node) -> None:
    """Declare every manager parameter once, with its description and range."""
    declare_params(node, ManagerParams)


def read(node: Node) -> ManagerParams:
    """Read the declared parameters into a ManagerParams."""
    return read_params(node, ManagerParams)
