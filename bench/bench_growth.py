#!/usr/bin/env python3
"""Measure the manager store's growth per day at 1,000 robots, and the bound retention sets.

Processes: the fleet manager (temporary database, shipped defaults: ``telemetry_period`` 5 s,
``telemetry_retention`` 7 days, ``event_retention`` 90 days; ``report_period:=1.0``) and two
bench/robot_traffic.py processes for robot1..robot500 and robot501..robot1000: each robot
reports RobotStatus at 1 Hz and, all robots together, ``--event-rate`` RobotEvents per second
(default 20) follow the robot link (epoch, gap-free seqs). RobotStatus comes from
robot_traffic.py rather than fleet_traffic.py because the link needs the statuses to name
the events' epoch.

Why 20 events/s at 1,000 robots: 72 events per robot and hour. A warehouse robot doing ~10
missions an hour logs about 6 events per mission (mission.state queued / assigned / active /
succeeded, the agent's mission events), plus diagnostics, dock and connectivity changes: a
few tens to ~100 events per robot-hour. The noise events are ``robot.event`` rows
(diagnostics_level, command) with payloads of the usual size; the manager's own events
(registration, connectivity) come on top and are counted by kind.

After every robot is online and a warm-up, the window runs 10 minutes (60 s with --quick).
The store is read (sqlite3, read-only) at the start, every ``--sample`` s and at the end:
bytes per table with SQLite's ``dbstat`` virtual table (pages of the table and of its
indexes; else page_count x page_size split by row share), rows of ``events`` and
``telemetry``. Reported: rows and bytes per day for the event log and the telemetry history
(rows whose time falls in the window x 86400 / window; bytes per row = the growth of table +
index bytes over the growth of rows in the second half of the window, i.e. of the steady
traffic), the other tables' size, and the **steady-state bound** = bytes per day x retention
days, for each. SQLite keeps freed pages for reuse (no auto_vacuum): the file stays
at its high-water mark, which the bound is.

``robot.link`` events (a robot's first contact, or a new outbox epoch after an agent lost
its state) are counted but left out of the per-day rate: each of the 1,000 fake robots gets
one when its first event arrives, which spreads over the first minutes of a run and then
stops.

Finally the manager's prune calls are timed on a copy of the store grown to 30,000 old
events and 30,000 old telemetry samples (FleetStore.prune_events / prune_telemetry, three
passes each): rows deleted (at most the 10,000 batch) and milliseconds, i.e. how long the
manager's executor is held per pass.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sqlite3
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DIR,
    ProcessGroup,
    Result,
    log,
    require_env,
    run_stack,  # noqa: E402
    stop_notes,
    summary,
    unexpected_nodes,
)
from _fleet_bench import add_common_args, manager_args, open_ro, use_domain  # noqa: E402

NAME = 'bench_growth'
DAY = 86400.0
GROUPS = ('events', 'telemetry')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='60 s window instead of 600 s')
    p.add_argument('--robots', type=int, default=1000, help='robots (default: %(default)s)')
    p.add_argument('--publishers', type=int, default=2,
                   help='publisher processes sharing the robots (default: %(default)s)')
    p.add_argument('--rate', type=float, default=1.0,
                   help='status reports per robot per second (default: %(default)s)')
    p.add_argument('--event-rate', type=float, default=20.0,
                   help='robot events per second, all robots together (default: %(default)s)')
    p.add_argument('--window', type=float, default=0.0,
                   help='seconds of measurement (default: 600, or 60 with --quick)')
    p.add_argument('--warmup', type=float, default=0.0,
                   help='seconds between "all robots online" and the window (default: 15, '
                        'or 5 with --quick)')
    p.add_argument('--sample', type=float, default=0.0,
                   help='seconds between size samples (default: 60, or 15 with --quick)')
    add_common_args(p)
    return p


def retention_defaults() -> dict[str, float]:
    """The shipped retention settings (ManagerParams defaults)."""
    from fleet_manager.params import ManagerParams
    p = ManagerParams()
    return {'event_retention_s': p.event_retention,
            'telemetry_retention_s': p.telemetry_retention,
            'telemetry_period_s': p.telemetry_period}


def table_of(conn: sqlite3.Connection) -> dict[str, str]:
    """Every table and index name -> the table it belongs to."""
    return {name: tbl for name, tbl in conn.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")}


def sizes(db: pathlib.Path) -> dict[str, Any]:
    """Bytes per table (with its indexes), rows of events and telemetry, file sizes."""
    conn = open_ro(db)
    try:
        owner = table_of(conn)
        by_table: dict[str, int] = {}
        try:
            rows = conn.execute('SELECT name, SUM(pgsize) FROM dbstat GROUP BY name').fetchall()
            method = 'dbstat'
        except sqlite3.Error:
            rows, method = [], 'page_count'
        for name, size in rows:
            table = owner.get(name, name)
            by_table[table] = by_table.get(table, 0) + int(size or 0)
        counts = {t: int(conn.execute(f'SELECT COUNT(*) FROM {t}').fetchone()[0])
                  for t in GROUPS}
        if method == 'page_count':  # no dbstat: split the file by row share
            total = (conn.execute('PRAGMA page_count').fetchone()[0]
                     * conn.execute('PRAGMA page_size').fetchone()[0])
            n = sum(counts.values()) or 1
            by_table = {t: int(total * counts[t] / n) for t in GROUPS}
        newest = conn.execute('SELECT MAX(id) FROM events').fetchone()[0] or 0
    finally:
        conn.close()
    wal = db.with_name(db.name + '-wal')
    return {'t': time.time(), 'method': method, 'bytes': by_table, 'rows': counts,
            'newest_event_id': int(newest), 'file_bytes': db.stat().st_size,
            'wal_bytes': wal.stat().st_size if wal.exists() else 0}


def in_window(db: pathlib.Path, t0: float, t1: float) -> dict[str, Any]:
    """Rows logged in [t0, t1): per group, and the events by kind."""
    conn = open_ro(db)
    try:
        out = {t: int(conn.execute(f'SELECT COUNT(*) FROM {t} WHERE time >= ? AND time < ?',
                                   [t0, t1]).fetchone()[0]) for t in GROUPS}
        kinds = dict(conn.execute('SELECT kind, COUNT(*) FROM events WHERE time >= ? AND '
                                  'time < ? GROUP BY kind', [t0, t1]).fetchall())
        out['events'] -= kinds.get('robot.link', 0)  # once per robot (first contact)
        payload = conn.execute('SELECT AVG(LENGTH(payload)) FROM events WHERE time >= ? AND '
                               'time < ?', [t0, t1]).fetchone()[0]
    finally:
        conn.close()
    return {'rows': out, 'event_kinds': kinds, 'event_payload_bytes_mean': payload}


def online_robots(db: pathlib.Path) -> int:
    try:
        conn = open_ro(db)
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    try:
        row = conn.execute("SELECT COUNT(*) FROM robots WHERE "
                           "json_extract(data, '$.connectivity') = 'online'").fetchone()
        return int(row[0] or 0)
    except Exception:  # noqa: BLE001 - tables not there yet
        return 0
    finally:
        conn.close()


def measure(args: argparse.Namespace, group: ProcessGroup, workdir: pathlib.Path
            ) -> dict[str, Any]:
    window_s = args.window or (60.0 if args.quick else 600.0)
    warmup = args.warmup or (5.0 if args.quick else 15.0)
    every = args.sample or (15.0 if args.quick else 60.0)
    db = workdir / 'fleet.db'
    manager = group.start('manager', manager_args(db, report_period=1.0,
                                                  robot_flush_period=2.0))
    per = -(-args.robots // args.publishers)
    for k in range(args.publishers):
        count = min(per, args.robots - k * per)
        if count <= 0:
            break
        group.start(f'publisher{k}', [
            str(BENCH_DIR / 'robot_traffic.py'), '--robots', str(count),
            '--first', str(1 + k * per), '--rate', str(args.rate),
            '--event-rate', str(args.event_rate / args.publishers),
            '--node-name', f'bench_robot_traffic_{k}', '--seed', str(k + 1)])
    t0 = time.monotonic()
    while (n := online_robots(db)) < args.robots:
        group.check_alive()
        if time.monotonic() - t0 > 120:
            raise RuntimeError(f'after 120 s: {n} of {args.robots} robots online')
        time.sleep(1.0)
    took = time.monotonic() - t0
    log(f'{args.robots} robots online after {took:.1f} s (flushed); warm-up {warmup:g} s')
    time.sleep(warmup)
    samples = [sizes(db)]
    log(f'window of {window_s:g} s, a size sample every {every:g} s')
    end = samples[0]['t'] + window_s
    while time.time() < end:
        group.check_alive()
        time.sleep(max(0.05, min(every, end - time.time())))
        samples.append(sizes(db))
    time.sleep(2.5)  # one robot_flush_period: the window's telemetry is written
    counted = in_window(db, samples[0]['t'], samples[-1]['t'])
    final = sizes(db)
    foreign = [] if args.allow_foreign_nodes else unexpected_nodes(
        lambda name: name == '/fleet_manager' or name.startswith('/bench_robot_traffic_'))
    return {'registration_s': round(took, 1), 'samples': samples, 'final': final,
            'window': counted, 'manager_alive': manager.alive(), 'foreign': foreign,
            'db': db}


def grow_old(conn: sqlite3.Connection, table: str, columns: str, shift: float) -> None:
    """Make every row of ``table`` ``shift`` s older and copy them to >= 30,000 rows."""
    conn.execute(f'UPDATE {table} SET time = time - ?', [shift])
    while conn.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0] < 30_000:
        conn.execute(f'INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} '
                     'ORDER BY rowid LIMIT 10000')
    conn.commit()


def time_prune(db: pathlib.Path, workdir: pathlib.Path, retention: dict[str, float]
               ) -> dict[str, Any]:
    """Time the manager's prune calls on a copy grown to >= 30,000 old events and samples."""
    from fleet_manager.retention import KEEP_LATEST
    from fleet_manager.store import PRUNE_BATCH, TELEMETRY_COLUMNS, FleetStore
    copy = workdir / 'prune.db'
    src = sqlite3.connect(str(db))
    dst = sqlite3.connect(str(copy))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    store = FleetStore(str(copy), sync='full')
    try:
        now = time.time()
        ev, te = retention['event_retention_s'], retention['telemetry_retention_s']
        conn = sqlite3.connect(str(copy))
        try:
            grow_old(conn, 'events', 'time, kind, robot_id, mission_id, payload', ev + DAY)
            grow_old(conn, 'telemetry', ', '.join(TELEMETRY_COLUMNS), te + DAY)
        finally:
            conn.close()
        out: dict[str, Any] = {'batch': PRUNE_BATCH, 'sync': 'full', 'events': [],
                               'telemetry': []}
        for _ in range(3):
            t = time.perf_counter()
            deleted = store.prune_events(now - ev, PRUNE_BATCH, KEEP_LATEST)
            out['events'].append({'deleted': deleted,
                                  'ms': round((time.perf_counter() - t) * 1e3, 1)})
            t = time.perf_counter()
            deleted = store.prune_telemetry(now - te, PRUNE_BATCH)
            out['telemetry'].append({'deleted': deleted,
                                     'ms': round((time.perf_counter() - t) * 1e3, 1)})
        return out
    finally:
        store.close()


