"""Snapshot bags: record per-robot windows, write MCAP rosbag2, read them back with rosbags."""

from __future__ import annotations

import math
import pathlib
from typing import Any

import pytest
from rosbags.rosbag2 import Reader
import yaml

from fleet_manager import bags
from fleet_manager.bags import (
    EVENT_TYPE,
    EVENTS_TOPIC,
    ODOMETRY_TYPE,
    STATUS_TOPIC,
    STATUS_TYPE,
    SnapshotRecorder,
    robot_of,
)

REPO = pathlib.Path(__file__).resolve().parents[3]
MSG_DIRS = [REPO / 'src' / 'fleet_msgs' / 'msg']
SEC = 1_000_000_000
T0 = 1_736_150_400 * SEC


def status(robot: str, seq: int, t: int, x: float) -> dict[str, Any]:
    return {'robot_id': robot, 'seq': seq, 'stamp': t / SEC, 'software_version': '2.3.1',
            'mode': 2, 'battery': 0.75, 'pose': {'x': x, 'y': 8.0, 'theta': 0.5,
                                                 'frame_id': 'map'},
            'current_mission_id': 'm-1', 'diagnostics_level': 0, 'report_period': 1.0}


def odometry(t: int, x: float) -> dict[str, Any]:
    return {'header': {'stamp': t / SEC, 'frame_id': 'odom'}, 'child_frame_id': 'base_link',
            'pose': {'pose': {'position': {'x': x, 'y': 8.0},
                              'orientation': {'z': 0.2474, 'w': 0.9689}},
                     'covariance': [0.01] * 36},
            'twist': {'twist': {'linear': {'x': 0.5}}}}


def read(path: pathlib.Path, store: Any) -> tuple[dict[str, Any], list[tuple[str, int, Any]]]:
    """Return the bag's topics (name -> TopicInfo) and its deserialised messages."""
    with Reader(path) as reader:
        messages = [(conn.topic, stamp, store.deserialize_cdr(raw, conn.msgtype))
                    for conn, stamp, raw in reader.messages()]
        return dict(reader.topics), messages


