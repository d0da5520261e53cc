"""Whether the manager keeps up with the statuses it receives: degradation is made visible.

The node takes the latest status of each robot as it arrives and applies them in batches.
When it cannot keep up, statuses wait longer before they are applied (the lag) and newer
ones replace older ones still waiting (coalesced). :class:`IngestHealth` turns those two
measurements into a ``manager.ingest`` event when the manager falls behind (lag above the
report period, or statuses coalesced) and when it has caught up again (lag below half the
report period and nothing coalesced for ``settle`` seconds), at most one event per
``min_interval`` seconds.

Pure Python: no rclpy; time passed in.
"""

from __future__ import annotations

from fleet_common.events import ManagerIngest
from fleet_manager.core.model import NewEvent


class IngestHealth:
    """Ingest lag and coalesced statuses -> ``manager.ingest`` events on state changes."""

    def __init__(self, report_period: float, settle: float = 10.0,
                 min_interval: float = 10.0) -> None:
        self.report_period = report_period
        self.settle = settle
        self.min_interval = min_interval
        self.behind = False
        self.lag = 0.0
        """The latest batch's lag: seconds its oldest status waited before being applied."""
        self.coalesced_total = 0
        """Statuses replaced by a newer one of the same robot before being applied."""
        self._coalesced_reported = 0
        self._last_event_at: float | None = None
        self._healthy_since: float | None = None

    def observe(self, lag: float, coalesced_total: int, now: float) -> list[NewEvent]:
        """Note one batch (its lag, the coalesced count so far); return the event, if any."""
        self.lag = lag
        fresh = coalesced_total - self.coalesced_total
        self.coalesced_total = coalesced_total
        late = lag > self.report_period or fresh > 0
        if late:
            self._healthy_since = None
        elif lag < self.report_period / 2 and self._healthy_since is None:
            self._healthy_since = now
        if self._last_event_at is not None and now - self._last_event_at < self.min_interval:
            return []
        if not self.behind and late:
            reason = (f'statuses applied {lag:.2f} s after they arrived' if
                      lag > self.report_period else
                      f'{fresh} statuses replaced by newer ones before being applied')
            return [self._event(True, lag, now, reason)]
        if self.behind and self._healthy_since is not None \
                and now - self._healthy_since >= self.settle:
            return [self._event(False, lag, now, f'every status applied within '
                                                 f'{self.report_period / 2:g} s for '
                                                 f'{self.settle:g} s')]
        return []

    def _event(self, behind: bool, lag: float, now: float, reason: str) -> NewEvent:
        self.behind = behind
        self._last_event_at = now
        coalesced = self.coalesced_total - self._coalesced_reported
        self._coalesced_reported = self.coalesced_total
        return NewEvent.of(ManagerIngest('behind' if behind else 'caught_up', round(lag, 3),
                                         coalesced, reason))
