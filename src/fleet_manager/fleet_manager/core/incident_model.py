"""Plain data shared by the rule engine, the incident book and the escalator.

``FleetFact`` is one discrete thing that happened to a robot (a Nav2 recovery, an abort, a
connectivity change, a mission outcome); ``Telemetry`` is a robot's latest sampled state.
Both carry the robot's area, group and site so rules can be scoped without a lookup, and
both carry their time, taken from the manager's clock by whoever builds them, so nothing
here reads a clock.

``Severity`` (:mod:`fleet_manager.core.severity`) is re-exported here for the modules that
take it together with the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
import math
from typing import Any

from fleet_manager.core.model import NewEvent, Pose, RobotEventReport, RobotRecord
from fleet_manager.core.severity import Severity

__all__ = [
    'Action', 'Command', 'CommandAction', 'EscalateAction', 'FleetFact', 'NotifyAction',
    'OpenIncidentAction', 'Severity', 'TELEMETRY_FIELDS', 'Telemetry',
]


class Command(str, enum.Enum):
    """A remote command a rule may send to a robot's agent (RobotCommand.srv ``command``)."""

    PAUSE = 'pause'
    """Stop in place and hold the current mission, so an operator can look before it moves."""
    RESUME = 'resume'
    """Continue a paused mission."""
    RETURN_TO_DOCK = 'return_to_dock'
    """Abandon the current work and drive to the robot's dock to charge."""
    CANCEL_MISSION = 'cancel_mission'
    """Cancel the current mission; the robot becomes idle where it is."""


@dataclass(frozen=True)
class FleetFact:
    """One discrete fact about a robot, as the rule engine sees it.

    ``kind`` is the agent's event type (``recovery_started``, ``nav_aborted``, ...) or a
    manager event kind (``robot.connectivity``, ``mission.state``); ``time`` is seconds since
    the epoch on the manager's clock; ``data`` holds the kind-specific details.
    """

    kind: str
    robot_id: str
    time: float
    data: dict[str, Any] = field(default_factory=dict)
    area: str | None = None
    group: str | None = None
    site: str | None = None
    mission_id: str | None = None
    pose: Pose | None = None
    severity: int = 0
    message: str = ''

    @classmethod
    def from_event_report(cls, report: RobotEventReport, *, time: float,
                          area: str | None = None, group: str | None = None,
                          site: str | None = None, mission_id: str | None = None,
                          pose: Pose | None = None) -> 'FleetFact':
        """Build a fact from an agent's event, received at ``time`` (manager clock)."""
        return cls(kind=report.type, robot_id=report.robot_id, time=time,
                   data=dict(report.data), area=area, group=group, site=site,
                   mission_id=mission_id or report.data.get('mission_id') or None,
                   pose=pose, severity=report.severity, message=report.message)

    @classmethod
    def from_new_event(cls, event: NewEvent, *, time: float, area: str | None = None,
                       group: str | None = None, site: str | None = None,
                       pose: Pose | None = None) -> 'FleetFact':
        """Build a fact from a manager event (e.g. the registry's ``robot.connectivity``)."""
        return cls(kind=event.kind, robot_id=event.robot_id, time=time,
                   data=dict(event.payload), area=area, group=group, site=site,
                   mission_id=event.mission_id or None, pose=pose)


# Telemetry fields a threshold trigger may watch; ``extra.<name>`` reaches Telemetry.extra.
TELEMETRY_FIELDS = ('battery', 'diagnostics_level')


@dataclass(frozen=True)
class Telemetry:
    """A robot's sampled state at ``time`` (manager clock), as threshold triggers see it.

    ``battery`` is the state of charge 0..1 or None when unknown; ``on_mission`` is True while
    the robot executes a mission; ``connectivity`` is ``online``/``stale``/``offline``.
    """

    robot_id: str
    time: float
    battery: float | None = None
    mode: str = 'unknown'
    on_mission: bool = False
    mission_id: str | None = None
    connectivity: str = 'online'
    diagnostics_level: int = 0
    area: str | None = None
    group: str | None = None
    site: str | None = None
    pose: Pose | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: RobotRecord, *, time: float, area: str | None = None,
                    site: str | None = None) -> 'Telemetry':
        """Build telemetry from a registry record sampled at ``time``."""
        battery = record.battery
        if battery is not None and math.isnan(battery):
            battery = None
        return cls(robot_id=record.robot_id, time=time, battery=battery,
                   mode=record.mode.label, on_mission=bool(record.current_mission_id),
                   mission_id=record.current_mission_id or None,
                   connectivity=record.connectivity.value,
                   diagnostics_level=record.diagnostics_level, area=area,
                   group=record.group or None, site=site, pose=record.pose)

    def value(self, name: str) -> float | None:
        """Return the numeric field ``name`` (see TELEMETRY_FIELDS), or None when unknown."""
        if name.startswith('extra.'):
            raw: Any = self.extra.get(name[len('extra.'):])
        else:
            raw = getattr(self, name)
        if raw is None or isinstance(raw, bool):
            return None
        value = float(raw)
        return None if math.isnan(value) else value


# -- actions -----------------------------------------------------------------------------
# What the rule engine asks the caller to do. They live here, not in rules.py, so the
# incident book and the escalator can take them without importing the rule engine.


@dataclass(frozen=True, kw_only=True)
class Action:
    """Something a rule asks the caller to do, with what made the rule fire.

    ``rule`` names the rule, ``time`` is the firing time (the fact's), ``fact`` the fact that
    completed the trigger and ``reason`` a one-line human explanation.
    """

    rule: str
    robot_id: str
    time: float
    fact: FleetFact
    reason: str


@dataclass(frozen=True, kw_only=True)
class OpenIncidentAction(Action):
    """Open (or, when a matching one is open, update) an incident; see IncidentBook.observe.

    ``policy`` names the escalation policy, '' for none.
    """

    type: str
    severity: Severity
    policy: str = ''
    title: str = ''


@dataclass(frozen=True, kw_only=True)
class NotifyAction(Action):
    """Send ``message`` to the configured channel ``channel`` once (no escalation)."""

    channel: str
    message: str


@dataclass(frozen=True, kw_only=True)
class CommandAction(Action):
    """Send ``command`` (with ``args``) to the robot ``robot_id``."""

    command: Command
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EscalateAction(Action):
    """Escalate now instead of waiting for the level's timeout.

    Applies to the incident the same rule opened or updated, or else to the robot's open
    incidents (of ``incident_type`` when set). ``policy`` switches the incident to another
    escalation policy first; '' keeps its own.
    """

    policy: str = ''
    incident_type: str = ''
