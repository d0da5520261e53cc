#!/usr/bin/env python3
"""Benchmark the manager at fleet scale: 1,000 to 10,000 robots reporting at 1 Hz.

For each fleet size (``--robots``, default 1000 3000 5000 10000) a fresh stack runs:

- the fleet manager (temporary database, ``accept_unknown_robots``),
- bench/bare_subscriber.py: a bare subscriber of the same topic with the manager's QoS and
  executor that only counts (the baseline of the ingest ratio, same run, same load),
- the HTTP bridge (FLEET_TOKEN, no rate limit),
- bench/fleet_traffic.py ``--raw``: the robots' statuses at 1 Hz, spread evenly over each
  second, one publisher process per 5,000 robots (each status pre-serialized, so the load
  generator costs as little as possible on this 2-core machine).

Measured per size, from the manager's own ``/fleet/summary`` (every ``report_period``):

- **time to all online** from the first published status;
- over a window (60 s; 300 s at the largest size; ``--quick``: 20 s): statuses the manager
  took against statuses the bare subscriber took in the same window, the **ingest ratio**
  (goal >= 0.8); robots **wrongly stale or offline** (every robot reports throughout: the
  largest ``stale + offline`` seen after all were online, goal 0); manager CPU (% of one
  core) and **RSS**;
- with the statuses still flowing: ``GET /api/v1/robots?limit=100`` (4 at a time for 6 s,
  so that several fleet/robots snapshots arrive meanwhile): p99 (goal < 50 ms);
  ``POST /api/v1/missions`` at 50/s for 10 s: p99 (goal < 100 ms); at the largest size
  the **dashboard's first render** in headless Chromium (Playwright, Debian's
  /usr/bin/chromium): from navigation to the first robot row and the fleet count on screen
  (goal < 1 s).

    python bench/bench_scale.py [--quick] [--robots 1000 10000] [--window S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import pathlib
import shutil
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
    fmt,
    free_port,
    http_json,
    log,
    ratio,
    require_env,
    run_stack,
    stop_notes,
    summary,
    wait_until,
    write_web_config,
)
from _fleet_bench import CpuWindow, SummaryWatch, add_common_args, manager_args, rss_mb, use_domain  # noqa: E402

NAME = 'bench_scale'
TOKEN = 'benchtoken'
PER_PUBLISHER = 5000
CHROMIUM = '/usr/bin/chromium'
GOALS = {'ingest_ratio': 0.8, 'robots_p99_ms': 50.0, 'submit_p99_ms': 100.0,
         'first_render_s': 1.0, 'online_s': 60.0}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true',
                   help='1,000 and 3,000 robots, 20 s windows')
    p.add_argument('--robots', type=int, nargs='+', default=None,
                   help='fleet sizes (default: 1000 3000 5000 10000)')
    p.add_argument('--window', type=float, default=0.0,
                   help='seconds of measurement per size (default: 60, or 20 with --quick)')
    p.add_argument('--top-window', type=float, default=0.0,
                   help='seconds of measurement at the largest size (default: 300, or the '
                        'window with --quick)')
    p.add_argument('--submit-rate', type=float, default=50.0,
                   help='POST /missions per second (default: %(default)s)')
    p.add_argument('--no-dashboard', action='store_true', help='skip the first-render check')
    p.add_argument('--desired-state', type=pathlib.Path, default=None, metavar='DIR',
                   help="the manager's desired_state_dir (e.g. "
                        'src/fleet_bringup/config/desired): configuration as code at scale. '
                        'The simulated robots have no agents, so none confirms its '
                        'configuration and the manager keeps sending them (paced)')
    p.add_argument('--trace', type=pathlib.Path, default=None, metavar='DIR',
                   help="write Chromium's timeline of the first render to DIR/cold.json and "
                        'DIR/warm.json')
    add_common_args(p)
    return p


def read_json(path: pathlib.Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# -- HTTP ------------------------------------------------------------------------------------
async def timed(session: Any, method: str, url: str, body: Any = None) -> tuple[float, int]:
    t0 = time.perf_counter()
    async with session.request(method, url, json=body) as resp:
        await resp.read()
        return time.perf_counter() - t0, resp.status


async def robots_page(base: str, seconds: float = 6.0, concurrency: int = 4) -> dict[str, Any]:
    """GET /robots?limit=100, ``concurrency`` at a time, for ``seconds`` (long enough to
    span several fleet/robots snapshots, which the bridge takes in every 2 s at most):
    latency summary."""
    import aiohttp
    lat: list[float] = []
    codes: dict[int, int] = {}
    end = time.perf_counter() + seconds
    headers = {'Authorization': f'Bearer {TOKEN}'}
    async with aiohttp.ClientSession(headers=headers) as session:
        async def worker() -> None:
            while time.perf_counter() < end:
                dt, code = await timed(session, 'GET', f'{base}/api/v1/robots?limit=100')
                lat.append(dt)
                codes[code] = codes.get(code, 0) + 1
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {'latency_ms': summary(lat, 1000.0, 1), 'codes': codes}


async def submit_load(base: str, rate: float, seconds: float) -> dict[str, Any]:
    """POST /missions at ``rate`` per second (open loop) for ``seconds``."""
    import aiohttp
    lat: list[float] = []
    codes: dict[int, int] = {}
    headers = {'Authorization': f'Bearer {TOKEN}'}
    async with aiohttp.ClientSession(headers=headers) as session:
        async def one(i: int) -> None:
            body = {'waypoints': [{'x': float(i % 100), 'y': float(i % 37)}],
                    'client_ref': f'bench-{i}'}
            dt, code = await timed(session, 'POST', f'{base}/api/v1/missions', body)
            lat.append(dt)
            codes[code] = codes.get(code, 0) + 1
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the open-loop load
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return {'latency_ms': summary(lat, 1000.0, 1), 'codes': codes, 'rate': rate}


def request_timing(request: Any) -> dict[str, Any]:
    """A finished request of the page: path, bytes and its timing (ms from the navigation's
    request start, as the browser reports them)."""
    t = request.timing
    sizes = request.sizes()
    return {'path': request.url.split('//', 1)[-1].split('/', 1)[-1][:80],
            'bytes': sizes.get('responseBodySize'),
            'start': t['startTime'],
            'wait_ms': round(t['responseStart'] - t['requestStart'], 1),
            'took_ms': round(t['responseEnd'], 1)}


def request_list(requests: list[Any]) -> list[dict[str, Any]]:
    """The page's requests in order, each started ``start_ms`` after the first."""
    rows = sorted((request_timing(r) for r in requests), key=lambda r: r['start'])
    t0 = rows[0]['start'] if rows else 0.0
    for row in rows:
        row['start_ms'] = round(row.pop('start') - t0, 1)
    return rows


