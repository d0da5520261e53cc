"""The fleet store: the manager's only storage module (SQLite through sqlite-utils).

The manager is the single writer. Tables:
- ``events``: the append-only event log; ids come from AUTOINCREMENT, so they increase
  strictly and are never reused, even after the newest rows were deleted. Events older than
  the retention are deleted in bounded batches (:meth:`FleetStore.prune_events`); a reader
  paging with ``after_id`` below the oldest kept id gets what remains.
- ``robots``: the registry, one JSON document per robot.
- ``missions``: one row per mission with indexed columns for filtering and the full
  document in ``data``.
- ``incidents``: one row per incident (the document in ``data``).
- ``links``: per robot, the high-water mark (epoch, seq) of the robot events committed.
- ``telemetry``: downsampled robot status history.
- ``revisions``: the applied desired-state revisions (files, who, when, why, the diff).
- ``rollouts``: one row per staged rollout (the document in ``data``).
- ``robot_config``: per robot, the reported side of its configuration (drift state).

Everything one input produced is written in ONE transaction (:meth:`FleetStore.transaction`):
events, missions, robots, incidents and link marks together, so a crash leaves either all
of it or none. The database runs in WAL mode so readers do not block it; ``sync='full'``
(the default) makes every commit durable across power loss, which is what lets the manager
acknowledge robot events once they are committed.

With ``FLEET_STRICT_EVENTS=1`` in the environment (the test suite sets it), every appended
event is checked against its declared payload type and a mismatch raises ValueError.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sqlite3
from typing import Any, Iterable, Iterator, Sequence

import sqlite_utils

from fleet_common import events as vocabulary
from fleet_manager.core.missions import Mission
from fleet_manager.core.model import Event, NewEvent, RobotRecord

SCHEMA_VERSION = 2
TELEMETRY_COLUMNS = ('robot_id', 'time', 'battery', 'x', 'y', 'theta', 'mode',
                     'diagnostics_level', 'connectivity')
SYNC_MODES = {'full': 'FULL', 'normal': 'NORMAL'}
PRUNE_BATCH = 10_000
"""Most rows one :meth:`FleetStore.prune_events` or :meth:`FleetStore.prune_telemetry` call
deletes (one short transaction)."""


def _strict() -> bool:
    return os.environ.get('FLEET_STRICT_EVENTS', '') == '1'


MISSION_COLUMNS = ('id', 'state', 'robot_id', 'priority', 'created_at', 'updated_at',
                   'client_ref', 'idempotency_key', 'data')
"""The missions table's columns, in the order of :meth:`FleetStore._mission_row`."""
_UPSERT_MISSION = (
    f'INSERT INTO missions ({", ".join(MISSION_COLUMNS)}) '
    f'VALUES ({", ".join("?" for _ in MISSION_COLUMNS)}) ON CONFLICT(id) DO UPDATE SET '
    + ', '.join(f'{c} = excluded.{c}' for c in MISSION_COLUMNS[1:]))

DOC_TABLES = ('silences', 'postmortems')
"""Tables of JSON documents keyed by ``id`` (incident operations)."""


