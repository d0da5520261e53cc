"""Unit tests for fleet_sim.physics, with hand-computed expectations."""

import math

import pytest

from fleet_sim import physics
from fleet_sim.physics import Area, Pose2D

BOX = Area(1.0, -1.0, 2.0, 1.0)  # straddles the +x axis between x = 1 and x = 2


def test_normalize_angle_wraps_into_half_open_interval() -> None:
    assert physics.normalize_angle(0.0) == 0.0
    assert physics.normalize_angle(1.5 * math.pi) == pytest.approx(-0.5 * math.pi)
    assert physics.normalize_angle(-1.5 * math.pi) == pytest.approx(0.5 * math.pi)
    assert physics.normalize_angle(math.pi) == pytest.approx(-math.pi)
    assert physics.normalize_angle(5.0 * math.pi) == pytest.approx(-math.pi)


def test_quaternion_of_a_quarter_turn_and_back() -> None:
    x, y, z, w = physics.yaw_to_quaternion(math.pi / 2.0)
    assert (x, y) == (0.0, 0.0)
    assert z == pytest.approx(math.sqrt(0.5))
    assert w == pytest.approx(math.sqrt(0.5))
    assert physics.quaternion_to_yaw(x, y, z, w) == pytest.approx(math.pi / 2.0)
    assert physics.quaternion_to_yaw(*physics.yaw_to_quaternion(-3.0)) == pytest.approx(-3.0)


def test_parse_area_accepts_four_numbers_with_spaces() -> None:
    assert physics.parse_area(' 1, -2.5 ,3,4e0') == Area(1.0, -2.5, 3.0, 4.0)


@pytest.mark.parametrize('text, reason', [
    ('1,2,3', 'expected 4'),
    ('1,2,3,4,5', 'expected 4'),
    ('1,2,x,4', 'numbers'),
    ('1,2,nan,4', 'finite'),
    ('3,0,1,1', 'must not exceed'),
    ('', 'expected 4'),
])
def test_parse_area_rejects_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        physics.parse_area(text)


def test_area_contains_its_edges() -> None:
    assert BOX.contains(1.5, 0.0)
    assert BOX.contains(1.0, 1.0)
    assert not BOX.contains(0.99, 0.0)
    assert not BOX.contains(1.5, 1.01)


def test_segment_entry_along_the_axis() -> None:
    # From (0, 0) to (4, 0) the box is entered at x = 1, a quarter of the way.
    assert physics.segment_area_entry(0.0, 0.0, 4.0, 0.0, BOX) == pytest.approx(0.25)
    # Coming back from (4, 0) it is entered at x = 2, halfway.
    assert physics.segment_area_entry(4.0, 0.0, 0.0, 0.0, BOX) == pytest.approx(0.5)


def test_segment_entry_misses_and_touches() -> None:
    assert physics.segment_area_entry(0.0, 2.0, 4.0, 2.0, BOX) is None  # passes above
    assert physics.segment_area_entry(0.0, 0.0, 0.5, 0.0, BOX) is None  # stops short
    assert physics.segment_area_entry(1.5, -3.0, 1.5, -2.0, BOX) is None  # vertical, short
    # The diagonal y = x passes over the corner region of (1, 0)-(3, 0.5) without touching.
    assert physics.segment_area_entry(0.0, 0.0, 2.0, 2.0, Area(1.0, 0.0, 3.0, 0.5)) is None
    # ... but touches the box (1, 1)-(3, 3) exactly at its corner, halfway along.
    assert physics.segment_area_entry(
        0.0, 0.0, 2.0, 2.0, Area(1.0, 1.0, 3.0, 3.0)) == pytest.approx(0.5)
    assert physics.segment_area_entry(1.5, 0.0, 5.0, 0.0, BOX) == 0.0  # starts inside
    assert physics.segment_intersects_area(0.0, 0.0, 4.0, 0.0, BOX)
    assert not physics.segment_intersects_area(0.0, 2.0, 4.0, 2.0, BOX)


def test_point_in_areas_returns_the_containing_area() -> None:
    other = Area(5.0, 5.0, 6.0, 6.0)
    assert physics.point_in_areas(5.5, 5.5, [BOX, other]) is other
    assert physics.point_in_areas(0.0, 0.0, [BOX, other]) is None


