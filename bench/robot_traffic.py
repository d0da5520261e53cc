#!/usr/bin/env python3
"""Publish RobotStatus and RobotEvent traffic for many fake robots (benchmark helper).

Statuses are what bench/status_publisher.py publishes (per robot an increasing ``seq``, mode
idle, battery, pose, ``report_period``; a 10 Hz timer publishes a tenth of the robots each
time, so each robot reports every 1/rate s) on /fleet/robot_status. In addition:

- **noise events**: RobotEvent messages of types that open no incident (``diagnostics_level``
  with level 0, ``command`` with a non-operator command), ``--event-rate`` per second in
  total, each for a random robot;
- **bursts**: ``--bursts`` times, for robot 1, 2, 3, ... in turn, ``--burst-size`` (3)
  ``recovery_started`` events ``--burst-gap`` s apart; the last one carries the wall time of
  its sending in its data_json (``{"sent_at": t, "burst": i}``). Bursts start
  ``--burst-interval`` s apart, after SIGUSR1 (``--bursts-on-signal``) or ``--burst-delay``
  s after the start.

Events go to /fleet/robot_events with the agents' QoS (reliable, transient local,
keep_last(1000)) and follow the robot link as an agent's outbox does (see
fleet_manager/core/link.py): one epoch for the process (µs since 1970 at its start), per robot
event seqs 1, 2, 3, ... without gaps, and every status names the epoch, the newest event seq
and ``acked_seq`` 0 (nothing is resent: the manager's acknowledgements are not read). A
robot's first event waits until its first status is ``--event-after`` s old, so the manager
knows the epoch when the event arrives. With ``--stats FILE`` the counts are written to FILE
(JSON, replaced atomically) every ``--stats-period`` s and at exit: statuses and events sent,
the wall time of each robot's last status, the bursts sent (robot, event seqs, sent_at).

    python bench/robot_traffic.py --robots 100 --rate 1 --event-rate 100 --bursts 100

Runs until SIGINT/SIGTERM. Uses ROS_DOMAIN_ID from the environment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from typing import Any

NOISE_COMMANDS = ('status_query', 'clear_faults', 'ping')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--robots', type=int, default=100,
                   help='number of robots (default: %(default)s)')
    p.add_argument('--rate', type=float, default=1.0,
                   help='status reports per robot per second; 0: none (default: %(default)s)')
    p.add_argument('--prefix', default='robot', help='robot id prefix (default: %(default)s)')
    p.add_argument('--first', type=int, default=1, help='number of the first robot (default: 1)')
    p.add_argument('--status-topic', default='/fleet/robot_status')
    p.add_argument('--events-topic', default='/fleet/robot_events')
    p.add_argument('--event-rate', type=float, default=0.0,
                   help='noise events per second, all robots together (default: %(default)s)')
    p.add_argument('--bursts', type=int, default=0, help='bursts to send (default: none)')
    p.add_argument('--burst-size', type=int, default=3, help='events per burst (default: 3)')
    p.add_argument('--burst-type', default='recovery_started')
    p.add_argument('--burst-gap', type=float, default=0.02,
                   help='seconds between the events of a burst (default: %(default)s)')
    p.add_argument('--burst-interval', type=float, default=0.3,
                   help='seconds between the starts of two bursts (default: %(default)s)')
    p.add_argument('--burst-delay', type=float, default=5.0,
                   help='seconds after the start before the first burst, unless '
                        '--bursts-on-signal (default: %(default)s)')
    p.add_argument('--bursts-on-signal', action='store_true',
                   help='start the bursts when SIGUSR1 arrives')
    p.add_argument('--event-after', type=float, default=2.0,
                   help="s after a robot's first status before its first event (default: "
                        '%(default)s)')
    p.add_argument('--event-tick', type=float, default=0.01,
                   help='period of the event timer in s (default: %(default)s)')
    p.add_argument('--stats', default='', help='write counts to this JSON file')
    p.add_argument('--stats-period', type=float, default=0.5)
    p.add_argument('--node-name', default='bench_robot_traffic',
                   help='ROS node name (default: %(default)s)')
    p.add_argument('--seed', type=int, default=1, help='random seed')
    p.add_argument('--software-version', default='1.0.0')
    return p


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as fh:
        json.dump(data, fh, separators=(',', ':'))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from builtin_interfaces.msg import Time
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    from fleet_msgs.msg import Pose2D, RobotEvent, RobotStatus

    rng = random.Random(args.seed)
    ids = [f'{args.prefix}{i}' for i in range(args.first, args.first + args.robots)]
    state = {rid: {'x': rng.uniform(0, 30), 'y': rng.uniform(0, 20), 'th': rng.uniform(-3, 3),
                   'battery': rng.uniform(0.5, 1.0)} for rid in ids}
    # One sequence per robot for statuses and events, starting at the wall clock in ms so
    # that a restarted publisher still increases it.
    seq0 = int(time.time() * 1000)
    seqs = {rid: seq0 for rid in ids}
    epoch = int(time.time() * 1e6)
    event_seqs = {rid: 0 for rid in ids}
    first_status: dict[str, float] = {}
    last_status: dict[str, float] = {}
    counts = {'statuses': 0, 'events': 0, 'burst_events': 0}
    bursts_sent: list[dict[str, Any]] = []

    def next_seq(rid: str) -> int:
        seqs[rid] += 1
        return seqs[rid]

    def stamp_now() -> tuple[float, Any]:
        now = time.time()
        return now, Time(sec=int(now), nanosec=int((now % 1) * 1e9))

    rclpy.init(args=None)
    node = rclpy.create_node(args.node_name)
    status_pub = node.create_publisher(RobotStatus, args.status_topic, 10)
    events_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                            reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
    event_pub = node.create_publisher(RobotEvent, args.events_topic, events_qos)

    # -- statuses (as status_publisher.py) ----------------------------------------------
    ticks_per_period = 10
    slices = [ids[k::ticks_per_period] for k in range(ticks_per_period)]
    tick = {'n': 0}
    period = 1.0 / args.rate if args.rate > 0 else 0.0

    def on_status_timer() -> None:
        batch = slices[tick['n'] % ticks_per_period]
        tick['n'] += 1
        now, stamp = stamp_now()
        for rid in batch:
            s = state[rid]
            s['th'] += 0.01
            msg = RobotStatus(
                robot_id=rid, seq=next_seq(rid), stamp=stamp,
                software_version=args.software_version, mode=RobotStatus.MODE_IDLE,
                battery=float(s['battery']),
                pose=Pose2D(x=s['x'], y=s['y'], theta=math.remainder(s['th'], 2 * math.pi),
                            frame_id='map'),
                current_mission_id='', diagnostics_level=0, report_period=float(period),
                epoch=epoch, event_seq=event_seqs[rid], acked_seq=0)
            status_pub.publish(msg)
            last_status[rid] = now
            first_status.setdefault(rid, now)
            counts['statuses'] += 1

    if args.rate > 0:
        node.create_timer(period / ticks_per_period, on_status_timer)

    # -- events ---------------------------------------------------------------------------
    t_start = time.monotonic()
    noise = {'sent': 0}
    bursts: dict[str, Any] = {'go': None, 'next': 0, 'pending': []}

    def send_event(rid: str, etype: str, severity: int, message: str,
                   data: dict[str, Any]) -> int:
        event_seqs[rid] += 1
        seq = event_seqs[rid]
        now, stamp = stamp_now()
        if 'sent_at' in data:
            data = {**data, 'sent_at': now}
        event_pub.publish(RobotEvent(robot_id=rid, epoch=epoch, seq=seq, stamp=stamp,
                                     type=etype, severity=severity, message=message,
                                     data_json=json.dumps(data)))
        return seq

    def on_event_timer() -> None:
        now = time.monotonic()
        if args.event_rate > 0:
            due = int((now - t_start) * args.event_rate)
            ready = time.time() - args.event_after
            for _ in range(min(due - noise['sent'], 1000)):
                rid = rng.choice(ids)
                if first_status.get(rid, ready + 1.0) > ready and args.rate > 0:
                    continue  # the manager may not know this robot's epoch yet
                if noise['sent'] % 2:
                    send_event(rid, 'diagnostics_level', 0, 'diagnostics OK',
                               {'level': 0, 'name': 'bench'})
                else:
                    send_event(rid, 'command', 0, 'command received',
                               {'command': rng.choice(NOISE_COMMANDS)})
                noise['sent'] += 1
                counts['events'] += 1
            noise['sent'] = max(noise['sent'], due)  # never catch up a backlog in one go
        if args.bursts <= 0:
            return
        if bursts['go'] is None:
            if args.bursts_on_signal or now - t_start < args.burst_delay:
                return
            bursts['go'] = now
        # start due bursts
        while (bursts['next'] < args.bursts
               and now >= bursts['go'] + bursts['next'] * args.burst_interval):
            i = bursts['next']
            bursts['next'] += 1
            rid = ids[i % len(ids)]
            entry = {'burst': i, 'robot_id': rid, 'seqs': [], 'sent_at': None}
            bursts_sent.append(entry)
            t0 = bursts['go'] + i * args.burst_interval
            for k in range(args.burst_size):
                bursts['pending'].append((t0 + k * args.burst_gap, k, entry))
        # send due burst events in order
        pending = bursts['pending']
        pending.sort(key=lambda x: x[0])
        while pending and pending[0][0] <= now:
            _, k, entry = pending.pop(0)
            last = k == args.burst_size - 1
            data: dict[str, Any] = {'burst': entry['burst'], 'step': k + 1, 'behavior': 'spin'}
            if last:
                data['sent_at'] = 0.0  # replaced by the wall time in send_event
            seq = send_event(entry['robot_id'], args.burst_type, 1, 'recovery started', data)
            entry['seqs'].append(seq)
            counts['burst_events'] += 1
            if last:
                entry['sent_at'] = time.time()  # after publish; the message has the exact one

    node.create_timer(args.event_tick, on_event_timer)

    def snapshot(final: bool = False) -> dict[str, Any]:
        return {'written_at': time.time(), 'final': final, 'pid': os.getpid(),
                'robots': len(ids), 'rate': args.rate, **counts,
                'bursts_started': bursts['next'],
                'bursts_go_monotonic': bursts['go'],
                'last_status': last_status, 'bursts_sent': bursts_sent}

    if args.stats:
        node.create_timer(args.stats_period, lambda: write_json(args.stats, snapshot()))

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def go(signum: int, frame: object) -> None:
        if bursts['go'] is None:
            bursts['go'] = time.monotonic()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, go)
    print(f'robot_traffic: {len(ids)} robots, statuses at {args.rate:g} Hz, noise '
          f'{args.event_rate:g} events/s, {args.bursts} bursts of {args.burst_size} '
          f'{args.burst_type}', flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if args.stats:
            write_json(args.stats, snapshot(final=True))
        print(f'robot_traffic: sent {counts["statuses"]} statuses, {counts["events"]} noise '
              f'events, {counts["burst_events"]} burst events ({bursts["next"]} bursts)',
              flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
