"""SLI kinds: their domain events, the recorders that count them, and the registry.

Each :class:`SliKind` states what counts as good and bad and supplies a recorder that turns
its domain events into good/bad observations of an :class:`~.slo_series.SliSeries`. Built in:
``mission_success``, ``availability`` and ``ack_time`` (see :mod:`.slo`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fleet_manager.core.errors import ValidationError

if TYPE_CHECKING:
    from fleet_manager.core.slo_series import SliSeries
    from fleet_manager.core.slo_spec import SloSpec


E = TypeVar('E')


class SliRecorder(ABC, Generic[E]):
    """Turns one SLI kind's domain events into good/bad observations of an :class:`SliSeries`.

    Call :meth:`record` for each event and :meth:`advance` with the current time before
    evaluating (:class:`SloEngine` does both), so time-based SLIs account up to ``now``.
    """

    def __init__(self, spec: SloSpec, series: SliSeries) -> None:
        self.spec = spec
        self.series = series

    @abstractmethod
    def record(self, event: E) -> None:
        """Account one domain event."""

    def advance(self, now: float) -> None:
        """Account everything that became known by ``now`` without a new event."""


@dataclass(frozen=True)
class MissionOutcome:
    """A finished mission: ``good`` when it succeeded and needed no intervention."""

    time: float
    succeeded: bool
    intervention: bool = False
    """An incident or a recovery intervention was flagged during the mission."""

    @property
    def good(self) -> bool:
        """Succeeded without intervention."""
        return self.succeeded and not self.intervention


class MissionSuccessRecorder(SliRecorder[MissionOutcome]):
    """``mission_success``: one event per finished mission, at its finish time."""

    def record(self, event: MissionOutcome) -> None:
        """Count the mission as good or bad at ``event.time``."""
        self.series.record(event.time, event.good)


@dataclass(frozen=True)
class HealthSample:
    """A robot's health from ``time`` on: healthy = online and not in error."""

    time: float
    robot: str
    healthy: bool

    @classmethod
    def of(cls, time: float, robot: str, online: bool, in_error: bool) -> HealthSample:
        """Build from the robot's online and error flags."""
        return cls(time, robot, online and not in_error)


@dataclass(frozen=True)
class HealthInterval:
    """A robot's health during ``[start, end)``."""

    start: float
    end: float
    robot: str
    healthy: bool

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError('end', 'must not be before start')


@dataclass
class _RobotHealth:
    healthy: bool
    since: float  # accounted up to here


class AvailabilityRecorder(SliRecorder[HealthSample | HealthInterval]):
    """``availability``: robot-seconds healthy (good) or not (bad) within operating hours.

    A :class:`HealthSample` sets a robot's state from its time until the robot's next sample
    (or :meth:`advance` / :meth:`remove_robot`); nothing is counted before a robot's first
    sample, and a sample older than what is already accounted only changes the state from
    then on. A :class:`HealthInterval` is counted as given. Use one form per robot, not both.
    Time outside operating hours counts neither good nor bad. A robot that goes silent keeps
    its last state: report it offline (``healthy=False``) on heartbeat loss.
    """

    def __init__(self, spec: SloSpec, series: SliSeries) -> None:
        super().__init__(spec, series)
        self._robots: dict[str, _RobotHealth] = {}

    def record(self, event: HealthSample | HealthInterval) -> None:
        """Account a sample or an interval."""
        if isinstance(event, HealthInterval):
            self._credit(event.start, event.end, event.healthy)
            return
        state = self._robots.get(event.robot)
        if state is None:
            self._robots[event.robot] = _RobotHealth(event.healthy, event.time)
            return
        if event.time > state.since:
            self._credit(state.since, event.time, state.healthy)
            state.since = event.time
        state.healthy = event.healthy

    def advance(self, now: float) -> None:
        """Account every robot's current state up to ``now``: robots in the same state since
        the same time are credited together (a fleet sampled at once is a few credits)."""
        groups: dict[tuple[float, bool], int] = {}
        for state in self._robots.values():
            if now > state.since:
                key = (state.since, state.healthy)
                groups[key] = groups.get(key, 0) + 1
                state.since = now
        for (since, healthy), robots in groups.items():
            self._credit(since, now, healthy, robots)

    def remove_robot(self, robot: str, time: float) -> None:
        """Account ``robot`` up to ``time`` and stop counting it (decommissioned)."""
        state = self._robots.pop(robot, None)
        if state is not None and time > state.since:
            self._credit(state.since, time, state.healthy)

    def _credit(self, start: float, end: float, healthy: bool, robots: int = 1) -> None:
        hours = self.spec.operating_hours
        parts = hours.clip(start, end) if hours is not None else [(start, end)]
        for low, high in parts:
            self.series.add_interval(low, high, healthy, robots)


