#!/usr/bin/env python3
"""Lightweight robots for configuration benchmarks (a helper, not a benchmark).

``python bench/config_robots.py --first 1 --count 50`` runs, in one process, for robots
robot1..robot50: the real fleet agent (in-memory outbox) and the simulated Nav2 parameter
nodes (controller_server, local_costmap, fleet_sim.nav2_params) with their parameter
services, plus one node publishing each robot's odometry at 1 Hz so that the agents report
the robots idle. No simulated base: nothing drives, nothing else costs CPU.
"""

from __future__ import annotations

import argparse
import sys

from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.parameter import Parameter

from fleet_agent.agent_node import FleetAgent
from fleet_common.ros import run_nodes
from fleet_sim.nav2_params import nav2_param_nodes


class Odometry1Hz(Node):
    """Publishes an odometry message per robot every second."""

    def __init__(self, robots: list[str]) -> None:
        super().__init__('bench_odometry')
        self._pubs = [self.create_publisher(Odometry, f'/{r}/odom', 1) for r in robots]
        self.create_timer(1.0, lambda: [p.publish(Odometry()) for p in self._pubs])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--first', type=int, default=1, help='number of the first robot')
    p.add_argument('--count', type=int, default=50, help='robots in this process')
    p.add_argument('--check-period', type=float, default=1.0,
                   help="agents' config_check_period, s (default: %(default)s)")
    args = p.parse_args(sys.argv[1:])
    robots = [f'robot{i}' for i in range(args.first, args.first + args.count)]

    def make() -> list[Node]:
        nodes: list[Node] = [Odometry1Hz(robots)]
        for r in robots:
            nodes.append(FleetAgent(robot_id=r, parameter_overrides=[
                Parameter('state_dir', value=':memory:'),
                Parameter('report_rate', value=1.0),
                Parameter('config_check_period', value=args.check_period)]))
            nodes.extend(nav2_param_nodes(r))
        return nodes
    raise SystemExit(run_nodes(make, [sys.argv[0]]))


if __name__ == '__main__':
    main()