class Transaction:
    """One open write transaction of the store (see :meth:`FleetStore.transaction`)."""

    def __init__(self, db: sqlite_utils.Database, strict: bool) -> None:
        self._db = db
        self._strict = strict

    def append(self, events: Sequence[NewEvent], now: float) -> list[Event]:
        """Append events to the log; return them with their ids.

        One statement for the batch: the transaction is the only writer, so AUTOINCREMENT
        gives the rows consecutive ids ending at the last one inserted.
        """
        if not events:
            return []
        if self._strict:
            for e in events:
                problems = vocabulary.validate(e.kind, e.payload)
                if problems:
                    raise ValueError(f'event {e.kind} does not match its type: '
                                     + '; '.join(problems))
        texts = [json.dumps(e.payload) for e in events]
        before = self._db.execute('SELECT seq FROM sqlite_sequence WHERE name = ?',
                                  ['events']).fetchone()
        self._db.conn.executemany(
            'INSERT INTO events (time, kind, robot_id, mission_id, payload) '
            'VALUES (?, ?, ?, ?, ?)',
            [(now, e.kind, e.robot_id, e.mission_id, t) for e, t in zip(events, texts)])
        first = (int(before[0]) if before else 0) + 1
        return [Event(first + i, now, e.kind, e.robot_id, e.payload, e.mission_id, t)
                for i, (e, t) in enumerate(zip(events, texts))]

    def save_robots(self, robots: Iterable[RobotRecord]) -> None:
        """Save registry records."""
        rows = [(r.robot_id, json.dumps(r.to_dict())) for r in robots]
        if rows:
            self._db.conn.executemany(
                'INSERT OR REPLACE INTO robots (robot_id, data) VALUES (?, ?)', rows)

    def save_missions(self, missions: Iterable[Mission]) -> None:
        """Save missions."""
        rows = [tuple(row[c] for c in MISSION_COLUMNS)
                for row in map(FleetStore._mission_row, missions)]
        if rows:
            # One prepared statement: sqlite-utils' upsert_all introspects the table on every
            # call, which cost more than the write itself on each mission submission.
            self._db.conn.executemany(_UPSERT_MISSION, rows)

    def save_incidents(self, incidents: Iterable[dict[str, Any]]) -> None:
        """Save incidents (``Incident.to_dict()`` shapes)."""
        rows = [{'id': d['id'], 'state': str(d.get('state', '')),
                 'robot_id': d.get('robot_id', ''),
                 'type': d.get('type', ''), 'opened_at': d.get('opened_at', 0.0),
                 'data': json.dumps(d, default=str)} for d in incidents]
        if rows:
            self._db.table('incidents').upsert_all(rows, pk='id')

    def save_marks(self, marks: dict[str, tuple[int, int]]) -> None:
        """Save robots' committed event marks: robot id -> (epoch, seq)."""
        rows = [(r, e, q) for r, (e, q) in marks.items()]
        if rows:
            self._db.conn.executemany(
                'INSERT INTO links (robot_id, epoch, seq) VALUES (?, ?, ?) ON CONFLICT(robot_id) '
                'DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq', rows)

    def add_telemetry(self, samples: Sequence[dict[str, Any]]) -> None:
        """Append telemetry samples (keys: the telemetry table's columns)."""
        if samples:
            self._db.conn.executemany(
                f'INSERT INTO telemetry ({", ".join(TELEMETRY_COLUMNS)}) VALUES '
                f'({", ".join("?" for _ in TELEMETRY_COLUMNS)})',
                [tuple(s[c] for c in TELEMETRY_COLUMNS) for s in samples])

    def save_revision(self, rev: dict[str, Any]) -> None:
        """Save a desired-state revision: number, time, who, reason, digest, files (name ->
        text), diff and restored_from (None unless it restores an older one)."""
        self._db.table('revisions').upsert({
            'number': int(rev['number']), 'time': float(rev['time']), 'who': rev['who'],
            'reason': rev['reason'], 'digest': rev['digest'],
            'restored_from': rev.get('restored_from'), 'files': json.dumps(rev['files']),
            'diff': json.dumps(rev.get('diff', {}), default=str)}, pk='number')

    def save_rollouts(self, rollouts: Iterable[dict[str, Any]]) -> None:
        """Save rollout documents (``Rollout.to_dict()`` shapes)."""
        rows = [{'id': d['id'], 'state': d['state'], 'created_at': d['created_at'],
                 'updated_at': d['updated_at'], 'data': json.dumps(d, default=str)}
                for d in rollouts]
        if rows:
            self._db.table('rollouts').upsert_all(rows, pk='id')

    def save_robot_configs(self, records: Iterable[dict[str, Any]]) -> None:
        """Save robots' configuration records (``RobotConfig.to_dict()`` shapes)."""
        rows = [{'robot_id': d['robot_id'], 'data': json.dumps(d, default=str)}
                for d in records]
        if rows:
            self._db.table('robot_config').upsert_all(rows, pk='robot_id')


    def save_docs(self, table: str, docs: Iterable[dict[str, Any]]) -> None:
        """Save documents with an ``id`` in one of :data:`DOC_TABLES` (silences,
        postmortems)."""
        if table not in DOC_TABLES:
            raise ValueError(f'not a document table: {table!r}')
        rows = [{'id': str(d['id']), 'data': json.dumps(d, default=str)} for d in docs]
        if rows:
            self._db.table(table).upsert_all(rows, pk='id')


