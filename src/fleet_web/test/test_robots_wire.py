"""The bridge reads the serialized registry snapshot itself: it must answer exactly what
rclpy's deserialization and convert.robot_json would, and index it a slice at a time."""

from __future__ import annotations

import asyncio
import math
import random
import time

from builtin_interfaces.msg import Time
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from test_webhooks import wait_until

from fleet_common.cdr import CdrError
from fleet_msgs.msg import FleetRobots, Pose2D, RobotState
from fleet_web import convert
from fleet_web.robots_snapshot import RobotsFeed, RobotsSnapshot, connectivity_counts, page
from fleet_web.robots_wire import RobotsScan, robot_at


def _text(rng: random.Random, longest: int) -> str:
    return ''.join(rng.choice('abcxyz-_é€') for _ in range(rng.randint(0, longest)))


def _random_robot(rng: random.Random) -> RobotState:
    return RobotState(
        robot_id='r' + _text(rng, 9), connectivity=rng.choice(['online', 'stale', 'offline',
                                                              _text(rng, 4)]),
        mode=rng.randint(0, 7), battery=rng.choice([math.nan, rng.random(), -1.0, math.inf]),
        pose=Pose2D(x=rng.uniform(-1e3, 1e3), y=rng.random(), theta=rng.random(),
                    frame_id=_text(rng, 5)),
        last_seen=rng.choice([Time(), Time(sec=rng.randint(0, 2**31 - 1),
                                           nanosec=rng.randint(0, 999_999_999))]),
        software_version=_text(rng, 7), decommissioned=rng.random() < 0.2,
        capabilities=[_text(rng, 6) for _ in range(rng.randint(0, 3))],
        current_mission_id=_text(rng, 12))


def _serialized(robots: list[RobotState], sec: int = 1_700_000_000) -> bytes:
    return serialize_message(FleetRobots(stamp=Time(sec=sec), robots=robots))


def make_fleet(n: int, seed: int = 1) -> bytes:
    """A serialized FleetRobots of ``n`` random robots."""
    rng = random.Random(seed)
    return _serialized([_random_robot(rng) for _ in range(n)])


def _scanned(raw: bytes, chunk: int) -> RobotsScan:
    scan = RobotsScan(raw)
    while not scan.step(chunk):
        pass
    return scan


@pytest.mark.parametrize('seed', range(4))
def test_reads_every_robot_as_rclpy_does(seed: int) -> None:
    raw = make_fleet(300, seed)
    expected = deserialize_message(raw, FleetRobots).robots
    scan = _scanned(raw, random.Random(seed).randint(1, 40))
    assert scan.count == len(scan.offsets) == 300
    assert scan.ids == [m.robot_id for m in expected]
    assert scan.states == [m.connectivity for m in expected]
    # repr: NaN compares unequal to itself, its repr does not
    assert repr([robot_at(raw, at) for at in scan.offsets]) == \
        repr([convert.robot_json(m) for m in expected])


@pytest.mark.parametrize('connectivity', ['', 'online', 'stale', 'offline'])
@pytest.mark.parametrize('offset,limit', [(0, 100), (0, 1), (7, 3), (250, 100)])
def test_pages_and_counts_match_the_converted_messages(connectivity: str, offset: int,
                                                       limit: int) -> None:
    raw = make_fleet(300)
    full = [convert.robot_json(m) for m in deserialize_message(raw, FleetRobots).robots]
    snap = RobotsSnapshot.from_scan(_scanned(raw, 1000))
    assert repr(page(snap, offset, limit, connectivity)) == \
        repr(page(full, offset, limit, connectivity))
    assert connectivity_counts(snap) == connectivity_counts(full)
    assert repr(snap.get(full[123]['id'])) == repr(full[123]) and snap.get('nobody') is None


