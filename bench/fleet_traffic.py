#!/usr/bin/env python3
"""Publish fleet_msgs/RobotStatus for many simulated robots, as their agents would.

Used by the scale benchmarks: one process stands in for N agents, each reporting at
``--rate`` Hz, spread evenly over the period (a 100 Hz timer publishes a hundredth of the
robots each time). Messages are built once and only their seq and pose change, so the
publisher itself costs as little as rclpy allows. With ``--stats FILE`` it writes
``{"written_at", "sent", "robots", "behind"}`` there (JSON, replaced atomically) every second;
``behind`` counts ticks that could not publish their share in time.

    python bench/fleet_traffic.py --robots 10000 --rate 1 --stats /tmp/traffic.json

Runs until SIGINT/SIGTERM, or for ``--duration`` seconds. ROS_DOMAIN_ID from the environment.
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--robots', type=int, default=1000, help='robots (default: %(default)s)')
    p.add_argument('--first', type=int, default=1, help='number of the first robot')
    p.add_argument('--prefix', default='robot', help='robot id prefix (default: robot)')
    p.add_argument('--rate', type=float, default=1.0, help='Hz per robot (default: 1)')
    p.add_argument('--ticks', type=int, default=100,
                   help='publishing ticks per second (default: %(default)s)')
    p.add_argument('--topic', default='/fleet/robot_status')
    p.add_argument('--best-effort', action='store_true', help='best-effort publisher')
    p.add_argument('--duration', type=float, default=0.0, help='s to run (0: until stopped)')
    p.add_argument('--stats', default='', help='write counters to this JSON file')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--raw', action='store_true',
                   help='publish each robot\'s status pre-serialized (the same bytes every '
                        'time: no Python-side message building, so one core serves more robots)')
    return p


def write_json(path: str, data: dict) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from builtin_interfaces.msg import Time
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from fleet_msgs.msg import Pose2D, RobotStatus

    rng = random.Random(args.seed)
    period = 1.0 / args.rate
    msgs = []
    for i in range(args.first, args.first + args.robots):
        msgs.append(RobotStatus(
            robot_id=f'{args.prefix}{i}', seq=0, software_version='1.0.0',
            mode=RobotStatus.MODE_IDLE, battery=rng.uniform(0.5, 1.0),
            pose=Pose2D(x=rng.uniform(0, 100), y=rng.uniform(0, 100), theta=0.0,
                        frame_id='map'), report_period=period))
    rclpy.init(args=None)
    node = rclpy.create_node('bench_fleet_traffic')
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                     reliability=ReliabilityPolicy.BEST_EFFORT if args.best_effort
                     else ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(RobotStatus, args.topic, qos)
    per_tick = len(msgs) * args.rate / args.ticks
    raw = None
    if args.raw:
        from rclpy.serialization import serialize_message
        for m in msgs:
            m.seq = 1
        raw = [serialize_message(m) for m in msgs]
    counters = {'sent': 0, 'behind': 0}
    stop = {'now': False}

    def on_signal(signum: int, frame: object) -> None:
        stop['now'] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    start = time.monotonic()
    next_stats = start
    owed = 0.0
    cursor = 0
    tick = 0
    print(f'publishing RobotStatus for {len(msgs)} robots at {args.rate:g} Hz on '
          f'{args.topic}', flush=True)
    while not stop['now'] and (not args.duration or time.monotonic() - start < args.duration):
        tick += 1
        owed += per_tick
        now = time.time()
        stamp = Time(sec=int(now), nanosec=int((now % 1) * 1e9))
        while owed >= 1.0:
            if raw is not None:
                pub.publish(raw[cursor])
            else:
                m = msgs[cursor]
                m.seq += 1
                m.stamp = stamp
                m.pose.theta = math.remainder(m.pose.theta + 0.01, 2 * math.pi)
                pub.publish(m)
            counters['sent'] += 1
            cursor = (cursor + 1) % len(msgs)
            owed -= 1.0
        target = start + tick / args.ticks
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing: publish at the configured rate
        else:
            counters['behind'] += 1
        if args.stats and time.monotonic() >= next_stats:
            next_stats += 1.0
            write_json(args.stats, {'written_at': time.time(), 'sent': counters['sent'],
                                    'robots': len(msgs), 'behind': counters['behind']})
    if args.stats:
        write_json(args.stats, {'written_at': time.time(), 'sent': counters['sent'],
                                'robots': len(msgs), 'behind': counters['behind']})
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
