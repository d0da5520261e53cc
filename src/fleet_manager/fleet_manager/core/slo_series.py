"""The bucketed good/bad counter store that answers an SLO's windows (see :mod:`.slo`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
import heapq
import math
from typing import TYPE_CHECKING

from fleet_manager.core.slo_math import DAY, DEFAULT_STEP_S, is_number, quantile

if TYPE_CHECKING:
    from fleet_manager.core.slo_spec import SloSpec


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
        if not is_number(step_s) or step_s <= 0:
            raise ValueError(f'step_s must be positive, got {step_s!r}')
        if not is_number(retention_s) or retention_s < step_s:
            raise ValueError(f'retention_s must be at least step_s, got {retention_s!r}')
        self._step = float(step_s)
        self._retention = float(retention_s)
        self._capacity = math.ceil(retention_s / step_s)
        self._buckets: dict[int, list[float]] = {}
        self._heap: list[int] = []
        self._newest: int | None = None
        self._latencies: deque[tuple[float, float]] = deque(maxlen=max_latency_samples)
        self._latest_latency = -math.inf
        self._since: float | None = None

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

    @property
    def data_since(self) -> float | None:
        """Time of the earliest observation ever added (``None`` before the first): how long
        the SLI has been measured, for the data-sufficiency rule of the alerts."""
        return self._since

    def _saw(self, time: float) -> None:
        if self._since is None or time < self._since:
            self._since = time

    def coverage(self, window_s: float, now: float) -> float:
        """Share of the window ending at ``now`` since the first observation, 0 to 1."""
        if self._since is None or window_s <= 0:
            return 0.0
        return min(1.0, max(0.0, (now - self._since) / window_s))

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
        if not (is_number(time) and is_number(good) and is_number(bad)):
            raise ValueError('time, good and bad must be finite numbers')
        if good < 0 or bad < 0:
            raise ValueError('good and bad must not be negative')
        index = self.bucket_index(time)
        self._advance(index)
        self._saw(time)
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

    def add_interval(self, start: float, end: float, good: bool, times: int = 1) -> None:
        """Add the seconds of ``(start, end]`` as good or bad, ``times`` over (as many robots
        in that state), split across the buckets.

        Each bucket gets the part of the interval it covers; parts older than the retention
        are skipped.
        """
        if not (is_number(start) and is_number(end)) or end < start:
            raise ValueError(f'invalid interval ({start!r}, {end!r}]')
        if end > start:
            self._saw(start)
        start = max(start, end - self._retention - self._step)
        index = math.floor(start / self._step)
        while index * self._step < end:
            low = max(start, index * self._step)
            high = min(end, (index + 1) * self._step)
            if high > low:
                self.record(high, good, (high - low) * times)
            index += 1

    def add_latency(self, time: float, value: float) -> None:
        """Keep the latency sample ``value`` (seconds) observed at ``time``."""
        if not (is_number(time) and is_number(value)) or value < 0:
            raise ValueError('time and a non-negative latency value are required')
        self._latest_latency = max(self._latest_latency, time)
        self._saw(time)
        self._latencies.append((time, float(value)))
        horizon = self._latest_latency - self._retention
        while self._latencies and self._latencies[0][0] <= horizon:
            self._latencies.popleft()

    def _window_buckets(self, window_s: float) -> int:
        if not is_number(window_s) or window_s <= 0:
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
