"""The bridge's storage: one SQLite file (WAL mode) opened through sqlite-utils.

This module is the only place that knows SQL and table names. It keeps:

* the **event-log cursor**: the id of the last manager event whose webhook deliveries are fully
  enqueued, so a restarted bridge resumes reading the log after it;
* the **webhook outbox**: one row per (subscription, event), with its destination (the
  origin it goes to), its status (see :class:`DeliveryStatus`), attempts, next attempt time,
  last error (a short status line, never a response body) and last HTTP status;
* the **subscription states**: the subscriptions a receiver disabled (HTTP 410 Gone).

(Mission submissions are made idempotent by the manager, which owns the missions.)

Contracts:

* :meth:`Store.enqueue` inserts a batch of deliveries and advances the cursor in ONE
  transaction: after a crash (even SIGKILL) either the whole batch and the new cursor are
  there, or neither is.
* Deliveries form one *queue* per (subscription, destination): a subscription has one
  destination (its URL's origin), the mission callbacks one per callback origin, so a slow
  receiver holds up only its own queue. A queue goes out in event-id order:
  :meth:`Store.claim_due` only ever returns the oldest pending delivery of a queue (its
  *head*), and only once that head is due. A dead delivery no longer blocks the ones behind
  it; retrying it (:meth:`Store.retry_dead`) makes it pending again, and since it is older
  than anything still pending in its queue it becomes the head again.
* Claiming does not change a row. The one-in-flight-per-queue rule is kept by the worker in
  memory; a delivery in flight when the process dies is still pending and is attempted again
  after a restart, with the same delivery id and event id (at-least-once).
* Opening checks the file (``PRAGMA quick_check``): a damaged file raises
  :class:`StoreCorrupt` naming the file and SQLite's finding, never a bare error.

Times given to the store (``now``, ``next_attempt_at``) are Unix seconds from the caller's
(injectable) clock; ``created_at``/``updated_at`` are stored as ISO-8601 UTC strings derived
from them. One :class:`Store` may be shared by threads (calls are serialised by a lock); one
database file must be used by only one bridge process at a time.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import datetime as dt
import enum
import json
import pathlib
import sqlite3
import threading
from typing import Any, Callable, Collection, Iterable, Mapping

import sqlite_utils

from fleet_web.errors import Conflict, NotFound

SCHEMA_VERSION = 3
"""The schema this module writes, kept in ``PRAGMA user_version``.

2: the unused ``idempotency_keys`` table of version 1 is dropped.
3: ``webhook_outbox.destination`` (one queue per destination), ``webhook_subscriptions`` and
``bridge_settings`` (values the bridge generates once, such as the callback secret).
"""

_CURSOR_TABLE = 'event_cursor'
_OUTBOX_TABLE = 'webhook_outbox'
_SUBSCRIPTIONS_TABLE = 'webhook_subscriptions'
_SETTINGS_TABLE = 'bridge_settings'
_EVENT_LOG_CURSOR = 'event_log'
_RETIRED_TABLES = ('idempotency_keys',)

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {_CURSOR_TABLE} (
        name TEXT PRIMARY KEY,
        last_event_id INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {_OUTBOX_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        event_json TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        last_status INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (subscription, event_id)
    )""",
    f"""CREATE INDEX IF NOT EXISTS {_OUTBOX_TABLE}_subscription
        ON {_OUTBOX_TABLE} (subscription, id)""",
    f"""CREATE TABLE IF NOT EXISTS {_SUBSCRIPTIONS_TABLE} (
        name TEXT PRIMARY KEY,
        disabled_at REAL NOT NULL,
        reason TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {_SETTINGS_TABLE} (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    *(f'DROP TABLE IF EXISTS {table}' for table in _RETIRED_TABLES),
)

_MIGRATIONS = {  # applied when the column is missing (any older file)
    3: (f"ALTER TABLE {_OUTBOX_TABLE} ADD COLUMN destination TEXT NOT NULL DEFAULT ''",
        f'DROP INDEX IF EXISTS {_OUTBOX_TABLE}_status'),
}
"""Statements that bring a file of the version before the key up to it."""

_INDEXES = (
    f"""CREATE INDEX IF NOT EXISTS {_OUTBOX_TABLE}_queue
        ON {_OUTBOX_TABLE} (status, subscription, destination, event_id)""",
    f"""CREATE INDEX IF NOT EXISTS {_OUTBOX_TABLE}_updated
        ON {_OUTBOX_TABLE} (status, updated_at)""",
)

_HEADS_SQL = f"""
    SELECT o.* FROM {_OUTBOX_TABLE} AS o
    JOIN (SELECT subscription, destination, MIN(event_id) AS event_id FROM {_OUTBOX_TABLE}
          WHERE status = 'pending' GROUP BY subscription, destination) AS head
      ON o.subscription = head.subscription AND o.destination = head.destination
         AND o.event_id = head.event_id
    ORDER BY o.next_attempt_at, o.id
