"""The simulated base as plain Python: pose, battery, and the route or motion driving it.

Nothing here imports rclpy. The node calls :meth:`SimBase.step` from its timer with the
time elapsed and the current :class:`~fleet_sim.params.SimConfig`; a navigation goal hands
the base a :class:`Route`, a behavior a :class:`Motion`, and each reads back how far it
got. Times are seconds on the node's clock, other units as in :mod:`fleet_sim.physics`.
"""

import enum
import math
from typing import List, Optional, Sequence

from fleet_sim import physics
from fleet_sim.params import Fault, SimConfig
from fleet_sim.physics import MotionStep, Pose2D

#: The robot charges while within this distance (m) of its dock and not navigating.
CHARGING_RADIUS = 0.3
#: A teleop velocity command older than this (s) is ignored.
TELEOP_COMMAND_TIMEOUT = 0.5
#: A blocked step shorter than this (m) counts as no progress.
MIN_PROGRESS = 1e-3


class MotionKind(enum.Enum):
    """What a behavior makes the base do."""

    ROTATE = enum.auto()
    """Turn in place by a signed angle."""

    DRIVE = enum.auto()
    """Drive along the heading by a signed distance."""

    TELEOP = enum.auto()
    """Follow ``cmd_vel_teleop`` velocity commands."""


class BehaviorOutcome(enum.Enum):
    """How a behavior (or its motion) ended."""

    RUNNING = enum.auto()
    """Not finished yet."""

    SUCCEEDED = enum.auto()
    """The behavior did what was asked."""

    TIMEOUT = enum.auto()
    """The time allowance ran out first."""

    BLOCKED = enum.auto()
    """A blocked area is in the way."""

    PREEMPTED = enum.auto()
    """Another behavior took over the base."""

    CANCELED = enum.auto()
    """The client canceled the goal."""

    SHUTDOWN = enum.auto()
    """The node is being destroyed."""


class Motion:
    """A behavior's command to the base; :meth:`SimBase.step` advances it."""

    __slots__ = ('kind', 'remaining', 'speed', 'progress', 'outcome')

    def __init__(self, kind: MotionKind, amount: float = 0.0, speed: float = 0.0) -> None:
        self.kind = kind
        self.remaining = amount  # signed rad (ROTATE) or m (DRIVE); unused for TELEOP
        self.speed = speed
        self.progress = 0.0  # rad or m covered so far
        self.outcome = BehaviorOutcome.RUNNING


class Route:
    """A navigation goal's poses; :meth:`SimBase.step` drives through them in order."""

    __slots__ = ('targets', 'index', 'arrived', 'blocked')

    def __init__(self, targets: Sequence[Pose2D]) -> None:
        if not targets:
            raise ValueError('a route needs at least one pose')
        self.targets = list(targets)
        self.index = 0  # the pose driven to now
        self.arrived = False  # True once in position (and aligned) at the last pose
        self.blocked = False  # True while a blocked area stops all progress

    @property
    def remaining(self) -> List[Pose2D]:
        """The poses not reached yet, the current one first."""
        return self.targets[self.index:]

    def distance_from(self, pose: Pose2D) -> float:
        """Return the length (m) of the path from ``pose`` through the remaining poses."""
        points = [(pose.x, pose.y)] + [(t.x, t.y) for t in self.remaining]
        return physics.path_length(points)


