"""Grouping: robots failing together become one incident, after Alertmanager's group_by.

When an alert of a grouped type opens, its *group key* is the values of the configured
``keys`` (by default site, type and robot type). If a group with that key opened within the
last ``window`` seconds and is still open, the alert joins it: the robot is added to the
group's list and no new incident (and no new page) is opened. Otherwise the alert opens a
new incident, which heads a new group. A group stays open to new members for ``window``
seconds after it opened, so a site-wide WiFi drop is one incident listing every robot.

Plain Python; the time is passed in (the caller's injected clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from fleet_manager.core.errors import ValidationError
from fleet_manager.core.silences import LABELS


@dataclass(frozen=True)
class GroupingSettings:
    """``incidents.grouping`` in workflows.yaml.

    ``window`` (s) is how long a group accepts new robots after it opened; ``keys`` the labels
    robots must share; ``types`` the incident types that group (others never do).
    """

    window: float = 60.0
    keys: tuple[str, ...] = ('site', 'type', 'robot_type')
    types: tuple[str, ...] = ('robot_offline', 'robot_stuck', 'battery_critical')
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValidationError('grouping.window', 'must be a positive number of seconds')
        if not self.keys or any(k not in LABELS for k in self.keys):
            raise ValidationError('grouping.keys', f"a non-empty list of {', '.join(LABELS)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> 'GroupingSettings':
        """Read ``incidents.grouping``; ValidationError naming the field."""
        data = data or {}
        unknown = set(data) - {'window', 'keys', 'types', 'enabled'}
        if unknown:
            raise ValidationError('grouping', f'unknown keys: {sorted(unknown)}')
        window = data.get('window', cls.window)
        if isinstance(window, bool) or not isinstance(window, (int, float)):
            raise ValidationError('grouping.window', 'must be a number of seconds')
        return cls(float(window), tuple(data.get('keys', cls.keys)),
                   tuple(data.get('types', cls.types)), bool(data.get('enabled', True)))


@dataclass
class Group:
    """One open group: the incident that heads it and the robots in it."""

    incident_id: str
    key: tuple[str, ...]
    opened_at: float
    robots: list[str] = field(default_factory=list)


@dataclass
class Grouper:
    """Decides whether a new alert joins an open group or opens a new incident."""

    settings: GroupingSettings = field(default_factory=GroupingSettings)
    _groups: dict[tuple[str, ...], Group] = field(default_factory=dict)

    def key(self, labels: Mapping[str, Any]) -> tuple[str, ...] | None:
        """Return the group key of an alert, or None when its type does not group."""
        if not self.settings.enabled or labels.get('type') not in self.settings.types:
            return None
        return tuple(str(labels.get(k) or '') for k in self.settings.keys)

    def join(self, labels: Mapping[str, Any], now: float) -> Group | None:
        """Add the alert's robot to its open group and return the group, or None.

        None means: open a new incident and call :meth:`start` with its id.
        """
        key = self.key(labels)
        group = None if key is None else self._groups.get(key)
        if group is None or now - group.opened_at > self.settings.window:
            return None
        robot = str(labels.get('robot') or '')
        if robot and robot not in group.robots:
            group.robots.append(robot)
        return group

    def start(self, labels: Mapping[str, Any], incident_id: str, now: float) -> Group | None:
        """Make a just-opened incident head a new group (None if its type does not group)."""
        key = self.key(labels)
        if key is None:
            return None
        robot = str(labels.get('robot') or '')
        group = Group(incident_id, key, now, [robot] if robot else [])
        self._groups[key] = group
        return group

    def close(self, incident_id: str) -> None:
        """Forget the group an incident heads (it was resolved)."""
        for key, group in list(self._groups.items()):
            if group.incident_id == incident_id:
                del self._groups[key]

    def restore(self, incident_id: str, labels: Mapping[str, Any], opened_at: float,
                robots: list[str]) -> None:
        """Rebuild a group from a persisted open incident (after a restart)."""
        key = self.key(labels)
        if key is not None:
            self._groups[key] = Group(incident_id, key, opened_at, list(robots))
