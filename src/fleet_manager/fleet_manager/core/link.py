"""The manager's side of the robot link: which robot events to apply, exactly once.

Agents number their events per outbox as (epoch, seq): ``epoch`` names the outbox (µs since
1970 when it was created) and ``seq`` counts from 1 without gaps. The manager keeps, per
robot, the high-water mark (epoch, seq) of what it committed, persisted in the same
transaction as the events, and acknowledges exactly that. An event is applied only when it
is the next one: the same epoch and ``seq == mark + 1``. Everything else is sorted:

- at or below the mark: a resend of what is committed (``DUPLICATE``: acknowledged again);
- ahead of the mark, within ``max_seq_jump``: ``AHEAD``, held back; the agent resends from
  the acknowledged mark, in order;
- ahead by more than ``max_seq_jump``: ``JUMP``, rejected and counted, never adopted;
- from an older epoch than the mark's: ``STALE_EPOCH``, rejected and counted;
- from a newer epoch, or from a robot never heard from: adopted only when the robot's
  latest status names that epoch and the event is the first one the agent still holds (the
  status says up to which seq the agent was acknowledged: seq 1 for a new outbox, later
  when a manager whose store was lost meets an agent that kept its outbox); until a status
  confirms it the event is held back (``UNCONFIRMED``), so the first event that happens to
  arrive can never skip the ones before it. An epoch from the future (beyond
  ``max_clock_skew``) is rejected.

So no single message can blind the manager to a robot: nothing is adopted unless it is the
next event, and an epoch switch needs the robot's own status as well.

A drop notice (event type ``link.dropped``, sent when the agent's outbox bounds forced it to
discard its oldest events) covers ``first_seq``..``seq`` in one message: it is the next
event when ``first_seq <= mark + 1 <= seq``.

Pure Python: no rclpy, time passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
from typing import Iterable

DROPPED_TYPE = 'link.dropped'
"""The agent's event type for a notice of events its outbox had to discard."""


class Verdict(str, enum.Enum):
    """What to do with one robot event."""

    APPLY = 'apply'
    """It is the next event of the robot: apply it and advance the mark."""
    NEW_EPOCH = 'new_epoch'
    """It starts the robot's next outbox epoch: apply it and move the mark to that epoch."""
    DUPLICATE = 'duplicate'
    """Already committed (a resend): acknowledge again, do not apply."""
    AHEAD = 'ahead'
    """Ahead of the next expected seq: hold back (the agent resends in order)."""
    UNCONFIRMED = 'unconfirmed'
    """A new epoch the robot's status does not name yet: hold back."""
    STALE_EPOCH = 'stale_epoch'
    """From an epoch older than the committed one: rejected."""
    JUMP = 'jump'
    """A sequence or epoch beyond the configured bounds: rejected."""
    INVALID = 'invalid'
    """No robot id, or seq 0: rejected."""

    @property
    def applies(self) -> bool:
        """True for the verdicts that apply the event."""
        return self in (Verdict.APPLY, Verdict.NEW_EPOCH)

    @property
    def rejected(self) -> bool:
        """True for the verdicts that are counted as rejections."""
        return self in (Verdict.STALE_EPOCH, Verdict.JUMP, Verdict.INVALID)


@dataclass(frozen=True)
class LinkSettings:
    """Bounds on what an agent may send."""

    max_seq_jump: int = 1_000_000
    """Largest seq distance ahead of the mark that is held back rather than rejected."""
    max_clock_skew: float = 86_400.0
    """Seconds an epoch (a creation time) may lie in the manager's future."""


@dataclass
class Mark:
    """The committed high-water mark of one robot, and what its latest status says: the
    epoch of its outbox and up to which seq of it the agent was acknowledged."""

    epoch: int = 0
    seq: int = 0
    status_epoch: int = 0
    status_acked: int = 0


@dataclass(frozen=True)
class EventKey:
    """Where one robot event sits in its agent's numbering."""

    robot_id: str
    epoch: int
    seq: int
    first_seq: int | None = None
    """For a drop notice: the first seq it covers."""


