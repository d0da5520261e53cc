"""Plain data shared by the rule engine, the incident book and the escalator.

``FleetFact`` is one discrete thing that happened to a robot (a Nav2 recovery, an abort, a
connectivity change, a mission outcome); ``Telemetry`` is a robot's latest sampled state.
Both carry the robot's area, group and site so rules can be scoped without a lookup, and
both carry their time, taken from the manager's clock by whoever builds them, so nothing
here reads a clock.

``ConfigReader`` is the typed accessor the YAML loaders of this subsystem share: every
problem becomes a :class:`ConfigError` naming the file and the dotted/indexed key.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import Any

from fleet_manager.core.yaml_reader import ConfigReader  # noqa: F401  (re-exported)
from fleet_manager.core.model import NewEvent, Pose, RobotEventReport, RobotRecord

SECONDS_PER_DAY = 86400.0


class Severity(str, enum.Enum):
    """How bad an incident is; SEV0 is the worst. The value is the label used in YAML/JSON."""

    SEV0 = 'SEV0'
    """Safety or site-wide impact: people may be at risk or the whole fleet is down."""
    SEV1 = 'SEV1'
    """A robot is about to fail its work or strand itself (e.g. battery critical on a mission)."""
    SEV2 = 'SEV2'
    """A robot cannot make progress and needs a person (stuck, offline)."""
    SEV3 = 'SEV3'
    """A degraded or one-off failure worth a look during the shift (a navigation abort)."""

    @property
    def rank(self) -> int:
        """Return 0 for SEV0 .. 3 for SEV3; a lower rank is more severe."""
        return int(self.value[3:])

    @classmethod
    def parse(cls, text: str) -> 'Severity':
        """Return the severity named by ``text`` (case-insensitive); ValueError otherwise."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            raise ValueError(f'unknown severity {text!r} (expected one of: '
                             f'{", ".join(s.value for s in cls)})') from None


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


# -- time of day -------------------------------------------------------------------------

_HHMM = re.compile(r'^([01]\d|2[0-4]):([0-5]\d)$')
_OFFSET = re.compile(r'^(?:UTC)?([+-])(\d{1,2}):?(\d{2})$')


@dataclass(frozen=True)
class TimeWindow:
    """A daily window ``[start, end)`` in minutes of the local day; may cross midnight.

    ``start > end`` means the window crosses midnight (``22:00-06:00``); ``end`` may be 1440
    (``24:00``). An empty window (start == end) is rejected by :func:`parse_time_window`.
    """

    start: int
    end: int
    text: str = ''

    @property
    def crosses_midnight(self) -> bool:
        """Return True when the window ends on the next day."""
        return self.start > self.end

    def contains(self, local_seconds: float) -> bool:
        """Return True when ``local_seconds`` (local time since the epoch) is inside."""
        minute = (local_seconds % SECONDS_PER_DAY) / 60.0
        if self.crosses_midnight:
            return minute >= self.start or minute < self.end
        return self.start <= minute < self.end

    def start_day(self, local_seconds: float) -> int:
        """Return the local day number (days since 1970-01-01) on which the window began.

        The after-midnight part of a window that crosses midnight belongs to the previous
        day, so a night shift keeps one on-call person from its start to its end.
        """
        day = math.floor(local_seconds / SECONDS_PER_DAY)
        minute = (local_seconds % SECONDS_PER_DAY) / 60.0
        if self.crosses_midnight and minute < self.end:
            day -= 1
        return day


def parse_time_window(text: str) -> TimeWindow:
    """Parse ``HH:MM-HH:MM``; raise ValueError with a readable reason otherwise."""
    parts = text.split('-')
    if len(parts) != 2:
        raise ValueError(f'{text!r} is not HH:MM-HH:MM')
    minutes = []
    for part in parts:
        m = _HHMM.match(part.strip())
        if m is None or (m.group(1) == '24' and m.group(2) != '00'):
            raise ValueError(f'{text!r} is not HH:MM-HH:MM ({part.strip()!r} is not a time)')
        minutes.append(int(m.group(1)) * 60 + int(m.group(2)))
    start, end = minutes
    if start == 1440:
        raise ValueError(f'{text!r} starts at 24:00; use 00:00')
    if start == end:
        raise ValueError(f'{text!r} is empty (start equals end)')
    return TimeWindow(start, end, text.strip())


def parse_utc_offset(value: Any) -> float:
    """Parse ``+01:00``/``-05:30``/``UTC``/``0``/hours as a number into seconds east of UTC."""
    if isinstance(value, bool):
        raise ValueError(f'{value!r} is not a UTC offset')
    if isinstance(value, (int, float)):
        hours = float(value)
    elif isinstance(value, str):
        text = value.strip().upper()
        if text in ('UTC', 'Z', '0', '+00:00', '-00:00'):
            return 0.0
        m = _OFFSET.match(text)
        if m is None:
            raise ValueError(f'{value!r} is not a UTC offset like +01:00')
        sign = -1.0 if m.group(1) == '-' else 1.0
        hours = sign * (int(m.group(2)) + int(m.group(3)) / 60.0)
        if int(m.group(3)) >= 60:
            raise ValueError(f'{value!r} is not a UTC offset like +01:00')
    else:
        raise ValueError(f'{value!r} is not a UTC offset like +01:00')
    if not math.isfinite(hours) or not -14.0 <= hours <= 14.0:
        # YAML 1.1 reads an unquoted 1:00 as the number 60 (base 60); say so.
        hint = "; quote it: '+01:00'" if isinstance(value, int) else ''
        raise ValueError(f'{value!r} is outside -14:00..+14:00{hint}')
    return hours * 3600.0