def test_write_and_read_back_a_snapshot(tmp_path: pathlib.Path) -> None:
    from fleet_msgs.msg import RobotEvent  # an rclpy message is accepted as it is

    rec = SnapshotRecorder(tmp_path / 'bags', seconds=30, msg_dirs=MSG_DIRS)
    assert rec.retain == 60.0
    # 60 s of robot1 at 1 Hz status / 10 Hz odometry, robot2 alongside.
    for i in range(60):
        t = T0 + i * SEC
        rec.record(STATUS_TOPIC, STATUS_TYPE, t, status('robot1', i + 1, t, 10.0 + 0.1 * i))
        rec.record(STATUS_TOPIC, STATUS_TYPE, t, status('robot2', i + 1, t, 20.0))
        for k in range(10):
            tk = t + k * SEC // 10
            rec.record('/robot1/odom', ODOMETRY_TYPE, tk, odometry(tk, 10.0 + 0.01 * (10 * i + k)))
    stamp_ns = T0 + 45 * SEC
    rec.record(EVENTS_TOPIC, EVENT_TYPE, stamp_ns, RobotEvent(
        robot_id='robot1', seq=1000, type='recovery_started', severity=1,
        message='recovery spin started', data_json='{"behavior": "spin"}'))
    assert rec.robots() == ['robot1', 'robot2']

    until = T0 + 50 * SEC
    path = rec.write('INC-000001', 'robot1', until)
    assert path == tmp_path / 'bags' / 'INC-000001'
    assert sorted(p.name for p in path.iterdir()) == ['INC-000001.mcap', 'metadata.yaml']
    meta = yaml.safe_load((path / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['storage_identifier'] == 'mcap'
    assert meta['custom_data'] == {'incident_id': 'INC-000001', 'robot_id': 'robot1',
                                   'since_ns': str(until - 30 * SEC), 'until_ns': str(until)}

    topics, messages = read(path, rec.store)
    assert set(topics) == {STATUS_TOPIC, EVENTS_TOPIC, '/robot1/odom'}
    assert topics[STATUS_TOPIC].msgtype == STATUS_TYPE
    assert topics['/robot1/odom'].msgtype == ODOMETRY_TYPE
    # [until - 30 s, until], both ends included: status at 20..50 s, odometry 20.0..50.0 s.
    assert topics[STATUS_TOPIC].msgcount == 31
    assert topics['/robot1/odom'].msgcount == 301
    assert topics[EVENTS_TOPIC].msgcount == 1
    stamps = [s for _, s, _ in messages]
    assert stamps == sorted(stamps)
    assert min(stamps) == until - 30 * SEC and max(stamps) == until

    statuses = [m for t, _, m in messages if t == STATUS_TOPIC]
    assert {m.robot_id for m in statuses} == {'robot1'}
    first = statuses[0]
    assert (first.seq, first.stamp.sec, first.stamp.nanosec) == (21, T0 // SEC + 20, 0)
    assert (first.pose.x, first.pose.y, first.pose.frame_id) == pytest.approx(
        (12.0, 8.0, 'map'))
    assert first.battery == pytest.approx(0.75) and first.current_mission_id == 'm-1'
    assert first.software_version == '2.3.1' and first.mode == 2
    [event] = [m for t, _, m in messages if t == EVENTS_TOPIC]
    assert (event.type, event.severity, event.seq) == ('recovery_started', 1, 1000)
    assert event.data_json == '{"behavior": "spin"}'
    odom = [m for t, _, m in messages if t == '/robot1/odom']
    assert odom[0].header.frame_id == 'odom' and odom[0].child_frame_id == 'base_link'
    assert odom[0].pose.pose.position.x == pytest.approx(12.0)
    assert odom[-1].pose.pose.position.x == pytest.approx(15.0)
    assert odom[0].pose.pose.orientation.w == pytest.approx(0.9689)
    assert list(odom[0].pose.covariance) == pytest.approx([0.01] * 36)
    assert odom[0].twist.twist.linear.x == pytest.approx(0.5)


def test_window_is_bounded_in_time_and_count(tmp_path: pathlib.Path) -> None:
    rec = SnapshotRecorder(tmp_path, seconds=10, retain=10, max_messages=50,
                           msg_dirs=MSG_DIRS)
    for i in range(200):
        t = T0 + i * SEC // 10
        rec.record('/robot1/odom', ODOMETRY_TYPE, t, odometry(t, 0.0))
    assert rec.count('robot1') == 50  # max_messages per robot and topic
    for i in range(30):
        t = T0 + 100 * SEC + i * SEC
        rec.record(STATUS_TOPIC, STATUS_TYPE, t, status('robot1', i, t, 0.0))
    # Only the last 10 s (relative to the newest stamp) are kept, across topics.
    assert rec.count('robot1') == 11
    rec.forget('robot1')
    assert rec.count('robot1') == 0 and rec.robots() == []


def test_topic_with_nothing_in_the_window_still_gets_a_connection(
        tmp_path: pathlib.Path) -> None:
    rec = SnapshotRecorder(tmp_path, seconds=60, msg_dirs=MSG_DIRS)
    rec.record(EVENTS_TOPIC, EVENT_TYPE, T0, {'robot_id': 'robot3', 'type': 'battery_low'})
    rec.record(STATUS_TOPIC, STATUS_TYPE, T0 + 50 * SEC, status('robot3', 1, T0, 1.0))
    path = rec.write('INC-7', 'robot3', T0 + 100 * SEC)  # the event at T0 is too old
    topics, messages = read(path, rec.store)
    assert set(topics) == {STATUS_TOPIC, EVENTS_TOPIC}
    assert [t for t, _, _ in messages] == [STATUS_TOPIC]
    # A robot never recorded gives an empty bag rather than an error.
    topics, messages = read(rec.write('INC-8', 'robot9', T0), rec.store)
    assert messages == [] and topics == {}


def test_refusals(tmp_path: pathlib.Path) -> None:
    rec = SnapshotRecorder(tmp_path, msg_dirs=MSG_DIRS)
    with pytest.raises(KeyError):
        rec.record(STATUS_TOPIC, 'fleet_msgs/msg/Nope', T0, {})
    with pytest.raises(ValueError):
        rec.record('/odom', ODOMETRY_TYPE, T0, odometry(T0, 0.0))  # whose odometry?
    rec.record('/odom', ODOMETRY_TYPE, T0, odometry(T0, 0.0), robot_id='robot1')
    rec.write('INC-1', 'robot1', T0)
    with pytest.raises(FileExistsError):
        rec.write('INC-1', 'robot1', T0)
    for bad in ('', '..', 'a/b'):
        with pytest.raises(ValueError):
            rec.write(bad, 'robot1', T0)
    with pytest.raises(ValueError):
        SnapshotRecorder(tmp_path, seconds=0, msg_dirs=MSG_DIRS)
    with pytest.raises(ValueError):
        SnapshotRecorder(tmp_path, seconds=10, retain=5, msg_dirs=MSG_DIRS)
    with pytest.raises(FileNotFoundError):
        SnapshotRecorder(tmp_path, msg_dirs=[tmp_path / 'nothing'])


def test_bad_message_leaves_no_half_written_bag(tmp_path: pathlib.Path) -> None:
    rec = SnapshotRecorder(tmp_path, msg_dirs=MSG_DIRS)
    bad = odometry(T0, 0.0)
    bad['pose']['covariance'] = [0.0] * 5
    rec.record('/robot1/odom', ODOMETRY_TYPE, T0, bad)
    with pytest.raises(ValueError):
        rec.write('INC-2', 'robot1', T0)
    assert not (tmp_path / 'INC-2').exists()


def test_odometry_from_a_planar_pose(tmp_path: pathlib.Path) -> None:
    rec = SnapshotRecorder(tmp_path, msg_dirs=MSG_DIRS)
    rec.record('/robot1/odom', ODOMETRY_TYPE, T0,
               bags.odometry_from_pose(1.0, 2.0, math.pi / 2, T0 / SEC + 0.25, linear=0.4))
    _, [(_, stamp, odom)] = read(rec.write('INC-3', 'robot1', T0), rec.store)
    assert stamp == T0 and odom.header.stamp.nanosec == 250_000_000
    q = odom.pose.pose.orientation
    assert (q.z, q.w) == pytest.approx((math.sqrt(0.5), math.sqrt(0.5)))
    assert odom.header.frame_id == 'map' and odom.twist.twist.linear.x == pytest.approx(0.4)


def test_robot_of_and_default_typestore() -> None:
    assert robot_of('/robot4/odom', {}) == 'robot4'
    assert robot_of(STATUS_TOPIC, {'robot_id': 'robot2'}) == 'robot2'
    assert robot_of(STATUS_TOPIC, {}) == '' and robot_of('/odom', None) == ''
    store = bags.make_typestore()  # the installed share directory or the source tree
    assert STATUS_TYPE in store.fielddefs and 'fleet_msgs/msg/Pose2D' in store.fielddefs
