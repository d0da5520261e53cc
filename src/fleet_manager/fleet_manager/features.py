"""Features plug into the manager node through one small contract, so the node stays a thin
adapter and each capability (observability, incidents, ...) lives in its own module.

The node calls, under its lock: ``configure`` once, ``replay`` with the event log's recent
history, ``on_events`` with every batch of events it logged, ``on_status`` with every
accepted robot status, ``tick`` periodically, and ``teardown`` on cleanup. A feature returns
a :class:`~fleet_manager.core.missions.Result` (events to log, commands for robots) or None.
A feature never reacts to the event kinds it produces itself, so logging them ends there.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from fleet_manager.core.missions import Result
from fleet_manager.core.model import Event, RobotRecord


class ManagerFeature(Protocol):
    """What a feature offers the manager node."""

    name: str

    def configure(self, node: Any) -> str:
        """Create publishers and services on ``node``; return '' or why configuration failed."""

    def replay(self, events: Sequence[Event], now: float) -> None:
        """Rebuild in-memory state from the log after a (re)start."""

    def on_events(self, events: Sequence[Event], now: float) -> Result | None:
        """React to freshly logged events."""

    def on_status(self, record: RobotRecord, now: float) -> Result | None:
        """React to an accepted robot status."""

    def tick(self, now: float) -> Result | None:
        """Periodic work (escalation timers, SLO evaluation, markers)."""

    def teardown(self) -> None:
        """Destroy what configure created."""