def growth(out: dict[str, Any], retention: dict[str, float]) -> dict[str, Any]:
    """Per group: rows and bytes per day, bytes per row, the steady-state bound."""
    first, last, final = out['samples'][0], out['samples'][-1], out['final']
    mid = out['samples'][len(out['samples']) // 2]
    window = last['t'] - first['t']
    res: dict[str, Any] = {}
    keep = {'events': retention['event_retention_s'],
            'telemetry': retention['telemetry_retention_s']}
    for g in GROUPS:
        rows = out['window']['rows'][g]
        grown = final['rows'][g] - mid['rows'][g]
        per_row = (final['bytes'].get(g, 0) - mid['bytes'].get(g, 0)) / grown if grown > 0 \
            else None
        rows_day = rows * DAY / window if window > 0 else None
        bytes_day = rows_day * per_row if rows_day is not None and per_row else None
        delta = last['bytes'].get(g, 0) - first['bytes'].get(g, 0)
        res[g] = {
            'rows_in_window': rows,
            'rows_per_s': round(rows / window, 2) if window > 0 else None,
            'rows_per_day': round(rows_day) if rows_day is not None else None,
            'bytes_per_row_with_indexes': round(per_row, 1) if per_row else None,
            'bytes_per_row_average_at_end': round(final['bytes'].get(g, 0) / final['rows'][g], 1)
            if final['rows'][g] else None,
            'bytes_per_day': round(bytes_day) if bytes_day else None,
            'bytes_growth_in_window_dbstat': delta,
            'bytes_per_day_from_dbstat_delta': round(delta * DAY / window) if window else None,
            'retention_s': keep[g],
            'retention_days': round(keep[g] / DAY, 2),
            'steady_state_rows': round(rows_day * keep[g] / DAY) if rows_day else None,
            'steady_state_bytes': round(bytes_day * keep[g] / DAY) if bytes_day else None,
        }
    others = {t: b for t, b in final['bytes'].items() if t not in GROUPS}
    res['others'] = {'bytes': others, 'total_bytes': sum(others.values()),
                     'growth_in_window': sum(last['bytes'].get(t, 0) - first['bytes'].get(t, 0)
                                             for t in others)}
    return res


def gib(n: Any) -> str:
    return f'{n / 2**30:.2f} GiB' if isinstance(n, (int, float)) else 'n/a'


def mib(n: Any) -> str:
    return f'{n / 2**20:.1f} MiB' if isinstance(n, (int, float)) else 'n/a'


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('rclpy', 'fleet_msgs.msg', 'fleet_manager.manager_node')
    retention = retention_defaults()
    window = args.window or (60.0 if args.quick else 600.0)
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'status_rate_hz': args.rate,
        'event_rate_per_s': args.event_rate, 'publishers': args.publishers,
        'window_s': window, 'domain': args.domain, **retention,
        'event_rate_reason': '72 events per robot-hour: ~10 missions/h x ~6 events plus '
                             'diagnostics, dock and connectivity changes',
        'size_source': 'SQLite dbstat (pgsize of each table and its indexes)'})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench-growth-'))
    log(f'work directory {workdir}; ROS_DOMAIN_ID={args.domain}')
    out, stops = run_stack(res, workdir, args.allow_foreign_nodes,
                           lambda group: measure(args, group, workdir))
    prune = time_prune(out['db'], workdir, retention)
    g = growth(out, retention)
    first, last = out['samples'][0], out['samples'][-1]
    r = {
        'window_s': round(last['t'] - first['t'], 1),
        'size_method': first['method'],
        'events': g['events'], 'telemetry': g['telemetry'], 'others': g['others'],
        'event_kinds_in_window': out['window']['event_kinds'],
        'event_payload_bytes_mean': round(out['window']['event_payload_bytes_mean'] or 0, 1),
        'file_bytes_end': out['final']['file_bytes'], 'wal_bytes_end': out['final']['wal_bytes'],
        'series': [{'t': round(s['t'] - first['t'], 1), 'bytes': s['bytes'], 'rows': s['rows']}
                   for s in out['samples']],
        'prune_pass': prune,
        'prune_pass_ms': {k: summary([p['ms'] for p in prune[k]], 1.0, 1)
                          for k in GROUPS},
        'registration_s': out['registration_s'],
        'process_stops': stops, 'foreign_nodes': out['foreign'],
    }
    res.data['results'] = r
    status = 'ok'
    if out['foreign']:
        status = 'degraded'
        res.note(f'other ROS nodes were on domain {args.domain}: {out["foreign"]}')
    if not out['manager_alive']:
        status = 'degraded'
        res.note('the fleet manager died during the run')
    robot_events = out['window']['event_kinds'].get('robot.event', 0)
    expected = args.event_rate * r['window_s']
    if expected and robot_events < 0.9 * expected:
        status = 'degraded'
        res.note(f'only {robot_events} robot.event rows for ~{expected:.0f} events sent')
    flaps = out['window']['event_kinds'].get('robot.connectivity', 0)
    if flaps > 0.01 * args.robots * r['window_s'] / 60.0:
        status = 'degraded'
        res.note(f'{flaps} robot.connectivity events in the window: robots went stale and '
                 'back (the publishers or the manager fell behind on a loaded machine), so '
                 'the event rate is not the steady one')
    for n in stop_notes(stops):
        res.note(n)
    res.note('2 cores shared with other work: rates are what the publishers achieved; the '
             'growth figures scale linearly with the event and status rates')
    ev, te = g['events'], g['telemetry']
    res.headline('event log rows/day', ev['rows_per_day'], 'rows')
    res.headline('event log bytes/day', ev['bytes_per_day'], 'B')
    res.headline('event log bound', ev['steady_state_bytes'], 'B')
    res.headline('telemetry bytes/day', te['bytes_per_day'], 'B')
    res.headline('telemetry bound', te['steady_state_bytes'], 'B')
    res.headline('event prune pass max', r['prune_pass_ms']['events'].get('max'), 'ms')
    res.headline('telemetry prune pass max', r['prune_pass_ms']['telemetry'].get('max'), 'ms')
    res.goal('no goal set: informational', None)
    path = res.write(status)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f'Store growth, {args.robots} robots x {args.rate:g} Hz, {args.event_rate:g} robot '
          f'events/s, window {r["window_s"]:.0f} s (sizes from {r["size_method"]}):')
    for label, d in (('event log', ev), ('telemetry', te)):
        print(f'  {label:10} {d["rows_per_s"]} rows/s = {d["rows_per_day"]} rows/day x '
              f'{d["bytes_per_row_with_indexes"]} B/row = {mib(d["bytes_per_day"])}/day; '
              f'retention {d["retention_days"]:g} d -> bound {gib(d["steady_state_bytes"])} '
              f'({d["steady_state_rows"]} rows)')
    print(f'  others     {mib(g["others"]["total_bytes"])} in total, '
          f'{g["others"]["growth_in_window"]} B growth in the window')
    print(f'  events by kind in the window: {json.dumps(r["event_kinds_in_window"])} '
          '(robot.link: first contact, not in the rate)')
    for k in GROUPS:
        print(f'  {k} prune passes ({prune["batch"]} rows max): ' + ', '.join(
            f'{p["deleted"]} in {p["ms"]} ms' for p in prune[k]))
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
