import math

import pytest

from fleet_agent.core import (
    BatteryWatch,
    Mode,
    Point,
    SeqCounter,
    derive_mode,
    mission_progress,
    plan_legs,
    quaternion_from_yaw,
    yaw_from_quaternion,
)


def test_legs_split_at_dwell() -> None:
    pts = [Point(0, 0), Point(1, 0, dwell=2.0), Point(2, 0), Point(3, 0), Point(4, 0, dwell=1)]
    legs = plan_legs(pts)
    assert [(len(leg.points), leg.first, leg.dwell) for leg in legs] == [(2, 0, 2.0), (3, 2, 1)]
    legs = plan_legs([Point(0, 0), Point(1, 1)])
    assert [(len(leg.points), leg.dwell) for leg in legs] == [(2, 0.0)]
    assert plan_legs([]) == []


def test_mode_precedence() -> None:
    assert derive_mode(2, True, True, True) == Mode.ERROR
    assert derive_mode(1, True, True, True) == Mode.WORKING
    assert derive_mode(0, False, True, True) == Mode.CHARGING
    assert derive_mode(0, False, False, True) == Mode.IDLE
    assert derive_mode(0, False, False, False) == Mode.UNKNOWN


def test_progress() -> None:
    # 4 waypoints, 2 done, current leg of 2 points is half way: (2 + 0.5 * 2) / 4
    assert mission_progress(4, 2, 2, 10.0, 5.0) == pytest.approx(0.75)
    assert mission_progress(1, 0, 1, 0.0, 0.0) == 0.0
    assert mission_progress(1, 0, 1, 4.0, 8.0) == 0.0  # moving away clamps at 0


def test_quaternion_round_trip() -> None:
    for yaw in (-3.0, -1.0, 0.0, 0.5, 3.1):
        assert yaw_from_quaternion(*quaternion_from_yaw(yaw)) == pytest.approx(yaw)


def test_battery_watch_crossings_once_with_hysteresis() -> None:
    w = BatteryWatch(low=0.2, critical=0.1, hysteresis=0.05)
    seen = [w.update(v) for v in (0.5, 0.21, 0.19, 0.18, 0.09, 0.08, 0.16, 0.12, 0.26, math.nan)]
    assert seen == [None, None, 'battery_low', None, 'battery_critical', None, None, None,
                    'battery_ok', None]


def test_seq_counter_increases_across_restarts() -> None:
    first = SeqCounter()
    a = [first.next() for _ in range(3)]
    assert a == sorted(a) and len(set(a)) == 3
    assert SeqCounter().next() > a[-1]
