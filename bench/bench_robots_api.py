#!/usr/bin/env python3
"""Benchmark GET /api/v1/robots with 100 robots against a bare aiohttp server.

Processes: the fleet manager (temporary database), a source of 100 robots reporting at 1 Hz,
the HTTP bridge (FLEET_TOKEN, no rate limit) and, on another port, bench/bare_server.py
serving the very body captured from the bridge's /api/v1/robots.

Robot source (``--source``): ``publisher`` (default) runs bench/status_publisher.py, which
publishes fleet_msgs/RobotStatus for robot1..robot100 at 1 Hz on /fleet/robot_status (what
the agents publish, without simulated Nav2 bases); ``sim`` runs ``fleet_sim.fleet`` with the
robots split over ``--sim-procs`` processes (heavy on a small machine).

Load: an asyncio aiohttp client with a fixed concurrency (16) sends a fixed number of GETs
(2000; 300 with --quick) over keep-alive connections, after a short warm-up. Runs alternate
real, bare, real, bare, ... and the figures are medians over the runs: requests/s, median and
p99 latency. Goal: real/bare requests/s >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
    child_env,
    chunks,
    fmt,
    free_port,
    http_json,
    log,
    ratio,
    require_empty_domain,
    require_env,
    stop_notes,
    summary,
    unexpected_nodes,
    wait_until,
    write_web_config,
)

NAME = 'bench_robots_api'
TOKEN = 'benchtoken'
PATH = '/api/v1/robots'
GOAL_RATIO = 0.5
WARMUP_CONCURRENCY = 8


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog='Writes bench/results/bench_robots_api.json.')
    p.add_argument('--quick', action='store_true', help='2 pairs of 300 requests')
    p.add_argument('--robots', type=int, default=100, help='robots (default: %(default)s)')
    p.add_argument('--requests', type=int, default=0,
                   help='requests per run (default: 2000, or 300 with --quick)')
    p.add_argument('--concurrency', type=int, default=16, help='(default: %(default)s)')
    p.add_argument('--pairs', type=int, default=0,
                   help='real+bare run pairs (default: 5, or 2 with --quick)')
    p.add_argument('--warmup', type=int, default=0,
                   help='warm-up requests per run (default: 100, or 50 with --quick)')
    p.add_argument('--run-timeout', type=float, default=25.0,
                   help='seconds after which one run stops early (default: %(default)s)')
    p.add_argument('--source', choices=('publisher', 'sim'), default='publisher',
                   help='where the robots come from (default: %(default)s)')
    p.add_argument('--sim-procs', type=int, default=4,
                   help='fleet_sim processes with --source sim (default: %(default)s)')
    p.add_argument('--bare-mode', choices=('static', 'dumps'), default='static',
                   help='bare server: fixed bytes, or json.dumps per request '
                        '(default: %(default)s)')
    p.add_argument('--default-web-config', action='store_true',
                   help='run the bridge with its installed config/web.yaml (its rate limit '
                        'applies; expect 429s) instead of a bench config without rate limiting')
    p.add_argument('--keep', action='store_true', help='keep the temporary directory')
    p.add_argument('--allow-foreign-nodes', action='store_true',
                   help='run even if other ROS nodes are on the benchmark domain 57')
    return p


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), in seconds."""
    try:
        fields = pathlib.Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError):
        return float('nan')