def test_an_empty_fleet_is_indexed_at_once() -> None:
    scan = RobotsScan(_serialized([]))
    assert scan.count == 0 and scan.done and scan.step(100)
    assert len(RobotsSnapshot.from_scan(scan)) == 0


def test_other_encodings_and_truncated_messages_are_refused() -> None:
    raw = make_fleet(3)
    with pytest.raises(CdrError):
        RobotsScan(b'\x00\x00' + raw[2:])  # big-endian: left to rclpy
    with pytest.raises(CdrError):
        RobotsScan(raw[:12])
    expected = repr([convert.robot_json(m)
                     for m in deserialize_message(raw, FleetRobots).robots])
    for cut in range(16, len(raw)):
        try:
            scan = _scanned(raw[:cut], 2)
        except CdrError:
            continue
        # Only the trailing padding may be cut off without losing a field.
        assert repr([robot_at(raw[:cut], at) for at in scan.offsets]) == expected, cut


def _feed() -> tuple[RobotsFeed, list[str]]:
    errors: list[str] = []
    return RobotsFeed(errors.append, slice_s=0.001), errors


def test_the_feed_indexes_in_slices_and_lets_the_loop_serve_meanwhile() -> None:
    raw = make_fleet(5000)
    feed, errors = _feed()
    turns: list[bool] = []  # at each turn of another callback: was the snapshot ready?

    async def main() -> None:
        loop = asyncio.get_running_loop()
        feed.receive(raw, time.monotonic())

        def tick() -> None:
            turns.append(feed.snapshot is not None)
            if not turns[-1]:
                loop.call_soon(tick)
        loop.call_soon(tick)
        await wait_until(lambda: feed.snapshot is not None, 'the snapshot indexed')

    asyncio.run(main())
    assert errors == []
    assert turns.count(False) >= 3, f'the loop served only {turns.count(False)} turns'
    assert feed.fresh(60.0) is feed.snapshot and len(feed.snapshot) == 5000
    expected = deserialize_message(raw, FleetRobots).robots
    assert repr(feed.snapshot[4990:]) == repr([convert.robot_json(m) for m in expected[4990:]])


def test_the_newest_waiting_snapshot_replaces_the_one_indexed() -> None:
    first, second, third = make_fleet(3000, 1), make_fleet(20, 2), make_fleet(30, 3)
    feed, errors = _feed()
    seen: list[int] = []

    async def main() -> None:
        feed.receive(first, 1.0)
        feed.receive(second, 2.0)  # arrives while the first is indexed: waits, then dropped
        feed.receive(third, 3.0)
        deadline = time.monotonic() + 15.0
        while feed.received_at < 3.0:  # every turn of the loop, to see each snapshot
            assert time.monotonic() < deadline, 'the third snapshot was never indexed'
            if feed.snapshot is not None and (not seen or seen[-1] != len(feed.snapshot)):
                seen.append(len(feed.snapshot))
            await asyncio.sleep(0)

    asyncio.run(main())
    assert errors == [] and seen == [3000] and len(feed.snapshot or []) == 30
    assert feed.fresh(1.0) is None  # arrived at monotonic 3.0: long ago


def test_a_malformed_snapshot_is_reported_and_the_last_good_one_stays() -> None:
    good, bad = make_fleet(10), make_fleet(10, 2)
    feed, errors = _feed()

    async def main() -> None:
        feed.receive(good, time.monotonic())
        await wait_until(lambda: feed.snapshot is not None, 'the good snapshot indexed')
        feed.receive(bad[:len(bad) // 2], time.monotonic())
        feed.receive(b'\x00\x00' + bad[2:], time.monotonic())
        await wait_until(lambda: len(errors) >= 2, 'both bad snapshots reported')

    asyncio.run(main())
    assert len(errors) == 2 and all('fleet/robots snapshot dropped' in e for e in errors)
    assert feed.snapshot is not None and feed.snapshot.get(
        deserialize_message(good, FleetRobots).robots[0].robot_id) is not None
