"""What the incident flow remembers per robot to give an incident its context; plain Python.

:class:`RobotContext` keeps, per robot, a bounded ring of the last status samples (the
trajectory), the recent events, the last diagnostics event, the software version and the
last registry record, plus the recent configuration changes of the site, and takes the
snapshot stored on a new incident (:meth:`RobotContext.snapshot`).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
import math
from typing import Any, Mapping

from fleet_manager.core.config import FleetConfig
from fleet_manager.core.model import Pose, RobotRecord

__all__ = ['RobotContext', 'RobotMemory', 'finite_or_none', 'pose_from_data']


@dataclass
class RobotMemory:
    """What is remembered about one robot for incident context (bounded)."""

    samples: collections.deque[dict[str, Any]]
    events: collections.deque[dict[str, Any]]
    diagnostics: dict[str, Any] | None = None
    software_version: str = ''
    record: RobotRecord | None = None
    evaluated: tuple[Any, ...] | None = None
    """What the rules last saw of the robot (see IncidentFlow.on_status)."""


def finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a finite float; None for None, a bool, a non-number, NaN or inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def pose_from_data(data: Mapping[str, Any]) -> Pose | None:
    """Return the pose an event's data carries (``pose: [x, y, theta]`` or a mapping)."""
    raw = data.get('pose')
    if isinstance(raw, (list, tuple)) and len(raw) >= 2:
        values = [finite_or_none(v) for v in raw[:3]]
    elif isinstance(raw, Mapping):
        values = [finite_or_none(raw.get(k, 0.0)) for k in ('x', 'y', 'theta')]
    else:
        return None
    if any(v is None for v in values[:2]):
        return None
    theta = values[2] if len(values) > 2 and values[2] is not None else 0.0
    return Pose(float(values[0]), float(values[1]), float(theta))  # type: ignore[arg-type]


class RobotContext:
    """Per-robot memory for incident context, and the site's recent configuration changes.

    ``history`` status samples and ``recent_events`` events are kept per robot,
    ``config_changes`` configuration changes for the site; ``fleet`` maps poses to areas and
    robots to groups. Not thread-safe.
    """

    def __init__(self, fleet: FleetConfig, *, history: int = 60, recent_events: int = 20,
                 config_changes: int = 20) -> None:
        if history < 1 or recent_events < 1 or config_changes < 1:
            raise ValueError('history, recent_events and config_changes must be at least 1')
        self.fleet = fleet
        self.history = history
        self.recent_events = recent_events
        self._robots: dict[str, RobotMemory] = {}
        self.config_changes: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=config_changes)
        """Recent configuration changes (newest last); see :meth:`record_config_change`."""

    def memory(self, robot_id: str) -> RobotMemory:
        """Return the robot's memory, created empty on first use."""
        mem = self._robots.get(robot_id)
        if mem is None:
            mem = RobotMemory(collections.deque(maxlen=self.history),
                              collections.deque(maxlen=self.recent_events))
            self._robots[robot_id] = mem
        return mem

    def remember(self, robot_id: str, record: RobotRecord | None) -> RobotMemory:
        """Keep ``record`` (if not None) as the robot's last record and software version;
        return the robot's memory."""
        mem = self.memory(robot_id)
        if record is not None:
            mem.record = record
            if record.software_version:
                mem.software_version = record.software_version
        return mem

    @staticmethod
    def add_sample(mem: RobotMemory, record: RobotRecord, now: float) -> None:
        """Add a trajectory sample (time, x, y, theta, battery, mode) of a finite pose."""
        pose = record.pose
        mem.samples.append({'time': now, 'x': pose.x, 'y': pose.y, 'theta': pose.theta,
                            'battery': finite_or_none(record.battery),
                            'mode': record.mode.label})

    @staticmethod
    def add_event(mem: RobotMemory, now: float, kind: str, severity: int, message: str,
                  data: Mapping[str, Any]) -> None:
        """Add an event to the robot's recent-events ring."""
        mem.events.append({'time': now, 'kind': kind, 'severity': severity,
                           'message': message, 'data': data})

    def area(self, pose: Pose | None) -> str | None:
        """Return the fleet area containing ``pose`` (None without a pose or area)."""
        return None if pose is None else self.fleet.area_at(pose.x, pose.y)

    def group(self, robot_id: str, record: RobotRecord | None) -> str | None:
        """Return the robot's group: the record's, else the fleet definition's, else None."""
        if record is not None and record.group:
            return record.group
        return self.fleet.spec_for(robot_id).group or None

    def record_config_change(self, change: Mapping[str, Any], now: float) -> None:
        """Remember a configuration change at ``now``; the oldest beyond the bound drop out."""
        self.config_changes.append({'time': now, **dict(change)})

    def snapshot(self, robot_id: str, now: float) -> dict[str, Any]:
        """Return the context stored on a new incident (copies; later changes do not leak
        in): trajectory, last diagnostics, software version, configuration changes, recent
        events and the robot's record."""
        mem = self.memory(robot_id)
        rec = mem.record
        robot = None if rec is None else {
            'connectivity': rec.connectivity.value, 'mode': rec.mode.label,
            'battery': finite_or_none(rec.battery), 'diagnostics_level': rec.diagnostics_level,
            'current_mission_id': rec.current_mission_id, 'group': rec.group,
            'dock': rec.dock, 'last_seen': rec.last_seen}
        return {
            'captured_at': now,
            'trajectory': [dict(s) for s in mem.samples],
            'last_diagnostics': dict(mem.diagnostics) if mem.diagnostics else None,
            'software_version': mem.software_version,
            'config_changes': [dict(c) for c in self.config_changes],
            'recent_events': [dict(e) for e in mem.events],
            'robot': robot,
        }