def first_render(base: str, robots: int, trace: pathlib.Path | None = None) -> dict[str, Any]:
    """Navigate to the dashboard; seconds to the first robot row and to the fleet count, and
    the page's requests. With ``trace``, Chromium's timeline of each navigation goes to
    ``trace/cold.json`` and ``trace/warm.json`` (chrome://tracing format)."""
    from playwright import sync_api
    args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run']
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 800})
            out: dict[str, Any] = {}
            requests: list[Any] = []
            page.on('requestfinished', lambda r: requests.append(r))
            for attempt in ('cold', 'warm'):
                requests.clear()
                if trace is not None:
                    browser.start_tracing(page=page, path=str(trace / f'{attempt}.json'),
                                          categories=['devtools.timeline', 'v8.execute'])
                t0 = time.perf_counter()
                page.goto(f'{base}/?token={TOKEN}')
                page.locator('[data-testid="robot-row"]').first.wait_for(timeout=30_000)
                first_row = time.perf_counter() - t0
                count = page.get_by_test_id('robot-count')
                page.wait_for_function(
                    'n => { const el = document.querySelector(\'[data-testid="robot-count"]\');'
                    ' return el && el.textContent.startsWith(n + " robots"); }',
                    arg=str(robots), timeout=30_000)
                out[attempt] = {'first_row_s': round(first_row, 3),
                                'count_s': round(time.perf_counter() - t0, 3),
                                'count_text': count.inner_text().strip(),
                                'requests': request_list(list(requests))}
                if trace is not None:
                    browser.stop_tracing()
            return out
        finally:
            browser.close()


