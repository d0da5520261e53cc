"""The manager's one commit pipeline.

Every input (a batch of statuses, a batch of robot events, a service request, a timer)
becomes a domain call that returns :class:`Changes`. :meth:`Pipeline.commit` then:

1. opens ONE transaction and appends the events; the features react to the stored events
   (with their ids) and return further changes, which are appended in the same
   transaction, round after round, until nothing new comes (features never commit or
   recurse themselves);
2. saves, in that same transaction, the missions the board changed, the robots named,
   the incidents changed, the robots' committed event marks and the telemetry samples;
3. after the commit, publishes the events and missions, sends the robot commands, sends
   the acknowledgements and hands the after-commit work (snapshot bags) to its worker.

If the transaction fails (a full disk, an I/O error), nothing of it is published or
acknowledged: the batch is kept and retried as it was before any new input is taken
(:attr:`Pipeline.degraded` says why meanwhile). The domain state in memory is already
ahead of the store, and the retry brings the store level with it; if the process dies
instead, agents resend what was not acknowledged and the manager restarts from the store.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
import sqlite3
from typing import Any, Callable, Iterable, Protocol, Sequence

from fleet_common.events import RobotCommandSent
from fleet_manager.core.missions import Command, Mission, Result
from fleet_manager.core.model import Event, NewEvent, RobotRecord
from fleet_manager.store import FleetStore

MAX_ROUNDS = 8
"""Rounds of feature reactions within one commit before it is treated as a loop."""


@dataclass(frozen=True)
class RobotCommandRequest:
    """Send an operator's or a rule's command to a robot (logged as ``robot.command``)."""

    robot_id: str
    command: str
    args: dict[str, Any]
    who: str
    reason: str
    mission_id: str = ''


@dataclass
class Changes:
    """Everything one input produced: to write in one transaction, then to carry out."""

    events: list[NewEvent] = field(default_factory=list)
    commands: list[Command | RobotCommandRequest] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    """Incident documents (``Incident.to_dict()``) to save."""
    robots: set[str] = field(default_factory=set)
    """Ids of robots whose registry records to save."""
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Robots' committed event marks to save: robot id -> (epoch, seq)."""
    acks: set[str] = field(default_factory=set)
    """Robots to acknowledge after the commit."""
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    publish: list[Callable[[], None]] = field(default_factory=list)
    """Publications to make right after the commit (e.g. a changed incident)."""
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    """Work to run after the commit, off the executor (e.g. writing a snapshot bag)."""
    writes: list[Callable[[Any], None]] = field(default_factory=list)
    """Writes of a feature's own tables, made in the commit's transaction: each is called
    with the store's Transaction (e.g. ``lambda tx: tx.save_rollouts(docs)``)."""

    @classmethod
    def of(cls, result: Result | None) -> 'Changes':
        """Wrap a domain :class:`Result` (events and commands)."""
        out = cls()
        if result is not None:
            out.events.extend(result.events)
            out.commands.extend(result.commands)
        return out

    def add(self, other: 'Changes | Result | None') -> 'Changes':
        """Merge ``other`` into this; return self."""
        if other is None:
            return self
        self.events.extend(other.events)
        self.commands.extend(other.commands)
        if isinstance(other, Changes):
            self.incidents.extend(other.incidents)
            self.robots |= other.robots
            self.marks.update(other.marks)
            self.acks |= other.acks
            self.telemetry.extend(other.telemetry)
            self.publish.extend(other.publish)
            self.after_commit.extend(other.after_commit)
            self.writes.extend(other.writes)
        return self

    def __bool__(self) -> bool:
        return bool(self.events or self.commands or self.incidents or self.robots
                    or self.marks or self.acks or self.telemetry or self.publish
                    or self.after_commit)


class Reactor(Protocol):
    """What reacts to freshly stored events within the commit (the features)."""

    def on_events(self, events: Sequence[Event], now: float) -> Changes | None:
        """Return further changes caused by ``events`` (or None)."""


class Outlet(Protocol):
    """Where committed things go: the node's publishers and the robot link."""

    def publish_events(self, events: Sequence[Event]) -> None:
        """Publish logged events (fleet/events)."""

    def publish_missions(self, missions: Sequence[Mission]) -> None:
        """Publish changed missions (fleet/missions)."""

    def send_commands(self, commands: Sequence[tuple[int, Command | RobotCommandRequest]]
                      ) -> None:
        """Send commands to robots, each with its command id."""

    def acknowledge(self, robot_ids: Iterable[str]) -> None:
        """Publish the robots' committed marks (RobotAcks)."""

    def run_after_commit(self, work: Sequence[Callable[[], None]]) -> None:
        """Run work off the executor."""


@dataclass
class _Batch:
    """A commit's contents, kept as they were for a retry after a storage failure."""

    events: list[NewEvent]
    missions: list[Mission]
    robots: list[RobotRecord]
    changes: Changes
    commands: list[tuple[int, Command | RobotCommandRequest]]
    reacted: bool = False
    """True once the features reacted (the events, missions and robots are then fixed)."""


