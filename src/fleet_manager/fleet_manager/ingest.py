"""The manager's wire side of the robot link: cheap subscription callbacks, batched work.

Statuses and robot events arrive on two fleet-level topics. The callbacks only keep what
arrived: the latest status per robot (statuses are snapshots) and the events in arrival
order, so taking a message costs close to what a bare subscriber pays. The node drains both
on its ``ingest_period`` and hands them to the domain in batches
(:class:`~fleet_manager.core.intake.Intake`).

Statuses are taken serialized (a raw subscription): the callback reads only the robot id
from the CDR bytes (the message's first field), and a batch reads each status it applies
straight into the domain's :class:`StatusReport` (:func:`decode_status`, about a tenth of
what building the rclpy message and converting it costs); anything but little-endian
plain CDR goes through rclpy's deserialization instead.

The other direction, also fleet-level: robot commands on ``/fleet/robot_commands`` (every
agent receives them and acts on its own ``robot_id``) and acknowledgements on
``/fleet/robot_acks``. The manager's DDS entity count therefore does not grow with the
fleet.
"""

from __future__ import annotations

import collections
import itertools
import math
import struct
import time
from typing import Any, Callable, Iterable, Sequence

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from fleet_common.cdr import CDR_LE, read_string
from fleet_manager import convert
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.link import LinkBook
from fleet_manager.core.model import Mode, Pose, StatusReport
from fleet_manager.pipeline import Command, RobotCommandRequest
from fleet_msgs.msg import RobotAcks, RobotCommand, RobotEvent, RobotStatus

STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50_000,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
"""Statuses are periodic snapshots: best effort, and a reader queue that holds about five
seconds of a 10,000-robot fleet at 1 Hz, so a busy moment of the manager (a registration
burst, a commit of many events) delays statuses instead of losing them (a lost one is
replaced by the next, but a robot losing several in a row would look stale)."""
EVENTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10_000,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
"""Robot events: reliable; the depth holds what a fleet's send windows put in flight (a
sample lost to overflow is resent by its agent, which keeps it until acknowledged)."""
COMMANDS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
ACKS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


_SEQ_STAMP = struct.Struct('<QiI')
_F32 = struct.Struct('<f')
_POSE = struct.Struct('<ddd')
_PROGRESS = struct.Struct('<IffII')
_LINK = struct.Struct('<QQQ')
_MODES = {m.value: m for m in Mode}


def decode_status(raw: bytes) -> StatusReport | None:
    """Return the report of a serialized RobotStatus (little-endian CDR), read field by
    field in the order RobotStatus.msg declares them, exactly as
    ``convert.status_from_msg(deserialize_message(raw, RobotStatus))`` would build it but
    without the message objects; None for any other encoding or a malformed message (the
    caller then deserializes it with rclpy)."""
    if raw[:2] != CDR_LE:
        return None
    try:
        robot_id, at = read_string(raw, 4)
        at += -(at - 4) % 8
        seq, sec, nanosec = _SEQ_STAMP.unpack_from(raw, at)
        version, at = read_string(raw, at + 16)
        mode = raw[at]
        at += 1 + (-(at + 1 - 4) % 4)
        battery: float | None = _F32.unpack_from(raw, at)[0]
        at += 4
        at += -(at - 4) % 8
        x, y, theta = _POSE.unpack_from(raw, at)
        frame_id, at = read_string(raw, at + 24)
        mission, at = read_string(raw, at)
        at += -(at - 4) % 4
        attempt, progress, remaining, waypoint, recoveries = _PROGRESS.unpack_from(raw, at)
        at += 20
        diagnostics = raw[at]
        at += 1 + (-(at + 1 - 4) % 4)
        period = _F32.unpack_from(raw, at)[0]
        at += 4
        at += -(at - 4) % 8
        epoch, event_seq, acked_seq = _LINK.unpack_from(raw, at)
    except (struct.error, ValueError, IndexError):  # UnicodeDecodeError is a ValueError
        return None
    if battery != battery:  # NaN: unknown
        battery = None
    return StatusReport(
        robot_id, seq, sec + nanosec * 1e-9, version, _MODES.get(mode, Mode.UNKNOWN),
        battery, Pose(x, y, theta, frame_id or 'map'), mission, diagnostics, period, attempt,
        progress if math.isfinite(progress) else 0.0,
        remaining if math.isfinite(remaining) else 0.0, waypoint, recoveries, epoch,
        event_seq, acked_seq)


def robot_key(raw: bytes) -> bytes:
    """Return the robot id of a serialized RobotStatus as its UTF-8 bytes (the callback's
    key; read from the CDR encoding: ``robot_id`` is the message's first field)."""
    if raw[:2] == CDR_LE and len(raw) >= 9:
        n = int.from_bytes(raw[4:8], 'little')
        return raw[8:7 + n]
    return deserialize_message(raw, RobotStatus).robot_id.encode()