"""

WAL_CHECKPOINT_PAGES = 100
"""Pages in the WAL that trigger an automatic checkpoint."""
WAL_LIMIT_BYTES = 1 << 20
"""The size the WAL file is truncated to after a checkpoint."""

QueueKey = tuple[str, str]
"""A delivery queue: (subscription name, destination)."""


class StoreCorrupt(Exception):
    """The bridge's database file is damaged; ``str()`` names the file and SQLite's finding."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f'{path}: the bridge state database is damaged ({detail}); move it '
                         f'aside to start with an empty webhook outbox')


class DeliveryStatus(str, enum.Enum):
    """The state of one webhook delivery (one outbox row)."""

    PENDING = 'pending'
    """Not delivered yet: waiting for its first attempt, or for a retry at
    ``next_attempt_at``. Only the oldest pending delivery of a subscription is attempted."""

    DELIVERED = 'delivered'
    """The receiver answered 2xx. Never attempted again."""

    DEAD = 'dead'
    """Dead letter: every one of the subscription's ``max_attempts`` failed. It no longer
    blocks the deliveries behind it and is attempted again only when retried by an operator."""


def iso_utc(ts: float) -> str:
    """Return Unix seconds ``ts`` as ISO-8601 UTC with milliseconds, e.g.
    ``2025-01-02T03:04:05.678Z`` (fixed width, so such strings sort by time)."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    return moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


@dataclass(frozen=True)
class Delivery:
    """One outbox row: the delivery of one event to one subscription."""

    id: int
    subscription: str
    event_id: int
    event: dict[str, Any]
    destination: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    last_error: str | None
    last_status: int | None
    created_at: str
    updated_at: str

    @property
    def queue(self) -> QueueKey:
        """The queue this delivery waits in: (subscription, destination)."""
        return (self.subscription, self.destination)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (``next_attempt_at`` as ISO-8601 UTC)."""
        return {
            'id': self.id,
            'subscription': self.subscription,
            'destination': self.destination,
            'event_id': self.event_id,
            'event': self.event,
            'status': self.status.value,
            'attempts': self.attempts,
            'next_attempt_at': iso_utc(self.next_attempt_at),
            'last_error': self.last_error,
            'last_status': self.last_status,
            'created_at': self.created_at,
            'updated_at': self.updated_at,
        }


@dataclass(frozen=True)
class DeliveryPage:
    """A page of :meth:`Store.list_deliveries`: the rows, and ``total`` matching rows."""

    items: list[Delivery]
    total: int
    limit: int
    offset: int


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=int(row['id']),
        subscription=row['subscription'],
        event_id=int(row['event_id']),
        event=json.loads(row['event_json']),
        destination=row['destination'],
        status=DeliveryStatus(row['status']),
        attempts=int(row['attempts']),
        next_attempt_at=float(row['next_attempt_at']),
        last_error=row['last_error'],
        last_status=row['last_status'],
        created_at=row['created_at'],
        updated_at=row['updated_at'],
    )


