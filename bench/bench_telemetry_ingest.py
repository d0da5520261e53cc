#!/usr/bin/env python3
"""Benchmark the manager's CPU per status message and its telemetry-history lag, 500 robots.

Processes: the fleet manager (temporary database, ``report_period:=1.0``,
``telemetry_period:=1.0`` so that every status is meant to become a telemetry sample),
bench/bare_subscriber.py (a bare rclpy subscriber of RobotStatus that only counts: the
baseline, same run, same topic and QoS) and two bench/robot_traffic.py processes that
publish RobotStatus for robot1..robot250 and robot251..robot500 at 1 Hz each (the messages
of bench/status_publisher.py, no events).

After every robot is online and a warm-up, CPU time (utime + stime from /proc/<pid>/stat,
all threads) of the manager and of the bare subscriber is read over a fixed window (60 s,
8 s with --quick) and divided by the number of status messages published in the window
(from the publishers' counters): **CPU us per message**, and the ratio manager / bare.

Then, with the publishers still running, the manager's store is read (sqlite3, read-only)
10 times 0.45 s apart (4 with --quick), i.e. at different phases of the manager's flush: per
robot the newest telemetry sample time against the wall time of the publisher's last status
to that robot at the moment of the query -> **ingestion lag** (median, mean and max over
robots and probes). The manager buffers samples in memory and writes them every
``robot_flush_period`` (2 s) by design, so lags up to ~2-3 s are expected; they come in
whole report periods (a robot's newest sample is one of its statuses).
Finally the **fraction** of the statuses published in the window that reached the
telemetry table (rows whose time falls in the window / statuses published in it), and the
gaps between consecutive samples of a robot.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DIR,
    ProcessGroup,
    Result,
    fmt,
    log,
    ratio,
    require_env,
    run_stack,  # noqa: E402
    stop_notes,
    summary,
    unexpected_nodes,
)
from _fleet_bench import CpuWindow, add_common_args, manager_args, open_ro, use_domain  # noqa: E402

NAME = 'bench_telemetry_ingest'


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='8 s window instead of 60 s')
    p.add_argument('--robots', type=int, default=500, help='robots (default: %(default)s)')
    p.add_argument('--publishers', type=int, default=2,
                   help='publisher processes sharing the robots (default: %(default)s)')
    p.add_argument('--rate', type=float, default=1.0,
                   help='status reports per robot per second (default: %(default)s)')
    p.add_argument('--telemetry-period', type=float, default=1.0,
                   help='manager telemetry_period in s (default: %(default)s)')
    p.add_argument('--window', type=float, default=0.0,
                   help='seconds of CPU measurement (default: 60, or 8 with --quick)')
    p.add_argument('--warmup', type=float, default=0.0,
                   help='seconds between "all robots online" and the window (default: 10, '
                        'or 3 with --quick)')
    p.add_argument('--probes', type=int, default=0,
                   help='lag probes after the window, 0.45 s apart (default: 10, or 4 with '
                        '--quick)')
    add_common_args(p)
    return p


def read_json(path: pathlib.Path) -> dict[str, Any]:
    for _ in range(5):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.02)
    return {}


def online_robots(db: pathlib.Path) -> int:
    try:
        conn = open_ro(db)
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    try:
        row = conn.execute("SELECT COUNT(DISTINCT robot_id) FROM events WHERE "
                           "kind = 'robot.connectivity' AND "
                           "json_extract(payload, '$.to') = 'online'").fetchone()
        return int(row[0] or 0)
    except Exception:  # noqa: BLE001 - tables not there yet
        return 0
    finally:
        conn.close()


def expected_node(name: str) -> bool:
    return name in ('/fleet_manager', '/bench_bare_subscriber') or \
        name.startswith('/bench_robot_traffic_')


def measure(args: argparse.Namespace, group: ProcessGroup, workdir: pathlib.Path
            ) -> dict[str, Any]:
    window_s = args.window or (8.0 if args.quick else 60.0)
    warmup = args.warmup or (3.0 if args.quick else 10.0)
    n_probes = args.probes or (4 if args.quick else 10)
    period = 1.0 / args.rate
    db = workdir / 'fleet.db'
    manager = group.start('manager', manager_args(
        db, report_period=1.0, telemetry_period=args.telemetry_period))
    bare_stats = workdir / 'bare.json'
    bare = group.start('bare', [str(BENCH_DIR / 'bare_subscriber.py'), '--stats',
                                str(bare_stats)])
    pubs = []
    per = -(-args.robots // args.publishers)
    for k in range(args.publishers):
        first = 1 + k * per
        count = min(per, args.robots - k * per)
        if count <= 0:
            break
        stats = workdir / f'traffic{k}.json'
        proc = group.start(f'publisher{k}', [
            str(BENCH_DIR / 'robot_traffic.py'), '--robots', str(count), '--first', str(first),
            '--rate', str(args.rate), '--event-rate', '0', '--stats', str(stats),
            '--stats-period', '0.1', '--node-name', f'bench_robot_traffic_{k}'])
        pubs.append((proc, stats))

    # -- every robot online in the manager and seen by the bare subscriber ----------------
    t0 = time.monotonic()
    while True:
        group.check_alive()
        n_mgr = online_robots(db)
        n_bare = read_json(bare_stats).get('robots', 0) if bare_stats.exists() else 0
        if n_mgr >= args.robots and n_bare >= args.robots:
            break
        if time.monotonic() - t0 > 90:
            raise RuntimeError(f'after 90 s: {n_mgr} robots online in the manager, '
                               f'{n_bare} seen by the bare subscriber')
        time.sleep(0.5)
    took = time.monotonic() - t0
    log(f'{args.robots} robots online after {took:.1f} s; warm-up {warmup:g} s')
    time.sleep(warmup)

    # -- CPU window -----------------------------------------------------------------------
    pids = {'manager': manager.pid, 'bare': bare.pid}
    pids.update({p.name: p.pid for p, _ in pubs})
    cpu = CpuWindow(pids)
    s0 = [read_json(s) for _, s in pubs]
    b0 = read_json(bare_stats)
    cpu.start()
    w0_wall = time.time()
    log(f'CPU window of {window_s:g} s')
    end = time.monotonic() + window_s
    while time.monotonic() < end:
        group.check_alive()
        time.sleep(min(1.0, max(0.01, end - time.monotonic())))
    cpu.stop()
    w1_wall = time.time()
    s1 = [read_json(s) for _, s in pubs]
    b1 = read_json(bare_stats)
    published = 0.0
    for a, b in zip(s0, s1):
        dt = b['written_at'] - a['written_at']
        published += (b['statuses'] - a['statuses']) * (cpu.seconds / dt if dt > 0 else 1.0)
    dtb = b1['written_at'] - b0['written_at']
    bare_received = (b1['received'] - b0['received']) * (cpu.seconds / dtb if dtb > 0 else 1.0)
    log(f'window: {published:.0f} statuses published ({published / cpu.seconds:.0f}/s), '
        f'manager {cpu.used("manager"):.2f} s CPU, bare {cpu.used("bare"):.2f} s CPU')

    # -- lag probes (publishers still running) --------------------------------------------
    lags: list[float] = []
    ages: list[float] = []
    per_probe: list[dict[str, Any]] = []
    no_sample = 0
    for _ in range(n_probes):
        group.check_alive()
        conn = open_ro(db)
        try:
            newest = dict(conn.execute('SELECT robot_id, MAX(time) FROM telemetry '
                                       'GROUP BY robot_id').fetchall())
        finally:
            conn.close()
        tq = time.time()
        last: dict[str, float] = {}
        for _, s in pubs:
            last.update(read_json(s).get('last_status', {}))
        probe = []
        for rid, t_send in last.items():
            while t_send > tq:  # sent after the query: the one before counts
                t_send -= period
            t_new = newest.get(rid)
            if t_new is None:
                no_sample += 1
                continue
            probe.append(t_send - t_new)
            ages.append(tq - t_new)
        lags.extend(probe)
        per_probe.append({'t_since_window_end_s': round(tq - w1_wall, 2),
                          'median_ms': round(statistics.median(probe) * 1e3, 1) if probe
                          else None, 'max_ms': round(max(probe) * 1e3, 1) if probe else None})
        time.sleep(0.45)

    # -- completeness of the window (flushed by now: >= robot_flush_period later) ---------
    wait = 2.5 - (time.time() - w1_wall)
    if wait > 0:
        time.sleep(wait)
    conn = open_ro(db)
    try:
        rows = conn.execute('SELECT robot_id, time FROM telemetry WHERE time >= ? AND '
                            'time < ? ORDER BY robot_id, time', [w0_wall, w1_wall]).fetchall()
        total_rows = conn.execute('SELECT COUNT(*) FROM telemetry').fetchone()[0]
        # robots the manager saw going stale/offline in the window: it fell behind
        changes = dict(conn.execute(
            "SELECT json_extract(payload, '$.from') || '->' || json_extract(payload, '$.to'), "
            "COUNT(*) FROM events WHERE kind = 'robot.connectivity' AND time >= ? AND "
            "time < ? GROUP BY 1", [w0_wall, w1_wall]).fetchall())
    finally:
        conn.close()
    gaps: list[float] = []
    prev: dict[str, float] = {}
    robots_with_rows = set()
    for rid, t in rows:
        robots_with_rows.add(rid)
        if rid in prev:
            gaps.append(t - prev[rid])
        prev[rid] = t
    foreign: list[str] = []
    if not args.allow_foreign_nodes:
        foreign = unexpected_nodes(expected_node)
        if foreign:
            log(f'warning: foreign nodes on the domain during the run: {foreign}')
    return {
        'registration_s': round(took, 2), 'window_s': cpu.seconds, 'published': published,
        'bare_received': bare_received, 'cpu': {n: cpu.used(n) for n in pids},
        'lags': lags, 'ages': ages, 'per_probe': per_probe, 'no_sample': no_sample,
        'rows': len(rows), 'total_rows': total_rows, 'gaps': gaps,
        'robots_with_rows': len(robots_with_rows), 'foreign': foreign,
        'connectivity_changes': changes,
        'manager_alive': manager.alive(), 'probes': n_probes,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('rclpy', 'fleet_msgs.msg', 'fleet_manager.manager_node')
    window = args.window or (8.0 if args.quick else 60.0)
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'publishers': args.publishers, 'status_rate_hz': args.rate,
        'telemetry_period_s': args.telemetry_period, 'robot_flush_period_s': 2.0,
        'window_s': window, 'domain': args.domain,
        'cpu_source': '/proc/<pid>/stat utime+stime (all threads)',
        'baseline': 'bare rclpy RobotStatus subscriber (bench/bare_subscriber.py), same '
                    'window, same run'})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench-telemetry-'))
    log(f'work directory {workdir}; ROS_DOMAIN_ID={args.domain}')
    out, stops = run_stack(res, workdir, args.allow_foreign_nodes,
                           lambda group: measure(args, group, workdir))

    status = 'ok'
    pub = out['published']
    mgr_us = out['cpu']['manager'] * 1e6 / pub if pub else None
    bare_us = out['cpu']['bare'] * 1e6 / pub if pub else None
    lag = summary(out['lags'], 1e3, 1)
    age = summary(out['ages'], 1e3, 1)
    gaps = out['gaps']
    near = sum(1 for g in gaps if g < 1.5 * (1.0 / args.rate))
    r = {
        'window_s': round(out['window_s'], 2),
        'statuses_published_in_window': round(pub),
        'statuses_per_s': round(pub / out['window_s'], 1) if out['window_s'] else None,
        'bare_received_fraction': round(out['bare_received'] / pub, 4) if pub else None,
        'manager_cpu_s': round(out['cpu']['manager'], 3),
        'bare_cpu_s': round(out['cpu']['bare'], 3),
        'manager_cpu_percent': round(100 * out['cpu']['manager'] / out['window_s'], 1),
        'bare_cpu_percent': round(100 * out['cpu']['bare'] / out['window_s'], 1),
        'publishers_cpu_percent': {n: round(100 * v / out['window_s'], 1)
                                   for n, v in out['cpu'].items()
                                   if n.startswith('publisher')},
        'manager_cpu_us_per_msg': round(mgr_us, 1) if mgr_us is not None else None,
        'bare_cpu_us_per_msg': round(bare_us, 1) if bare_us is not None else None,
        'ratio_manager_vs_bare': ratio(mgr_us or float('nan'), bare_us or float('nan'), 2),
        'ingest_lag_ms': lag,
        'ingest_lag_periods_mean': round(statistics.fmean(out['lags']) * args.rate, 2)
        if out['lags'] else None,
        'newest_sample_age_ms': age,
        'lag_probes': out['per_probe'],
        'robots_without_sample_at_probe': out['no_sample'],
        'telemetry_rows_in_window': out['rows'],
        'fraction_reached_telemetry': round(out['rows'] / pub, 4) if pub else None,
        'robots_with_rows_in_window': out['robots_with_rows'],
        'sample_gaps': {'n': len(gaps), 'about_one_period': near,
                        'longer': len(gaps) - near,
                        'gap_s': summary(gaps, 1.0, 3)},
        'telemetry_rows_total': out['total_rows'],
        'connectivity_changes_in_window': out['connectivity_changes'],
        'registration_s': out['registration_s'],
        'process_stops': stops,
        'foreign_nodes': out['foreign'],
    }
    res.data['results'] = r
    if out['foreign']:
        status = 'degraded'
        res.note(f'other ROS nodes were on domain {args.domain} during the run: '
                 f'{out["foreign"]}')
    if not out['manager_alive']:
        status = 'degraded'
        res.note('the fleet manager died during the run')
    if out['connectivity_changes']:
        status = 'degraded'
        res.note(f'robots changed connectivity during the window (the manager fell behind '
                 f'or a publisher stalled): {out["connectivity_changes"]}')
    frac = r['fraction_reached_telemetry']
    if frac is not None and frac < 0.95 and args.telemetry_period >= 1.0 / args.rate:
        res.note(f'only {frac:.0%} of the statuses became telemetry samples: with '
                 f'telemetry_period ({args.telemetry_period:g} s) equal to the report period, '
                 f'a status that arrives a little less than a period after the last sample '
                 f'is skipped (manager_node.py _sample_telemetry); '
                 f'{r["sample_gaps"]["longer"]} of {len(gaps)} gaps are longer than 1.5 '
                 f'periods')
    for n in stop_notes(stops):
        res.note(n)
    res.headline('manager CPU per status', r['manager_cpu_us_per_msg'], 'us')
    res.headline('bare CPU per status', r['bare_cpu_us_per_msg'], 'us')
    res.headline('ratio manager/bare', r['ratio_manager_vs_bare'], 'x')
    res.headline('ingest lag median', lag.get('median'), 'ms')
    res.headline('ingest lag mean', lag.get('mean'), 'ms')
    res.headline('ingest lag max', lag.get('max'), 'ms')
    res.headline('fraction in telemetry', frac, '')
    res.goal('no goal set: informational', None)
    path = res.write(status)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f'Telemetry ingest, {args.robots} robots x {args.rate:g} Hz, window '
          f'{out["window_s"]:.0f} s, {round(pub)} statuses published:')
    print(f'  manager CPU   {fmt(r["manager_cpu_us_per_msg"], "us")}/status '
          f'({r["manager_cpu_percent"]} % of a core)')
    print(f'  bare (base)   {fmt(r["bare_cpu_us_per_msg"], "us")}/status '
          f'({r["bare_cpu_percent"]} % of a core); ratio {fmt(r["ratio_manager_vs_bare"], "x")}')
    print(f'  ingest lag    median {fmt(lag.get("median"), "ms")}  p99 '
          f'{fmt(lag.get("p99"), "ms")}  max {fmt(lag.get("max"), "ms")}  mean '
          f'{fmt(lag.get("mean"), "ms")} '
          f'(flush every 2 s by design)')
    print(f'  reached the telemetry table: {frac:.1%} of the statuses published in the window; '
          f'{r["sample_gaps"]["longer"]} of {len(gaps)} sample gaps > 1.5 periods'
          if frac is not None else '  reached the telemetry table: n/a')
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
