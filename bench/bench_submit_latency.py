#!/usr/bin/env python3
"""Benchmark submit -> assigned latency over HTTP with a 20-robot simulated fleet.

Starts real processes (manager with tick_period 0.05, ``fleet_sim.fleet robot1..robot20
--speed 5``, the HTTP bridge with FLEET_TOKEN), waits for the robots to be online, then
submits missions one at a time with ``POST /api/v1/missions`` whenever at least one robot is
free, and measures from the start of the POST to the moment the ``mission.state`` event
``assigned`` for that mission arrives on the SSE stream (``GET /api/v1/events/stream``), or,
with ``--method poll``, to the first ``GET /api/v1/missions/{id}`` that is not ``queued``.

Baseline, in the same run: the round trip of ``GET /api/v1/health`` (public; the bridge
answers it after a ListRobots service call to the manager), measured right before every
submission.

A robot is free when ``GET /api/v1/robots`` (not timed) shows it online, idle or charging,
without a current mission, with battery >= 0.25, and no assigned/active mission of ours is
on it according to the event stream.

Fleet modes: ``reuse`` keeps one stack and lets robots finish missions and take new ones;
``batches`` restarts the whole stack (fresh databases) whenever every robot is busy, with
far-away waypoints so that no mission ends during a batch; ``auto`` (default) runs like
``reuse`` and switches to ``batches`` if the manager process dies (it is reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import random
import re
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
    fmt,
    free_port,
    log,
    ratio,
    require_env,
    run_stack,  # noqa: E402
    stop_notes,
    summary,
    unexpected_nodes,
    write_web_config,
)

NAME = 'bench_submit_latency'
TOKEN = 'benchtoken'
API = '/api/v1'
TERMINAL = ('succeeded', 'failed', 'canceled')
WEB_STOP_TIMEOUT = 3.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog='Writes bench/results/bench_submit_latency.json.')
    p.add_argument('--quick', action='store_true', help='15 missions instead of 120')
    p.add_argument('--missions', type=int, default=0,
                   help='missions to measure (default: 120, or 15 with --quick)')
    p.add_argument('--robots', type=int, default=20,
                   help='simulated robots (default: %(default)s)')
    p.add_argument('--speed', type=float, default=5.0,
                   help='robot speed m/s (default: %(default)s)')
    p.add_argument('--tick', type=float, default=0.05,
                   help='manager tick_period in s (default: %(default)s)')
    p.add_argument('--method', choices=('sse', 'poll'), default='sse',
                   help='how assignment is observed (default: %(default)s)')
    p.add_argument('--fleet-mode', choices=('auto', 'reuse', 'batches'), default='auto',
                   help='see the description (default: %(default)s)')
    p.add_argument('--timeout', type=float, default=10.0,
                   help='seconds to wait for one mission to be assigned (default: %(default)s)')
    p.add_argument('--budget', type=float, default=0.0,
                   help='max seconds of measuring, restarts included (default: 150, or 20 '
                        'with --quick)')
    p.add_argument('--settle', type=float, default=1.5,
                   help='seconds to wait after the robots are online (default: %(default)s)')
    p.add_argument('--default-web-config', action='store_true',
                   help='run the bridge with its installed config/web.yaml (its rate limit '
                        'applies) instead of a bench config without rate limiting')
    p.add_argument('--seed', type=int, default=7, help='random seed for waypoints')
    p.add_argument('--keep', action='store_true', help='keep the temporary directory (logs, dbs)')
    p.add_argument('--allow-foreign-nodes', action='store_true',
                   help='run even if other ROS nodes are on the benchmark domain 57')
    return p


class Tracker:
    """What the event stream (or polling) told us about our missions and robots."""

    def __init__(self) -> None:
        self.assigned_at: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.busy: dict[str, str] = {}  # robot id -> mission id (assigned or active)
        self.events = 0
        self.connected = asyncio.Event()

    def on_event(self, ev: dict[str, Any], t: float) -> None:
        self.events += 1
        p = ev.get('payload') or {}
        mid, state, rid = p.get('mission_id'), p.get('state'), p.get('robot_id') or ''
        if not mid:
            return
        if state == 'assigned':
            self.assigned_at.setdefault(mid, t)
            if rid:
                self.busy[rid] = mid
            fut = self.waiters.pop(mid, None)
            if fut is not None and not fut.done():
                fut.set_result(t)
        elif state in TERMINAL or state == 'queued':
            if rid and self.busy.get(rid) == mid:
                del self.busy[rid]


async def sse_reader(session: Any, base: str, tracker: Tracker) -> None:
    """Read ``mission.state`` events until cancelled; stamp each on arrival."""
    import aiohttp
    url = f'{base}{API}/events/stream?kind=mission.state'
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=5)
    async with session.get(url, timeout=timeout) as resp:
        if resp.status != 200:
            raise RuntimeError(f'event stream answered {resp.status}: {await resp.text()}')
        data: list[str] = []
        kind = ''
        async for raw in resp.content:
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            if not line:
                if data and kind == 'mission.state':
                    t = time.perf_counter()
                    try:
                        tracker.on_event(json.loads('\n'.join(data)), t)
                    except ValueError:
                        pass
                data, kind = [], ''
                continue
            if line.startswith(':'):
                continue
            field, _, value = line.partition(':')
            value = value[1:] if value.startswith(' ') else value
            if field == 'retry':
                tracker.connected.set()
            elif field == 'event':
                kind = value
            elif field == 'data':
                data.append(value)


class Stack:
    """Manager, simulated fleet and bridge processes of one run (or one batch)."""

    def __init__(self, group: ProcessGroup, workdir: pathlib.Path, args: argparse.Namespace,
                 index: int) -> None:
        self.dir = workdir / f'stack{index}'
        self.dir.mkdir(parents=True)
        group.log_dir = self.dir
        self.group = group
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}'
        robots = [f'robot{i}' for i in range(1, args.robots + 1)]
        self.manager = group.start('manager', [
            '-m', 'fleet_manager.manager_node', '--ros-args',
            '-p', f'database:={self.dir / "fleet.db"}', '-p', f'tick_period:={args.tick}'])
        self.fleet = group.start('fleet', ['-m', 'fleet_sim.fleet', *robots,
                                           '--speed', str(args.speed)])
        web_args = ['-m', 'fleet_web.web_node', '--port', str(self.port),
                    '--state', str(self.dir / 'web_state.db')]
        if not args.default_web_config:
            web_args += ['--config', str(write_web_config(self.dir / 'web.yaml'))]
        # The bridge waits for an open (or recently closed) SSE stream on SIGTERM until the
        # stream's next heartbeat (15 s): give it WEB_STOP_TIMEOUT s, then SIGKILL.
        self.web = group.start('web', web_args, env=child_env(FLEET_TOKEN=TOKEN),
                               stop_timeout=WEB_STOP_TIMEOUT)

    def manager_crash(self) -> str | None:
        """None while the manager runs, else the last error line of its log."""
        if self.manager.alive():
            return None
        lines = [ln for ln in self.manager.tail(60).splitlines() if ln.strip()]
        errs = [ln for ln in lines if re.search(r'(Error|Exception)\b', ln)]
        where = [ln.strip() for ln in lines if ln.strip().startswith('File ')]
        reason = errs[-1].strip() if errs else (lines[-1] if lines else 'no output')
        if where:
            reason += f' (at {where[-1]})'
        return f'exit code {self.manager.popen.returncode}: {reason}'


async def get_json(session: Any, url: str) -> tuple[int, Any]:
    import aiohttp
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
            body = await r.read()
            try:
                return r.status, json.loads(body)
            except ValueError:
                return r.status, body.decode(errors='replace')
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return 0, None


async def wait_ready(session: Any, stack: Stack, n: int, timeout: float) -> float:
    """Wait until ``n`` robots are online; return the seconds it took."""
    t0 = time.monotonic()
    last: Any = None
    while time.monotonic() - t0 < timeout:
        stack.group.check_alive()
        status, body = await get_json(session, f'{stack.base}{API}/robots?connectivity=online'
                                               f'&limit=1000')
        last = (status, body if status != 200 else body.get('total'))
        if status == 200 and body.get('total', 0) >= n:
            return time.monotonic() - t0
        if status in (401, 403):
            raise RuntimeError(f'the bridge refused the token: {status} {body}')
        await asyncio.sleep(0.25)
    raise RuntimeError(f'timed out after {timeout:g} s waiting for {n} robots online '
                       f'(last: {last})')


def expected_node(name: str, robots: int) -> bool:
    """True for the nodes this benchmark starts."""
    if name in ('/fleet_manager', '/fleet_web'):
        return True
    parts = name.split('/')
    return (len(parts) >= 3 and parts[1].startswith('robot') and parts[1][5:].isdigit()
            and 1 <= int(parts[1][5:]) <= robots)


def free_robots(robots: list[dict[str, Any]], tracker: Tracker) -> list[str]:
    out = []
    for r in robots:
        battery = r.get('battery')
        if (r.get('connectivity') == 'online' and r.get('mode') in ('idle', 'charging')
                and not r.get('current_mission_id') and not r.get('decommissioned')
                and battery is not None and battery >= 0.25 and r.get('id') not in tracker.busy):
            out.append(r['id'])
    return out


async def timed_get(session: Any, url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    async with session.get(url) as r:
        await r.read()
        return time.perf_counter() - t0, r.status


async def measure(args: argparse.Namespace, group: ProcessGroup, workdir: pathlib.Path,
                  res: Result) -> dict[str, Any]:
    import aiohttp
    rng = random.Random(args.seed)
    n_target = args.missions or (15 if args.quick else 120)
    budget = args.budget or (20.0 if args.quick else 150.0)
    mode = 'reuse' if args.fleet_mode in ('auto', 'reuse') else 'batches'
    lat: list[float] = []
    post_rtt: list[float] = []
    health: list[float] = []
    in_response = 0
    timeouts = 0
    lost = 0
    errors: list[str] = []
    crashes: list[dict[str, Any]] = []
    startups: list[float] = []
    modes_used: list[str] = []
    foreign: list[dict[str, Any]] = []
    headers = {'Authorization': f'Bearer {TOKEN}'}
    stack_index = 0
    t_start = time.monotonic()

    def out_of_time() -> bool:
        return time.monotonic() - t_start > budget

    connector = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=10)) as session:
        while len(lat) < n_target and not out_of_time():
            # -- one stack: start, wait, warm up ------------------------------------------
            if stack_index:
                group.stop_all()
            stack = Stack(group, workdir, args, stack_index)
            stack_index += 1
            modes_used.append(mode)
            took = await wait_ready(session, stack, args.robots, 60.0)
            startups.append(round(took, 2))
            log(f'stack {stack_index} ({mode}): {args.robots} robots online after {took:.1f} s '
                f'(bridge on port {stack.port})')
            await asyncio.sleep(args.settle)
            tracker = Tracker()
            reader = None
            if args.method == 'sse':
                reader = asyncio.create_task(sse_reader(session, stack.base, tracker))
                await asyncio.wait_for(tracker.connected.wait(), 10.0)
            warmed = False
            idle_since: float | None = None
            try:
                while len(lat) < n_target and not out_of_time():
                    crash = stack.manager_crash()
                    if crash:
                        crashes.append({'stack': stack_index, 'after_missions': len(lat),
                                        'reason': crash})
                        log(f'the manager died: {crash}')
                        if args.fleet_mode == 'auto' and mode == 'reuse':
                            mode = 'batches'
                            log('switching to batches (fresh stack whenever every robot is busy)')
                        break
                    for proc in (stack.fleet, stack.web):
                        if not proc.alive():
                            raise RuntimeError(f'{proc.name} exited with code '
                                               f'{proc.popen.returncode}:\n{proc.tail()}')
                    if reader is not None and reader.done():
                        exc = reader.exception()
                        raise RuntimeError(f'event stream ended: {exc!r}')
                    status, body = await get_json(session, f'{stack.base}{API}/robots?limit=1000')
                    free = free_robots(body.get('items', []), tracker) if status == 200 else []
                    if not free:
                        idle_since = idle_since or time.monotonic()
                        if mode == 'batches' and (len(tracker.busy) >= args.robots
                                                  or time.monotonic() - idle_since > 1.0):
                            break  # every robot is busy: next batch
                        if time.monotonic() - idle_since > 30:
                            raise RuntimeError('no robot became free within 30 s')
                        await asyncio.sleep(0.1)
                        continue
                    idle_since = None
                    # baseline: plain HTTP round trip of the health route
                    dt_h, st_h = await timed_get(session, f'{stack.base}{API}/health')
                    if st_h == 200 and warmed:
                        health.append(dt_h)
                    # the measured submission
                    if mode == 'batches':  # far away: nothing finishes during a batch
                        x, y = rng.uniform(60, 80), rng.uniform(60, 80)
                    else:
                        x, y = rng.uniform(1, 14), rng.uniform(1, 6)
                    body = {'waypoints': [{'x': round(x, 2), 'y': round(y, 2)}]}
                    t0 = time.perf_counter()
                    async with session.post(f'{stack.base}{API}/missions', json=body) as r:
                        payload = await r.read()
                        t_resp = time.perf_counter()
                        st = r.status
                    if st != 201:
                        errors.append(f'POST {st}: {payload[:200]!r}')
                        if len(errors) > 10:
                            raise RuntimeError(f'too many failed submissions: {errors[-3:]}')
                        await asyncio.sleep(0.2)
                        continue
                    mission = json.loads(payload)
                    mid = mission['id']
                    t_assigned = await wait_assigned(session, stack, tracker, mid, args)
                    if t_assigned is None:
                        if stack.manager_crash():
                            lost += 1
                            continue
                        timeouts += 1
                        log(f'mission {mid}: not assigned within {args.timeout:g} s')
                        continue
                    if not warmed:
                        warmed = True  # the first mission of a stack is a warm-up
                        continue
                    lat.append(t_assigned - t0)
                    post_rtt.append(t_resp - t0)
                    in_response += mission.get('state') != 'queued'
                    if len(lat) % 20 == 0:
                        log(f'  {len(lat)}/{n_target} missions, last {lat[-1] * 1e3:.1f} ms, '
                            f'{len(tracker.busy)} robots busy')
            finally:
                if reader is not None:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
            if not args.allow_foreign_nodes and stack.manager.alive():
                extra = unexpected_nodes(lambda n: expected_node(n, args.robots))
                if extra:
                    foreign.append({'stack': stack_index, 'nodes': extra})
                    log(f'warning: foreign nodes on the domain during the run: {extra}')
            if args.fleet_mode == 'reuse' and crashes:
                break  # reuse only: no restart after a crash
    return {
        'lat': lat, 'post': post_rtt, 'health': health, 'in_response': in_response,
        'timeouts': timeouts, 'lost_to_crash': lost, 'errors': errors, 'crashes': crashes,
        'startups': startups, 'modes': modes_used, 'stacks': stack_index,
        'budget_exhausted': out_of_time(), 'target': n_target, 'foreign': foreign,
    }


async def wait_assigned(session: Any, stack: Stack, tracker: Tracker, mid: str,
                        args: argparse.Namespace) -> float | None:
    """perf_counter time at which the assignment was observed, or None (timeout/crash)."""
    deadline = time.perf_counter() + args.timeout
    if args.method == 'sse':
        t = tracker.assigned_at.get(mid)
        if t is not None:
            return t
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        tracker.waiters[mid] = fut
        while time.perf_counter() < deadline:
            try:
                return await asyncio.wait_for(asyncio.shield(fut), 0.5)
            except asyncio.TimeoutError:
                if stack.manager_crash():
                    break
        tracker.waiters.pop(mid, None)
        return None
    # polling: GET the mission until it is no longer queued (every 5 ms, bounded)
    while time.perf_counter() < deadline:
        status, body = await get_json(session, f'{stack.base}{API}/missions/{mid}')
        t = time.perf_counter()
        if status == 200 and body.get('state') not in (None, 'queued'):
            rid = body.get('robot_id')
            if rid and body.get('state') in ('assigned', 'active'):
                tracker.busy[rid] = mid
            return t
        if stack.manager_crash():
            return None
        await asyncio.sleep(0.005)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    require_env('aiohttp', 'rclpy', 'fleet_manager.manager_node', 'fleet_web.web_node',
                'fleet_sim.fleet')
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'speed_mps': args.speed, 'tick_period_s': args.tick,
        'method': args.method, 'fleet_mode': args.fleet_mode, 'timeout_s': args.timeout,
        'web_config': 'installed default' if args.default_web_config else
        'bench (no rate limit)', 'baseline': 'GET /api/v1/health round trip, same run'})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench-submit-'))
    log(f'work directory {workdir}')
    status = 'ok'
    out, stops = run_stack(res, workdir, args.allow_foreign_nodes,
                           lambda group: asyncio.run(measure(args, group, workdir, res)))

    lat = summary(out['lat'], 1e3)
    post = summary(out['post'], 1e3)
    hl = summary(out['health'], 1e3)
    r = {
        'missions_measured': len(out['lat']),
        'missions_target': out['target'],
        'submit_to_assigned_ms': lat,
        'post_round_trip_ms': post,
        'health_round_trip_ms': hl,
        'ratio_median_vs_health': ratio(lat.get('median', float('nan')),
                                        hl.get('median', float('nan'))),
        'ratio_p99_vs_health': ratio(lat.get('p99', float('nan')), hl.get('p99', float('nan'))),
        'assigned_in_post_response': out['in_response'],
        'timeouts': out['timeouts'],
        'lost_to_manager_crash': out['lost_to_crash'],
        'failed_submissions': out['errors'][:10],
        'stacks_started': out['stacks'],
        'stack_modes': out['modes'],
        'startup_to_online_s': out['startups'],
        'manager_crashes': out['crashes'],
        'budget_exhausted': out['budget_exhausted'],
        'process_stops': stops,
        'foreign_nodes': out['foreign'],
    }
    res.data['results'] = r
    if out['foreign']:
        status = 'degraded'
        res.note('other ROS nodes were on domain 57 during the run (figures unreliable): '
                 f'{out["foreign"]}')
    if out['crashes']:
        status = 'degraded'
        res.note(f'the fleet manager died {len(out["crashes"])} time(s) during the run; first: '
                 f'{out["crashes"][0]["reason"]}')
    for n in stop_notes(stops):
        if 'manager' in n and out['modes'][-1:] == ['batches']:
            n += ' (expected in batches mode: missions are cut short)'
        res.note(n)
    if len(out['lat']) < out['target']:
        res.note(f'measured {len(out["lat"])} of {out["target"]} missions')
    res.headline('submit->assigned median', lat.get('median'), 'ms')
    res.headline('submit->assigned p99', lat.get('p99'), 'ms')
    res.headline('health median', hl.get('median'), 'ms')
    res.headline('ratio to health', r['ratio_median_vs_health'], 'x')
    res.goal('no goal set: informational (manager must stay up)', None if not out['crashes']
             else False)
    path = res.write(status)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f'Submit -> assigned over HTTP ({args.method}), {args.robots} robots, '
          f'{len(out["lat"])} missions, {out["stacks"]} stack(s) ({", ".join(out["modes"])}):')
    print(f'  submit->assigned  median {fmt(lat.get("median"), "ms")}  '
          f'p99 {fmt(lat.get("p99"), "ms")}')
    print(f'  POST round trip   median {fmt(post.get("median"), "ms")}  '
          f'p99 {fmt(post.get("p99"), "ms")}'
          f'  ({out["in_response"]} answered already assigned)')
    print(f'  GET /health (baseline) median {fmt(hl.get("median"), "ms")}  '
          f'p99 {fmt(hl.get("p99"), "ms")}')
    print(f'  ratio to baseline: median {fmt(r["ratio_median_vs_health"], "x")}, '
          f'p99 {fmt(r["ratio_p99_vs_health"], "x")}; timeouts {out["timeouts"]}')
    for c in out['crashes']:
        print(f'  WARNING: manager died (stack {c["stack"]}): {c["reason"]}')
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
