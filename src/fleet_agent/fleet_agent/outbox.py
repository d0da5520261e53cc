"""The agent's durable outbox: the agent's only storage module (SQLite).

Every robot event is written here before it is sent and deleted only when the manager has
acknowledged it, so an outage of the manager, of the network or of the agent itself (a
restart, a power loss) loses nothing.

Numbering: the outbox has an ``epoch`` (µs since 1970 when the file was created) and gives
each event the next ``seq``, from 1, without gaps, across restarts of the agent. A new epoch
starts only when the outbox file is new (the agent's state was lost, or it runs with
``:memory:``).

Bounds: at most ``max_events`` events and none older than ``max_age`` seconds are kept.
When a bound forces the oldest events out, they are replaced by ONE notice of type
``link.dropped`` that takes the seq of the last one dropped and says which seqs it covers
(``first_seq``..``last_seq``) and how many (``count``), so a loss is never silent and the
numbering stays without gaps.

Thread-safe: one lock serialises every use of the file (an agent spun by a
multi-threaded executor writes from several threads).

Durability (``sync``): ``full`` (default) makes every write reach the disk before
:meth:`Outbox.append` returns (SQLite WAL with synchronous=FULL: one fsync per event),
which survives a power loss; ``normal`` survives a crash of the agent process but may lose
the last events on a power loss. The current mission (``job``) is written in the same
transaction as the event that starts or ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import pathlib
import sqlite3
import threading
import time
from typing import Any, Callable

DROPPED = 'link.dropped'
SYNC_MODES = {'full': 'FULL', 'normal': 'NORMAL'}
_UNCHANGED: Any = object()


@dataclass(frozen=True)
class Entry:
    """One event waiting in the outbox."""

    seq: int
    stamp: float
    type: str
    severity: int
    message: str
    data: dict[str, Any]


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written; the message names the file."""