def status_report(raw: bytes) -> StatusReport:
    """Return the report of one serialized RobotStatus."""
    report = decode_status(raw)
    if report is None:
        report = convert.status_from_msg(deserialize_message(raw, RobotStatus))
    return report


class RobotWire:
    """Subscriptions and publishers of the robot link, on one node."""

    def __init__(self, node: Any, status_topic: str, events_topic: str, commands_topic: str,
                 acks_topic: str) -> None:
        self._node = node
        self._statuses: dict[bytes, tuple[bytes, float]] = {}
        self._events: collections.deque[RobotEvent] = collections.deque()
        self.statuses_received = 0
        self.statuses_coalesced = 0
        """Statuses replaced by a newer one of the same robot before a batch took them."""
        self.lag = 0.0
        """Seconds the oldest status of the latest batch waited before it was taken."""
        self.events_received = 0
        self._subs = [
            node.create_subscription(RobotStatus, status_topic, self._on_status, STATUS_QOS,
                                     raw=True),
            node.create_subscription(RobotEvent, events_topic, self._on_event, EVENTS_QOS),
        ]
        self._commands = node.create_publisher(RobotCommand, commands_topic, COMMANDS_QOS)
        self._acks = node.create_publisher(RobotAcks, acks_topic, ACKS_QOS)
        self.accepting = False
        """Messages are dropped while False (the node is not active): agents resend events
        until acknowledged, and statuses come again."""

    def _on_status(self, raw: bytes) -> None:
        if self.accepting:
            # When it arrived, not when a batch processes it: connectivity is measured from
            # arrivals, so a busy moment of the manager cannot make live robots look stale.
            key = robot_key(raw)
            statuses = self._statuses
            if key in statuses:
                self.statuses_coalesced += 1
            statuses[key] = (raw, time.monotonic())
            self.statuses_received += 1

    def _on_event(self, msg: RobotEvent) -> None:
        if self.accepting:
            self._events.append(msg)
            self.events_received += 1

    def take_statuses(self, now: float, limit: int) -> list[tuple[StatusReport, float]]:
        """Return the latest status of up to ``limit`` robots heard from since the last
        call (the rest wait for the next call), each with the time it arrived on the clock
        of ``now`` (the node's clock)."""
        statuses = self._statuses
        if len(statuses) <= limit:
            self._statuses = {}
            taken = list(statuses.values())
        else:
            keys = list(itertools.islice(statuses, limit))
            taken = [statuses.pop(k) for k in keys]
        mono = time.monotonic()
        self.lag = mono - min((arrived for _, arrived in taken), default=mono)
        offset = now - mono
        return [(status_report(raw), arrived + offset) for raw, arrived in taken]

    def waiting(self, now: float) -> list[tuple[str, float]]:
        """(robot id, arrival time on the clock of ``now``) of the statuses received and not
        yet taken."""
        offset = now - time.monotonic()
        return [(robot_id.decode('utf-8', 'replace'), arrived + offset)
                for robot_id, (_, arrived) in self._statuses.items()]

    def take_events(self, limit: int) -> list[RobotEvent]:
        """Return up to ``limit`` robot events, oldest first."""
        events = self._events
        return [events.popleft() for _ in range(min(limit, len(events)))]

    @property
    def backlog(self) -> int:
        """Robot events received and not yet taken."""
        return len(self._events)

    def clear(self) -> None:
        """Forget what arrived and was not taken (the node stopped processing)."""
        self._statuses.clear()
        self._events.clear()

    def send(self, commands: Sequence[tuple[int, Command | RobotCommandRequest]],
             fleet: FleetConfig, log: Callable[[str], None]) -> None:
        """Publish commands to their robots' agents."""
        for command_id, cmd in commands:
            msg = convert.command_to_msg(command_id, cmd, fleet)
            if msg is None:
                log(f'{cmd.robot_id}: command {command_id} not sent (unknown dock)')
                continue
            self._commands.publish(msg)

    def acknowledge(self, robot_ids: Iterable[str], link: LinkBook, now: float) -> None:
        """Publish the committed marks of ``robot_ids``."""
        marks = []
        for robot_id in sorted(robot_ids):
            m = link.mark(robot_id)
            if m.epoch:
                marks.append((robot_id, m.epoch, m.seq))
        if marks:
            self._acks.publish(convert.acks_to_msg(marks, now))

    def destroy(self) -> None:
        """Destroy the subscriptions and publishers."""
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._node.destroy_publisher(self._commands)
        self._node.destroy_publisher(self._acks)
        self._subs = []