class LinkBook:
    """Per-robot marks and the acceptance rules; the caller persists the marks."""

    def __init__(self, settings: LinkSettings = LinkSettings()) -> None:
        self._settings = settings
        self._marks: dict[str, Mark] = {}
        self.counts: dict[Verdict, int] = {v: 0 for v in Verdict}

    def restore(self, marks: Iterable[tuple[str, int, int]]) -> None:
        """Load persisted marks: (robot id, epoch, seq)."""
        for robot_id, epoch, seq in marks:
            self._marks[robot_id] = Mark(epoch, seq, epoch, seq)

    def mark(self, robot_id: str) -> Mark:
        """Return the robot's mark (all zero for a robot never heard from)."""
        return self._marks.get(robot_id) or Mark()


    def on_status(self, robot_id: str, epoch: int, acked: int, now: float) -> None:
        """Remember the epoch the robot's latest status names and up to which seq of it
        the agent was acknowledged (ignored when implausible)."""
        if epoch <= 0 or epoch > self._latest_epoch(now) or acked < 0:
            return
        m = self._marks.setdefault(robot_id, Mark())
        m.status_epoch, m.status_acked = epoch, acked

    def covers(self, robot_id: str, epoch: int, event_seq: int) -> bool:
        """True when the committed events are exactly what the robot had written when it
        sent a status naming (epoch, event_seq).

        Statuses and events travel on different topics, so a status may arrive after
        events written later than it: then the mark is past ``event_seq`` and the status
        says nothing reliable about the robot's mission (False). A new outbox that has
        written nothing yet (``event_seq`` 0) has nothing pending (True).
        """
        m = self._marks.get(robot_id)
        if event_seq == 0:
            return m is None or m.epoch != epoch or m.seq == 0
        return m is not None and m.epoch == epoch and m.seq == event_seq

    def _latest_epoch(self, now: float) -> int:
        return int((now + self._settings.max_clock_skew) * 1e6)

    def check(self, key: EventKey, now: float) -> Verdict:
        """Decide what to do with one event; does not change anything."""
        if not key.robot_id.strip() or key.seq <= 0 or key.epoch <= 0:
            return Verdict.INVALID
        if key.epoch > self._latest_epoch(now):
            return Verdict.JUMP
        m = self._marks.get(key.robot_id)
        first = key.first_seq if key.first_seq is not None else key.seq
        if m is None or key.epoch > m.epoch:
            return self._start(key, first, m)
        if key.epoch < m.epoch:
            return Verdict.STALE_EPOCH
        if key.seq <= m.seq:
            return Verdict.DUPLICATE
        if first <= m.seq + 1:
            return Verdict.APPLY
        if key.seq - m.seq > self._settings.max_seq_jump:
            return Verdict.JUMP
        return Verdict.AHEAD

    def _start(self, key: EventKey, first: int, m: Mark | None) -> Verdict:
        """The verdict on an event that would start the robot's log or a new epoch of it."""
        if m is None or key.epoch != m.status_epoch:
            return Verdict.UNCONFIRMED  # wait for a status that names this epoch
        start = m.status_acked + 1  # the first seq the agent still holds
        if first <= start <= key.seq:
            return Verdict.NEW_EPOCH
        if key.seq < start:
            return Verdict.DUPLICATE  # acknowledged before: the agent drops it
        if key.seq - start > self._settings.max_seq_jump:
            return Verdict.JUMP
        return Verdict.AHEAD

    def accept(self, key: EventKey, now: float) -> Verdict:
        """Decide, count and, when the event applies, advance the robot's mark."""
        verdict = self.check(key, now)
        self.counts[verdict] += 1
        if verdict.applies:
            m = self._marks.setdefault(key.robot_id, Mark())
            m.epoch, m.seq = key.epoch, key.seq
        return verdict

    def forget(self, robot_id: str) -> None:
        """Drop a robot's mark (it left the fleet for good)."""
        self._marks.pop(robot_id, None)
