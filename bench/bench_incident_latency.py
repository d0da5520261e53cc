#!/usr/bin/env python3
"""Benchmark robot event -> incident latency with 100 robots emitting events.

Processes: the fleet manager (temporary database, ``report_period:=1.0``,
``tick_period:=0.05``) and bench/robot_traffic.py, which registers robot1..robot100 with
RobotStatus at 1 Hz, publishes background RobotEvents that open nothing (``diagnostics_level``
and ``command``, 100/s in total) and, once every robot is registered, one burst per robot
in turn (0.3 s apart): 3 ``recovery_started`` events with distinct increasing seqs, the
third carrying the wall time of its sending in data_json (``sent_at``). Each burst meets the
``stuck robot`` rule of config/workflows.yaml (3 recovery_started within 600 s on one
robot) and opens one ``robot_stuck`` incident, logged as ``incident.opened``.

Measured from the manager's event log, read afterwards through the ``fleet/get_events``
service from this process (nothing polls the manager while the bursts run):

- **event -> incident** = log time of the ``incident.opened`` event minus ``sent_at`` of the
  third recovery event;
- **baseline (ingest)** = log time of that third ``robot.event`` minus its ``sent_at``, in
  the same run, for the same events.

Both are wall-clock times of the same machine (the publisher's time.time() and the
manager's clock), so no clock offset enters. The difference of the two is what the
incident path adds after the event is logged (rule engine, incident book, snapshot bag,
incident upsert, a second commit).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
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
from _fleet_bench import EventLogClient, add_common_args, manager_args, use_domain  # noqa: E402

NAME = 'bench_incident_latency'
INCIDENT_TYPE = 'robot_stuck'
BURST_TYPE = 'recovery_started'
NOISE_TYPES = ('diagnostics_level', 'command')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='20 bursts instead of 100')
    p.add_argument('--robots', type=int, default=100, help='robots (default: %(default)s)')
    p.add_argument('--bursts', type=int, default=0,
                   help='bursts = incidents to measure, at most one per robot (default: '
                        'one per robot, 20 with --quick)')
    p.add_argument('--event-rate', type=float, default=100.0,
                   help='background events per second, all robots (default: %(default)s)')
    p.add_argument('--burst-interval', type=float, default=0.3,
                   help='seconds between bursts (default: %(default)s)')
    p.add_argument('--burst-gap', type=float, default=0.02,
                   help='seconds between the 3 events of a burst (default: %(default)s)')
    p.add_argument('--tick', type=float, default=0.05,
                   help='manager tick_period in s (default: %(default)s)')
    p.add_argument('--settle', type=float, default=0.0,
                   help='seconds of background traffic after registration before the '
                        'bursts (default: 5, or 2 with --quick)')
    p.add_argument('--timeout', type=float, default=20.0,
                   help='seconds to wait for the incidents after the last burst '
                        '(default: %(default)s)')
    add_common_args(p)
    return p


def expected_node(name: str) -> bool:
    return name in ('/fleet_manager', '/bench_robot_traffic', '/bench_event_reader')


def analyse(events: list[dict[str, Any]], burst_robots: list[str]) -> dict[str, Any]:
    """Pair every burst's third event with its incident."""
    wanted = set(burst_robots)
    third: dict[str, dict[str, Any]] = {}
    incident: dict[str, dict[str, Any]] = {}
    noise_ingest: list[float] = []
    burst_events = 0
    noise_events = 0
    other_incidents: dict[str, int] = {}
    updates = 0
    for e in events:
        p = e['payload']
        if e['kind'] == 'robot.event':
            etype = p.get('type')
            data = p.get('data') or {}
            if etype == BURST_TYPE:
                burst_events += 1
                if 'sent_at' in data and e['robot_id'] in wanted:
                    third.setdefault(e['robot_id'], {'time': e['time'], 'id': e['id'],
                                                     'sent_at': float(data['sent_at']),
                                                     'burst': data.get('burst')})
            elif etype in NOISE_TYPES:
                noise_events += 1
                stamp = p.get('stamp')
                if stamp:
                    noise_ingest.append(e['time'] - float(stamp))
        elif e['kind'] == 'incident.opened':
            if p.get('type') == INCIDENT_TYPE and e['robot_id'] in wanted:
                incident.setdefault(e['robot_id'], {'time': e['time'], 'id': e['id'],
                                                    'count': p.get('count'),
                                                    'incident_id': p.get('id')})
            else:
                key = str(p.get('type'))
                other_incidents[key] = other_incidents.get(key, 0) + 1
        elif e['kind'] == 'incident.updated' and p.get('type') == INCIDENT_TYPE:
            updates += 1
    lat, ingest, after_log, pairs = [], [], [], []
    missing_event, missing_incident = [], []
    for rid in burst_robots:
        t3 = third.get(rid)
        inc = incident.get(rid)
        if t3 is None:
            missing_event.append(rid)
            continue
        if inc is None:
            missing_incident.append(rid)
            continue
        lat.append(inc['time'] - t3['sent_at'])
        ingest.append(t3['time'] - t3['sent_at'])
        after_log.append(inc['time'] - t3['time'])
        pairs.append({'robot_id': rid, 'burst': t3['burst'], 'event_id': t3['id'],
                      'incident_event_id': inc['id'], 'incident_id': inc['incident_id'],
                      'count': inc['count'],
                      'incident_ms': round((inc['time'] - t3['sent_at']) * 1e3, 3),
                      'ingest_ms': round((t3['time'] - t3['sent_at']) * 1e3, 3)})
    return {'lat': lat, 'ingest': ingest, 'after_log': after_log, 'pairs': pairs,
            'missing_event': missing_event, 'missing_incident': missing_incident,
            'noise_ingest': noise_ingest, 'burst_events': burst_events,
            'noise_events': noise_events, 'other_incidents': other_incidents,
            'incident_updates': updates,
            'counts_not_3': [p['robot_id'] for p in pairs if p['count'] != 3]}


