#!/usr/bin/env python3
"""A bare rclpy subscriber of fleet_msgs/RobotStatus that only counts (benchmark baseline).

Used by bench_telemetry_ingest.py and bench_scale.py as the reference for the manager's
ingest: the same topic, the same QoS as the manager's status subscription (best effort,
volatile, keep_last 50,000: ``fleet_manager.ingest.STATUS_QOS``), the same executor
(``fleet_common.ros.make_executor``: rclpy's EventsExecutor where available) and a callback
that counts messages per robot.
With ``--stats FILE`` it writes ``{"written_at", "received", "robots"}`` to FILE (JSON,
replaced atomically) every ``--stats-period`` s and at exit.

    python bench/bare_subscriber.py [--topic /fleet/robot_status] [--stats FILE]

Runs until SIGINT/SIGTERM. Uses ROS_DOMAIN_ID from the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--topic', default='/fleet/robot_status', help='topic (default: %(default)s)')
    p.add_argument('--stats', default='', help='write the counts to this JSON file')
    p.add_argument('--stats-period', type=float, default=0.1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import rclpy

    from fleet_common.ros import init, make_executor, spin
    from fleet_manager.ingest import STATUS_QOS
    from fleet_msgs.msg import RobotStatus

    per_robot: dict[str, int] = {}
    total = {'n': 0}

    def on_status(msg: RobotStatus) -> None:
        total['n'] += 1
        per_robot[msg.robot_id] = per_robot.get(msg.robot_id, 0) + 1

    def write() -> None:
        if not args.stats:
            return
        tmp = f'{args.stats}.tmp'
        with open(tmp, 'w') as fh:
            json.dump({'written_at': time.time(), 'received': total['n'],
                       'robots': len(per_robot)}, fh)
        os.replace(tmp, args.stats)

    stop = init([])  # Ctrl-C and SIGTERM end the spin loop (not an exception mid-callback)
    node = rclpy.create_node('bench_bare_subscriber')
    node.create_subscription(RobotStatus, args.topic, on_status, STATUS_QOS)
    if args.stats:
        node.create_timer(args.stats_period, write)
    executor = make_executor()
    executor.add_node(node)

    print(f'bare_subscriber: counting RobotStatus on {args.topic}', flush=True)
    try:
        spin(executor, stop)
    finally:
        write()
        print(f'bare_subscriber: received {total["n"]} from {len(per_robot)} robots', flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