async def load_run(url: str, total: int, concurrency: int, warmup: int, headers: dict[str, str],
                   timeout: float) -> dict[str, Any]:
    """Send ``total`` GETs with ``concurrency`` workers; return throughput and latencies."""
    import aiohttp
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    lat: list[float] = []
    lat_all: list[float] = []
    bad_bodies: list[str] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    sizes: list[int] = []
    async with aiohttp.ClientSession(connector=connector, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one() -> None:
            t0 = time.perf_counter()
            try:
                async with session.get(url) as r:
                    body = await r.read()
                    dt = time.perf_counter() - t0
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    lat_all.append(dt)
                    if r.status != 200 and len(bad_bodies) < 3:
                        bad_bodies.append(f'{r.status} {body[:200].decode(errors="replace")}')
                    if r.status == 200:
                        lat.append(dt)
                        if len(sizes) < 50:
                            sizes.append(len(body))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                errors.append(repr(exc)[:200])

        # warm-up: open connections, fill caches (not counted). At most 8 at a time: a burst
        # above the manager's service queue depth (10) would stall the warm-up for 5 s.
        left = {'n': warmup}

        async def warm() -> None:
            while left['n'] > 0:
                left['n'] -= 1
                await one()
        await asyncio.gather(*(warm() for _ in range(min(concurrency, WARMUP_CONCURRENCY))))
        lat.clear()
        lat_all.clear()
        bad_bodies.clear()
        statuses.clear()
        errors.clear()

        todo = {'n': total}
        deadline = time.perf_counter() + timeout

        async def worker() -> None:
            while todo['n'] > 0 and time.perf_counter() < deadline:
                todo['n'] -= 1
                await one()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    done = sum(statuses.values()) + len(errors)
    ok = len(lat)
    return {
        'requests': done, 'ok': ok, 'statuses': {str(k): v for k, v in sorted(statuses.items())},
        'errors': len(errors), 'error_samples': errors[:3], 'wall_s': round(wall, 3),
        'rps': round(ok / wall, 1) if wall > 0 else None,
        'latency_ms': summary(lat, 1e3), 'latency_all_ms': summary(lat_all, 1e3),
        'non_200_samples': bad_bodies, 'body_bytes': int(statistics.median(sizes)) if sizes else 0,
        'stopped_early': todo['n'] > 0,
    }


def expected_node(name: str, args: argparse.Namespace) -> bool:
    """True for the nodes this benchmark starts."""
    if name in ('/fleet_manager', '/fleet_web', '/bench_status_publisher'):
        return True
    parts = name.split('/')
    return (args.source == 'sim' and len(parts) >= 3 and parts[1].startswith('robot')
            and parts[1][5:].isdigit() and 1 <= int(parts[1][5:]) <= args.robots)


def start_robot_source(group: ProcessGroup, args: argparse.Namespace) -> None:
    if args.source == 'publisher':
        group.start('status_publisher', [str(BENCH_DIR / 'status_publisher.py'),
                                         '--robots', str(args.robots), '--rate', '1'])
        return
    ids = [f'robot{i}' for i in range(1, args.robots + 1)]
    for k, part in enumerate(chunks(ids, max(1, args.sim_procs))):
        group.start(f'fleet{k}', ['-m', 'fleet_sim.fleet', *part, '--report-rate', '1'],
                    stop_timeout=20.0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    require_env('aiohttp', 'rclpy', 'fleet_manager.manager_node', 'fleet_web.web_node',
                'fleet_msgs.msg')
    total = args.requests or (300 if args.quick else 2000)
    args.warmup = args.warmup or (50 if args.quick else 100)
    pairs = args.pairs or (2 if args.quick else 5)
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'source': args.source, 'requests_per_run': total,
        'concurrency': args.concurrency, 'pairs': pairs, 'warmup': args.warmup,
        'bare_mode': args.bare_mode, 'path': PATH,
        'web_config': 'installed default' if args.default_web_config else 'bench (no rate limit)'})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench-robots-'))
    log(f'work directory {workdir}')
    headers = {'Authorization': f'Bearer {TOKEN}'}
    runs: list[dict[str, Any]] = []
    foreign: list[str] = []
    try:
        require_empty_domain(args.allow_foreign_nodes)
        with ProcessGroup(workdir) as group:
            try:
                port = free_port()
                base = f'http://127.0.0.1:{port}'
                manager = group.start('manager', ['-m', 'fleet_manager.manager_node', '--ros-args',
                                                  '-p', f'database:={workdir / "fleet.db"}'])
                start_robot_source(group, args)
                web_args = ['-m', 'fleet_web.web_node', '--port', str(port),
                            '--state', str(workdir / 'web_state.db')]
                if not args.default_web_config:
                    web_args += ['--config', str(write_web_config(workdir / 'web.yaml'))]
                web = group.start('web', web_args, env=child_env(FLEET_TOKEN=TOKEN),
                                  stop_timeout=5.0)

                def online() -> Any:
                    st, body = http_json('GET', f'{base}{PATH}?connectivity=online&limit=1000',
                                         token=TOKEN)
                    if st in (401, 403):
                        raise RuntimeError(f'the bridge refused the token: {st} {body}')
                    n = body.get('total', 0) if st == 200 else None
                    return n >= args.robots if n is not None else False, f'HTTP {st}, {n} online'
                t0 = time.monotonic()
                wait_until(lambda: online()[0] or None, 120.0 if args.source == 'sim' else 60.0,
                           f'{args.robots} robots online', 0.5, group,
                           describe=lambda: online()[1])
                log(f'{args.robots} robots online after {time.monotonic() - t0:.1f} s')
                time.sleep(1.0)
                st, captured = http_json('GET', f'{base}{PATH}', token=TOKEN)
                if st != 200 or len(captured.get('items', [])) != args.robots:
                    raise RuntimeError(f'unexpected {PATH} answer: {st} '
                                       f'{str(captured)[:200]}')
                body_file = workdir / 'robots.json'
                body_file.write_text(json.dumps(captured, separators=(',', ':')))
                bare_port = free_port()
                bare = group.start('bare', [str(BENCH_DIR / 'bare_server.py'), '--port',
                                            str(bare_port), '--body-file', str(body_file),
                                            '--mode', args.bare_mode], stop_timeout=5.0)
                bare_url = f'http://127.0.0.1:{bare_port}{PATH}'
                wait_until(lambda: http_json('GET', bare_url)[0] == 200, 20.0, 'bare server',
                           0.2, group)
                log(f'captured body: {body_file.stat().st_size} bytes; bare server on '
                    f'port {bare_port}')

                pids = {'web': web.pid, 'manager': manager.pid, 'bare': bare.pid}
                for i in range(pairs):
                    for kind, url in (('real', f'{base}{PATH}'), ('bare', bare_url)):
                        group.check_alive()
                        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
                        out = asyncio.run(load_run(url, total, args.concurrency, args.warmup,
                                                   headers, args.run_timeout))
                        cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
                        out['kind'] = kind
                        out['pair'] = i + 1
                        out['cpu_s'] = {k: round(cpu1[k] - cpu0[k], 2) for k in pids}
                        runs.append(out)
                        log(f'pair {i + 1}/{pairs} {kind}: {out["rps"]} req/s, median '
                            f'{out["latency_ms"].get("median")} ms, p99 '
                            f'{out["latency_ms"].get("p99")} ms, statuses {out["statuses"]}'
                            f'{", errors " + str(out["errors"]) if out["errors"] else ""}')
                if not args.allow_foreign_nodes:
                    foreign = unexpected_nodes(lambda n: expected_node(n, args))
                    if foreign:
                        log(f'warning: foreign nodes on the domain during the run: {foreign}')
            finally:
                group.stop_all()
                stops = group.stops
    except KeyboardInterrupt:
        res.data['results'] = {'runs': runs}
        res.write('interrupted')
        print('interrupted; processes stopped', file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - report why the benchmark could not run
        res.note(f'error: {exc}')
        res.data['results'] = {'error': str(exc), 'runs': runs, 'workdir': str(workdir)}
        path = res.write('error')
        print(f'error: {exc}\n(logs kept in {workdir}; result {path})', file=sys.stderr)
        return 1

    def med(kind: str, key: str, field: str = 'latency_ms') -> float:
        vals = [r[key] if key == 'rps' else r[field].get(key) for r in runs
                if r['kind'] == kind]
        vals = [v for v in vals if v is not None]
        return round(statistics.median(vals), 3) if vals else float('nan')

    real_rps, bare_rps = med('real', 'rps'), med('bare', 'rps')
    real_p99, bare_p99 = med('real', 'p99'), med('bare', 'p99')
    real_p50, bare_p50 = med('real', 'median'), med('bare', 'median')
    real_p99_all = med('real', 'p99', 'latency_all_ms')
    rps_ratio = ratio(real_rps, bare_rps)
    bad = {k: v for r in runs if r['kind'] == 'real' for k, v in r['statuses'].items()
           if k != '200'}
    real_runs = [r for r in runs if r['kind'] == 'real']
    cpu_per_k = {}
    for proc in ('web', 'manager'):
        vals = [r['cpu_s'][proc] * 1000 / r['ok'] for r in real_runs if r['ok']]
        cpu_per_k[proc] = round(statistics.median(vals), 3) if vals else None
    res.data['results'] = {
        'real': {'rps_median': real_rps, 'latency_median_ms': real_p50, 'p99_ms_median': real_p99,
                 'p99_all_statuses_ms_median': real_p99_all,
                 'body_bytes': real_runs[0]['body_bytes'] if real_runs else None},
        'bare': {'rps_median': bare_rps, 'latency_median_ms': bare_p50, 'p99_ms_median': bare_p99},
        'rps_ratio_real_vs_bare': rps_ratio,
        'p99_ratio_real_vs_bare': ratio(real_p99, bare_p99),
        'cpu_s_per_1000_requests': cpu_per_k,
        'non_200_real': bad,
        'process_stops': stops,
        'foreign_nodes': foreign,
        'runs': runs,
    }
    for n in stop_notes(stops):
        res.note(n)
    if foreign:
        res.note(f'other ROS nodes were on domain 57 during the run (figures unreliable): '
                 f'{foreign}')
    if bad:
        res.note(f'the real API answered non-200 statuses: {bad}')
    if any(r['stopped_early'] for r in runs):
        res.note('some runs hit --run-timeout and stopped early')
    passed = rps_ratio is not None and rps_ratio >= GOAL_RATIO and not bad
    res.goal(f'real/bare requests/s >= {GOAL_RATIO:g} (all 200)', passed, rps_ratio)
    res.headline('real req/s', real_rps, 'req/s')
    res.headline('real p99', real_p99, 'ms')
    res.headline('bare req/s', bare_rps, 'req/s')
    res.headline('real/bare req/s', rps_ratio, 'x')
    path = res.write('degraded' if foreign else 'ok')
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f'GET {PATH} with {args.robots} robots ({args.source}), {pairs} x {total} requests '
          f'per server, concurrency {args.concurrency}:')
    print(f'  real bridge  {fmt(real_rps, "req/s")}  median {fmt(real_p50, "ms")}  '
          f'p99 {fmt(real_p99, "ms")}')
    print(f'  bare aiohttp {fmt(bare_rps, "req/s")}  median {fmt(bare_p50, "ms")}  '
          f'p99 {fmt(bare_p99, "ms")}  ({args.bare_mode})')
    print(f'  ratio real/bare req/s {fmt(rps_ratio, "x")} -> {"PASS" if passed else "FAIL"} '
          f'(goal >= {GOAL_RATIO:g}); '
          f'p99 ratio {fmt(res.data["results"]["p99_ratio_real_vs_bare"], "x")}')
    print(f'  CPU s per 1000 requests: bridge {cpu_per_k["web"]}, manager {cpu_per_k["manager"]}')
    if bad:
        samples = [x for r in real_runs for x in r['non_200_samples']][:1]
        print(f'  WARNING: non-200 answers from the real API: {bad}, e.g. {samples}; '
              f'p99 over all answers {fmt(real_p99_all, "ms")}')
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