# -- one fleet size --------------------------------------------------------------------------
def run_size(group: ProcessGroup, workdir: pathlib.Path, robots: int, window: float,
             args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f'http://127.0.0.1:{port}'
    extra = {'desired_state_dir': args.desired_state.resolve()} if args.desired_state else {}
    manager = group.start('manager', manager_args(
        workdir / 'fleet.db', accept_unknown_robots='true', **extra))
    bare_stats = workdir / 'bare.json'
    bare = group.start('bare', [str(BENCH_DIR / 'bare_subscriber.py'), '--stats',
                                str(bare_stats), '--stats-period', '0.5'])
    # Its own state database: the default (./fleet_web.db) would carry the event cursor
    # of an earlier run, and the bridge would then read none of this run's events.
    group.start('web', ['-m', 'fleet_web.web_node', '--port', str(port), '--config',
                        str(write_web_config(workdir / 'web.yaml')),
                        '--state', str(workdir / 'web_state.db')],
                env=child_env(FLEET_TOKEN=TOKEN))
    watch = SummaryWatch()
    try:
        wait_until(lambda: watch.get() is not None, 60, 'the manager\'s first summary',
                   group=group)
        wait_until(lambda: http_json('GET', f'{base}/api/v1/health')[0] == 200, 60,
                   'the bridge to answer', group=group)
        publishers = []
        started = time.monotonic()
        for k in range(math.ceil(robots / PER_PUBLISHER)):
            n = min(PER_PUBLISHER, robots - k * PER_PUBLISHER)
            stats = workdir / f'traffic{k}.json'
            group.start(f'traffic{k}', [str(BENCH_DIR / 'fleet_traffic.py'), '--raw',
                                        '--robots', str(n), '--first',
                                        str(1 + k * PER_PUBLISHER), '--stats', str(stats)])
            publishers.append(stats)
        log(f'{robots} robots: publishing; waiting for all online')
        last_print = [0.0]

        def all_online() -> bool:
            s = watch.get()
            if time.monotonic() - last_print[0] >= 5.0:
                last_print[0] = time.monotonic()
                log(f'  online {s.online} of {robots}')
            return int(s.online) == robots

        wait_until(all_online, 180, f'all {robots} robots online', group=group)
        online_s = time.monotonic() - started
        log(f'{robots} robots online after {online_s:.1f} s; measuring {window:g} s')
        watch.track()

        def sent() -> int:
            return sum(int(read_json(p).get('sent', 0)) for p in publishers)

        cpu = CpuWindow({'manager': manager.pid, 'bare': bare.pid})
        s0, b0, p0 = watch.get(), int(read_json(bare_stats).get('received', 0)), sent()
        cpu.start()
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            group.check_alive()
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            log(f'  {robots} robots: {watch.get().online} online, '
                f'{watch.worst_not_online} worst not online')
        cpu.stop()
        s1, b1, p1 = watch.get(), int(read_json(bare_stats).get('received', 0)), sent()
        took = int(s1.statuses_received) - int(s0.statuses_received)
        bare_took = b1 - b0
        ingest = {'published_per_s': round((p1 - p0) / cpu.seconds, 1),
                  'manager_per_s': round(took / cpu.seconds, 1),
                  'bare_per_s': round(bare_took / cpu.seconds, 1),
                  'ratio': ratio(took, bare_took),
                  'manager_cpu_pct': round(100 * cpu.used('manager') / cpu.seconds, 1),
                  'bare_cpu_pct': round(100 * cpu.used('bare') / cpu.seconds, 1)}
        memory = rss_mb(manager.pid)
        log(f'{robots} robots: ingest {ingest}; manager memory {memory}')

        log(f'{robots} robots: GET /robots?limit=100')
        robots_api = asyncio.run(robots_page(base))
        log(f'  {robots_api}')
        log(f'{robots} robots: POST /missions at {args.submit_rate:g}/s for 10 s')
        submit = asyncio.run(submit_load(base, args.submit_rate, 10.0))
        log(f'  {submit}')
        render = None
        if not args.no_dashboard and robots == max(args.robots) \
                and pathlib.Path(CHROMIUM).exists():
            log(f'{robots} robots: dashboard first render')
            render = first_render(base, robots, args.trace)
            log(f'  {render}')
        group.check_alive()
        final = watch.get()
        return {'robots': robots, 'online_s': round(online_s, 1), 'window_s': window,
                'ingest': ingest, 'manager_memory_mb': memory,
                'wrongly_not_online_max': watch.worst_not_online,
                'online_min': watch.min_online, 'online_end': int(final.online),
                'rejected': int(final.statuses_rejected),
                'robots_api': robots_api, 'submit': submit, 'dashboard': render}
    finally:
        watch.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('rclpy', 'aiohttp', 'fleet_manager.manager_node', 'fleet_web.web_node')
    args.robots = sorted(args.robots or ([1000, 3000] if args.quick
                                         else [1000, 3000, 5000, 10000]))
    window = args.window or (20.0 if args.quick else 60.0)
    top_window = args.top_window or (window if args.quick else 300.0)
    if args.desired_state is not None and not args.desired_state.is_dir():
        print(f'{NAME}: --desired-state {args.desired_state}: not a directory', file=sys.stderr)
        return 2
    res = Result(NAME, args.quick, {'robots': args.robots, 'window_s': window,
                                    'top_window_s': top_window, 'rate_hz': 1.0,
                                    'submit_rate': args.submit_rate,
                                    'desired_state': str(args.desired_state or '')})
    root = pathlib.Path(tempfile.mkdtemp(prefix='bench_scale_'))
    sizes = []
    stops = []
    for robots in args.robots:
        workdir = root / str(robots)
        workdir.mkdir()
        w = top_window if robots == args.robots[-1] else window
        # This process's own summary watcher of the previous stack may linger in the graph.
        out, stop = run_stack(res, workdir, args.allow_foreign_nodes or bool(stops),
                              lambda group, r=robots, wd=workdir, w=w:
                              run_size(group, wd, r, w, args))
        sizes.append(out)
        stops.extend(stop)
    res.data['results'] = {'sizes': sizes}
    for n in stop_notes(stops):
        res.note(n)
    top = sizes[-1]
    res.headline('robots', top['robots'])
    res.headline('ingest ratio (manager / bare subscriber)', top['ingest']['ratio'])
    res.headline('manager CPU', top['ingest']['manager_cpu_pct'], '% of a core')
    res.headline('manager RSS', top['manager_memory_mb'].get('VmRSS'), 'MiB')
    res.headline('all online after', top['online_s'], 's')
    res.headline('wrongly stale or offline (max)', top['wrongly_not_online_max'])
    res.headline('GET /robots?limit=100 p99', top['robots_api']['latency_ms'].get('p99'), 'ms')
    res.headline('POST /missions p99', top['submit']['latency_ms'].get('p99'), 'ms')
    for s in sizes:
        res.goal(f'{s["robots"]} robots: ingest ratio >= {GOALS["ingest_ratio"]}',
                 (s['ingest']['ratio'] or 0) >= GOALS['ingest_ratio'], s['ingest']['ratio'])
        res.goal(f'{s["robots"]} robots: 0 wrongly stale or offline',
                 s['wrongly_not_online_max'] == 0, s['wrongly_not_online_max'])
        res.goal(f'{s["robots"]} robots: all online within {GOALS["online_s"]:g} s',
                 s['online_s'] <= GOALS['online_s'], s['online_s'])
        res.goal(f'{s["robots"]} robots: GET /robots?limit=100 p99 < '
                 f'{GOALS["robots_p99_ms"]:g} ms',
                 s['robots_api']['latency_ms'].get('p99', math.inf) < GOALS['robots_p99_ms'],
                 s['robots_api']['latency_ms'].get('p99'))
        res.goal(f'{s["robots"]} robots: POST /missions p99 < {GOALS["submit_p99_ms"]:g} ms '
                 f'at {args.submit_rate:g}/s',
                 s['submit']['latency_ms'].get('p99', math.inf) < GOALS['submit_p99_ms'],
                 s['submit']['latency_ms'].get('p99'))
    if top.get('dashboard'):
        cold = top['dashboard']['cold']['count_s']
        res.headline('dashboard first render (cold)', cold, 's')
        res.goal(f'dashboard first render < {GOALS["first_render_s"]:g} s',
                 cold < GOALS['first_render_s'], cold)
    path = res.write()
    print(f'\n{NAME}: results in {path}')
    print(f'{"robots":>7} {"online s":>8} {"ratio":>6} {"mgr/s":>8} {"bare/s":>8} '
          f'{"CPU %":>6} {"RSS MiB":>8} {"stale":>6} {"GET p99":>8} {"POST p99":>9}')
    for s in sizes:
        i = s['ingest']
        print(f'{s["robots"]:>7} {s["online_s"]:>8} {fmt(i["ratio"]):>6} '
              f'{i["manager_per_s"]:>8} {i["bare_per_s"]:>8} {i["manager_cpu_pct"]:>6} '
              f'{fmt(s["manager_memory_mb"].get("VmRSS")):>8} '
              f'{s["wrongly_not_online_max"]:>6} '
              f'{fmt(s["robots_api"]["latency_ms"].get("p99")):>8} '
              f'{fmt(s["submit"]["latency_ms"].get("p99")):>9}')
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
