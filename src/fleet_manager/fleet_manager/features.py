"""Features plug into the manager node through one small typed contract.

A feature (observability, incidents, ...) gets a :class:`FeatureHost` at configure: read
access to the fleet (registry, missions, the store's reads), the clock, a logger, and a way
to create its own ROS publishers and services. It never writes the store and never commits:
every callback returns :class:`~fleet_manager.pipeline.Changes` (or None), which the node's
pipeline commits in one transaction with the rest of the input that caused it.

The node calls, in its executor thread: ``configure`` once, ``replay`` with the event log's
recent history, ``on_status`` with each batch of accepted robot records, ``on_events``
(through the pipeline, inside the commit) with every batch of stored events, ``tick``
periodically, and ``teardown`` on cleanup. A feature never reacts to the event kinds it
produces itself, so its events end there.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, TypeVar

from fleet_manager.core.config import FleetConfig
from fleet_manager.core.missions import Mission
from fleet_manager.core.model import Event, RobotRecord
from fleet_manager.pipeline import Changes

Req = TypeVar('Req')
Resp = TypeVar('Resp')
Handler = Callable[[Any, Any], 'tuple[Any, Changes | None]']
"""A feature's service handler: (request, response) -> (response, changes to commit)."""


class StoreReader(Protocol):
    """The store's reads a feature may use."""

    path: str

    def events_since(self, since: float, kinds: Sequence[str] = (),
                     limit: int = 200_000) -> list[Event]: ...

    def telemetry(self, robot_id: str, since: float, until: float, step: float = 0.0,
                  limit: int = 10_000) -> list[dict[str, Any]]: ...

    def load_incidents(self) -> list[dict[str, Any]]: ...

    def load_docs(self, table: str) -> list[dict[str, Any]]: ...


class FeatureHost(Protocol):
    """What the manager node offers a feature."""

    fleet: FleetConfig
    store: StoreReader

    def now(self) -> float:
        """The node clock in epoch seconds."""

    def robot(self, robot_id: str) -> RobotRecord | None:
        """The registry record of ``robot_id`` (None when unknown)."""

    def robots(self) -> list[RobotRecord]:
        """Every registry record, by robot id."""

    def missions(self) -> list[Mission]:
        """The missions held in memory."""

    def logger(self) -> Any:
        """The node's logger."""

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        """Create a publisher on the node (destroyed by :meth:`destroy`)."""

    def create_service(self, srv_type: Any, name: str, handler: Handler) -> Any:
        """Serve ``name``: the node answers NOT_ACTIVE while inactive, commits the handler's
        changes, and answers NOT_ACTIVE (storage unavailable) when the commit fails."""

    def destroy(self, entity: Any) -> None:
        """Destroy a publisher or service created through the host."""


class Feature(Protocol):
    """What a feature offers the manager node."""

    name: str

    def configure(self, host: FeatureHost) -> str:
        """Create publishers and services; return '' or why configuration failed."""

    def replay(self, events: Sequence[Event], now: float) -> None:
        """Rebuild in-memory state from the log after a (re)start."""

    def on_events(self, events: Sequence[Event], now: float) -> Changes | None:
        """React to freshly stored events (inside the commit)."""

    def on_status(self, records: Sequence[RobotRecord], now: float) -> Changes | None:
        """React to a batch of accepted robot statuses."""

    def tick(self, now: float) -> Changes | None:
        """Periodic work (escalation timers, SLO evaluation, markers)."""

    def teardown(self) -> None:
        """Destroy what configure created."""