class Outbox:
    """Events waiting for the manager's acknowledgement, and the agent's current job."""

    def __init__(self, path: str, max_events: int = 100_000, max_age: float = 7 * 86400.0,
                 sync: str = 'full', clock: Callable[[], float] = time.time) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f'sync must be one of {", ".join(SYNC_MODES)}, not {sync!r}')
        if max_events < 2:
            raise ValueError('max_events must be at least 2')
        self.path = path
        self.max_events = max_events
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.RLock()
        try:
            if path != ':memory:':
                pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute('PRAGMA journal_mode=WAL')
            self._db.execute(f'PRAGMA synchronous={SYNC_MODES[sync]}')
            self._create()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f'outbox {path}: {exc or type(exc).__name__}') from None
        self.epoch = int(self._meta('epoch'))
        self.last_seq = int(self._meta('last_seq'))
        self.acked_seq = int(self._meta('acked_seq'))
        self.dropped = 0
        """Events dropped by the bounds since this agent started."""

    def _create(self) -> None:
        db = self._db
        db.execute('CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, '
                   'written_at REAL NOT NULL, stamp REAL NOT NULL, type TEXT NOT NULL, '
                   'severity INTEGER NOT NULL, message TEXT NOT NULL, data TEXT NOT NULL, '
                   'first_seq INTEGER)')
        db.execute('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)')
        if db.execute("SELECT 1 FROM meta WHERE key = 'epoch'").fetchone() is None:
            with db:
                db.execute('BEGIN')
                for key, value in (('epoch', str(time.time_ns() // 1000)), ('last_seq', '0'),
                                   ('acked_seq', '0'), ('job', 'null')):
                    db.execute('INSERT INTO meta VALUES (?, ?)', (key, value))

    def _meta(self, key: str) -> str:
        row = self._db.execute('SELECT value FROM meta WHERE key = ?', (key,)).fetchone()
        return str(row[0]) if row else '0'

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute('INSERT OR REPLACE INTO meta VALUES (?, ?)', (key, value))

    # -- writing -----------------------------------------------------------------------------
    def append(self, type_: str, severity: int, message: str, data: dict[str, Any],
               stamp: float, job: Any = _UNCHANGED) -> int:
        """Write one event (and, when given, the new current job) durably; return its seq.

        The bounds are enforced first, so the outbox never holds more than ``max_events``.
        """
        try:
            with self._lock, self._db:
                self._db.execute('BEGIN IMMEDIATE')
                self._enforce(self._clock(), room=1)
                seq = self.last_seq + 1
                self._db.execute(
                    'INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
                    (seq, self._clock(), stamp, type_, int(severity), message,
                     json.dumps(data)))
                self._set_meta('last_seq', str(seq))
                if job is not _UNCHANGED:
                    self._set_meta('job', json.dumps(job))
        except sqlite3.Error as exc:
            raise OutboxError(f'outbox {self.path}: {exc}') from None
        self.last_seq = seq
        return seq

    def acknowledge(self, epoch: int, seq: int) -> int:
        """Delete what the manager acknowledged (up to ``seq`` of ``epoch``); return how many
        events went. An acknowledgement of another epoch or beyond what was written is
        ignored."""
        if epoch != self.epoch or seq <= self.acked_seq or seq > self.last_seq:
            return 0
        with self._lock, self._db:
            self._db.execute('BEGIN IMMEDIATE')
            cur = self._db.execute('DELETE FROM events WHERE seq <= ?', (seq,))
            self._set_meta('acked_seq', str(seq))
        self.acked_seq = seq
        return int(cur.rowcount)

    def enforce_bounds(self) -> int:
        """Apply the age bound now (also done on every append); return events dropped."""
        before = self.dropped
        with self._lock, self._db:
            self._db.execute('BEGIN IMMEDIATE')
            self._enforce(self._clock(), room=0)
        return self.dropped - before

    def _enforce(self, now: float, room: int) -> None:
        """Fold the oldest events into one ``link.dropped`` notice while a bound is
        exceeded (inside the caller's transaction)."""
        count = self._db.execute('SELECT COUNT(*) FROM events').fetchone()[0]
        excess = count + room - self.max_events
        horizon = now - self.max_age
        old = self._db.execute('SELECT COUNT(*) FROM events WHERE written_at < ? '
                               'AND type != ?', (horizon, DROPPED)).fetchone()[0]
        if excess <= 0 and old == 0:
            return
        head = self._db.execute('SELECT type FROM events ORDER BY seq LIMIT 1').fetchone()
        head_notice = head is not None and head[0] == DROPPED
        # Folding k rows into one notice frees k - 1 places: fold excess + 1 rows; the old
        # ones are the first rows (after a notice already at the head).
        fold = max(excess + 1 if excess > 0 else 0,
                   old + (1 if head_notice else 0) if old else 0)
        rows = self._db.execute('SELECT seq, type, first_seq, data FROM events ORDER BY seq '
                                'LIMIT ?', (fold,)).fetchall()
        if not rows:
            return
        first = rows[0][2] if rows[0][1] == DROPPED and rows[0][2] else rows[0][0]
        last = rows[-1][0]
        real = sum(1 for r in rows if r[1] != DROPPED)
        reason = 'max_events' if excess > 0 else 'max_age'
        self._db.execute('DELETE FROM events WHERE seq <= ?', (last,))
        notice = {'count': last - first + 1, 'first_seq': first, 'last_seq': last,
                  'reason': reason}
        self._db.execute('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                         (last, now, now, DROPPED, 2,
                          f'outbox full: dropped events {first}..{last} ({reason})',
                          json.dumps(notice), first))
        self.dropped += real

    # -- reading -----------------------------------------------------------------------------
    def unacked(self, after: int, limit: int) -> list[Entry]:
        """Return up to ``limit`` waiting events with seq > ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                'SELECT seq, stamp, type, severity, message, data FROM events WHERE seq > ? '
                'ORDER BY seq LIMIT ?', (max(after, self.acked_seq), limit)).fetchall()
        return [Entry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def pending(self) -> int:
        """How many events wait for an acknowledgement."""
        with self._lock:
            return int(self._db.execute('SELECT COUNT(*) FROM events').fetchone()[0])

    def first_unacked(self) -> int:
        """The seq of the oldest waiting event (last_seq + 1 when none waits)."""
        with self._lock:
            row = self._db.execute('SELECT MIN(seq) FROM events').fetchone()
        return int(row[0]) if row and row[0] is not None else self.last_seq + 1

    @property
    def job(self) -> Any:
        """The current mission as last written (None when the agent is idle)."""
        with self._lock:
            return json.loads(self._meta('job'))

    def close(self) -> None:
        """Close the file; safe to call twice."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._db is not None:
            try:
                self._db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            except sqlite3.Error:
                pass
            self._db.close()
            self._db = None  # type: ignore[assignment]