class Pipeline:
    """Commit changes in one transaction, then publish and carry them out."""

    def __init__(self, store: FleetStore, take_missions: Callable[[], list[Mission]],
                 robot: Callable[[str], RobotRecord | None], reactors: Sequence[Reactor],
                 outlet: Outlet, next_command_id: Callable[[], int],
                 clock: Callable[[], float]) -> None:
        self._store = store
        self._take_missions = take_missions
        self._robot = robot
        self._reactors = list(reactors)
        self._outlet = outlet
        self._next_command_id = next_command_id
        self._clock = clock
        self._waiting: collections.deque[_Batch] = collections.deque()
        self.degraded = ''
        """Why the last commit failed ('' while storage works)."""
        self.commits = 0
        self.failures = 0

    @property
    def blocked(self) -> bool:
        """True while a failed batch waits for its retry: take no new input meanwhile."""
        return bool(self._waiting)

    def retry(self) -> bool:
        """Retry the failed batches in order; True when none waits any more."""
        while self._waiting:
            if self._write(self._waiting[0], self._clock()) is None:
                return False
            self._waiting.popleft()
        return True

    def commit(self, changes: Changes) -> list[Event]:
        """Write ``changes`` in one transaction, then carry them out; return the stored
        events. When the store fails, the batch is kept (after any batch already waiting)
        for :meth:`retry` and :class:`StorageUnavailable` is raised."""
        batch = _Batch(list(changes.events), [], [], changes, [])
        if self.retry():
            stored = self._write(batch, self._clock())
            if stored is not None:
                return stored
        self._waiting.append(batch)
        raise StorageUnavailable(self.degraded)

    def _write(self, batch: _Batch, now: float) -> list[Event] | None:
        changes = batch.changes
        try:
            with self._store.transaction() as tx:
                if not batch.reacted:
                    batch.reacted = True  # from here on features may have seen the events
                    stored = self._react(tx, batch, now)
                    batch.missions = self._take_missions()
                    batch.robots = [r for r in (self._robot(i) for i in sorted(changes.robots))
                                    if r is not None]
                else:
                    stored = tx.append(batch.events, now)
                tx.save_missions(batch.missions)
                tx.save_robots(batch.robots)
                tx.save_incidents(changes.incidents)
                tx.save_marks(changes.marks)
                tx.add_telemetry(changes.telemetry)
                for write in changes.writes:
                    write(tx)
        except (sqlite3.Error, OSError) as exc:
            self.failures += 1
            self.degraded = f'storage: {exc}'
            return None
        self.degraded = ''
        self.commits += 1
        self._carry_out(batch, stored)
        return stored

    def _react(self, tx: Any, batch: _Batch, now: float) -> list[Event]:
        """Append the events, let the features react, append what they add; in ``tx``."""
        changes = batch.changes
        stored: list[Event] = []
        pending = list(changes.events)
        commands = list(changes.commands)
        batch.events = []
        for _ in range(MAX_ROUNDS):
            pending.extend(self._number(commands, batch))
            commands = []
            if not pending:
                return stored
            batch.events.extend(pending)
            fresh = tx.append(pending, now)
            stored.extend(fresh)
            pending = []
            for reactor in self._reactors:
                more = reactor.on_events(fresh, now)
                if more:
                    pending.extend(more.events)
                    commands.extend(more.commands)
                    changes.incidents.extend(more.incidents)
                    changes.robots |= more.robots
                    changes.publish.extend(more.publish)
                    changes.after_commit.extend(more.after_commit)
                    changes.writes.extend(more.writes)
        raise RuntimeError(f'features kept reacting to their own events for {MAX_ROUNDS} '
                           'rounds in one commit')

    def _number(self, commands: list[Command | RobotCommandRequest],
                batch: _Batch) -> list[NewEvent]:
        """Give commands their ids; an operator's or rule's command is logged."""
        events = []
        for cmd in commands:
            command_id = self._next_command_id()
            batch.commands.append((command_id, cmd))
            if isinstance(cmd, RobotCommandRequest):
                events.append(NewEvent.of(RobotCommandSent(
                    command=cmd.command, args=dict(cmd.args), who=cmd.who, reason=cmd.reason,
                    command_id=command_id, mission_id=cmd.mission_id or None),
                    cmd.robot_id, cmd.mission_id))
        return events

    def _carry_out(self, batch: _Batch, stored: list[Event]) -> None:
        changes = batch.changes
        if stored:
            self._outlet.publish_events(stored)
        if batch.missions:
            self._outlet.publish_missions(batch.missions)
        if batch.commands:
            self._outlet.send_commands(batch.commands)
        for publish in changes.publish:
            publish()
        if changes.acks:
            self._outlet.acknowledge(changes.acks)
        if changes.after_commit:
            self._outlet.run_after_commit(changes.after_commit)


class StorageUnavailable(RuntimeError):
    """The fleet store cannot be written; the message says why."""