def test_clip_segment_stops_in_front_of_the_first_area() -> None:
    x, y, blocked = physics.clip_segment(0.0, 0.0, 4.0, 0.0, [BOX], margin=0.01)
    assert blocked
    assert (x, y) == (pytest.approx(0.99), pytest.approx(0.0))
    # A second, nearer area wins.
    near = Area(0.5, -0.1, 0.6, 0.1)
    x, _, blocked = physics.clip_segment(0.0, 0.0, 4.0, 0.0, [BOX, near], margin=0.0)
    assert blocked and x == pytest.approx(0.5)
    # Free path and a start already inside the area do not block.
    assert physics.clip_segment(0.0, 2.0, 4.0, 2.0, [BOX]) == (4.0, 2.0, False)
    assert physics.clip_segment(1.5, 0.0, 3.0, 0.0, [BOX]) == (3.0, 0.0, False)
    # Standing at the stop point, no further progress is possible.
    x, _, blocked = physics.clip_segment(0.99, 0.0, 1.5, 0.0, [BOX], margin=0.01)
    assert blocked and x == pytest.approx(0.99)


def test_rotate_toward_takes_the_short_way() -> None:
    assert physics.rotate_toward(0.0, math.pi / 2.0, 0.5) == pytest.approx(0.5)
    assert physics.rotate_toward(0.0, 0.3, 0.5) == 0.3
    # From 3.0 to -3.0 the short way crosses pi: 0.283 rad counter-clockwise.
    assert physics.rotate_toward(3.0, -3.0, 0.1) == pytest.approx(3.1)


def test_step_to_pose_drives_when_facing_the_goal() -> None:
    step = physics.step_to_pose(Pose2D(0.0, 0.0, 0.0), Pose2D(1.0, 0.0, 0.0), 1.0, 1.5, 0.5)
    assert step.pose == Pose2D(0.5, 0.0, 0.0)
    assert step.linear == pytest.approx(0.5)
    assert not step.reached and not step.blocked
    step = physics.step_to_pose(Pose2D(0.5, 0.0, 0.0), Pose2D(1.0, 0.0, 0.0), 1.0, 1.5, 2.0)
    assert step.pose == Pose2D(1.0, 0.0, 0.0)
    assert step.reached


def test_step_to_pose_turns_before_driving() -> None:
    # Facing away (theta = pi): a 1.5 rad/s turn over 1 s does not finish the half turn.
    step = physics.step_to_pose(Pose2D(0.0, 0.0, math.pi), Pose2D(1.0, 0.0, 0.0), 1.0, 1.5, 1.0)
    assert (step.pose.x, step.pose.y) == (0.0, 0.0)
    assert abs(step.angular) == pytest.approx(1.5)
    assert step.linear == 0.0
    # Quarter turn at pi/2 rad/s takes 1 s; the remaining 0.5 s drive 0.5 m at 1 m/s.
    step = physics.step_to_pose(
        Pose2D(0.0, 0.0, 0.0), Pose2D(0.0, 1.0, 0.0), 1.0, math.pi / 2.0, 1.5)
    assert step.pose.x == pytest.approx(0.0, abs=1e-12)
    assert step.pose.y == pytest.approx(0.5)
    assert step.pose.theta == pytest.approx(math.pi / 2.0)
    assert step.angular == pytest.approx(math.pi / 2.0)


def test_step_to_pose_aligns_final_heading_only_when_asked() -> None:
    goal = Pose2D(1.0, 0.0, math.pi / 2.0)
    # 1 s driving plus 1 s of the quarter turn (pi/2 rad/s) fit in 2 s.
    step = physics.step_to_pose(Pose2D(0.0, 0.0, 0.0), goal, 1.0, math.pi / 2.0, 2.0)
    assert step.reached
    assert step.pose == Pose2D(1.0, 0.0, math.pi / 2.0)
    step = physics.step_to_pose(Pose2D(0.0, 0.0, 0.0), goal, 1.0, math.pi / 2.0, 2.0,
                                align_heading=False)
    assert step.reached and step.pose == Pose2D(1.0, 0.0, 0.0)


