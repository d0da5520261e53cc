"""Service level objectives: error budgets and multi-window, multi-burn-rate alerts.

The model follows the Google SRE workbook, chapter "Alerting on SLOs". Pure Python, no ROS:
time is always injected as ``now`` (epoch seconds) and nothing here reads a clock.

Definitions (all ratios are computed exactly with :class:`fractions.Fraction` and rounded to
``float`` once, so hand-computed values such as ``0.144 / (1 - 0.99) = 14.4`` come out exact):

* **SLI** over a window = good / (good + bad). ``None`` when the window holds no events.
* **allowed error** = ``1 - objective``, taken from the objective's decimal spelling
  (``0.99`` means exactly 99/100, not the nearest binary float).
* **burn rate** over a window = (bad / total in the window) / (1 - objective). A window with
  no events burns nothing: its burn rate is ``0.0``. A burn rate of 1 spends exactly the
  whole budget over one SLO period.
* **error budget remaining** over the SLO period = ``1 - bad / ((1 - objective) * total)``,
  which is ``1 - burn rate over the period``; ``budget consumed`` is its complement.
  Edge cases: no events in the period -> SLI ``None``, budget remaining ``1.0``, consumed
  ``0.0``. The remaining budget is not clamped: it is negative once the budget is overspent
  (``-0.5`` means 150 % of the budget is gone).

Alert semantics (stateless, no hysteresis): an alert window *fires* when BOTH its long-window
and its short-window burn rate are ``>=`` its ``burn_rate`` threshold (a burn rate exactly at
the threshold fires), and it *clears* as soon as either of them is ``<`` the threshold. The
default policy (:data:`DEFAULT_ALERT_POLICY`) is the workbook's: page at 14.4 over 1 h and
5 m, page at 6 over 6 h and 30 m, ticket at 1 over 3 d and 6 h.

Windows are answered from a bucketed counter store, :class:`SliSeries`: bucket ``i`` holds
the observations with ``i * step < time <= (i + 1) * step``, and a window of ``W`` seconds
ending at ``now`` sums the ``ceil(W / step)`` buckets ending with the bucket that holds
``now``. It covers exactly ``(now - W, now]`` when ``now`` and ``W`` are multiples of the
step, and otherwise starts up to one step later (it is never longer than ``W``).

SLI kinds live in a registry (:data:`SLI_KINDS`); each :class:`SliKind` states what counts as
good and bad and supplies a recorder that turns its domain events into good/bad observations.
Built in: ``mission_success``, ``availability`` and ``ack_time``.

Nothing here is thread-safe; the owner (e.g. the manager node's executor) serializes calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
import heapq
import math
import re
from typing import Any, Generic, TypeVar

from fleet_manager.core.errors import ValidationError

MINUTE = 60.0
"""Seconds in a minute."""
HOUR = 3600.0
"""Seconds in an hour."""
DAY = 86400.0
"""Seconds in a day."""

DEFAULT_STEP_S = 60.0
"""Default bucket width of an :class:`SliSeries`, in seconds."""

MAX_UTC_OFFSET_S = 14 * 3600
"""Largest UTC offset accepted for operating hours (UTC+14:00 / UTC-14:00), in seconds."""

__all__ = [
    'AckTimeRecorder',
    'AlertChange',
    'AlertState',
    'AlertStatus',
    'AlertTransition',
    'AlertWindow',
    'AvailabilityRecorder',
    'DAY',
    'DEFAULT_ALERT_POLICY',
    'DEFAULT_STEP_S',
    'HOUR',
    'HealthInterval',
    'HealthSample',
    'IncidentAck',
    'LatencyStats',
    'MINUTE',
    'MissionOutcome',
    'MissionSuccessRecorder',
    'OperatingHours',
    'SLI_KINDS',
    'Severity',
    'Shift',
    'SliKind',
    'SliRecorder',
    'SliRegistry',
    'SliSeries',
    'SloEngine',
    'SloSpec',
    'SloStatus',
    'WindowCounts',
    'burn_rate',
    'evaluate',
    'parse_utc_offset',
    'quantile',
    'window_label',
]


# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class _StrEnum(str, Enum):
    """A string-valued enum whose str() is its value (enum.StrEnum needs Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class Severity(_StrEnum):
    """How urgently a firing alert needs a human."""

    PAGE = 'page'
    """Notify the on-call human now: at this rate the budget is gone within hours or days."""

    TICKET = 'ticket'
    """Open a ticket for working hours: the budget burns faster than it is replenished."""


class AlertChange(_StrEnum):
    """How an alert's state changed since the previous evaluation of the same SLO."""

    NONE = 'none'
    """No change: still firing, or still quiet."""

    STARTED = 'started'
    """It fires now and did not before (or there was no previous evaluation)."""

    CLEARED = 'cleared'
    """It fired before and does not now."""


class AlertState(_StrEnum):
    """The state an :class:`AlertTransition` moves an alert into."""

    FIRING = 'firing'
    """Both burn rates reached the threshold; the alert has just started firing."""

    RESOLVED = 'resolved'
    """At least one burn rate dropped below the threshold; the alert has just cleared."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _exact(value: float) -> Fraction:
    """Return ``value`` as the decimal it is spelled as (``0.99`` -> 99/100), exactly."""
    return Fraction(repr(float(value)))


def _is_number(value: object) -> bool:
    """Whether ``value`` is an int or float (``bool`` excluded) and finite."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def window_label(seconds: float) -> str:
    """Return the short label of a window length: ``300 -> '5m'``, ``259200 -> '3d'``.

    The largest of days, hours and minutes that divides the length exactly is used; other
    lengths are labelled in seconds (``90 -> '90s'``).
    """
    for unit, size in (('d', DAY), ('h', HOUR), ('m', MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f'{int(seconds // size)}{unit}'
    return f'{int(seconds)}s' if seconds == int(seconds) else f'{seconds}s'


def burn_rate(bad: float, total: float, objective: float) -> float:
    """Return ``(bad / total) / (1 - objective)``, or ``0.0`` when ``total`` is 0.

    Computed exactly and rounded once, with the objective read as its decimal spelling, so a
    burn rate that is exactly at an alert threshold on paper compares equal to it.
    """
    if total <= 0:
        return 0.0
    return float(Fraction(bad) / Fraction(total) / (1 - _exact(objective)))


def quantile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-quantile of ``values`` (0 <= q <= 1), which must not be empty.

    Linear interpolation between the closest ranks (numpy's default, 'type 7'): the median of
    an even count is the mean of the middle two; the p90 of 10 sorted values ``x0..x9`` is
    ``x8 + 0.1 * (x9 - x8)``.
    """
    if not values:
        raise ValueError('quantile of no values')
    if not 0.0 <= q <= 1.0:
        raise ValueError(f'quantile {q} outside [0, 1]')
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------------------------
# Operating hours
# --------------------------------------------------------------------------------------------

_SHIFT_RE = re.compile(r'^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$')
_OFFSET_RE = re.compile(r'^\s*([+-])(\d{2}):(\d{2})\s*$')


@dataclass(frozen=True)
class Shift:
    """A daily operating window in local time, in minutes after local midnight.

    It covers ``[start, end)``. ``end_min`` may be 1440 (``24:00``). When ``end_min <
    start_min`` the shift crosses midnight (``22:00-06:00`` runs into the next day). A shift
    with ``start == end`` is rejected as ambiguous: write ``00:00-24:00`` for a full day.
    """

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < 1440:
            raise ValidationError('start_min', f'must be in [0, 1440), got {self.start_min}')
        if not 0 <= self.end_min <= 1440:
            raise ValidationError('end_min', f'must be in [0, 1440], got {self.end_min}')
        if self.start_min == self.end_min:
            raise ValidationError('end_min', 'a shift must not start and end at the same '
                                  "time; use '00:00-24:00' for a full day")

    @classmethod
    def parse(cls, text: str) -> Shift:
        """Parse ``'HH:MM-HH:MM'`` (hours 00-23, or 24:00 as an end); raise ``ValueError``."""
        match = _SHIFT_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"shift {text!r} is not 'HH:MM-HH:MM'")
        sh, sm, eh, em = (int(group) for group in match.groups())
        if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
            raise ValueError(f'shift {text!r} has an invalid time of day')
        if sh * 60 + sm == eh * 60 + em:
            raise ValueError(f'shift {text!r} starts and ends at the same time; '
                             "use '00:00-24:00' for a full day")
        return cls(sh * 60 + sm, eh * 60 + em)

    @property
    def crosses_midnight(self) -> bool:
        """Whether the shift ends on the day after it starts."""
        return self.end_min < self.start_min

    @property
    def duration_s(self) -> float:
        """Length of the shift, in seconds."""
        minutes = self.end_min - self.start_min
        return (minutes + 1440 if minutes < 0 else minutes) * MINUTE

    def __str__(self) -> str:
        return (f'{self.start_min // 60:02d}:{self.start_min % 60:02d}-'
                f'{self.end_min // 60:02d}:{self.end_min % 60:02d}')


def parse_utc_offset(text: str) -> int:
    """Parse ``'+HH:MM'`` / ``'-HH:MM'`` (or ``'UTC'``, ``'Z'``) into seconds east of UTC.

    Raises ``ValueError`` for anything else, including offsets beyond +/-14:00.
    """
    if isinstance(text, str) and text.strip().upper() in ('UTC', 'Z'):
        return 0
    match = _OFFSET_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"UTC offset {text!r} is not '+HH:MM' or '-HH:MM'")
    sign, hours, minutes = match.groups()
    if int(minutes) > 59:
        raise ValueError(f'UTC offset {text!r} has invalid minutes')
    seconds = (int(hours) * 60 + int(minutes)) * 60
    if seconds > MAX_UTC_OFFSET_S:
        raise ValueError(f'UTC offset {text!r} is beyond +/-14:00')
    return -seconds if sign == '-' else seconds


@dataclass(frozen=True)
class OperatingHours:
    """The daily shifts during which availability is measured, in a fixed UTC offset.

    Local time = UTC + ``utc_offset_s``. Every day has the same shifts (no weekdays, no DST:
    the offset is fixed). Overlapping shifts are merged, never double counted.
    """

    shifts: tuple[Shift, ...]
    utc_offset_s: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, 'shifts', tuple(self.shifts))
        if not self.shifts:
            raise ValidationError('shifts', 'at least one shift is required')
        for index, shift in enumerate(self.shifts):
            if not isinstance(shift, Shift):
                raise ValidationError(f'shifts[{index}]', 'must be a Shift')
        if not _is_number(self.utc_offset_s) or abs(self.utc_offset_s) > MAX_UTC_OFFSET_S:
            raise ValidationError('utc_offset', 'must be within +/-14:00')

    @classmethod
    def parse(cls, shifts: Iterable[str], utc_offset: str = '+00:00') -> OperatingHours:
        """Build from ``['06:00-14:00', ...]`` and ``'+01:00'``; raise ``ValueError``."""
        return cls(tuple(Shift.parse(text) for text in shifts), parse_utc_offset(utc_offset))

    def clip(self, start: float, end: float) -> list[tuple[float, float]]:
        """Return the sorted, disjoint parts of ``[start, end)`` inside operating hours."""
        if end <= start:
            return []
        offset = self.utc_offset_s
        pieces: list[tuple[float, float]] = []
        # Start one day early so that a shift crossing midnight into `start`'s day is seen.
        for day in range(math.floor((start + offset) / DAY) - 1,
                         math.floor((end + offset) / DAY) + 1):
            midnight = day * DAY - offset  # this local midnight, in UTC epoch seconds
            for shift in self.shifts:
                low = max(start, midnight + shift.start_min * MINUTE)
                high = min(end, midnight + shift.start_min * MINUTE + shift.duration_s)
                if high > low:
                    pieces.append((low, high))
        pieces.sort()
        merged: list[tuple[float, float]] = []
        for low, high in pieces:
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return merged

    def overlap_s(self, start: float, end: float) -> float:
        """Return how many seconds of ``[start, end)`` fall inside operating hours."""
        return sum(high - low for low, high in self.clip(start, end))

    def contains(self, time: float) -> bool:
        """Whether the instant ``time`` is inside operating hours."""
        return bool(self.clip(time, time + 1e-6))


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertWindow:
    """One multi-window burn-rate alert.

    It fires when the burn rate over ``long_s`` AND over ``short_s`` are both ``>=``
    ``burn_rate``; it clears when either is ``<`` it. ``0 < short_s <= long_s`` (the workbook
    uses a short window of 1/12 of the long one). Raises ``ValidationError`` naming the field.
    """

    name: str
    severity: Severity
    burn_rate: float
    long_s: float
    short_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError('name', 'must be a non-empty string')
        try:
            object.__setattr__(self, 'severity', Severity(self.severity))
        except ValueError:
            raise ValidationError('severity', f"must be 'page' or 'ticket', got "
                                  f'{self.severity!r}') from None
        for name in ('burn_rate', 'long_s', 'short_s'):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ValidationError(name, f'must be a positive number, got {value!r}')
            object.__setattr__(self, name, float(value))
        if self.short_s > self.long_s:
            raise ValidationError('short_s', f'short window {self.short_s:g} s is longer than '
                                  f'the long window {self.long_s:g} s')

    @property
    def long_label(self) -> str:
        """Label of the long window, e.g. ``'1h'``."""
        return window_label(self.long_s)

    @property
    def short_label(self) -> str:
        """Label of the short window, e.g. ``'5m'``."""
        return window_label(self.short_s)


DEFAULT_ALERT_POLICY: tuple[AlertWindow, ...] = (
    # 14.4 over 1 h spends 2 % of a 30-day budget in one hour.
    AlertWindow('page-1h', Severity.PAGE, 14.4, 1 * HOUR, 5 * MINUTE),
    # 6 over 6 h spends 5 % of a 30-day budget in six hours.
    AlertWindow('page-6h', Severity.PAGE, 6.0, 6 * HOUR, 30 * MINUTE),
    # 1 over 3 d spends 10 % of a 30-day budget in three days.
    AlertWindow('ticket-3d', Severity.TICKET, 1.0, 3 * DAY, 6 * HOUR),
)
"""The SRE workbook's recommended policy: two page alerts and one ticket alert."""


@dataclass(frozen=True)
class SloSpec:
    """A service level objective.

    * ``name``: unique id; ``sli``: a kind registered in :data:`SLI_KINDS`.
    * ``objective``: target SLI, strictly between 0 and 1 (0.95 = 95 % good).
    * ``period_s``: the SLO period the error budget is counted over; at least the longest
      alert window.
    * ``threshold_s``: the latency threshold, required by latency kinds (``ack_time``) and
      rejected by the others.
    * ``operating_hours``: only for kinds measured during operating hours (``availability``);
      ``None`` there means around the clock.
    * ``alerts``: the alert policy (may be empty); every window must be ``>= step_s`` and
      every threshold reachable (``burn_rate <= 1 / (1 - objective)``, the burn rate when
      every event is bad).
    * ``step_s``: bucket width of the :class:`SliSeries` that feeds it.

    Invalid values raise ``ValidationError`` whose ``field`` names the offending field
    (``'objective'``, ``'alerts[1].short_s'`` ...).
    """

    name: str
    sli: str
    objective: float
    period_s: float
    threshold_s: float | None = None
    operating_hours: OperatingHours | None = None
    alerts: tuple[AlertWindow, ...] = DEFAULT_ALERT_POLICY
    step_s: float = DEFAULT_STEP_S
    description: str = ''

    def __post_init__(self) -> None:
        object.__setattr__(self, 'alerts', tuple(self.alerts))
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError('name', 'must be a non-empty string')
        if self.sli not in SLI_KINDS:
            raise ValidationError('sli', f'unknown SLI kind {self.sli!r}; known: '
                                  f'{", ".join(SLI_KINDS.names())}')
        kind = SLI_KINDS.get(self.sli)
        if not _is_number(self.objective) or not 0 < self.objective < 1:
            raise ValidationError('objective', 'must be strictly between 0 and 1, got '
                                  f'{self.objective!r}')
        object.__setattr__(self, 'objective', float(self.objective))
        for name in ('step_s', 'period_s'):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ValidationError(name, f'must be a positive number, got {value!r}')
            object.__setattr__(self, name, float(value))
        self._check_threshold(kind)
        self._check_operating_hours(kind)
        self._check_alerts()

    def _check_threshold(self, kind: SliKind) -> None:
        if kind.latency:
            if self.threshold_s is None:
                raise ValidationError('threshold_s', f'required by the latency SLI kind '
                                      f'{self.sli!r}')
            if not _is_number(self.threshold_s) or self.threshold_s <= 0:
                raise ValidationError('threshold_s', 'must be a positive number, got '
                                      f'{self.threshold_s!r}')
            object.__setattr__(self, 'threshold_s', float(self.threshold_s))
        elif self.threshold_s is not None:
            raise ValidationError('threshold_s', f'only latency SLI kinds take a threshold; '
                                  f'{self.sli!r} is not one')

    def _check_operating_hours(self, kind: SliKind) -> None:
        if self.operating_hours is None:
            return
        if not kind.operating_hours:
            raise ValidationError('operating_hours', f'the SLI kind {self.sli!r} is not '
                                  'measured during operating hours')
        if not isinstance(self.operating_hours, OperatingHours):
            raise ValidationError('operating_hours', 'must be an OperatingHours')

    def _check_alerts(self) -> None:
        seen: set[str] = set()
        max_burn = 1 / (1 - _exact(self.objective))
        for index, alert in enumerate(self.alerts):
            where = f'alerts[{index}]'
            if not isinstance(alert, AlertWindow):
                raise ValidationError(where, 'must be an AlertWindow')
            if alert.name in seen:
                raise ValidationError(f'{where}.name', f'duplicate alert name {alert.name!r}')
            seen.add(alert.name)
            for name in ('short_s', 'long_s'):
                if getattr(alert, name) < self.step_s:
                    raise ValidationError(f'{where}.{name}', f'window {getattr(alert, name):g}'
                                          f' s is shorter than the step {self.step_s:g} s')
            if _exact(alert.burn_rate) > max_burn:
                raise ValidationError(f'{where}.burn_rate', f'alert {alert.name!r} can never '
                                      f'fire: burn rate {alert.burn_rate:g} is above '
                                      f'{float(max_burn):g}, the burn rate when every event '
                                      f'is bad under objective {self.objective:g}')
            if alert.long_s > self.period_s:
                raise ValidationError('period_s', f'period {self.period_s:g} s is shorter than '
                                      f'the {alert.long_label} window of alert '
                                      f'{alert.name!r}')

    @property
    def kind(self) -> SliKind:
        """The registered SLI kind of this SLO."""
        return SLI_KINDS.get(self.sli)

    @property
    def error_budget(self) -> Fraction:
        """The allowed error ratio ``1 - objective``, exactly (0.95 -> 1/20)."""
        return 1 - _exact(self.objective)

    @property
    def windows(self) -> dict[str, float]:
        """Every window the alert policy uses, label -> seconds, shortest first."""
        lengths = sorted({a.long_s for a in self.alerts} | {a.short_s for a in self.alerts})
        return {window_label(length): length for length in lengths}

    @property
    def longest_window_s(self) -> float:
        """The longest alert window, in seconds (0 without alerts)."""
        return max((alert.long_s for alert in self.alerts), default=0.0)


# --------------------------------------------------------------------------------------------
# Windowed counter store
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowCounts:
    """Good and bad amounts in one window (event counts, or robot-seconds for availability)."""

    good: float
    bad: float

    @property
    def total(self) -> float:
        """``good + bad``."""
        return self.good + self.bad

    @property
    def ratio(self) -> float | None:
        """``good / total``, or ``None`` when the window is empty."""
        return self.good / self.total if self.total > 0 else None


@dataclass(frozen=True)
class LatencyStats:
    """Latency quantiles over a window (linear interpolation, see :func:`quantile`)."""

    count: int
    median_s: float
    p90_s: float


class SliSeries:
    """Good/bad observations bucketed by time, answering good/total for windows ending at now.

    Bucket ``i`` holds observations with ``i * step < time <= (i + 1) * step``. The series
    keeps at most ``capacity = ceil(retention_s / step_s)`` buckets: the ones within
    ``capacity`` buckets of the newest bucket seen (by observation or :meth:`expire`); older
    buckets are dropped and observations that old are ignored. Memory is therefore bounded
    by ``retention_s / step_s + 1`` buckets whatever the event rate.

    Latency samples (for latency SLIs) are kept exactly, for ``retention_s`` behind the newest
    sample and at most ``max_latency_samples`` of them (oldest dropped first).
    """

    def __init__(self, step_s: float = DEFAULT_STEP_S, retention_s: float = 7 * DAY,
                 max_latency_samples: int = 100_000) -> None:
        if not _is_number(step_s) or step_s <= 0:
            raise ValueError(f'step_s must be positive, got {step_s!r}')
        if not _is_number(retention_s) or retention_s < step_s:
            raise ValueError(f'retention_s must be at least step_s, got {retention_s!r}')
        self._step = float(step_s)
        self._retention = float(retention_s)
        self._capacity = math.ceil(retention_s / step_s)
        self._buckets: dict[int, list[float]] = {}
        self._heap: list[int] = []
        self._newest: int | None = None
        self._latencies: deque[tuple[float, float]] = deque(maxlen=max_latency_samples)
        self._latest_latency = -math.inf

    @classmethod
    def for_spec(cls, spec: SloSpec) -> SliSeries:
        """Return a series sized for ``spec``: its step, retention max(period, longest window)."""
        return cls(spec.step_s, max(spec.period_s, spec.longest_window_s))

    @property
    def step_s(self) -> float:
        """Bucket width, in seconds."""
        return self._step

    @property
    def retention_s(self) -> float:
        """How far back observations are kept, in seconds."""
        return self._retention

    @property
    def capacity(self) -> int:
        """Most buckets ever held: ``ceil(retention_s / step_s)``."""
        return self._capacity

    def __len__(self) -> int:
        """Return the number of buckets held (never more than :attr:`capacity`)."""
        return len(self._buckets)

    def bucket_index(self, time: float) -> int:
        """Index of the bucket holding ``time``: ``ceil(time / step) - 1``."""
        return math.ceil(time / self._step) - 1

    def _advance(self, index: int) -> None:
        if self._newest is not None and index <= self._newest:
            return
        self._newest = index
        horizon = index - self._capacity
        while self._heap and self._heap[0] <= horizon:
            del self._buckets[heapq.heappop(self._heap)]

    def expire(self, now: float) -> None:
        """Drop the buckets that no window ending at ``now`` can reach any more."""
        self._advance(self.bucket_index(now))
        horizon = now - self._retention
        while self._latencies and self._latencies[0][0] <= horizon:
            self._latencies.popleft()

    def add(self, time: float, good: float = 0.0, bad: float = 0.0) -> bool:
        """Add amounts of good and bad at ``time``; return ``False`` if it is already expired."""
        if not (_is_number(time) and _is_number(good) and _is_number(bad)):
            raise ValueError('time, good and bad must be finite numbers')
        if good < 0 or bad < 0:
            raise ValueError('good and bad must not be negative')
        index = self.bucket_index(time)
        self._advance(index)
        assert self._newest is not None
        if index <= self._newest - self._capacity:
            return False
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = [0.0, 0.0]
            heapq.heappush(self._heap, index)
        bucket[0] += good
        bucket[1] += bad
        return True

    def record(self, time: float, good: bool, weight: float = 1.0) -> bool:
        """Add one good or bad event (of ``weight``) at ``time``; see :meth:`add`."""
        return self.add(time, weight, 0.0) if good else self.add(time, 0.0, weight)

    def add_interval(self, start: float, end: float, good: bool) -> None:
        """Add the seconds of ``(start, end]`` as good or bad, split across the buckets.

        Each bucket gets the part of the interval it covers; parts older than the retention
        are skipped.
        """
        if not (_is_number(start) and _is_number(end)) or end < start:
            raise ValueError(f'invalid interval ({start!r}, {end!r}]')
        start = max(start, end - self._retention - self._step)
        index = math.floor(start / self._step)
        while index * self._step < end:
            low = max(start, index * self._step)
            high = min(end, (index + 1) * self._step)
            if high > low:
                self.record(high, good, high - low)
            index += 1

    def add_latency(self, time: float, value: float) -> None:
        """Keep the latency sample ``value`` (seconds) observed at ``time``."""
        if not (_is_number(time) and _is_number(value)) or value < 0:
            raise ValueError('time and a non-negative latency value are required')
        self._latest_latency = max(self._latest_latency, time)
        self._latencies.append((time, float(value)))
        horizon = self._latest_latency - self._retention
        while self._latencies and self._latencies[0][0] <= horizon:
            self._latencies.popleft()

    def _window_buckets(self, window_s: float) -> int:
        if not _is_number(window_s) or window_s <= 0:
            raise ValueError(f'window must be positive, got {window_s!r}')
        count = math.ceil(window_s / self._step)
        if count > self._capacity:
            raise ValueError(f'window {window_s:g} s is longer than the retention '
                             f'{self._retention:g} s')
        return count

    def counts(self, window_s: float, now: float) -> WindowCounts:
        """Good and bad in the ``ceil(window_s / step)`` buckets ending with ``now``'s."""
        last = self.bucket_index(now)
        first = last - self._window_buckets(window_s) + 1
        good = bad = 0.0
        if last - first + 1 <= len(self._buckets):
            buckets: Iterator[list[float]] = (
                self._buckets[i] for i in range(first, last + 1) if i in self._buckets)
        else:
            buckets = (b for i, b in self._buckets.items() if first <= i <= last)
        for bucket in buckets:
            good += bucket[0]
            bad += bucket[1]
        return WindowCounts(good, bad)

    def latencies(self, window_s: float, now: float) -> list[float]:
        """Latency samples observed in ``(now - window_s, now]`` (exact times, not buckets)."""
        return [value for time, value in self._latencies if now - window_s < time <= now]

    def latency_stats(self, window_s: float, now: float) -> LatencyStats | None:
        """Median and p90 of :meth:`latencies`, or ``None`` without samples."""
        values = self.latencies(window_s, now)
        if not values:
            return None
        return LatencyStats(len(values), quantile(values, 0.5), quantile(values, 0.9))


# --------------------------------------------------------------------------------------------
# SLI kinds: events, recorders and the registry
# --------------------------------------------------------------------------------------------

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
        """Account every robot's current state up to ``now``."""
        for state in self._robots.values():
            if now > state.since:
                self._credit(state.since, now, state.healthy)
                state.since = now

    def remove_robot(self, robot: str, time: float) -> None:
        """Account ``robot`` up to ``time`` and stop counting it (decommissioned)."""
        state = self._robots.pop(robot, None)
        if state is not None and time > state.since:
            self._credit(state.since, time, state.healthy)

    def _credit(self, start: float, end: float, healthy: bool) -> None:
        hours = self.spec.operating_hours
        parts = hours.clip(start, end) if hours is not None else [(start, end)]
        for low, high in parts:
            self.series.add_interval(low, high, healthy)


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


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertStatus:
    """One alert window's state at an evaluation, with its change since the previous one."""

    alert: AlertWindow
    firing: bool
    change: AlertChange
    burn_long: float
    burn_short: float

    @property
    def name(self) -> str:
        """The alert window's name."""
        return self.alert.name

    @property
    def severity(self) -> Severity:
        """The alert window's severity."""
        return self.alert.severity

    @property
    def just_started(self) -> bool:
        """Fires now and did not at the previous evaluation."""
        return self.change is AlertChange.STARTED

    @property
    def just_cleared(self) -> bool:
        """Fired at the previous evaluation and does not now."""
        return self.change is AlertChange.CLEARED


@dataclass(frozen=True)
class SloStatus:
    """An SLO evaluated at ``time``; see the module docstring for the definitions.

    ``good``/``bad``/``sli``/budget are over the SLO period; ``burn_rates`` maps every window
    label of the alert policy (``'5m'``, ``'1h'`` ...) to its burn rate; ``alerts`` has one
    entry per alert window, in policy order; ``latency`` holds the ack-time median/p90 over
    the period for latency kinds (``None`` otherwise or without samples).
    """

    slo: str
    time: float
    objective: float
    good: float
    bad: float
    sli: float | None
    error_budget_remaining: float
    budget_consumed: float
    burn_rates: Mapping[str, float]
    alerts: tuple[AlertStatus, ...]
    latency: LatencyStats | None = None

    @property
    def total(self) -> float:
        """``good + bad`` over the period."""
        return self.good + self.bad

    @property
    def firing(self) -> tuple[AlertStatus, ...]:
        """The alerts firing now."""
        return tuple(a for a in self.alerts if a.firing)

    @property
    def firing_names(self) -> tuple[str, ...]:
        """Names of the alerts firing now."""
        return tuple(a.name for a in self.alerts if a.firing)

    @property
    def started(self) -> tuple[str, ...]:
        """Names of the alerts that just started firing."""
        return tuple(a.name for a in self.alerts if a.just_started)

    @property
    def cleared(self) -> tuple[str, ...]:
        """Names of the alerts that just cleared."""
        return tuple(a.name for a in self.alerts if a.just_cleared)

    @property
    def severity(self) -> Severity | None:
        """The most urgent severity firing (page before ticket), or ``None``."""
        severities = {a.severity for a in self.alerts if a.firing}
        for severity in (Severity.PAGE, Severity.TICKET):
            if severity in severities:
                return severity
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return the status as a JSON-ready dict."""
        return {
            'slo': self.slo,
            'time': self.time,
            'objective': self.objective,
            'good': self.good,
            'bad': self.bad,
            'sli': self.sli,
            'error_budget_remaining': self.error_budget_remaining,
            'budget_consumed': self.budget_consumed,
            'burn_rates': dict(self.burn_rates),
            'alerts': [{
                'name': a.name, 'severity': str(a.severity), 'firing': a.firing,
                'change': str(a.change), 'burn_long': a.burn_long, 'burn_short': a.burn_short,
            } for a in self.alerts],
            'latency': None if self.latency is None else {
                'count': self.latency.count, 'median_s': self.latency.median_s,
                'p90_s': self.latency.p90_s,
            },
        }


def evaluate(spec: SloSpec, series: SliSeries, now: float,
             previous: SloStatus | None = None) -> SloStatus:
    """Evaluate ``spec`` over ``series`` at ``now``.

    ``previous`` is the last status of the same SLO (``ValueError`` otherwise); each alert's
    ``change`` is STARTED/CLEARED relative to it (without it, every firing alert STARTED).
    The series is only read: call the recorder's ``advance(now)`` first for time-based SLIs.
    It must retain the period and every alert window (:meth:`SliSeries.for_spec` does), else
    ``ValueError``.
    """
    if previous is not None and previous.slo != spec.name:
        raise ValueError(f'previous status is of {previous.slo!r}, not {spec.name!r}')
    budget = spec.error_budget
    period = series.counts(spec.period_s, now)
    if period.total > 0:
        consumed = Fraction(period.bad) / Fraction(period.total) / budget
        sli: float | None = period.good / period.total
        remaining, spent = float(1 - consumed), float(consumed)
    else:
        sli, remaining, spent = None, 1.0, 0.0

    rates: dict[str, float] = {}
    for label, length in spec.windows.items():
        counts = series.counts(length, now)
        rates[label] = burn_rate(counts.bad, counts.total, spec.objective)

    was_firing = set(previous.firing_names) if previous is not None else set()
    alerts = []
    for alert in spec.alerts:
        long_rate, short_rate = rates[alert.long_label], rates[alert.short_label]
        firing = long_rate >= alert.burn_rate and short_rate >= alert.burn_rate
        if firing and alert.name not in was_firing:
            change = AlertChange.STARTED
        elif not firing and alert.name in was_firing:
            change = AlertChange.CLEARED
        else:
            change = AlertChange.NONE
        alerts.append(AlertStatus(alert, firing, change, long_rate, short_rate))

    latency = series.latency_stats(spec.period_s, now) if spec.kind.latency else None
    return SloStatus(spec.name, now, spec.objective, period.good, period.bad, sli, remaining,
                     spent, rates, tuple(alerts), latency)


@dataclass(frozen=True)
class AlertTransition:
    """An alert of an SLO started firing or was resolved; a trigger for the rule engine."""

    slo: str
    alert: str
    state: AlertState
    time: float
    burn_long: float
    burn_short: float
    severity: Severity = Severity.PAGE


class SloEngine:
    """Owns a series and a recorder per SLO, evaluates them and reports alert transitions.

    Feed domain events with :meth:`record` (routed to the SLO's kind recorder), then call
    :meth:`evaluate` periodically; it returns the alerts that started firing or resolved
    since the previous call, in SLO order then policy order.
    """

    def __init__(self, specs: Iterable[SloSpec]) -> None:
        self._specs: dict[str, SloSpec] = {}
        self._series: dict[str, SliSeries] = {}
        self._recorders: dict[str, SliRecorder[Any]] = {}
        self._statuses: dict[str, SloStatus] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f'duplicate SLO name {spec.name!r}')
            series = SliSeries.for_spec(spec)
            self._specs[spec.name] = spec
            self._series[spec.name] = series
            self._recorders[spec.name] = spec.kind.recorder(spec, series)

    @property
    def specs(self) -> tuple[SloSpec, ...]:
        """The SLOs, in the order given."""
        return tuple(self._specs.values())

    def spec(self, name: str) -> SloSpec:
        """Return the SLO called ``name`` (``KeyError`` if unknown)."""
        return self._specs[name]

    def series(self, name: str) -> SliSeries:
        """Return the series of the SLO called ``name``."""
        return self._series[name]

    def recorder(self, name: str) -> SliRecorder[Any]:
        """Return the recorder of the SLO called ``name``."""
        return self._recorders[name]

    def record(self, name: str, event: Any) -> None:
        """Pass ``event`` to the recorder of the SLO called ``name``."""
        self._recorders[name].record(event)

    def status(self, name: str) -> SloStatus | None:
        """Return the last status of the SLO ``name``; ``None`` before the first evaluation."""
        return self._statuses.get(name)

    @property
    def statuses(self) -> dict[str, SloStatus]:
        """The last status of every evaluated SLO."""
        return dict(self._statuses)

    def evaluate(self, now: float) -> list[AlertTransition]:
        """Advance, expire and evaluate every SLO at ``now``; return the alert transitions."""
        transitions: list[AlertTransition] = []
        for name, spec in self._specs.items():
            self._recorders[name].advance(now)
            self._series[name].expire(now)
            status = evaluate(spec, self._series[name], now, self._statuses.get(name))
            self._statuses[name] = status
            for alert in status.alerts:
                if alert.change is AlertChange.NONE:
                    continue
                state = AlertState.FIRING if alert.just_started else AlertState.RESOLVED
                transitions.append(AlertTransition(name, alert.name, state, now,
                                                   alert.burn_long, alert.burn_short,
                                                   alert.severity))
        return transitions