def measure(args: argparse.Namespace, group: ProcessGroup, workdir: pathlib.Path
            ) -> dict[str, Any]:
    n_bursts = args.bursts or (20 if args.quick else args.robots)
    if n_bursts > args.robots:
        log(f'{n_bursts} bursts > {args.robots} robots: a second burst on a robot would only '
            f'update its open incident; measuring {args.robots}')
        n_bursts = args.robots
    settle = args.settle or (2.0 if args.quick else 5.0)
    burst_robots = [f'robot{i}' for i in range(1, n_bursts + 1)]
    stats_file = workdir / 'traffic.json'

    manager = group.start('manager', manager_args(
        workdir / 'fleet.db', report_period=1.0, tick_period=args.tick))
    reader = EventLogClient('bench_event_reader')
    try:
        t0 = time.monotonic()
        while not reader.wait_ready(1.0):
            group.check_alive()
            if time.monotonic() - t0 > 60:
                raise RuntimeError('fleet/get_events not available after 60 s')
        traffic = group.start('traffic', [
            str(BENCH_DIR / 'robot_traffic.py'), '--robots', str(args.robots), '--rate', '1',
            '--event-rate', str(args.event_rate), '--bursts', str(n_bursts),
            '--burst-interval', str(args.burst_interval), '--burst-gap', str(args.burst_gap),
            '--bursts-on-signal', '--stats', str(stats_file)])

        # -- registration: every robot known to the manager ------------------------------
        registered: set[str] = set()
        cursor = 0
        t0 = time.monotonic()
        while len(registered) < args.robots:
            group.check_alive()

            def on_reg(e: dict[str, Any]) -> None:
                # robot.connectivity -> online: a robot first heard of through an event
                # gets its record without a robot.registered event (see the README)
                if e['payload'].get('to') == 'online':
                    registered.add(e['robot_id'])
            cursor = reader.read_all(cursor, ['robot.connectivity'], on_event=on_reg)
            if time.monotonic() - t0 > 60:
                raise RuntimeError(f'only {len(registered)} of {args.robots} robots '
                                   f'registered after 60 s')
            time.sleep(0.5)
        took = time.monotonic() - t0
        log(f'{len(registered)} robots online after {took:.1f} s; {settle:g} s of '
            f'background traffic ({args.event_rate:g} events/s)')
        time.sleep(settle)
        _, start_id = reader.page(0, 1)
        wall0 = time.time()

        # -- the bursts --------------------------------------------------------------------
        os.kill(traffic.pid, signal.SIGUSR1)
        duration = n_bursts * args.burst_interval + 3 * args.burst_gap
        log(f'{n_bursts} bursts of 3 {BURST_TYPE}, one every {args.burst_interval:g} s '
            f'(~{duration:.0f} s); events after id {start_id}')
        end = time.monotonic() + duration + 0.5
        while time.monotonic() < end:
            group.check_alive()
            time.sleep(min(1.0, max(0.05, end - time.monotonic())))

        # -- read the log ------------------------------------------------------------------
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + args.timeout
        last = start_id
        res: dict[str, Any] = {}
        while True:
            group.check_alive()
            last = reader.read_all(last, ['robot.event', 'incident.opened',
                                          'incident.updated'], on_event=events.append)
            res = analyse(events, burst_robots)
            if not res['missing_event'] and not res['missing_incident']:
                break
            if time.monotonic() > deadline:
                log(f'timed out: {len(res["missing_event"])} third events and '
                    f'{len(res["missing_incident"])} incidents missing')
                break
            time.sleep(0.5)
        wall1 = max((e['time'] for e in events), default=time.time())
        log(f'read {len(events)} events in {reader.calls} get_events calls; '
            f'{len(res["lat"])} incidents paired')

        foreign: list[str] = []
        if not args.allow_foreign_nodes:
            foreign = unexpected_nodes(expected_node)
            if foreign:
                log(f'warning: foreign nodes on the domain during the run: {foreign}')
        manager_alive = manager.alive()
    finally:
        reader.close()
    group.stop_all()
    traffic_stats: dict[str, Any] = {}
    try:
        traffic_stats = json.loads(stats_file.read_text())
    except (OSError, ValueError):
        pass
    res.update({'registration_s': round(took, 2), 'start_id': start_id, 'bursts': n_bursts,
                'window_s': wall1 - wall0, 'foreign': foreign, 'manager_alive': manager_alive,
                'traffic': {k: traffic_stats.get(k) for k in
                            ('statuses', 'events', 'burst_events', 'bursts_started')}})
    return res


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('rclpy', 'fleet_msgs.srv', 'fleet_manager.manager_node')
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'bursts': args.bursts or (20 if args.quick else args.robots),
        'background_events_per_s': args.event_rate, 'burst_interval_s': args.burst_interval,
        'burst_gap_s': args.burst_gap, 'tick_period_s': args.tick, 'report_period_s': 1.0,
        'status_rate_hz': 1.0, 'rule': 'stuck robot: 3 recovery_started within 600 s per robot',
        'domain': args.domain,
        'clock': 'both ends wall clock (time.time) of the same machine',
        'baseline': 'ingest: log time of the third recovery_started robot.event minus its '
                    'sent_at, same events'})
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench-incident-'))
    log(f'work directory {workdir}; ROS_DOMAIN_ID={args.domain}')
    out, stops = run_stack(res, workdir, args.allow_foreign_nodes,
                           lambda group: measure(args, group, workdir))

    status = 'ok'
    lat = summary(out['lat'], 1e3)
    ing = summary(out['ingest'], 1e3)
    aft = summary(out['after_log'], 1e3)
    noise = summary(out['noise_ingest'], 1e3)
    window = out['window_s']
    r = {
        'incidents_measured': len(out['lat']),
        'bursts': out['bursts'],
        'event_to_incident_ms': lat,
        'ingest_baseline_ms': ing,
        'ratio_median_vs_ingest': ratio(lat.get('median', float('nan')),
                                        ing.get('median', float('nan'))),
        'ratio_p99_vs_ingest': ratio(lat.get('p99', float('nan')),
                                     ing.get('p99', float('nan'))),
        'incident_after_event_logged_ms': aft,
        'background_event_ingest_ms': noise,
        'background_events_logged': out['noise_events'],
        'background_events_per_s_logged': round(out['noise_events'] / window, 1)
        if window > 0 else None,
        'burst_events_logged': out['burst_events'],
        'missing_third_events': out['missing_event'],
        'missing_incidents': out['missing_incident'],
        'incident_count_not_3': out['counts_not_3'],
        'incident_updated_events': out['incident_updates'],
        'other_incidents_opened': out['other_incidents'],
        'registration_s': out['registration_s'],
        'publisher': out['traffic'],
        'pairs': out['pairs'],
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
    if out['missing_event'] or out['missing_incident']:
        status = 'degraded'
        res.note(f'{len(out["missing_event"])} third recovery events and '
                 f'{len(out["missing_incident"])} incidents missing from the log')
    for n in stop_notes(stops):
        res.note(n)
    res.headline('event->incident median', lat.get('median'), 'ms')
    res.headline('event->incident p99', lat.get('p99'), 'ms')
    res.headline('ingest median (baseline)', ing.get('median'), 'ms')
    res.headline('ratio to ingest', r['ratio_median_vs_ingest'], 'x')
    res.goal('no goal set: informational (every burst opens one incident)',
             None if not (out['missing_event'] or out['missing_incident']) else False)
    path = res.write(status)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f'Event -> incident latency, {args.robots} robots, {args.event_rate:g} background '
          f'events/s, {len(out["lat"])} incidents:')
    print(f'  event->incident        median {fmt(lat.get("median"), "ms")}  '
          f'p99 {fmt(lat.get("p99"), "ms")}  max {fmt(lat.get("max"), "ms")}')
    print(f'  ingest (baseline)      median {fmt(ing.get("median"), "ms")}  '
          f'p99 {fmt(ing.get("p99"), "ms")}')
    print(f'  incident after logging median {fmt(aft.get("median"), "ms")}  '
          f'p99 {fmt(aft.get("p99"), "ms")}')
    print(f'  ratio to baseline: median {fmt(r["ratio_median_vs_ingest"], "x")}, '
          f'p99 {fmt(r["ratio_p99_vs_ingest"], "x")}; background ingest median '
          f'{fmt(noise.get("median"), "ms")} ({r["background_events_per_s_logged"]} events/s '
          f'logged)')
    if out['missing_event'] or out['missing_incident']:
        print(f'  WARNING: missing {len(out["missing_event"])} events, '
              f'{len(out["missing_incident"])} incidents')
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
