"""The agent's plain logic: mission legs, mode, progress, battery thresholds, numbering.

No rclpy here, so it is unit-tested without a ROS graph.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
import enum
import math
import time
from typing import Sequence


class Mode(enum.IntEnum):
    """Values of fleet_msgs/RobotStatus MODE_*."""

    UNKNOWN = 0
    """Nothing heard from the robot yet."""
    IDLE = 1
    """Available."""
    WORKING = 2
    """Executing a mission or driving to its dock."""
    CHARGING = 3
    """Its battery reports charging."""
    ERROR = 4
    """Diagnostics report ERROR."""


DIAG_ERROR = 2  # diagnostic_msgs/DiagnosticStatus.ERROR


@dataclass(frozen=True)
class Point:
    """A waypoint the agent drives to: metres, radians, seconds of dwell."""

    x: float
    y: float
    theta: float = 0.0
    frame_id: str = 'map'
    dwell: float = 0.0


@dataclass(frozen=True)
class Leg:
    """One Nav2 goal: a single pose (NavigateToPose) or several (NavigateThroughPoses).

    ``first`` is the index of the leg's first waypoint in the mission; ``dwell`` is the wait
    after the leg's last waypoint.
    """

    points: tuple[Point, ...]
    first: int
    dwell: float


def plan_legs(points: Sequence[Point]) -> list[Leg]:
    """Group waypoints into Nav2 goals.

    Consecutive waypoints without dwell travel as one NavigateThroughPoses goal; a waypoint
    with a dwell ends its leg, because the robot must stop there.
    """
    legs: list[Leg] = []
    current: list[Point] = []
    first = 0
    for i, p in enumerate(points):
        if not current:
            first = i
        current.append(p)
        if p.dwell > 0:
            legs.append(Leg(tuple(current), first, p.dwell))
            current = []
    if current:
        legs.append(Leg(tuple(current), first, 0.0))
    return legs


def derive_mode(diagnostics_level: int, navigating: bool, charging: bool,
                heard_from_robot: bool) -> Mode:
    """Return the mode the status reports; an error outranks work, work outranks charging."""
    if diagnostics_level >= DIAG_ERROR:
        return Mode.ERROR
    if navigating:
        return Mode.WORKING
    if charging:
        return Mode.CHARGING
    return Mode.IDLE if heard_from_robot else Mode.UNKNOWN


def mission_progress(total_points: int, done_points: int, leg_points: int,
                     leg_start_distance: float, distance_remaining: float) -> float:
    """Return progress 0..1 over a mission from the current leg's distance remaining."""
    if total_points <= 0:
        return 0.0
    frac = 0.0
    if leg_start_distance > 1e-6 and math.isfinite(distance_remaining):
        frac = min(1.0, max(0.0, 1.0 - distance_remaining / leg_start_distance))
    return min(1.0, (done_points + frac * leg_points) / total_points)


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Return the rotation about z (rad) of a quaternion."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quaternion_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    """Return (x, y, z, w) for a rotation of ``yaw`` rad about z."""
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


class BatteryWatch:
    """Report each crossing of the low and critical thresholds once, re-arming with hysteresis.

    ``update(level)`` returns ``'battery_low'``, ``'battery_critical'``, ``'battery_ok'`` or
    None. A threshold re-arms when the level rises ``hysteresis`` above it.
    """

    def __init__(self, low: float = 0.2, critical: float = 0.1, hysteresis: float = 0.05) -> None:
        self.low, self.critical, self.hysteresis = low, critical, hysteresis
        self._state = 'ok'

    def update(self, level: float | None) -> str | None:
        if level is None or math.isnan(level):
            return None
        if self._state != 'critical' and level < self.critical:
            self._state = 'critical'
            return 'battery_critical'
        if self._state == 'ok' and level < self.low:
            self._state = 'low'
            return 'battery_low'
        if self._state != 'ok' and level >= self.low + self.hysteresis:
            self._state = 'ok'
            return 'battery_ok'
        if self._state == 'critical' and level >= self.critical + self.hysteresis:
            self._state = 'low'
        return None


class SeqCounter:
    """Per-robot sequence numbers that also increase across agent restarts.

    They start at the wall-clock time in microseconds, so a restarted agent's numbers are
    above anything its previous run sent and the manager's (robot, seq) de-duplication
    keeps working.
    """

    def __init__(self, start: int | None = None) -> None:
        self._next = start if start is not None else time.time_ns() // 1000

    def next(self) -> int:
        value = self._next
        self._next += 1
        return value


class SendWindow:
    """Which outbox events to send now: a window of unacknowledged events, resent on silence.

    The agent sends its events in seq order, at most ``window`` of them unacknowledged at a
    time; each acknowledgement opens the window further, so a whole fleet replaying after an
    outage is paced by how fast the manager commits (no flood). When acknowledgements stop
    while events are in flight for ``resend_after`` seconds, the window is sent again from
    the acknowledged mark (the manager takes events only in order, so a lost one holds the
    rest back until it is resent); the wait doubles up to ``max_resend_after`` while nothing
    is acknowledged. Seqs may have gaps (a drop notice stands for a range), so the window
    counts events sent, not seq numbers. Plain logic: the clock is passed in.
    """

    def __init__(self, window: int = 100, resend_after: float = 1.0,
                 max_resend_after: float = 10.0) -> None:
        if window < 1:
            raise ValueError('window must be at least 1')
        self.window = window
        self.resend_after = resend_after
        self.max_resend_after = max_resend_after
        self._wait = resend_after
        self._in_flight: collections.deque[int] = collections.deque()
        self._last_sent = 0
        self._acked = 0
        self._progress_at = 0.0

    def reset(self, acked: int) -> None:
        """Start over from ``acked`` (the manager went away or came back)."""
        self._in_flight.clear()
        self._last_sent = self._acked = acked
        self._wait = self.resend_after

    def on_ack(self, acked: int, now: float) -> None:
        """The manager acknowledged up to ``acked``."""
        if acked > self._acked:
            self._acked = acked
            self._progress_at = now
            self._wait = self.resend_after
            while self._in_flight and self._in_flight[0] <= acked:
                self._in_flight.popleft()
            self._last_sent = max(self._last_sent, acked)

    def due(self, acked: int, now: float) -> tuple[int, int] | None:
        """Return (after, budget): send up to ``budget`` events with seq > ``after``; None
        when the window is full."""
        self.on_ack(acked, now)
        if self._in_flight and now - self._progress_at >= self._wait:
            self._in_flight.clear()  # silence: send the window again from the mark
            self._last_sent = self._acked
            self._wait = min(self._wait * 2, self.max_resend_after)
        budget = self.window - len(self._in_flight)
        if budget <= 0:
            return None
        return self._last_sent, budget

    def sent(self, seqs: list[int], now: float) -> None:
        """Record that events with ``seqs`` (ascending) were sent at ``now``."""
        if not seqs:
            return
        if not self._in_flight:
            self._progress_at = now  # the clock for an answer starts with a new round
        self._in_flight.extend(seqs)
        self._last_sent = seqs[-1]
