"""Event log retention: delete events older than ``event_retention`` in bounded batches.

:class:`EventRetention` runs from the manager's periodic flush, never from the commit path.
One pass deletes at most ``batch`` events in one short transaction (a few tens of ms for
10,000 rows), so the manager never stalls on one huge DELETE; while a backlog remains (the
last pass was full, e.g. after the retention was shortened) the next pass runs at the next
call instead of a period later. Plain Python with an injected clock: the caller passes
``now``.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from fleet_manager.store import EVENT_PRUNE_BATCH

__all__ = ['EventRetention', 'KEEP_LATEST']

KEEP_LATEST = ('manager.configured',)
"""Event kinds whose newest event is kept whatever its age (the manager compares the
configuration files' digests with the last ``manager.configured`` event at each start)."""


class EventPruner(Protocol):
    """The store call the retention uses (:meth:`FleetStore.prune_events`)."""

    def prune_events(self, before: float, limit: int = EVENT_PRUNE_BATCH,
                     keep_latest: Sequence[str] = ()) -> int: ...


class EventRetention:
    """Keep the event log within ``retention`` seconds (0: keep every event)."""

    def __init__(self, store: EventPruner, retention: float, period: float = 60.0,
                 batch: int = EVENT_PRUNE_BATCH) -> None:
        self._store = store
        self.retention = retention
        self.period = period
        self.batch = batch
        self._last = float('-inf')
        self._backlog = False
        self.pruned = 0
        """Events deleted since construction."""

    def run(self, now: float) -> int:
        """Prune one batch when due (a period since the last pass, or a backlog); return how
        many events were deleted. sqlite3 errors propagate (the next call retries)."""
        if self.retention <= 0 or not (self._backlog or now - self._last >= self.period):
            return 0
        self._last = now
        self._backlog = False
        deleted = self._store.prune_events(now - self.retention, self.batch, KEEP_LATEST)
        self._backlog = deleted >= self.batch
        self.pruned += deleted
        return deleted
