"""``fleet_sim``: run simulated robots (each a simulated Nav2 base plus its fleet agent).

One process per robot mimics real robots (kill the process and the robot is gone); several
robots in one process save memory. Robots start at their docks from the fleet definition.
"""

from __future__ import annotations

import argparse
import sys

import rclpy

from fleet_common.ros import init, make_executor, spin
from fleet_manager.core.config import load_fleet_config
from fleet_manager.core.errors import ConfigError
from fleet_manager.manager_node import default_fleet_config
from fleet_sim.robots import SimulatedRobot


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_sim',
        description='Run simulated Nav2 robots with their fleet agents until Ctrl-C or '
                    'SIGTERM.')
    p.add_argument('robots', nargs='+', help='robot ids, e.g. robot1 robot2')
    p.add_argument('--fleet-config', default='', help='fleet definition for dock positions '
                   '(default: the installed config/fleet.yaml)')
    p.add_argument('--report-rate', type=float, default=1.0,
                   help='agent status reports per second (default: %(default)s)')
    p.add_argument('--speed', type=float, default=1.0, help='m/s (default: %(default)s)')
    p.add_argument('--software-version', default='1.0.0',
                   help='version the agents report (default: %(default)s)')
    p.add_argument('--no-agents', action='store_true',
                   help='run only the simulated Nav2 bases (/<robot_id>/sim), for agents run '
                        'as processes of their own (fleet_agent --ros-args -r __ns:=/<id>)')
    return p


def main(argv: list[str] | None = None) -> None:
    """Run the robots."""
    argv = argv if argv is not None else sys.argv
    args = build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    try:
        fleet = load_fleet_config(args.fleet_config or default_fleet_config())
    except ConfigError as exc:
        print(f'fleet_sim: {exc}', file=sys.stderr)
        raise SystemExit(2) from None
    stop = init(argv)
    executor = make_executor()
    robots = []
    try:
        for rid in args.robots:
            dock = fleet.docks.get(fleet.spec_for(rid).dock)
            x, y, th = (dock.x, dock.y, dock.theta) if dock else (0.0, 0.0, 0.0)
            robot = SimulatedRobot(rid, x, y, th, software_version=args.software_version,
                                   report_rate=args.report_rate,
                                   sim_overrides={'speed': args.speed},
                                   agent=not args.no_agents)
            robot.attach(executor)
            robots.append(robot)
        spin(executor, stop)
    finally:
        for r in robots:
            r.detach()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
