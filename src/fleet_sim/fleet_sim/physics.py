"""Plain kinematics, geometry and battery model of a simulated differential-drive base.

Nothing in here imports rclpy: every function is pure and deterministic, so the sim node
stays thin and the model can be unit-tested by hand.

Conventions: positions are in metres in the odometry frame, angles in radians with yaw
counter-clockwise from +x, speeds in m/s and rad/s, times in seconds, battery levels are
fractions of a full charge in [0, 1].
"""

from dataclasses import dataclass
import math
from typing import Iterable, Optional, Sequence, Tuple

#: A goal position counts as reached within this distance (m), as Nav2's goal checker.
POSITION_TOLERANCE = 0.05
#: Heading errors below this (rad) count as aligned when turning before driving.
HEADING_EPSILON = 1e-6
#: The robot stops this far (m) in front of a blocked area it would otherwise enter.
STOP_MARGIN = 0.01
#: Battery voltage (V) of an empty and of a full 6-cell Li-ion pack.
VOLTAGE_EMPTY = 18.0
VOLTAGE_FULL = 25.2

_LENGTH_EPSILON = 1e-9


@dataclass(frozen=True)
class Pose2D:
    """A planar pose: position (m) and yaw (rad)."""

    x: float
    y: float
    theta: float


@dataclass(frozen=True)
class Area:
    """An axis-aligned rectangle (m) that the robot may not enter; edges belong to it."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def contains(self, x: float, y: float) -> bool:
        """Return True if the point lies inside the rectangle or on its edge."""
        return self.x_min <= x <= self.x_max and self.y_min <= y <= self.y_max


@dataclass(frozen=True)
class MotionStep:
    """The outcome of integrating the robot's motion over one time step.

    ``linear`` is the signed distance driven along the heading (m), ``angular`` the signed
    rotation (rad). ``reached`` is True once the commanded target is met; ``blocked`` is True
    if the motion was cut short at the edge of a blocked area.
    """

    pose: Pose2D
    linear: float = 0.0
    angular: float = 0.0
    reached: bool = False
    blocked: bool = False

    @property
    def distance(self) -> float:
        """Distance travelled (m), regardless of direction."""
        return abs(self.linear)


def normalize_angle(angle: float) -> float:
    """Return ``angle`` wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def yaw_to_quaternion(yaw: float) -> Tuple[float, float, float, float]:
    """Return the (x, y, z, w) quaternion of a rotation by ``yaw`` about +z."""
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    """Return the yaw (rad, in [-pi, pi]) of a quaternion; roll and pitch are ignored."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def parse_area(text: str) -> Area:
    """Parse ``'x_min,y_min,x_max,y_max'`` (m) into an :class:`Area`.

    :raises ValueError: with a human-readable reason if the text does not hold four finite
        numbers or if a minimum exceeds its maximum.
    """
    fields = [f.strip() for f in text.split(',')]
    if len(fields) != 4:
        raise ValueError(f'expected 4 comma-separated numbers, got {len(fields)}')
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise ValueError('all 4 fields must be numbers') from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError('all 4 fields must be finite')
    x_min, y_min, x_max, y_max = values
    if x_min > x_max or y_min > y_max:
        raise ValueError('x_min must not exceed x_max, nor y_min exceed y_max')
    return Area(x_min, y_min, x_max, y_max)


def segment_area_entry(
        x0: float, y0: float, x1: float, y1: float, area: Area) -> Optional[float]:
    """Return where the segment from (x0, y0) to (x1, y1) first touches ``area``.

    The result is the segment parameter t in [0, 1] of the first common point
    (0.0 if the start lies in the area), or None if the segment misses the area.
    Uses Liang-Barsky clipping.
    """
    t_enter, t_exit = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for p, q in ((-dx, x0 - area.x_min), (dx, area.x_max - x0),
                 (-dy, y0 - area.y_min), (dy, area.y_max - y0)):
        if p == 0.0:
            if q < 0.0:
                return None  # parallel to this edge and outside it
            continue
        t = q / p
        if p < 0.0:
            t_enter = max(t_enter, t)
        else:
            t_exit = min(t_exit, t)
        if t_enter > t_exit:
            return None
    return t_enter


def segment_intersects_area(
        x0: float, y0: float, x1: float, y1: float, area: Area) -> bool:
    """Return True if the segment from (x0, y0) to (x1, y1) touches ``area``."""
    return segment_area_entry(x0, y0, x1, y1, area) is not None


def point_in_areas(x: float, y: float, areas: Iterable[Area]) -> Optional[Area]:
    """Return the first of ``areas`` containing the point, or None."""
    for area in areas:
        if area.contains(x, y):
            return area
    return None


def clip_segment(
        x0: float, y0: float, x1: float, y1: float, areas: Sequence[Area],
        margin: float = STOP_MARGIN) -> Tuple[float, float, bool]:
    """Cut a straight move short in front of the first blocked area it would enter.

    Areas that already contain the start point do not block, so a robot placed inside an
    area can still leave it. Returns ``(x, y, blocked)``: the reachable end point, stopped
    ``margin`` before the area edge (never behind the start), and whether it was cut short.
    """
    length = math.hypot(x1 - x0, y1 - y0)
    if length < _LENGTH_EPSILON:
        return x1, y1, False
    first: Optional[float] = None
    for area in areas:
        if area.contains(x0, y0):
            continue
        t = segment_area_entry(x0, y0, x1, y1, area)
        if t is not None and (first is None or t < first):
            first = t
    if first is None:
        return x1, y1, False
    allowed = max(0.0, first * length - margin)
    ratio = allowed / length
    return x0 + (x1 - x0) * ratio, y0 + (y1 - y0) * ratio, True


def rotate_toward(theta: float, target: float, max_step: float) -> float:
    """Return the heading after turning from ``theta`` toward ``target`` by at most ``max_step``.

    Turns the short way round; lands exactly on ``target`` when it is within reach.
    """
    error = normalize_angle(target - theta)
    if abs(error) <= max_step:
        return target
    return normalize_angle(theta + math.copysign(max_step, error))


def step_to_pose(
        pose: Pose2D, goal: Pose2D, speed: float, angular_speed: float, dt: float,
        align_heading: bool = True, areas: Sequence[Area] = (),
        tolerance: float = POSITION_TOLERANCE) -> MotionStep:
    """Move toward ``goal`` for ``dt`` seconds: turn to face it, drive straight, then turn.

    While farther than ``tolerance`` from the goal position the robot first turns in place
    toward it at ``angular_speed`` and then drives at ``speed`` (using whatever is left of
    ``dt``), ending exactly on the goal position when within reach. Once in position it turns
    to ``goal.theta`` if ``align_heading``. Straight moves stop in front of ``areas``.
    ``reached`` is True when in position (and aligned, if requested).
    """
    x, y, theta = pose.x, pose.y, pose.theta
    time_left = max(0.0, dt)
    linear = 0.0
    rotated = 0.0
    blocked = False
    distance = math.hypot(goal.x - x, goal.y - y)
    if distance > tolerance and speed > 0.0 and angular_speed > 0.0:
        heading = math.atan2(goal.y - y, goal.x - x)
        error = abs(normalize_angle(heading - theta))
        if error > HEADING_EPSILON:
            new_theta = rotate_toward(theta, heading, angular_speed * time_left)
            turn = normalize_angle(new_theta - theta)
            rotated += turn
            time_left -= abs(turn) / angular_speed
            theta = new_theta
            error = abs(normalize_angle(heading - theta))
        if error <= HEADING_EPSILON and time_left > 0.0:
            reach = min(distance, speed * time_left)
            nx, ny = x + reach * math.cos(theta), y + reach * math.sin(theta)
            if reach >= distance:
                nx, ny = goal.x, goal.y
            nx, ny, blocked = clip_segment(x, y, nx, ny, areas)
            moved = math.hypot(nx - x, ny - y)
            time_left -= moved / speed
            linear += moved
            x, y = nx, ny
        distance = math.hypot(goal.x - x, goal.y - y)
    in_position = distance <= tolerance
    aligned = True
    if in_position and align_heading:
        if time_left > 0.0 and angular_speed > 0.0:
            new_theta = rotate_toward(theta, goal.theta, angular_speed * time_left)
            rotated += normalize_angle(new_theta - theta)
            theta = new_theta
        aligned = abs(normalize_angle(goal.theta - theta)) <= HEADING_EPSILON
    return MotionStep(Pose2D(x, y, theta), linear, rotated, in_position and aligned, blocked)


def step_rotate(pose: Pose2D, remaining: float, angular_speed: float, dt: float) -> MotionStep:
    """Turn in place by the signed angle ``remaining`` (rad) for at most ``dt`` seconds.

    ``reached`` is True once the whole angle has been turned.
    """
    turn = math.copysign(min(abs(remaining), angular_speed * max(0.0, dt)), remaining)
    theta = normalize_angle(pose.theta + turn)
    reached = abs(remaining - turn) <= HEADING_EPSILON
    return MotionStep(Pose2D(pose.x, pose.y, theta), 0.0, turn, reached, False)


def step_straight(
        pose: Pose2D, remaining: float, speed: float, dt: float,
        areas: Sequence[Area] = ()) -> MotionStep:
    """Drive along the current heading by the signed distance ``remaining`` (m; < 0 backs up).

    Moves at most ``speed * dt`` and stops in front of ``areas``; ``reached`` is True once the
    whole distance has been covered.
    """
    reach = math.copysign(min(abs(remaining), abs(speed) * max(0.0, dt)), remaining)
    nx = pose.x + reach * math.cos(pose.theta)
    ny = pose.y + reach * math.sin(pose.theta)
    nx, ny, blocked = clip_segment(pose.x, pose.y, nx, ny, areas)
    moved = math.copysign(math.hypot(nx - pose.x, ny - pose.y), remaining)
    reached = not blocked and abs(remaining - moved) <= _LENGTH_EPSILON
    return MotionStep(Pose2D(nx, ny, pose.theta), moved, 0.0, reached, blocked)


def step_velocity(
        pose: Pose2D, linear: float, angular: float, dt: float,
        areas: Sequence[Area] = ()) -> MotionStep:
    """Integrate a velocity command (m/s, rad/s) for ``dt`` seconds (mid-point heading).

    The straight chord of the move stops in front of ``areas``; ``reached`` is always False.
    """
    dt = max(0.0, dt)
    mid = pose.theta + angular * dt / 2.0
    nx = pose.x + linear * dt * math.cos(mid)
    ny = pose.y + linear * dt * math.sin(mid)
    nx, ny, blocked = clip_segment(pose.x, pose.y, nx, ny, areas)
    moved = math.copysign(math.hypot(nx - pose.x, ny - pose.y), linear)
    theta = normalize_angle(pose.theta + angular * dt)
    return MotionStep(Pose2D(nx, ny, theta), moved, angular * dt, False, blocked)


def path_length(points: Sequence[Tuple[float, float]]) -> float:
    """Return the length (m) of the polyline through ``points``."""
    return sum(math.hypot(bx - ax, by - ay)
               for (ax, ay), (bx, by) in zip(points, points[1:]))


def drain_battery(
        level: float, distance: float, dt: float, drain_per_meter: float,
        drain_idle_per_second: float) -> float:
    """Return the battery level after driving ``distance`` m during ``dt`` s, clamped to [0, 1].

    Driving costs ``drain_per_meter`` per metre, and the electronics cost
    ``drain_idle_per_second`` per second whether moving or not.
    """
    used = abs(distance) * drain_per_meter + max(0.0, dt) * drain_idle_per_second
    return min(1.0, max(0.0, level - used))


def charge_battery(level: float, dt: float, charge_per_second: float) -> float:
    """Return the battery level after charging for ``dt`` s, clamped to [0, 1]."""
    return min(1.0, max(0.0, level + max(0.0, dt) * charge_per_second))


def battery_voltage(level: float) -> float:
    """Return the pack voltage (V) at a battery level, linear between empty and full."""
    level = min(1.0, max(0.0, level))
    return VOLTAGE_EMPTY + (VOLTAGE_FULL - VOLTAGE_EMPTY) * level
