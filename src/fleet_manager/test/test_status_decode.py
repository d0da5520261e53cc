"""The manager reads serialized statuses itself: it must build exactly the report rclpy's
deserialization and convert.status_from_msg would."""

from __future__ import annotations

import math
import random

from rclpy.serialization import deserialize_message, serialize_message

from fleet_manager import convert
from fleet_manager.core.model import Mode
from fleet_manager.ingest import decode_status, robot_key, status_report
from fleet_msgs.msg import Pose2D, RobotStatus


def _text(rng: random.Random, longest: int) -> str:
    return ''.join(rng.choice('abcxyz-_é€') for _ in range(rng.randint(0, longest)))


def _random_status(rng: random.Random) -> RobotStatus:
    msg = RobotStatus(
        robot_id='r' + _text(rng, 9), seq=rng.randint(0, 2**64 - 1),
        software_version=_text(rng, 7), mode=rng.randint(0, 7),
        battery=rng.choice([math.nan, rng.random(), -1.0, math.inf]),
        pose=Pose2D(x=rng.uniform(-1e3, 1e3), y=rng.random(), theta=rng.random(),
                    frame_id=_text(rng, 5)),
        current_mission_id=_text(rng, 12), current_attempt=rng.randint(0, 2**32 - 1),
        mission_progress=rng.choice([rng.random(), math.nan, math.inf]),
        distance_remaining=rng.random(), waypoint_index=rng.randint(0, 9),
        number_of_recoveries=rng.randint(0, 9), diagnostics_level=rng.randint(0, 255),
        report_period=rng.random(), epoch=rng.randint(0, 2**64 - 1),
        event_seq=rng.randint(0, 2**63), acked_seq=rng.randint(0, 2**63))
    msg.stamp.sec = rng.randint(-2**31, 2**31 - 1)
    msg.stamp.nanosec = rng.randint(0, 999_999_999)
    return msg


def test_decode_matches_rclpy_deserialization_for_every_alignment() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        raw = serialize_message(_random_status(rng))
        expected = convert.status_from_msg(deserialize_message(raw, RobotStatus))
        # repr: NaN compares unequal to itself, its repr does not
        assert repr(decode_status(raw)) == repr(expected)
        assert robot_key(raw) == expected.robot_id.encode()


def test_a_plain_status_decodes_to_its_fields() -> None:
    raw = serialize_message(RobotStatus(robot_id='robot7', seq=3, mode=RobotStatus.MODE_IDLE,
                                        battery=0.5, pose=Pose2D(x=1.5, y=-2.0)))
    report = status_report(raw)
    assert (report.robot_id, report.seq, report.mode, report.battery) == \
        ('robot7', 3, Mode.IDLE, 0.5)
    assert (report.pose.x, report.pose.y, report.pose.frame_id) == (1.5, -2.0, 'map')


def test_other_encodings_and_truncated_bytes_fall_back() -> None:
    raw = serialize_message(RobotStatus(robot_id='robot7', seq=3))
    assert decode_status(b'\x00\x00' + raw[2:]) is None  # big-endian header
    assert decode_status(raw[:20]) is None
    assert status_report(raw).robot_id == 'robot7'
