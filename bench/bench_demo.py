#!/usr/bin/env python3
"""Benchmark ``make demo ROBOTS=100`` as a user meets it: startup, missions, API latency.

Runs ``python -m fleet_sim.demo --robots N --missions 0`` (what ``make demo`` runs, without
its own mission feeder, so this script knows exactly which missions exist) in a temporary
directory, then measures over HTTP, as a warehouse system or the dashboard would:

- seconds from the start of the demo to **every robot online** (``GET /api/v1/robots``);
- ``--missions`` missions (50) submitted 5 per second to the whole fleet: how many
  **succeed**, and the seconds until the last one ended;
- while they run, ``GET /api/v1/missions?limit=100`` every 0.1 s: **p99 latency**
  (goal < 200 ms), and ``GET /api/v1/robots?limit=100`` likewise.

    python bench/bench_demo.py [--quick] [--robots 100] [--missions 50]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ProcessGroup,
    Result,
    child_env,
    free_port,
    http_json,
    log,
    require_env,
    run_stack,
    stop_notes,
    summary,
    wait_until,
)
from _fleet_bench import add_common_args, cpu_seconds, use_domain  # noqa: E402

NAME = 'bench_demo'
TOKEN = 'benchtoken'
GOALS = {'online_s': 30.0, 'missions_p99_ms': 200.0}
TERMINAL = ('succeeded', 'failed', 'canceled')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='30 robots, 15 missions')
    p.add_argument('--robots', type=int, default=0, help='robots (default: 100; 30 quick)')
    p.add_argument('--missions', type=int, default=0,
                   help='missions to run (default: 50; 15 quick)')
    p.add_argument('--speed', type=float, default=2.0, help='robot speed, m/s (default: 2)')
    add_common_args(p)
    return p


async def poll_latency(base: str, path: str, stop: asyncio.Event,
                       period: float = 0.1) -> list[float]:
    """GET ``path`` every ``period`` s until ``stop``: the latencies (s) of 200 answers."""
    import aiohttp
    out: list[float] = []
    async with aiohttp.ClientSession(headers={'Authorization': f'Bearer {TOKEN}'}) as s:
        while not stop.is_set():
            t0 = time.perf_counter()
            async with s.get(f'{base}{path}') as resp:
                await resp.read()
                if resp.status == 200:
                    out.append(time.perf_counter() - t0)
            try:
                await asyncio.wait_for(stop.wait(), period)
            except asyncio.TimeoutError:
                pass
    return out


async def run_missions(base: str, robots: list[dict[str, Any]], count: int,
                       timeout: float) -> dict[str, Any]:
    """Submit ``count`` missions (5/s) near the robots and wait for every one to end."""
    import aiohttp
    stop = asyncio.Event()
    pollers = [asyncio.create_task(poll_latency(base, '/api/v1/missions?limit=100', stop)),
               asyncio.create_task(poll_latency(base, '/api/v1/robots?limit=100', stop))]
    ids: list[str] = []
    states: dict[str, str] = {}
    started = time.monotonic()
    async with aiohttp.ClientSession(headers={'Authorization': f'Bearer {TOKEN}'}) as s:
        for i in range(count):
            pose = robots[i % len(robots)]['pose']
            body = {'waypoints': [{'x': pose['x'] + 3.0, 'y': pose['y']}],
                    'client_ref': f'bench-demo-{i}'}
            async with s.post(f'{base}/api/v1/missions', json=body) as resp:
                doc = await resp.json()
                if resp.status != 201:
                    raise RuntimeError(f'POST /missions answered {resp.status}: {doc}')
                ids.append(doc['id'])
            await asyncio.sleep(0.2)  # pacing: 5 submissions per second
        deadline = started + timeout
        while time.monotonic() < deadline:
            for mid in ids:
                if states.get(mid) in TERMINAL:
                    continue
                async with s.get(f'{base}/api/v1/missions/{mid}') as resp:
                    states[mid] = (await resp.json()).get('state', '')
            if all(states.get(m) in TERMINAL for m in ids):
                break
            await asyncio.sleep(1.0)  # polling interval of the outcome check
    ended = time.monotonic() - started
    stop.set()
    missions_lat, robots_lat = await asyncio.gather(*pollers)
    counts: dict[str, int] = {}
    for mid in ids:
        counts[states.get(mid, '?')] = counts.get(states.get(mid, '?'), 0) + 1
    return {'submitted': len(ids), 'states': counts, 'all_ended_s': round(ended, 1),
            'get_missions_ms': summary(missions_lat, 1000.0, 1),
            'get_robots_ms': summary(robots_lat, 1000.0, 1)}


def run(group: ProcessGroup, workdir: pathlib.Path, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f'http://127.0.0.1:{port}'
    started = time.monotonic()
    demo = group.start('demo', ['-m', 'fleet_sim.demo', '--robots', str(args.robots),
                                '--port', str(port), '--missions', '0', '--speed',
                                str(args.speed), '--database', str(workdir / 'fleet.db')],
                       env=child_env(FLEET_TOKEN=TOKEN, ROS_HOME=str(workdir / 'ros_home')))
    last = [0.0]

    def online() -> list[dict[str, Any]] | None:
        status, body = http_json('GET', f'{base}/api/v1/robots?limit=1000', token=TOKEN)
        if status != 200:
            return None
        up = [r for r in body['items'] if r['connectivity'] == 'online']
        if time.monotonic() - last[0] >= 5.0:
            last[0] = time.monotonic()
            log(f'  {len(up)} of {args.robots} online')
        return up if len(up) == args.robots else None

    robots = wait_until(online, 300, f'all {args.robots} robots online', interval=0.5,
                        group=group)
    online_s = time.monotonic() - started
    log(f'all {args.robots} online after {online_s:.1f} s; running {args.missions} missions')
    cpu0 = cpu_seconds(demo.pid)
    result = asyncio.run(run_missions(base, robots, args.missions, 600.0))
    log(f'  {result}')
    return {'robots': args.robots, 'online_s': round(online_s, 1), **result,
            'demo_process_cpu_s': round(cpu_seconds(demo.pid) - cpu0, 1)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('aiohttp', 'fleet_sim.demo')
    args.robots = args.robots or (30 if args.quick else 100)
    args.missions = args.missions or (15 if args.quick else 50)
    res = Result(NAME, args.quick, {'robots': args.robots, 'missions': args.missions,
                                    'speed': args.speed})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench_demo_'))
    out, stops = run_stack(res, workdir, args.allow_foreign_nodes,
                           lambda group: run(group, workdir, args))
    res.data['results'] = out
    for n in stop_notes(stops):
        res.note(n)
    ok = out['states'].get('succeeded', 0)
    p99 = out['get_missions_ms'].get('p99')
    res.headline('all robots online after', out['online_s'], 's')
    res.headline('missions succeeded', f'{ok} of {out["submitted"]}')
    res.headline('GET /missions p99', p99, 'ms')
    res.goal(f'{args.robots} online within {GOALS["online_s"]:g} s',
             out['online_s'] <= GOALS['online_s'], out['online_s'])
    res.goal(f'{args.missions} missions succeed', ok == args.missions, ok)
    res.goal(f'GET /missions p99 < {GOALS["missions_p99_ms"]:g} ms',
             p99 is not None and p99 < GOALS['missions_p99_ms'], p99)
    path = res.write()
    print(f'\n{NAME}: {args.robots} robots online after {out["online_s"]} s; {ok} of '
          f'{out["submitted"]} missions succeeded (all ended after {out["all_ended_s"]} s); '
          f'GET /missions p99 {p99} ms, GET /robots p99 '
          f'{out["get_robots_ms"].get("p99")} ms\n(results in {path})')
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