class FleetStore:
    """Persist the registry, the missions, the incidents and the event log."""

    def __init__(self, path: str | pathlib.Path, sync: str = 'full') -> None:
        """Open (creating if needed) the database at ``path``; ``:memory:`` is allowed.

        ``sync``: ``full`` (each commit reaches the disk before it returns; survives power
        loss) or ``normal`` (survives a crash of the process, not of the machine).
        """
        self.path = str(path)
        if sync not in SYNC_MODES:
            raise ValueError(f'sync must be one of {", ".join(SYNC_MODES)}, not {sync!r}')
        if self.path != ':memory:':
            pathlib.Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db = sqlite_utils.Database(conn)
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute(f'PRAGMA synchronous={SYNC_MODES[sync]}')
        self._strict = _strict()
        self._create()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Open one write transaction; commit when the block ends, roll back if it raises."""
        with self._db.conn:
            self._db.execute('BEGIN')
            yield Transaction(self._db, self._strict)

    def _create(self) -> None:
        db = self._db
        db.execute("""CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            kind TEXT NOT NULL,
            robot_id TEXT NOT NULL DEFAULT '',
            mission_id TEXT NOT NULL DEFAULT '',
            payload TEXT NOT NULL)""")
        db.table('events').create_index(['mission_id'], if_not_exists=True)
        db.table('events').create_index(['kind'], if_not_exists=True)
        db.table('events').create_index(['time'], if_not_exists=True)  # retention, events_since
        db.table('robots').create({'robot_id': str, 'data': str}, pk='robot_id',
                                  if_not_exists=True)
        db.table('missions').create({
            'id': str, 'state': str, 'robot_id': str, 'priority': int, 'created_at': float,
            'updated_at': float, 'client_ref': str, 'idempotency_key': str, 'data': str,
        }, pk='id', if_not_exists=True)
        db.table('missions').create_index(['state'], if_not_exists=True)
        db.table('missions').create_index(['created_at'], if_not_exists=True)
        db.table('telemetry').create({
            'robot_id': str, 'time': float, 'battery': float, 'x': float, 'y': float,
            'theta': float, 'mode': int, 'diagnostics_level': int, 'connectivity': str,
        }, if_not_exists=True)
        db.table('telemetry').create_index(['robot_id', 'time'], if_not_exists=True)
        db.table('incidents').create({'id': str, 'state': str, 'robot_id': str, 'type': str,
                                      'opened_at': float, 'data': str},
                                     pk='id', if_not_exists=True)
        db.table('links').create({'robot_id': str, 'epoch': int, 'seq': int}, pk='robot_id',
                                 if_not_exists=True)
        db.table('meta').create({'key': str, 'value': str}, pk='key', if_not_exists=True)
        self._create_config_tables()
        db.table('meta').upsert({'key': 'schema_version', 'value': str(SCHEMA_VERSION)},
                                pk='key')

    def close(self) -> None:
        """Checkpoint the WAL and close the database; safe to call twice."""
        if self._db is None:
            return
        try:
            self._db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        except sqlite3.Error:
            pass  # closing must not fail because a checkpoint could not run
        self._db.conn.close()
        self._db = None  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._db is None

    # -- event log ---------------------------------------------------------------------------
    def append(self, events: Sequence[NewEvent], now: float,
               robots: Iterable[RobotRecord] = (),
               missions: Iterable[Mission] = ()) -> list[Event]:
        """Append events and save robots and missions in one transaction."""
        with self.transaction() as tx:
            out = tx.append(events, now)
            tx.save_robots(robots)
            tx.save_missions(missions)
        return out

    def events_after(self, after_id: int, limit: int, kinds: Sequence[str] = (),
                     robot_id: str = '', mission_id: str = '') -> list[Event]:
        """Return up to ``limit`` events with id > after_id, oldest first, filtered."""
        where = ['id > ?']
        args: list[Any] = [after_id]
        if kinds:
            where.append(self._kind_clause(kinds))
            args.extend(kinds)
        if robot_id:
            where.append('robot_id = ?')
            args.append(robot_id)
        if mission_id:
            where.append('mission_id = ?')
            args.append(mission_id)
        args.append(limit)
        rows = self._db.execute(
            f'SELECT id, time, kind, robot_id, mission_id, payload FROM events '
            f'WHERE {" AND ".join(where)} ORDER BY id LIMIT ?', args).fetchall()
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[5]), r[4]) for r in rows]

    def events_since(self, since: float, kinds: Sequence[str] = (),
                     limit: int = 200_000) -> list[Event]:
        """Return events logged at or after ``since`` (epoch s), oldest first."""
        where, args = ['time >= ?'], [since]  # type: list[str], list[Any]
        if kinds:
            where.append(self._kind_clause(kinds))
            args.extend(kinds)
        rows = self._db.execute(
            f'SELECT id, time, kind, robot_id, mission_id, payload FROM events '
            f'WHERE {" AND ".join(where)} ORDER BY id LIMIT ?', [*args, limit]).fetchall()
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[5]), r[4]) for r in rows]

    @staticmethod
    def _kind_clause(patterns: Sequence[str]) -> str:
        """SQL matching any of ``patterns`` (kind patterns, see fleet_common.events).

        A pattern holds only letters, digits, ``_``, ``.`` and ``*``, where SQLite's GLOB
        and :func:`fleet_common.events.kind_matches` agree; the caller checks them.
        """
        for p in patterns:
            vocabulary.check_pattern(p)
        return '(' + ' OR '.join('kind GLOB ?' for _ in patterns) + ')'

    def last_event_id(self) -> int:
        """Return the newest event id ever appended (kept or pruned), or 0 for none."""
        row = self._db.execute('SELECT seq FROM sqlite_sequence WHERE name = ?',
                               ['events']).fetchone()
        return int(row[0]) if row else 0

    def prune_events(self, before: float, limit: int = PRUNE_BATCH,
                     keep_latest: Sequence[str] = ()) -> int:
        """Delete up to ``limit`` of the oldest events logged before ``before``; return how
        many.

        One short transaction: a caller with a backlog calls again (a return value equal to
        ``limit`` says more may be left). The newest event of each kind in ``keep_latest``
        (exact kinds) stays whatever its age. Ids are never reused: AUTOINCREMENT keeps
        counting from the newest id ever appended.
        """
        if limit <= 0:
            return 0
        keep = [int(r[0]) for r in (
            self._db.execute('SELECT MAX(id) FROM events WHERE kind = ?', [k]).fetchone()
            for k in keep_latest) if r[0] is not None]
        spare = f' AND id NOT IN ({", ".join("?" for _ in keep)})' if keep else ''
        with self._db.conn:
            cur = self._db.execute(
                'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ?'
                f'{spare} ORDER BY time LIMIT ?)', [before, *keep, limit])
        return int(cur.rowcount)

    # -- registry ----------------------------------------------------------------------------
    def load_robots(self) -> list[RobotRecord]:
        """Return every persisted robot record."""
        return [RobotRecord.from_dict(json.loads(r['data']))
                for r in self._db.table('robots').rows]

    def load_marks(self) -> list[tuple[str, int, int]]:
        """Return every robot's committed event mark: (robot id, epoch, seq)."""
        rows = self._db.execute('SELECT robot_id, epoch, seq FROM links').fetchall()
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    # -- incidents ---------------------------------------------------------------------------

    def load_incidents(self) -> list[dict[str, Any]]:
        """Return every persisted incident, oldest first."""
        rows = self._db.execute('SELECT data FROM incidents ORDER BY opened_at, id').fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- telemetry history ---------------------------------------------------------------------
    def telemetry(self, robot_id: str, since: float, until: float,
                  step: float = 0.0, limit: int = 10_000) -> list[dict[str, Any]]:
        """Return a robot's samples in [since, until], oldest first; with ``step`` > 0, the
        first sample of each ``step``-second bucket."""
        cols = 'robot_id, time, battery, x, y, theta, mode, diagnostics_level, connectivity'
        if step > 0:
            # SQLite takes the bare columns from the row that holds MIN(time).
            sql = (f'SELECT {cols}, MIN(time) FROM telemetry WHERE robot_id = ? AND time >= ? '
                   'AND time <= ? GROUP BY CAST(time / ? AS INTEGER) ORDER BY time LIMIT ?')
            args: list[Any] = [robot_id, since, until, step, limit]
        else:
            sql = (f'SELECT {cols} FROM telemetry WHERE robot_id = ? AND time >= ? '
                   'AND time <= ? ORDER BY time LIMIT ?')
            args = [robot_id, since, until, limit]
        names = cols.split(', ')
        return [dict(zip(names, row)) for row in self._db.execute(sql, args).fetchall()]

    def prune_telemetry(self, before: float, limit: int = PRUNE_BATCH) -> int:
        """Delete samples older than ``before`` among the ``limit`` oldest rows; return how
        many.

        Samples are appended in time order, so the oldest rows (by rowid) are the old ones;
        looking at only ``limit`` of them keeps a pass short without an index on time (a
        scan of the whole history would read gigabytes at 1,000 robots). A return value
        equal to ``limit`` says more may be left.
        """
        if limit <= 0:
            return 0
        with self._db.conn:
            row = self._db.execute('SELECT MAX(rowid) FROM (SELECT rowid FROM telemetry '
                                   'ORDER BY rowid LIMIT ?)', [limit]).fetchone()
            if row[0] is None:
                return 0
            cur = self._db.execute('DELETE FROM telemetry WHERE rowid <= ? AND time < ?',
                                   [row[0], before])
        return int(cur.rowcount)

    # -- missions ----------------------------------------------------------------------------
    @staticmethod
    def _mission_row(m: Mission) -> dict[str, Any]:
        return {'id': m.id, 'state': m.state.value, 'robot_id': m.robot_id,
                'priority': m.priority, 'created_at': m.created_at, 'updated_at': m.updated_at,
                'client_ref': m.client_ref, 'idempotency_key': m.idempotency_key,
                'data': json.dumps(m.to_dict())}

    def get_mission(self, mission_id: str) -> Mission | None:
        """Return one persisted mission, or None."""
        row = self._db.execute('SELECT data FROM missions WHERE id = ?', [mission_id]).fetchone()
        return Mission.from_dict(json.loads(row[0])) if row else None

    def load_missions(self, active_only: bool = False) -> list[Mission]:
        """Return persisted missions (only unfinished ones with ``active_only``)."""
        sql = 'SELECT data FROM missions'
        if active_only:
            sql += " WHERE state IN ('queued', 'assigned', 'active')"
        return [Mission.from_dict(json.loads(r[0])) for r in self._db.execute(sql).fetchall()]

    def idempotency_keys(self) -> list[tuple[str, str, str]]:
        """Return (key, mission id, body hash) for every mission submitted with a key."""
        rows = self._db.execute(
            "SELECT idempotency_key, id, json_extract(data, '$.body_hash') FROM missions "
            "WHERE idempotency_key != ''").fetchall()
        return [(r[0], r[1], r[2] or '') for r in rows]

    def list_missions(self, state: str = '', robot_id: str = '', since: float | None = None,
                      until: float | None = None, offset: int = 0,
                      limit: int = 100) -> tuple[list[Mission], int]:
        """Return (a page of missions newest first, the total matching the filters)."""
        where, args = ['1 = 1'], []  # type: list[str], list[Any]
        if state:
            where.append('state = ?')
            args.append(state)
        if robot_id:
            where.append('robot_id = ?')
            args.append(robot_id)
        if since is not None:
            where.append('created_at >= ?')
            args.append(since)
        if until is not None:
            where.append('created_at < ?')
            args.append(until)
        clause = ' AND '.join(where)
        total = self._db.execute(f'SELECT COUNT(*) FROM missions WHERE {clause}',
                                 args).fetchone()[0]
        rows = self._db.execute(
            f'SELECT data FROM missions WHERE {clause} ORDER BY created_at DESC, id '
            f'LIMIT ? OFFSET ?', [*args, limit, offset]).fetchall()
        return [Mission.from_dict(json.loads(r[0])) for r in rows], int(total)

    # -- desired state, rollouts, audit ------------------------------------------------------
    def _create_config_tables(self) -> None:
        db = self._db
        db.table('revisions').create({'number': int, 'time': float, 'who': str, 'reason': str,
                                      'digest': str, 'restored_from': int, 'files': str,
                                      'diff': str}, pk='number', if_not_exists=True)
        db.table('rollouts').create({'id': str, 'state': str, 'created_at': float,
                                     'updated_at': float, 'data': str},
                                    pk='id', if_not_exists=True)
        db.table('robot_config').create({'robot_id': str, 'data': str}, pk='robot_id',
                                        if_not_exists=True)
        for table in DOC_TABLES:
            db.table(table).create({'id': str, 'data': str}, pk='id', if_not_exists=True)

    @staticmethod
    def _revision(row: Any, with_files: bool) -> dict[str, Any]:
        out = {'number': int(row[0]), 'time': float(row[1]), 'who': row[2], 'reason': row[3],
               'digest': row[4], 'restored_from': row[5], 'diff': json.loads(row[7] or '{}')}
        if with_files:
            out['files'] = json.loads(row[6])
        else:
            out['files'] = sorted(json.loads(row[6]))
        return out

    _REVISION_COLS = 'number, time, who, reason, digest, restored_from, files, diff'

    def get_revision(self, number: int | None = None) -> dict[str, Any] | None:
        """Return revision ``number`` with its files (None: the newest), or None."""
        if number is None:
            sql = f'SELECT {self._REVISION_COLS} FROM revisions ORDER BY number DESC LIMIT 1'
            row = self._db.execute(sql).fetchone()
        else:
            sql = f'SELECT {self._REVISION_COLS} FROM revisions WHERE number = ?'
            row = self._db.execute(sql, [number]).fetchone()
        return self._revision(row, True) if row else None

    def list_revisions(self, offset: int = 0, limit: int = 100
                       ) -> tuple[list[dict[str, Any]], int]:
        """Return (a page of revisions newest first, with file names only; the total)."""
        total = self._db.execute('SELECT COUNT(*) FROM revisions').fetchone()[0]
        rows = self._db.execute(
            f'SELECT {self._REVISION_COLS} FROM revisions ORDER BY number DESC '
            'LIMIT ? OFFSET ?', [limit, offset]).fetchall()
        return [self._revision(r, False) for r in rows], int(total)

    def load_rollouts(self) -> list[dict[str, Any]]:
        """Return every rollout document, oldest first."""
        rows = self._db.execute('SELECT data FROM rollouts ORDER BY created_at, id').fetchall()
        return [json.loads(r[0]) for r in rows]

    def load_docs(self, table: str) -> list[dict[str, Any]]:
        """Return every document of one of :data:`DOC_TABLES`."""
        if table not in DOC_TABLES:
            raise ValueError(f'not a document table: {table!r}')
        return [json.loads(r[0]) for r in
                self._db.execute(f'SELECT data FROM {table} ORDER BY id').fetchall()]

    def load_robot_configs(self) -> list[dict[str, Any]]:
        """Return every robot's configuration record."""
        rows = self._db.execute('SELECT data FROM robot_config ORDER BY robot_id').fetchall()
        return [json.loads(r[0]) for r in rows]

    def audit(self, kinds: Sequence[str], who: str = '', robot_id: str = '',
              since: float | None = None, until: float | None = None, offset: int = 0,
              limit: int = 100) -> tuple[list[Event], int]:
        """Return (a page of the events of ``kinds`` (kind patterns) newest first, filtered
        by the payload's ``who``, the robot and the time; the total matching)."""
        where, args = [self._kind_clause(kinds)], list(kinds)  # type: list[str], list[Any]
        if who:
            where.append("json_extract(payload, '$.who') = ?")
            args.append(who)
        if robot_id:
            where.append('robot_id = ?')
            args.append(robot_id)
        if since is not None:
            where.append('time >= ?')
            args.append(since)
        if until is not None:
            where.append('time < ?')
            args.append(until)
        clause = ' AND '.join(where)
        total = self._db.execute(f'SELECT COUNT(*) FROM events WHERE {clause}',
                                 args).fetchone()[0]
        rows = self._db.execute(
            f'SELECT id, time, kind, robot_id, mission_id, payload FROM events WHERE {clause} '
            'ORDER BY id DESC LIMIT ? OFFSET ?', [*args, limit, offset]).fetchall()
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[5]), r[4]) for r in rows], int(total)
