"""The bridge's own health: storage, the event pump and the webhook worker.

Each part is a :class:`Condition` that is either healthy or degraded since a time with a
reason. The parts report into it as they work (a failed write degrades ``storage``, the next
good one clears it), ``/health`` and ``/metrics`` read it. Plain Python, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
from typing import Any

LOG = logging.getLogger('fleet_web.status')


@dataclass
class Condition:
    """One part's health: degraded while ``reason`` is set (since ``since``, Unix s)."""

    name: str
    reason: str | None = None
    since: float | None = None

    @property
    def healthy(self) -> bool:
        """True unless degraded."""
        return self.reason is None

    def fail(self, reason: str, now: float) -> None:
        """Mark degraded (logged once per episode; the reason is updated each time)."""
        if self.reason is None:
            self.since = now
            LOG.warning('%s degraded: %s', self.name, reason)
        self.reason = reason

    def ok(self) -> None:
        """Mark healthy again (logged when it was degraded)."""
        if self.reason is not None:
            LOG.warning('%s recovered', self.name)
        self.reason = None
        self.since = None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{'status': 'ok'}`` or ``{'status': 'degraded', 'reason', 'since'}``."""
        if self.reason is None:
            return {'status': 'ok'}
        return {'status': 'degraded', 'reason': self.reason, 'since': self.since}


@dataclass
class BridgeHealth:
    """The health of the bridge's parts."""

    storage: Condition = field(default_factory=lambda: Condition('storage'))
    """The bridge's SQLite file takes reads and writes."""
    pump: Condition = field(default_factory=lambda: Condition('webhook pump'))
    """The event pump moves the manager's events into the outbox."""
    worker: Condition = field(default_factory=lambda: Condition('webhook worker'))
    """The delivery worker can read and record deliveries."""

    @property
    def healthy(self) -> bool:
        """True when every part is."""
        return self.storage.healthy and self.pump.healthy and self.worker.healthy


def storage_reason(exc: BaseException) -> str:
    """Return a short reason for a storage error (``database or disk is full``)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
