"""Store retention: delete events and telemetry samples older than their retention, in
bounded batches.

:class:`StoreRetention` runs from the manager's periodic flush, never from the commit path.
One pass deletes at most ``batch`` events and ``batch`` samples, each in one short
transaction (tens of ms for 10,000 rows), so the manager never stalls on one huge DELETE or
a scan of the whole history; while a backlog remains (a pass was full: a large fleet, or a
retention just shortened) the next pass runs at the next call instead of a period later.
Plain Python with an injected clock: the caller passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from fleet_manager.store import PRUNE_BATCH

__all__ = ['KEEP_LATEST', 'Pruned', 'StoreRetention']

KEEP_LATEST = ('manager.configured',)
"""Event kinds whose newest event is kept whatever its age (the manager compares the
configuration files' digests with the last ``manager.configured`` event at each start)."""


class Prunable(Protocol):
    """The store calls the retention uses (see :class:`fleet_manager.store.FleetStore`)."""

    def prune_events(self, before: float, limit: int = PRUNE_BATCH,
                     keep_latest: Sequence[str] = ()) -> int: ...

    def prune_telemetry(self, before: float, limit: int = PRUNE_BATCH) -> int: ...


@dataclass(frozen=True)
class Pruned:
    """What one pass deleted."""

    events: int = 0
    samples: int = 0


class StoreRetention:
    """Keep the event log within ``event_retention`` s (0: every event is kept) and the
    telemetry history within ``telemetry_retention`` s."""

    def __init__(self, store: Prunable, event_retention: float, telemetry_retention: float,
                 period: float = 60.0, batch: int = PRUNE_BATCH) -> None:
        self._store = store
        self.event_retention = event_retention
        self.telemetry_retention = telemetry_retention
        self.period = period
        self.batch = batch
        self._last = float('-inf')
        self._backlog = False
        self.pruned_events = 0
        """Events deleted since construction."""
        self.pruned_samples = 0
        """Telemetry samples deleted since construction."""

    def run(self, now: float) -> Pruned:
        """Prune one batch of each when due (a period since the last pass, or a backlog);
        return what was deleted. sqlite3 errors propagate (the next call retries)."""
        if not (self._backlog or now - self._last >= self.period):
            return Pruned()
        self._last = now
        self._backlog = False
        samples = self._store.prune_telemetry(now - self.telemetry_retention, self.batch)
        events = 0
        if self.event_retention > 0:
            events = self._store.prune_events(now - self.event_retention, self.batch,
                                              KEEP_LATEST)
        self._backlog = max(samples, events) >= self.batch
        self.pruned_events += events
        self.pruned_samples += samples
        return Pruned(events, samples)