class Store:
    """The bridge's SQLite database. Open with a path; :meth:`close` when done.

    Creates the file and schema when missing, and switches the file to WAL mode.
    """

    def __init__(self, path: str | pathlib.Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = str(path)
        conn = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False)
        self._db = sqlite_utils.Database(conn, execute_plugins=False)
        self._lock = threading.RLock()
        try:
            self._check()
            self._db.enable_wal()
            # Keep the WAL small (checkpoint every ~400 KiB, truncate it to 1 MiB after), so
            # that a small or nearly full disk is not taken by the log itself.
            self._db.execute(f'PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}')
            self._db.execute(f'PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}')
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise
            raise StoreCorrupt(self.path, str(exc) or type(exc).__name__) from None
        except BaseException:
            self._db.close()
            raise

    def _check(self) -> None:
        """Raise :class:`StoreCorrupt` when SQLite's quick check finds damage."""
        rows = [str(row[0]) for row in self._db.execute('PRAGMA quick_check').fetchall()]
        if rows != ['ok']:
            raise StoreCorrupt(self.path, '; '.join(rows[:3]) or 'quick_check failed')

    def _migrate(self) -> None:
        version = self._db.execute('PRAGMA user_version').fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f'{self.path}: database schema {version} is newer than this bridge '
                f'understands ({SCHEMA_VERSION})')
        with self._db.atomic():
            for statement in _SCHEMA:
                self._db.execute(statement)
            if 'destination' not in self._db[_OUTBOX_TABLE].columns_dict:
                for statement in _MIGRATIONS[3]:
                    self._db.execute(statement)
            for statement in _INDEXES:
                self._db.execute(statement)
            self._db.execute(f'PRAGMA user_version = {SCHEMA_VERSION}')

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database. The store must not be used afterwards."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def journal_mode(self) -> str:
        """Return SQLite's journal mode of the file (``'wal'``)."""
        with self._lock:
            return str(self._db.journal_mode)

    # -- event-log cursor and enqueueing -----------------------------------------------------

    def cursor(self) -> int:
        """Return the id of the last event whose deliveries are enqueued (0 before any)."""
        with self._lock:
            row = self._db.execute(
                f'SELECT last_event_id FROM {_CURSOR_TABLE} WHERE name = ?',
                [_EVENT_LOG_CURSOR]).fetchone()
            return int(row[0]) if row else 0

    def enqueue(self, entries: Iterable[tuple[str, Mapping[str, Any]]
                                 | tuple[str, Mapping[str, Any], str]],
                cursor: int, now: float) -> int:
        """Enqueue deliveries and advance the cursor atomically.

        Each entry is ``(subscription name, event)`` or ``(subscription name, event,
        destination)`` (the destination names the entry's queue; default ``''``).
        Everything happens in one transaction: if anything raises (an event without an integer
        ``id``, an id above ``cursor``, an event that is not JSON-serialisable, a database
        error), neither the rows nor the cursor change. A (subscription, event id) pair
        already in the outbox is skipped, so enqueueing a batch again is harmless. The cursor
        never moves backwards. New rows are pending and due at ``now``.

        Returns the number of rows inserted.
        """
        stamp = iso_utc(now)
        inserted = 0
        with self._lock, self._db.atomic():
            for entry in entries:
                subscription, event = entry[0], entry[1]
                destination = entry[2] if len(entry) > 2 else ''
                event_id = event.get('id')
                if not isinstance(event_id, int) or isinstance(event_id, bool):
                    raise ValueError(f'event without an integer id: {event_id!r}')
                if event_id > cursor:
                    raise ValueError(f'event {event_id} is past the new cursor {cursor}')
                body = json.dumps(dict(event), separators=(',', ':'))
                result = self._db.execute(
                    f"""INSERT OR IGNORE INTO {_OUTBOX_TABLE}
                        (subscription, destination, event_id, event_json, status, attempts,
                         next_attempt_at, created_at, updated_at)
                        VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)""",
                    [subscription, destination, event_id, body, now, stamp, stamp])
                inserted += result.rowcount
            self._db.execute(
                f"""INSERT INTO {_CURSOR_TABLE} (name, last_event_id, updated_at)
                    VALUES (?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET
                        last_event_id = MAX(last_event_id, excluded.last_event_id),
                        updated_at = excluded.updated_at""",
                [_EVENT_LOG_CURSOR, int(cursor), stamp])
        return inserted

    # -- the delivery queue ------------------------------------------------------------------

    def _heads(self, subscriptions: Collection[str] | None,
               exclude: Collection[str | QueueKey]) -> list[Delivery]:
        heads = [_delivery(row) for row in self._db.query(_HEADS_SQL)]
        return [
            head for head in heads
            if (subscriptions is None or head.subscription in subscriptions)
            and head.subscription not in exclude and head.queue not in exclude
        ]

    def claim_due(self, now: float, *, subscriptions: Collection[str] | None = None,
                  exclude: Collection[str | QueueKey] = ()) -> list[Delivery]:
        """Return the next due delivery of each queue, at most one per queue.

        A queue's candidate is its oldest pending delivery (lowest event id); it is returned
        only when ``next_attempt_at <= now``, so a later event is never handed out while an
        earlier one of the same queue is pending. ``subscriptions`` limits the answer to
        those names (None: all); ``exclude`` skips queues, given as (subscription,
        destination) or as a subscription name for all its queues (the worker passes those
        with a delivery in flight). Ordered by due time. Rows are not changed (see the module
        docstring).
        """
        with self._lock:
            return [d for d in self._heads(subscriptions, exclude) if d.next_attempt_at <= now]

    def next_due_at(self, *, subscriptions: Collection[str] | None = None,
                    exclude: Collection[str | QueueKey] = ()) -> float | None:
        """Return the earliest ``next_attempt_at`` of the queues' heads, or None."""
        with self._lock:
            heads = self._heads(subscriptions, exclude)
            return min((d.next_attempt_at for d in heads), default=None)

    def _update_pending(self, delivery_id: int, sets: str, params: list[Any]) -> bool:
        with self._lock, self._db.atomic():
            result = self._db.execute(
                f"""UPDATE {_OUTBOX_TABLE} SET {sets}, attempts = attempts + 1
                    WHERE id = ? AND status = 'pending'""",
                [*params, delivery_id])
            return result.rowcount == 1

    def mark_delivered(self, delivery_id: int, now: float,
                       status_code: int | None = None) -> bool:
        """Record a successful attempt: the delivery becomes delivered.

        Returns False (and changes nothing) when the delivery is not pending.
        """
        return self._update_pending(
            delivery_id, "status = 'delivered', last_status = ?, last_error = NULL, "
            'updated_at = ?', [status_code, iso_utc(now)])

    def schedule_retry(self, delivery_id: int, now: float, next_attempt_at: float,
                       error: str, status_code: int | None = None) -> bool:
        """Record a failed attempt and keep the delivery pending until ``next_attempt_at``.

        Returns False (and changes nothing) when the delivery is not pending.
        """
        return self._update_pending(
            delivery_id, 'next_attempt_at = ?, last_error = ?, last_status = ?, updated_at = ?',
            [next_attempt_at, error, status_code, iso_utc(now)])

    def dead_letter(self, delivery_id: int, now: float, error: str,
                    status_code: int | None = None) -> bool:
        """Record a final failed attempt: the delivery becomes dead.

        Returns False (and changes nothing) when the delivery is not pending.
        """
        return self._update_pending(
            delivery_id, "status = 'dead', last_error = ?, last_status = ?, updated_at = ?",
            [error, status_code, iso_utc(now)])

    def retry_dead(self, delivery_id: int, now: float) -> Delivery:
        """Make a dead delivery pending again, with its attempts reset, due at ``now``.

        It keeps its id and event id; being older than whatever is still pending for its
        subscription, it is attempted before those. Raises :class:`NotFound` for an unknown
        id and :class:`Conflict` when the delivery is not dead. Returns the updated delivery.
        """
        with self._lock, self._db.atomic():
            current = self.get(delivery_id)
            if current is None:
                raise NotFound(f'delivery {delivery_id} does not exist')
            if current.status is not DeliveryStatus.DEAD:
                raise Conflict(
                    f'delivery {delivery_id} is {current.status.value}, not dead')
            self._db.execute(
                f"""UPDATE {_OUTBOX_TABLE} SET status = 'pending', attempts = 0,
                    next_attempt_at = ?, updated_at = ? WHERE id = ?""",
                [now, iso_utc(now), delivery_id])
            updated = self.get(delivery_id)
        assert updated is not None
        return updated

    def retry_all_dead(self, now: float, subscription: str | None = None) -> int:
        """Make every dead delivery (of ``subscription``, or of all) pending again.

        They are attempted in event-id order per subscription, like any pending delivery.
        Returns how many were requeued.
        """
        where, params = "status = 'dead'", [now, iso_utc(now)]
        if subscription is not None:
            where += ' AND subscription = ?'
            params.append(subscription)
        with self._lock, self._db.atomic():
            result = self._db.execute(
                f"""UPDATE {_OUTBOX_TABLE} SET status = 'pending', attempts = 0,
                    next_attempt_at = ?, updated_at = ? WHERE {where}""", params)
            return result.rowcount

    # -- inspection --------------------------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery | None:
        """Return the delivery with this id, or None."""
        with self._lock:
            rows = list(self._db.query(
                f'SELECT * FROM {_OUTBOX_TABLE} WHERE id = ?', [delivery_id]))
            return _delivery(rows[0]) if rows else None

    def list_deliveries(self, *, status: DeliveryStatus | str | None = None,
                        subscription: str | None = None, limit: int = 50, offset: int = 0,
                        newest_first: bool = True) -> DeliveryPage:
        """Return a page of deliveries, filtered by status and/or subscription.

        Ordered by delivery id (newest first unless ``newest_first`` is False); ``total``
        counts every matching row. Raises ValueError for an unknown status or a negative
        limit/offset.
        """
        if limit < 0 or offset < 0:
            raise ValueError('limit and offset must not be negative')
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            clauses.append('status = ?')
            params.append(DeliveryStatus(status).value)
        if subscription is not None:
            clauses.append('subscription = ?')
            params.append(subscription)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ''
        order = 'DESC' if newest_first else 'ASC'
        with self._lock:
            total = self._db.execute(
                f'SELECT COUNT(*) FROM {_OUTBOX_TABLE} {where}', params).fetchone()[0]
            rows = self._db.query(
                f'SELECT * FROM {_OUTBOX_TABLE} {where} ORDER BY id {order} LIMIT ? OFFSET ?',
                [*params, limit, offset])
            items = [_delivery(row) for row in rows]
        return DeliveryPage(items=items, total=int(total), limit=limit, offset=offset)

    def counts(self, subscription: str | None = None) -> dict[str, int]:
        """Return the number of deliveries per status value (every status present, maybe 0)."""
        where, params = ('WHERE subscription = ?', [subscription]) if subscription else ('', [])
        counts = {status.value: 0 for status in DeliveryStatus}
        with self._lock:
            for status, count in self._db.execute(
                    f'SELECT status, COUNT(*) FROM {_OUTBOX_TABLE} {where} GROUP BY status',
                    params).fetchall():
                counts[status] = int(count)
        return counts

    def prune_delivered(self, before: float) -> int:
        """Delete delivered rows last updated before Unix time ``before``; return how many."""
        return self.prune(delivered_before=before)

    def prune(self, *, delivered_before: float | None = None,
              dead_before: float | None = None) -> int:
        """Delete delivered (and dead) rows last updated before the given Unix times.

        Pending rows are never deleted. Returns how many rows went.
        """
        removed = 0
        with self._lock, self._db.atomic():
            for status, before in (('delivered', delivered_before), ('dead', dead_before)):
                if before is None:
                    continue
                result = self._db.execute(
                    f'DELETE FROM {_OUTBOX_TABLE} WHERE status = ? AND updated_at < ?',
                    [status, iso_utc(before)])
                removed += result.rowcount
        return removed

    # -- subscription states -----------------------------------------------------------------

    def disable_subscription(self, name: str, now: float, reason: str) -> bool:
        """Mark a subscription disabled (its receiver answered 410 Gone); its pending
        deliveries stay, unattempted. Returns False when it already was disabled."""
        with self._lock, self._db.atomic():
            result = self._db.execute(
                f"""INSERT OR IGNORE INTO {_SUBSCRIPTIONS_TABLE} (name, disabled_at, reason)
                    VALUES (?, ?, ?)""", [name, now, reason])
            return result.rowcount == 1

    def enable_subscription(self, name: str) -> bool:
        """Enable a disabled subscription again; False when it was not disabled."""
        with self._lock, self._db.atomic():
            result = self._db.execute(
                f'DELETE FROM {_SUBSCRIPTIONS_TABLE} WHERE name = ?', [name])
            return result.rowcount == 1

    def disabled_subscriptions(self) -> dict[str, tuple[float, str]]:
        """Return name -> (disabled at, Unix seconds; reason) of the disabled subscriptions."""
        with self._lock:
            return {row[0]: (float(row[1]), str(row[2])) for row in self._db.execute(
                f'SELECT name, disabled_at, reason FROM {_SUBSCRIPTIONS_TABLE}').fetchall()}

    def setting(self, name: str, make: Callable[[], str]) -> str:
        """Return the stored setting ``name``; the first time, store ``make()`` and return
        it (a value generated once and kept, such as the mission callbacks' secret)."""
        with self._lock, self._db.atomic():
            row = self._db.execute(f'SELECT value FROM {_SETTINGS_TABLE} WHERE name = ?',
                                   [name]).fetchone()
            if row is not None:
                return str(row[0])
            value = make()
            self._db.execute(f'INSERT INTO {_SETTINGS_TABLE} (name, value) VALUES (?, ?)',
                             [name, value])
            return value

    def heartbeat(self, now: float) -> None:
        """Commit a one-row write (the ``heartbeat`` cursor row): raises sqlite3.Error while
        the file cannot take writes (a full disk, a damaged file). A failed write is followed
        by a checkpoint that moves the WAL into the file and truncates it, so the space the
        log holds comes back as soon as the disk has room for the checkpoint."""
        try:
            self._heartbeat(now)
        except sqlite3.OperationalError:
            with self._lock, contextlib.suppress(sqlite3.Error):
                self._db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            raise

    def _heartbeat(self, now: float) -> None:
        with self._lock, self._db.atomic():
            self._db.execute(
                f"""INSERT INTO {_CURSOR_TABLE} (name, last_event_id, updated_at)
                    VALUES ('heartbeat', 0, ?)
                    ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at""",
                [iso_utc(now)])
