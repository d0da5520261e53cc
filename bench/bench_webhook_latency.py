#!/usr/bin/env python3
"""Benchmark event -> webhook delivery latency through the HTTP bridge.

Processes: the fleet manager (temporary database), bench/status_publisher.py for robot1..robot5
at 1 Hz, and the bridge (``fleet_web.web_node``, FLEET_TOKEN, its own state database) with a
bench ``--config``: no rate limiting and one signed ``json`` webhook subscription for every
event kind (``events: ['*']``) pointing at a receiver that this script runs on 127.0.0.1.
The receiver records, per ``X-Fleet-Event-Id``, the wall time at which the request arrived
(and checks the HMAC signature).

Events are generated with the API at a fixed pace (10/s): ``POST
/api/v1/robots/{id}/decommission`` and ``.../recommission`` in turn over the five robots, one
``robot.service`` event each. Every event logged while they run (whatever its kind) is
measured:

- **event -> webhook** = arrival at the receiver minus the event's log time (the manager's
  store, read read-only afterwards; the delivered body's ``time`` is the same to the
  millisecond and is cross-checked);
- **baseline**: right after each API call, this script POSTs a body of the same size
  to the same receiver with a plain aiohttp client session (keep-alive) and records from
  just before the POST to the arrival.

Both ends are wall clocks of the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    log,
    ratio,
    require_env,
    run_stack,  # noqa: E402
    stop_notes,
    summary,
    unexpected_nodes,
)
from _fleet_bench import add_common_args, manager_args, open_ro, use_domain  # noqa: E402

NAME = 'bench_webhook_latency'
TOKEN = 'benchtoken'
SECRET = 'bench-webhook-secret'
SUB = 'bench-receiver'
API = '/api/v1'
WEB_STOP_TIMEOUT = 5.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='40 events instead of 250')
    p.add_argument('--events', type=int, default=0,
                   help='API calls (= events) to measure (default: 250, or 40 with --quick)')
    p.add_argument('--rate', type=float, default=10.0,
                   help='API calls per second (default: %(default)s)')
    p.add_argument('--robots', type=int, default=5,
                   help='robots of the status publisher (default: %(default)s)')
    p.add_argument('--warmup', type=int, default=6, help='warm-up calls (default: %(default)s)')
    p.add_argument('--timeout', type=float, default=20.0,
                   help='seconds to wait for the last deliveries (default: %(default)s)')
    add_common_args(p)
    return p


def write_config(path: pathlib.Path, receiver_port: int) -> pathlib.Path:
    path.write_text(
        '# written by bench/bench_webhook_latency.py: no throttling, one webhook\n'
        'api_keys: []\n'
        'rate_limit:\n  per_second: 1000000\n  burst: 1000000\n'
        'webhooks:\n'
        f'  - name: {SUB}\n'
        '    format: json\n'
        f'    url: http://127.0.0.1:{receiver_port}/hook\n'
        "    events: ['*']\n"
        f'    secret: {SECRET}\n'
        '    max_attempts: 3\n'
        '    timeout_s: 5.0\n')
    return path


class Receiver:
    """The webhook receiver (and the baseline's target), in this process's event loop."""

    def __init__(self) -> None:
        self.hooks: dict[int, dict[str, Any]] = {}  # event id -> first arrival
        self.duplicates = 0
        self.bad_signatures = 0
        self.base: dict[str, float] = {}
        self.last_body = b''
        self.arrived = asyncio.Event()

    async def hook(self, request: Any) -> Any:
        from aiohttp import web

        from fleet_web.webhooks import verify_signature
        t = time.time()
        body = await request.read()
        h = request.headers
        try:
            event_id = int(h.get('X-Fleet-Event-Id', '0'))
        except ValueError:
            event_id = 0
        if not verify_signature(SECRET, h.get('X-Fleet-Timestamp'), body,
                                h.get('X-Fleet-Signature'), time.time()):
            self.bad_signatures += 1
        if event_id in self.hooks:
            self.duplicates += 1
        else:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            self.hooks[event_id] = {'arrival': t, 'kind': doc.get('kind'),
                                    'body_time': doc.get('time'),
                                    'attempt': h.get('X-Fleet-Attempt'),
                                    'ts_header': h.get('X-Fleet-Timestamp')}
            self.last_body = body
        self.arrived.set()
        return web.Response(status=204)

    async def baseline(self, request: Any) -> Any:
        from aiohttp import web
        t = time.time()
        await request.read()
        self.base[request.headers.get('X-Bench-Id', '')] = t
        return web.Response(status=204)


async def api_json(session: Any, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    import aiohttp
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=10),
                                   **kw) as r:
            raw = await r.read()
            try:
                return r.status, json.loads(raw)
            except ValueError:
                return r.status, raw.decode(errors='replace')
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return 0, None


async def last_event_id(session: Any, base: str) -> int:
    st, body = await api_json(session, 'GET', f'{base}{API}/events?after=0&limit=1')
    if st != 200:
        raise RuntimeError(f'GET /events answered {st}: {body}')
    return int(body['last_id'])


async def wait_delivered(rx: Receiver, upto: int, after: int, timeout: float,
                         group: ProcessGroup) -> list[int]:
    """Wait until every event id in (after, upto] arrived; return the missing ones."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [i for i in range(after + 1, upto + 1) if i not in rx.hooks]
        if not missing or time.monotonic() > deadline:
            return missing
        group.check_alive()
        rx.arrived.clear()
        try:
            await asyncio.wait_for(rx.arrived.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


async def measure(args: argparse.Namespace, group: ProcessGroup, workdir: pathlib.Path
                  ) -> dict[str, Any]:
    import aiohttp
    from aiohttp import web
    n_events = args.events or (40 if args.quick else 250)
    robots = [f'robot{i}' for i in range(1, args.robots + 1)]
    rx = Receiver()
    app = web.Application()
    app.router.add_post('/hook', rx.hook)
    app.router.add_post('/base', rx.baseline)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    rport = free_port()
    site = web.TCPSite(runner, '127.0.0.1', rport)
    await site.start()
    port = free_port()
    base = f'http://127.0.0.1:{port}'
    db = workdir / 'fleet.db'
    try:
        manager = group.start('manager', manager_args(db, report_period=1.0))
        group.start('publisher', [str(BENCH_DIR / 'status_publisher.py'), '--robots',
                                  str(args.robots), '--rate', '1'])
        group.start('web', ['-m', 'fleet_web.web_node', '--port', str(port), '--state',
                            str(workdir / 'web_state.db'), '--config',
                            str(write_config(workdir / 'web.yaml', rport))],
                    env=child_env(FLEET_TOKEN=TOKEN), stop_timeout=WEB_STOP_TIMEOUT)
        headers = {'Authorization': f'Bearer {TOKEN}'}
        async with aiohttp.ClientSession(headers=headers) as api, \
                aiohttp.ClientSession() as plain:
            # -- ready: bridge up, robots online, deliveries flowing ----------------------
            t0 = time.monotonic()
            while True:
                group.check_alive()
                st, body = await api_json(api, 'GET', f'{base}{API}/robots?'
                                                      'connectivity=online&limit=1000')
                online = {r['id'] for r in body.get('items', [])} if st == 200 else set()
                if set(robots) <= online:
                    break
                if time.monotonic() - t0 > 60:
                    raise RuntimeError(f'robots online after 60 s: {sorted(online)} '
                                       f'(last answer {st})')
                await asyncio.sleep(0.25)
            log(f'bridge on port {port}, {len(robots)} robots online after '
                f'{time.monotonic() - t0:.1f} s; receiver on port {rport}')
            in_service = {r: True for r in robots}
            api_rtt: list[float] = []
            api_sent: list[tuple[float, float]] = []  # (sent, answered) wall times
            base_lat: list[float] = []
            errors: list[str] = []

            async def one_call(i: int, timed: bool) -> None:
                rid = robots[(i // 2) % len(robots)]
                action = 'decommission' if in_service[rid] else 'recommission'
                t_wall = time.time()
                t = time.perf_counter()
                st, body = await api_json(api, 'POST', f'{base}{API}/robots/{rid}/{action}',
                                          json={'reason': f'bench {i}'})
                dt = time.perf_counter() - t
                if st != 200:
                    errors.append(f'{action} {rid}: {st} {str(body)[:200]}')
                    if len(errors) > 10:
                        raise RuntimeError(f'too many failed API calls: {errors[-3:]}')
                    return
                in_service[rid] = not in_service[rid]
                # baseline: a plain POST of a delivered body's size to the same receiver
                payload = rx.last_body or b'{}' * 200
                key = f'b{i}'
                tb = time.time()
                async with plain.post(f'http://127.0.0.1:{rport}/base', data=payload,
                                      headers={'X-Bench-Id': key,
                                               'Content-Type': 'application/json'}) as r:
                    await r.read()
                if timed:
                    api_rtt.append(dt)
                    api_sent.append((t_wall, t_wall + dt))
                    if key in rx.base:
                        base_lat.append(rx.base[key] - tb)

            # -- warm-up --------------------------------------------------------------
            for i in range(args.warmup):
                await one_call(i, False)
                await asyncio.sleep(1.0 / args.rate)
            upto = await last_event_id(api, base)
            missing = await wait_delivered(rx, upto, 0, 30.0, group)
            if missing:
                raise RuntimeError(f'warm-up: events {missing[:10]} not delivered within 30 s')
            start_id = await last_event_id(api, base)
            log(f'warm-up done ({upto} events delivered); measuring {n_events} calls at '
                f'{args.rate:g}/s after event {start_id}')

            # -- measured calls, paced ------------------------------------------------
            t_start = time.monotonic()
            for k in range(n_events):
                slot = t_start + k / args.rate
                delay = slot - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await one_call(args.warmup + k, True)
                if (k + 1) % 50 == 0:
                    group.check_alive()
                    log(f'  {k + 1}/{n_events} calls, {len(rx.hooks)} deliveries received')
            calls_s = time.monotonic() - t_start
            end_id = await last_event_id(api, base)
            missing = await wait_delivered(rx, end_id, start_id, args.timeout, group)
            log(f'events {start_id + 1}..{end_id}: {end_id - start_id - len(missing)} '
                f'delivered, {len(missing)} missing')
            foreign: list[str] = []
            if not args.allow_foreign_nodes:
                foreign = unexpected_nodes(lambda n: n in ('/fleet_manager', '/fleet_web',
                                                           '/bench_status_publisher'))
                if foreign:
                    log(f'warning: foreign nodes on the domain during the run: {foreign}')
            # -- the log times: the manager's store, read-only ------------------------
            conn = open_ro(db)
            try:
                rows = conn.execute('SELECT id, time, kind FROM events WHERE id > ? AND '
                                    'id <= ? ORDER BY id', [start_id, end_id]).fetchall()
            finally:
                conn.close()
            # and the API's view of the same range (ISO time, millisecond precision)
            st, body = await api_json(api, 'GET', f'{base}{API}/events?after={start_id}'
                                                   f'&limit=1000')
            api_times = {e['id']: e['time'] for e in body.get('items', [])} \
                if st == 200 else {}
            manager_alive = manager.alive()
    finally:
        await runner.cleanup()

    from fleet_web.convert import epoch_from_iso
    lat, lat_body, kinds, body_diff = [], [], {}, []
    per_event = []
    for eid, t_log, kind in rows:
        h = rx.hooks.get(eid)
        if h is None:
            continue
        lat.append(h['arrival'] - t_log)
        per_event.append({'event_id': eid, 'kind': kind, 'ms': round(lat[-1] * 1e3, 2),
                          'at_s': round(t_log - rows[0][1], 2)})
        kinds[kind] = kinds.get(kind, 0) + 1
        if h.get('body_time'):
            tb = epoch_from_iso(h['body_time'])
            lat_body.append(h['arrival'] - tb)
            body_diff.append(t_log - tb)
    api_diff = [t - epoch_from_iso(api_times[e]) for e, t, _ in rows if e in api_times]
    # Where a slow event spent its time: the i-th robot.service event is the i-th call's.
    service = [(eid, t_log) for eid, t_log, kind in rows if kind == 'robot.service']
    to_log, to_answer = [], []
    if len(service) == len(api_sent):
        for (_, t_log), (sent, answered) in zip(service, api_sent):
            to_log.append(t_log - sent)
            to_answer.append(answered - t_log)
    retried = sum(1 for h in rx.hooks.values() if h.get('attempt') not in ('1', None))
    return {'lat': lat, 'lat_body': lat_body, 'base': base_lat, 'api': api_rtt,
            'kinds': kinds, 'missing': missing, 'start_id': start_id, 'end_id': end_id,
            'duplicates': rx.duplicates, 'bad_signatures': rx.bad_signatures,
            'retried': retried, 'errors': errors, 'calls_s': calls_s, 'foreign': foreign,
            'manager_alive': manager_alive, 'target': n_events,
            'body_time_offset_ms': summary(body_diff, 1e3),
            'api_time_offset_ms': summary(api_diff, 1e3),
            'body_bytes': len(rx.last_body),
            'api_to_log': summary(to_log, 1e3), 'log_to_answer': summary(to_answer, 1e3),
            'slowest': sorted(per_event, key=lambda e: -e['ms'])[:10]}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('aiohttp', 'rclpy', 'fleet_manager.manager_node', 'fleet_web.web_node')
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'events': args.events or (40 if args.quick else 250),
        'api_calls_per_s': args.rate, 'warmup_calls': args.warmup, 'domain': args.domain,
        'generator': 'POST /api/v1/robots/{id}/decommission|recommission, alternating',
        'subscription': "one json webhook, events ['*'], signed, max_attempts 3",
        'web_config': 'bench (rate limit 1e6/s, one webhook)',
        'log_time': 'events.time in the manager store (read-only), cross-checked with the '
                    "delivered body's time and GET /api/v1/events (millisecond ISO)",
        'baseline': 'plain aiohttp POST of a delivered body size to the same receiver, '
                    'after every API call, same run'})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench-webhook-'))
    log(f'work directory {workdir}; ROS_DOMAIN_ID={args.domain}')
    out, stops = run_stack(res, workdir, args.allow_foreign_nodes,
                           lambda group: asyncio.run(measure(args, group, workdir)))

    status = 'ok'
    lat = summary(out['lat'], 1e3)
    lat_b = summary(out['lat_body'], 1e3)
    bl = summary(out['base'], 1e3)
    api = summary(out['api'], 1e3)
    r = {
        'events_measured': len(out['lat']),
        'events_in_range': out['end_id'] - out['start_id'],
        'api_calls': out['target'],
        'api_calls_per_s_achieved': round(out['target'] / out['calls_s'], 2)
        if out['calls_s'] > 0 else None,
        'event_to_webhook_ms': lat,
        'event_to_webhook_from_body_time_ms': lat_b,
        'baseline_plain_post_ms': bl,
        'ratio_median_vs_baseline': ratio(lat.get('median', float('nan')),
                                          bl.get('median', float('nan'))),
        'ratio_p99_vs_baseline': ratio(lat.get('p99', float('nan')),
                                       bl.get('p99', float('nan'))),
        'api_call_round_trip_ms': api,
        'api_call_sent_to_event_logged_ms': out['api_to_log'],
        'event_logged_to_api_answer_ms': out['log_to_answer'],
        'kinds': out['kinds'],
        'missing_deliveries': out['missing'][:50],
        'duplicate_deliveries': out['duplicates'],
        'retried_deliveries': out['retried'],
        'bad_signatures': out['bad_signatures'],
        'failed_api_calls': out['errors'][:10],
        'store_minus_body_time_ms': out['body_time_offset_ms'],
        'store_minus_api_time_ms': out['api_time_offset_ms'],
        'delivered_body_bytes': out['body_bytes'],
        'slowest_events': out['slowest'],
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
    if out['missing']:
        status = 'degraded'
        res.note(f'{len(out["missing"])} events not delivered within {args.timeout:g} s')
    if out['bad_signatures']:
        status = 'degraded'
        res.note(f'{out["bad_signatures"]} deliveries with a bad signature')
    for n in stop_notes(stops):
        res.note(n)
    res.headline('event->webhook median', lat.get('median'), 'ms')
    res.headline('event->webhook p99', lat.get('p99'), 'ms')
    res.headline('plain POST median', bl.get('median'), 'ms')
    res.headline('ratio to plain POST', r['ratio_median_vs_baseline'], 'x')
    res.goal('no goal set: informational (every event delivered once, signed)',
             None if not (out['missing'] or out['bad_signatures']) else False)
    path = res.write(status)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f'Event -> webhook latency, {len(out["lat"])} events '
          f'({", ".join(f"{k} {v}" for k, v in sorted(out["kinds"].items()))}), '
          f'{args.rate:g} API calls/s:')
    print(f'  event->webhook     median {fmt(lat.get("median"), "ms")}  '
          f'p99 {fmt(lat.get("p99"), "ms")}  max {fmt(lat.get("max"), "ms")}')
    print(f'  plain POST (base)  median {fmt(bl.get("median"), "ms")}  '
          f'p99 {fmt(bl.get("p99"), "ms")}')
    print(f'  ratio to baseline: median {fmt(r["ratio_median_vs_baseline"], "x")}, '
          f'p99 {fmt(r["ratio_p99_vs_baseline"], "x")}; API call median '
          f'{fmt(api.get("median"), "ms")}; missing {len(out["missing"])}, duplicates '
          f'{out["duplicates"]}, bad signatures {out["bad_signatures"]}')
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
