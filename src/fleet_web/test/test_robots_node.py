"""The bridge node takes the manager's 10,000-robot snapshot over real DDS without stalling
the event loop that serves HTTP (issue 11: GET /robots?limit=100 p99 < 50 ms)."""

from __future__ import annotations

import asyncio
import time

from builtin_interfaces.msg import Time
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message

from fleet_msgs.msg import FleetRobots, Pose2D, RobotState
from fleet_testing import RosGraph, wait_for
from fleet_web import convert
from fleet_web.api_errors import Unavailable
from fleet_web.ros_bridge import RosFleetBackend

ROBOTS = 10_000
STALL_LIMIT = 0.05  # s: the p99 goal for a page of robots
ROBOTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


def make_robots(n: int, version: str) -> list[RobotState]:
    """``n`` robots as the manager reports them, every one on ``version``."""
    return [RobotState(
        robot_id=f'robot{i}', connectivity=('online', 'stale', 'offline')[i % 3], mode=i % 6,
        battery=0.25 + (i % 50) / 100, pose=Pose2D(x=i * 0.5, y=-2.0, theta=0.1,
                                                   frame_id='map'),
        last_seen=Time(sec=1_700_000_000 + i, nanosec=1000), software_version=version,
        capabilities=['lift', 'tow'][:i % 3], current_mission_id=f'm{i}' if i % 4 else '')
        for i in range(n)]


class StallMeter:
    """The longest the event loop went without running a 1 ms ticker (s)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._running = True

    async def run(self) -> None:
        while self._running:
            t0 = time.monotonic()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, time.monotonic() - t0 - 0.001)

    def stop(self) -> None:
        self._running = False


async def _snapshot_version(backend: RosFleetBackend) -> str | None:
    try:
        robots = await backend.list_robots()
    except Unavailable:
        return None
    return robots[0]['software_version'] if len(robots) else None


def test_a_10000_robot_snapshot_is_served_without_stalling_the_loop() -> None:
    graph = RosGraph()
    try:
        backend = graph.add(RosFleetBackend(context=graph.context, timeout=0.2))
        pub = graph.node('fake_manager').create_publisher(FleetRobots, '/fleet/robots',
                                                          ROBOTS_QOS)
        wait_for(lambda: pub.get_subscription_count() > 0, message='the bridge subscribed')
        fleets = {v: make_robots(ROBOTS, v) for v in ('1.0.0', '2.0.0', '3.0.0')}
        raws = {v: serialize_message(FleetRobots(robots=robots))
                for v, robots in fleets.items()}
        meter = StallMeter()

        async def main() -> list[dict[str, object]]:
            backend.attach(asyncio.get_running_loop())
            ticker = asyncio.create_task(meter.run())
            for version, raw in raws.items():
                pub.publish(raw)
                deadline = time.monotonic() + 20.0
                while await _snapshot_version(backend) != version:
                    assert time.monotonic() < deadline, f'snapshot {version} never served'
                    await asyncio.sleep(0.005)
            meter.stop()
            await ticker
            return list((await backend.list_robots())[9_900:])

        served = asyncio.run(main())
        assert served == [convert.robot_json(r) for r in fleets['3.0.0'][9_900:]]
        assert meter.longest < STALL_LIMIT, \
            f'the loop stalled {meter.longest * 1000:.0f} ms while taking a snapshot'
    finally:
        graph.close()
