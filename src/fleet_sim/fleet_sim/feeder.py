"""A mission generator for the demo: aisle pick-ups delivered to the packing area."""

from __future__ import annotations

import argparse
import random
from typing import Any

from rclpy.node import Node

from fleet_manager.core.config import FleetConfig
from fleet_msgs.msg import FleetSummary, Mission, Waypoint
from fleet_msgs.srv import SubmitMission


class MissionFeeder(Node):
    """Submit a mission every ``interval`` s while fewer than ``backlog`` are waiting."""

    def __init__(self, fleet: FleetConfig, interval: float = 2.0, backlog: int = 3,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__('mission_feeder', **kwargs)
        self._rng = random.Random(seed)
        self._aisles = [a for a in fleet.areas if a.name.startswith('aisle')]
        self._packing = next((a for a in fleet.areas if a.name == 'packing'), None)
        self._backlog = backlog
        self._queued = 0
        self._count = 0
        self._pending = False
        self._client = self.create_client(SubmitMission, 'fleet/submit_mission')
        self.create_subscription(FleetSummary, 'fleet/summary', self._on_summary, 10)
        self.create_timer(interval, self._tick)

    def _on_summary(self, msg: FleetSummary) -> None:
        self._queued = int(msg.missions_queued)

    def _tick(self) -> None:
        if self._pending or self._queued >= self._backlog or not self._aisles \
                or not self._client.service_is_ready():
            return
        aisle = self._rng.choice(self._aisles)
        pick = Waypoint(x=(aisle.x_min + aisle.x_max) / 2,
                        y=round(self._rng.uniform(aisle.y_min + 1, aisle.y_max - 1), 2),
                        theta=1.5708, dwell=1.0)
        points = [pick]
        if self._packing is not None:
            points.append(Waypoint(x=(self._packing.x_min + self._packing.x_max) / 2,
                                   y=(self._packing.y_min + self._packing.y_max) / 2))
        self._count += 1
        req = SubmitMission.Request(mission=Mission(
            waypoints=points, priority=self._rng.choice([0, 0, 0, 5]),
            capabilities=['tote'], client_ref=f'demo-order-{self._count:05d}'))
        self._pending = True
        self._client.call_async(req).add_done_callback(self._done)

    def _done(self, future: Any) -> None:
        self._pending = False
        resp = future.result()
        if resp is not None and not resp.success:
            self.get_logger().warning(f'mission refused: {resp.error_msg}')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_feeder',
        description='Submit generated aisle-to-packing missions to the fleet manager, keeping '
                    'a small backlog queued, until Ctrl-C or SIGTERM.')
    p.add_argument('--fleet-config', default='', help='fleet definition (its areas name the '
                   'aisles and packing; default: the shipped config/fleet.yaml)')
    p.add_argument('--robots', type=int, default=5, help='fleet size: the mission rate and '
                   'the backlog grow with it (default: %(default)s)')
    p.add_argument('--seed', type=int, default=7, help='random seed (default: %(default)s)')
    return p


def main(argv: list[str] | None = None) -> None:
    """Run the mission generator."""
    import sys

    import rclpy

    from fleet_common.paths import config_file
    from fleet_common.ros import run_nodes
    from fleet_manager.core.config import load_fleet_config
    from fleet_manager.core.errors import ConfigError
    argv = argv if argv is not None else sys.argv
    args = build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    try:
        fleet = load_fleet_config(args.fleet_config or config_file('fleet.yaml'))
    except ConfigError as exc:
        print(f'fleet_feeder: {exc}', file=sys.stderr)
        raise SystemExit(2) from None
    robots = max(1, args.robots)
    interval = min(2.0, max(0.1, 10.0 / robots))
    raise SystemExit(run_nodes(lambda: [MissionFeeder(
        fleet, interval=interval, backlog=max(3, robots // 5), seed=args.seed)], argv))


if __name__ == '__main__':
    main()
