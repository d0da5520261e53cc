#!/usr/bin/env python3
"""Publish fleet_msgs/RobotStatus for many fake robots (a light stand-in for fleet_sim).

Used by bench_robots_api.py: 100 robots reporting at 1 Hz through real agents means 200 nodes
with Nav2-like action servers on a 2-core machine, which would load the machine more than the
API being measured. This process publishes what the agents would: per robot an increasing
``seq``, ``mode`` idle, a battery level, a pose and ``report_period``, spread evenly over each
period (a 10 Hz timer publishes a tenth of the robots each time).

    python bench/status_publisher.py --robots 100 --rate 1 [--prefix robot] [--topic ...]

Runs until SIGINT/SIGTERM. Uses ROS_DOMAIN_ID from the environment (the benchmarks set 57).
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--robots', type=int, default=100,
                   help='number of robots (default: %(default)s)')
    p.add_argument('--rate', type=float, default=1.0,
                   help='status reports per robot per second (default: %(default)s)')
    p.add_argument('--prefix', default='robot', help='robot id prefix (default: %(default)s)')
    p.add_argument('--first', type=int, default=1, help='number of the first robot (default: 1)')
    p.add_argument('--topic', default='/fleet/robot_status', help='topic (default: %(default)s)')
    p.add_argument('--seed', type=int, default=1, help='random seed for poses and batteries')
    p.add_argument('--software-version', default='1.0.0')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from builtin_interfaces.msg import Time
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from fleet_msgs.msg import Pose2D, RobotStatus

    rng = random.Random(args.seed)
    ids = [f'{args.prefix}{i}' for i in range(args.first, args.first + args.robots)]
    state = {rid: {'x': rng.uniform(0, 30), 'y': rng.uniform(0, 20), 'th': rng.uniform(-3, 3),
                   'battery': rng.uniform(0.5, 1.0)} for rid in ids}
    # seq starts at the wall clock in ms so a restarted publisher still increases it.
    seq0 = int(time.time() * 1000)
    counts = {rid: 0 for rid in ids}

    rclpy.init(args=None)
    node = rclpy.create_node('bench_status_publisher')
    pub = node.create_publisher(RobotStatus, args.topic, 10)
    ticks_per_period = 10
    period = 1.0 / args.rate
    slices = [ids[k::ticks_per_period] for k in range(ticks_per_period)]
    tick = {'n': 0}

    def on_timer() -> None:
        batch = slices[tick['n'] % ticks_per_period]
        tick['n'] += 1
        now = time.time()
        stamp = Time(sec=int(now), nanosec=int((now % 1) * 1e9))
        for rid in batch:
            s = state[rid]
            counts[rid] += 1
            s['th'] += 0.01
            msg = RobotStatus(
                robot_id=rid, seq=seq0 + counts[rid], stamp=stamp,
                software_version=args.software_version, mode=RobotStatus.MODE_IDLE,
                battery=float(s['battery']),
                pose=Pose2D(x=s['x'], y=s['y'], theta=math.remainder(s['th'], 2 * math.pi),
                            frame_id='map'),
                current_mission_id='', diagnostics_level=0, report_period=float(period))
            pub.publish(msg)

    node.create_timer(period / ticks_per_period, on_timer)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f'publishing RobotStatus for {len(ids)} robots at {args.rate:g} Hz on {args.topic}',
          flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
