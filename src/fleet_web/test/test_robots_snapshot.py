"""The registry snapshot converted on demand answers as the fully converted list does."""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
import pytest

from fleet_msgs.msg import RobotState
from fleet_web import convert
from fleet_web.robots_snapshot import RobotsSnapshot, connectivity_counts, page

STATES = ('online', 'online', 'stale', 'offline', 'online')


def make_robot_state(i: int) -> RobotState:
    r = RobotState(robot_id=f'robot{i}', connectivity=STATES[i % len(STATES)],
                   battery=0.5 + i / 1000, software_version='1.2.0',
                   capabilities=['lift'] if i % 2 else [],
                   last_seen=Time(sec=1_700_000_000 + i, nanosec=0))
    r.pose.x, r.pose.y = float(i), float(-i)
    return r


class Counting:
    """convert.robot_json, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, msg: Any) -> dict[str, Any]:
        self.calls += 1
        return convert.robot_json(msg)


@pytest.fixture
def msgs() -> list[RobotState]:
    return [make_robot_state(i) for i in range(1, 24)]


def test_reads_as_the_converted_list(msgs: list[RobotState]) -> None:
    full = [convert.robot_json(m) for m in msgs]
    snap = RobotsSnapshot(msgs, convert.robot_json)
    assert len(snap) == len(full)
    assert list(snap) == full
    assert snap[0] == full[0] and snap[-1] == full[-1]
    assert snap[5:9] == full[5:9] and snap[20:99] == full[20:]
    with pytest.raises(IndexError):
        snap[len(full)]
    assert snap.get('robot7') == full[6]
    assert snap.get('nobody') is None


@pytest.mark.parametrize('connectivity', ['', 'online', 'stale', 'offline'])
@pytest.mark.parametrize('offset,limit', [(0, 100), (0, 1), (2, 3), (50, 10)])
def test_pages_match_the_list(msgs: list[RobotState], connectivity: str, offset: int,
                              limit: int) -> None:
    full = [convert.robot_json(m) for m in msgs]
    assert page(RobotsSnapshot(msgs, convert.robot_json), offset, limit, connectivity) == \
        page(full, offset, limit, connectivity)


def test_converts_only_what_is_read_and_once(msgs: list[RobotState]) -> None:
    counting = Counting()
    snap = RobotsSnapshot(msgs, counting)
    assert connectivity_counts(snap) == {'online': 13, 'stale': 5, 'offline': 5} \
        == connectivity_counts([convert.robot_json(m) for m in msgs])
    items, total = page(snap, 0, 3, 'stale')
    assert total == 5 and [r['id'] for r in items] == ['robot2', 'robot7', 'robot12']
    assert counting.calls == 3
    page(snap, 0, 3, 'stale')
    snap.get('robot7')
    assert counting.calls == 3


@pytest.mark.parametrize('connectivity', ['', 'stale'])
@pytest.mark.parametrize('needle', ['ROBOT1', 'ot2', 'nobody'])
def test_id_contains_pages_match_the_list(msgs: list[RobotState], connectivity: str,
                                          needle: str) -> None:
    full = [convert.robot_json(m) for m in msgs]
    got = page(RobotsSnapshot(msgs, convert.robot_json), 0, 100, connectivity, needle)
    assert got == page(full, 0, 100, connectivity, needle)
    expected = [r['id'] for r in full if needle.lower() in r['id'].lower()
                and (not connectivity or r['connectivity'] == connectivity)]
    assert [r['id'] for r in got[0]] == expected and got[1] == len(expected)
    if needle == 'ROBOT1' and not connectivity:
        assert expected[:2] == ['robot1', 'robot10']  # case-insensitive, in fleet order