class SimBase:
    """The base's state: pose, velocities, battery and what drives it.

    At most one of :attr:`motion` (a behavior) and :attr:`route` (navigation) moves the
    base; a motion takes precedence. Not thread-safe: the node serialises access.
    """

    def __init__(self, pose: Pose2D, battery: float) -> None:
        self.pose = pose
        self.linear_velocity = 0.0  # m/s over the last step
        self.angular_velocity = 0.0  # rad/s over the last step
        self.battery = battery
        self.charging = False
        self.route: Optional[Route] = None
        self.motion: Optional[Motion] = None
        self._teleop = (0.0, 0.0)  # m/s, rad/s
        self._teleop_time: Optional[float] = None

    @property
    def busy(self) -> bool:
        """True while a route or a motion holds the base."""
        return self.route is not None or self.motion is not None

    def follow(self, route: Route) -> None:
        """Drive ``route`` from now on, in place of any previous one."""
        self.route = route

    def release(self, route: Route) -> None:
        """Stop driving ``route`` if it is still the current one."""
        if self.route is route:
            self.route = None

    def start_motion(self, motion: Motion) -> None:
        """Hand the base to ``motion``; a motion still running ends PREEMPTED."""
        if self.motion is not None:
            self.end_motion(self.motion, BehaviorOutcome.PREEMPTED)
        self.motion = motion

    def end_motion(self, motion: Motion, outcome: BehaviorOutcome) -> None:
        """Record how ``motion`` ended (if it had not) and release the base."""
        if motion.outcome is BehaviorOutcome.RUNNING:
            motion.outcome = outcome
        if self.motion is motion:
            self.motion = None

    def teleop(self, linear: float, angular: float, now: float) -> None:
        """Take a teleop velocity command (m/s, rad/s) received at ``now``."""
        self._teleop = (linear, angular)
        self._teleop_time = now

    def preempt_teleop(self) -> None:
        """End a running teleop motion successfully (the operator let go)."""
        if self.motion is not None and self.motion.kind is MotionKind.TELEOP:
            self.end_motion(self.motion, BehaviorOutcome.SUCCEEDED)

    def step(self, dt: float, now: float, config: SimConfig) -> None:
        """Advance the base by ``dt`` s: move, then drain or charge the battery."""
        can_move = config.fault is not Fault.STUCK and self.battery > 0.0
        step: Optional[MotionStep] = None
        if self.motion is not None:
            if can_move:
                step = self._advance_motion(self.motion, config, dt, now)
        elif self.route is not None and not self.route.arrived and can_move:
            step = self._advance_route(self.route, config, dt)
        linear = angular = 0.0
        if step is not None:
            self.pose = step.pose
            linear, angular = step.linear, step.angular
        self.linear_velocity = linear / dt if dt > 0.0 else 0.0
        self.angular_velocity = angular / dt if dt > 0.0 else 0.0
        at_dock = math.hypot(self.pose.x - config.dock_x,
                             self.pose.y - config.dock_y) <= CHARGING_RADIUS
        self.charging = at_dock and not self.busy
        if self.charging:
            self.battery = physics.charge_battery(self.battery, dt, config.charge_per_second)
        else:
            self.battery = physics.drain_battery(
                self.battery, abs(linear), dt, config.drain_per_meter,
                config.drain_idle_per_second)

    def _advance_route(self, route: Route, config: SimConfig, dt: float) -> MotionStep:
        last = route.index == len(route.targets) - 1
        step = physics.step_to_pose(
            self.pose, route.targets[route.index], config.speed, config.angular_speed, dt,
            align_heading=last, areas=config.areas)
        if step.blocked and step.distance < MIN_PROGRESS:
            route.blocked = True
        elif step.distance >= MIN_PROGRESS:
            route.blocked = False
        if step.reached:
            if last:
                route.arrived = True
            else:
                route.index += 1
        return step

    def _advance_motion(self, motion: Motion, config: SimConfig, dt: float,
                        now: float) -> MotionStep:
        if motion.kind is MotionKind.ROTATE:
            step = physics.step_rotate(self.pose, motion.remaining, motion.speed, dt)
            motion.remaining -= step.angular
            motion.progress += abs(step.angular)
        elif motion.kind is MotionKind.DRIVE:
            step = physics.step_straight(
                self.pose, motion.remaining, motion.speed, dt, config.areas)
            motion.remaining -= step.linear
            motion.progress += step.distance
        else:
            linear, angular = self._teleop
            if self._teleop_time is None or now - self._teleop_time > TELEOP_COMMAND_TIMEOUT:
                linear, angular = 0.0, 0.0
            step = physics.step_velocity(self.pose, linear, angular, dt, config.areas)
            motion.progress += step.distance
            return step
        if step.reached:
            self.end_motion(motion, BehaviorOutcome.SUCCEEDED)
        elif step.blocked:
            self.end_motion(motion, BehaviorOutcome.BLOCKED)
        return step