@dataclass(frozen=True)
class IncidentAck:
    """An incident opened at ``opened_at`` and acknowledged at ``acked_at`` (``None``: not yet).

    Record it when it opens (``acked_at=None``) and again when it is acknowledged; resolving
    an incident without an explicit acknowledgement counts as acknowledging it then.
    """

    incident: str
    opened_at: float
    acked_at: float | None = None


@dataclass
class _OpenIncident:
    opened_at: float
    counted: bool  # already counted bad because the threshold passed


class AckTimeRecorder(SliRecorder[IncidentAck]):
    """``ack_time``: good = acknowledged within ``threshold_s`` (``<=``), at the ack time.

    An incident not acknowledged within the threshold is bad at ``opened_at + threshold_s``
    (counted by :meth:`advance` once that time has passed, or on its late acknowledgement,
    whichever comes first), and never counted twice. Ack latencies of acknowledged incidents
    are kept for the median/p90; still-open incidents are not in those quantiles.
    """

    def __init__(self, spec: SloSpec, series: SliSeries) -> None:
        super().__init__(spec, series)
        assert spec.threshold_s is not None
        self._threshold = spec.threshold_s
        self._open: dict[str, _OpenIncident] = {}
        self._acked: dict[str, float] = {}

    def record(self, event: IncidentAck) -> None:
        """Track an opened incident or account its acknowledgement (idempotent per id)."""
        if event.incident in self._acked:
            return
        state = self._open.get(event.incident)
        if event.acked_at is None:
            if state is None:
                self._open[event.incident] = _OpenIncident(event.opened_at, False)
            return
        latency = max(0.0, event.acked_at - event.opened_at)
        if state is None or not state.counted:
            if latency <= self._threshold:
                self.series.record(event.acked_at, True)
            else:
                self.series.record(event.opened_at + self._threshold, False)
        self.series.add_latency(event.acked_at, latency)
        self._open.pop(event.incident, None)
        self._acked[event.incident] = event.acked_at

    def advance(self, now: float) -> None:
        """Count open incidents whose threshold has passed as bad; forget expired ids."""
        for state in self._open.values():
            deadline = state.opened_at + self._threshold
            if not state.counted and now > deadline:
                self.series.record(deadline, False)
                state.counted = True
        horizon = now - self.series.retention_s
        self._acked = {key: t for key, t in self._acked.items() if t > horizon}
        self._open = {key: s for key, s in self._open.items()
                      if not (s.counted and s.opened_at <= horizon)}


@dataclass(frozen=True)
class SliKind:
    """The contract of one kind of SLI, as registered in :data:`SLI_KINDS`.

    ``good`` and ``bad`` say in words what counts; ``unit`` what is counted; ``latency``
    whether SLOs of this kind need ``threshold_s`` (and get latency quantiles);
    ``operating_hours`` whether they may restrict measurement to operating hours;
    ``recorder`` builds the :class:`SliRecorder` that feeds its series.
    """

    name: str
    summary: str
    good: str
    bad: str
    unit: str
    latency: bool
    operating_hours: bool
    recorder: Callable[[SloSpec, SliSeries], SliRecorder[Any]]


class SliRegistry:
    """The SLI kinds known by name. Register new kinds with :meth:`register`."""

    def __init__(self) -> None:
        self._kinds: dict[str, SliKind] = {}

    def register(self, kind: SliKind) -> SliKind:
        """Add ``kind``; raise ``ValueError`` if its name is taken."""
        if kind.name in self._kinds:
            raise ValueError(f'SLI kind {kind.name!r} is already registered')
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str) -> SliKind:
        """Return the kind called ``name``; raise ``KeyError`` if unknown."""
        try:
            return self._kinds[name]
        except (KeyError, TypeError):
            raise KeyError(f'unknown SLI kind {name!r}') from None

    def names(self) -> list[str]:
        """Return the registered kind names, sorted."""
        return sorted(self._kinds)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._kinds


SLI_KINDS = SliRegistry()
"""The registry of SLI kinds; holds the three built-in kinds."""

SLI_KINDS.register(SliKind(
    name='mission_success',
    summary='Missions that succeed without intervention.',
    good='a mission that succeeded with no incident or recovery intervention flagged',
    bad='a mission that failed, or succeeded only after an intervention',
    unit='missions',
    latency=False,
    operating_hours=False,
    recorder=MissionSuccessRecorder,
))
SLI_KINDS.register(SliKind(
    name='availability',
    summary='Fraction of robot-time healthy during operating hours.',
    good='a robot-second online and not in error, inside operating hours',
    bad='a robot-second offline or in error, inside operating hours',
    unit='robot-seconds',
    latency=False,
    operating_hours=True,
    recorder=AvailabilityRecorder,
))
SLI_KINDS.register(SliKind(
    name='ack_time',
    summary='Incidents acknowledged within threshold_s; objective 0.5 = median under it.',
    good='an incident acknowledged within threshold_s of opening',
    bad='an incident not acknowledged within threshold_s of opening',
    unit='incidents',
    latency=True,
    operating_hours=False,
    recorder=AckTimeRecorder,
))