def test_step_to_pose_within_tolerance_only_turns() -> None:
    step = physics.step_to_pose(
        Pose2D(0.0, 0.0, 0.0), Pose2D(0.03, 0.0, 1.0), 1.0, 1.5, 1.0)
    assert step.reached
    assert step.pose == Pose2D(0.0, 0.0, 1.0)
    assert step.linear == 0.0


def test_step_to_pose_stops_at_a_blocked_area() -> None:
    step = physics.step_to_pose(Pose2D(0.0, 0.0, 0.0), Pose2D(4.0, 0.0, 0.0), 1.0, 1.5, 10.0,
                                areas=[BOX])
    assert step.blocked and not step.reached
    assert step.pose.x == pytest.approx(1.0 - physics.STOP_MARGIN)
    again = physics.step_to_pose(step.pose, Pose2D(4.0, 0.0, 0.0), 1.0, 1.5, 1.0, areas=[BOX])
    assert again.blocked and again.distance == pytest.approx(0.0)


def test_step_rotate_by_a_signed_angle() -> None:
    step = physics.step_rotate(Pose2D(1.0, 2.0, 0.0), 1.0, 0.5, 1.0)
    assert step.pose == Pose2D(1.0, 2.0, 0.5)
    assert step.angular == 0.5 and not step.reached
    step = physics.step_rotate(Pose2D(0.0, 0.0, 0.0), -0.2, 0.5, 1.0)
    assert step.pose.theta == pytest.approx(-0.2)
    assert step.reached


def test_step_straight_backs_up_and_stops_at_areas() -> None:
    step = physics.step_straight(Pose2D(0.0, 0.0, 0.0), -0.3, 0.1, 1.0)
    assert step.pose.x == pytest.approx(-0.1)
    assert step.linear == pytest.approx(-0.1)
    assert not step.reached
    step = physics.step_straight(Pose2D(0.0, 0.0, 0.0), -0.3, 0.1, 5.0)
    assert step.pose.x == pytest.approx(-0.3) and step.reached
    behind = Area(-1.0, -1.0, -0.2, 1.0)
    step = physics.step_straight(Pose2D(0.0, 0.0, 0.0), -0.3, 0.1, 5.0, [behind])
    assert step.blocked and not step.reached
    assert step.pose.x == pytest.approx(-0.2 + physics.STOP_MARGIN)


def test_step_velocity_integrates_commands() -> None:
    step = physics.step_velocity(Pose2D(0.0, 0.0, 0.0), 1.0, 0.0, 0.5)
    assert step.pose == Pose2D(0.5, 0.0, 0.0)
    step = physics.step_velocity(Pose2D(0.0, 0.0, 0.0), 0.0, math.pi / 2.0, 1.0)
    assert step.pose.theta == pytest.approx(math.pi / 2.0)
    assert (step.pose.x, step.pose.y) == (0.0, 0.0)
    step = physics.step_velocity(Pose2D(0.0, 0.0, 0.0), 2.0, 0.0, 1.0, [BOX])
    assert step.blocked and step.pose.x == pytest.approx(0.99)


def test_path_length_of_a_polyline() -> None:
    assert physics.path_length([(0.0, 0.0), (3.0, 4.0), (3.0, 0.0)]) == pytest.approx(9.0)
    assert physics.path_length([(1.0, 1.0)]) == 0.0


def test_battery_drain_and_charge() -> None:
    # 10 m at 0.002 per m plus 100 s at 0.0001 per s: 0.02 + 0.01.
    assert physics.drain_battery(0.5, 10.0, 100.0, 0.002, 0.0001) == pytest.approx(0.47)
    assert physics.drain_battery(0.01, 100.0, 0.0, 0.002, 0.0) == 0.0
    assert physics.charge_battery(0.5, 10.0, 0.01) == pytest.approx(0.6)
    assert physics.charge_battery(0.95, 10.0, 0.01) == 1.0


def test_battery_voltage_is_linear_between_empty_and_full() -> None:
    assert physics.battery_voltage(0.0) == pytest.approx(18.0)
    assert physics.battery_voltage(1.0) == pytest.approx(25.2)
    assert physics.battery_voltage(0.5) == pytest.approx(21.6)
    assert physics.battery_voltage(2.0) == pytest.approx(25.2)
