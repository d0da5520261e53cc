"""The manager's wire side of the robot link: cheap subscription callbacks, batched work.

Statuses and robot events arrive on two fleet-level topics. The callbacks only keep what
arrived: the latest status per robot (statuses are snapshots) and the events in arrival
order, so taking a message costs close to what a bare subscriber pays. The node drains both
on its ``ingest_period`` and hands them to the domain in batches
(:class:`~fleet_manager.core.intake.Intake`).

The other direction, also fleet-level: robot commands on ``/fleet/robot_commands`` (every
agent receives them and acts on its own ``robot_id``) and acknowledgements on
``/fleet/robot_acks``. The manager's DDS entity count therefore does not grow with the
fleet.
"""

from __future__ import annotations

import collections
import itertools
import time
from typing import Any, Callable, Iterable, Sequence

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from fleet_manager import convert
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.link import LinkBook
from fleet_manager.pipeline import Command, RobotCommandRequest
from fleet_msgs.msg import RobotAcks, RobotCommand, RobotEvent, RobotStatus

STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10_000,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
"""Statuses are periodic snapshots: best effort, and a reader queue deep enough for a
burst of a large fleet (a lost one is replaced by the next)."""
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


class RobotWire:
    """Subscriptions and publishers of the robot link, on one node."""

    def __init__(self, node: Any, status_topic: str, events_topic: str, commands_topic: str,
                 acks_topic: str) -> None:
        self._node = node
        self._statuses: dict[str, tuple[RobotStatus, float]] = {}
        self._events: collections.deque[RobotEvent] = collections.deque()
        self.statuses_received = 0
        self.events_received = 0
        self._subs = [
            node.create_subscription(RobotStatus, status_topic, self._on_status, STATUS_QOS),
            node.create_subscription(RobotEvent, events_topic, self._on_event, EVENTS_QOS),
        ]
        self._commands = node.create_publisher(RobotCommand, commands_topic, COMMANDS_QOS)
        self._acks = node.create_publisher(RobotAcks, acks_topic, ACKS_QOS)
        self.accepting = False
        """Messages are dropped while False (the node is not active): agents resend events
        until acknowledged, and statuses come again."""

    def _on_status(self, msg: RobotStatus) -> None:
        if self.accepting:
            # When it arrived, not when a batch processes it: connectivity is measured from
            # arrivals, so a busy moment of the manager cannot make live robots look stale.
            self._statuses[msg.robot_id] = (msg, time.monotonic())
            self.statuses_received += 1

    def _on_event(self, msg: RobotEvent) -> None:
        if self.accepting:
            self._events.append(msg)
            self.events_received += 1

    def take_statuses(self, now: float, limit: int) -> list[tuple[RobotStatus, float]]:
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
        offset = now - time.monotonic()
        return [(msg, arrived + offset) for msg, arrived in taken]

    def waiting(self, now: float) -> list[tuple[str, float]]:
        """(robot id, arrival time on the clock of ``now``) of the statuses received and not
        yet taken."""
        offset = now - time.monotonic()
        return [(robot_id, arrived + offset) for robot_id, (_, arrived) in
                self._statuses.items()]

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
