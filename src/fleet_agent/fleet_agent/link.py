"""The agent's link to the manager: status out, durable events out, commands and acks in.

Everything travels on fleet-level topics (``/fleet/robot_status``, ``/fleet/robot_events``,
``/fleet/robot_commands``, ``/fleet/robot_acks``); messages for other robots are ignored.
Robot events go through the durable :class:`~fleet_agent.outbox.Outbox`: written first,
sent in order within a :class:`~fleet_agent.core.SendWindow`, resent until acknowledged,
deleted when acknowledged. Nothing is sent while no manager subscribes.

``connected`` lets a simulator model a network cut: while it is False nothing is sent and
nothing received, exactly as when the robot is out of reach; the outbox keeps filling.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from builtin_interfaces.msg import Time as TimeMsg
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from fleet_agent.core import SendWindow
from fleet_agent.outbox import Outbox
from fleet_common import timeconv
from fleet_msgs.msg import RobotAcks, RobotCommand, RobotEvent, RobotStatus

STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
COMMANDS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
ACKS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
PUMP_PERIOD = 0.1
"""s between checks of the send window (resends, a manager that appeared)."""


class FleetLink:
    """The fleet-side topics of one agent, and the outbox behind its events."""

    def __init__(self, node: Any, robot_id: str, outbox: Outbox, window: SendWindow, *,
                 status_topic: str, events_topic: str, commands_topic: str, acks_topic: str,
                 on_command: Callable[[RobotCommand], None]) -> None:
        self._node = node
        self.robot_id = robot_id
        self.outbox = outbox
        self._window = window
        self._on_command = on_command
        self.connected = True
        self._manager_seen = False
        self._status_pub = node.create_publisher(RobotStatus, status_topic, STATUS_QOS)
        events_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=window.window,
                                reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.VOLATILE)
        self._events_pub = node.create_publisher(RobotEvent, events_topic, events_qos)
        self._subs = [
            node.create_subscription(RobotCommand, commands_topic, self._command, COMMANDS_QOS),
            node.create_subscription(RobotAcks, acks_topic, self._ack, ACKS_QOS),
        ]
        self._timer = node.create_timer(PUMP_PERIOD, self.pump)
        self.sent = 0
        self.resent = 0

    # -- out ---------------------------------------------------------------------------------
    def manager_present(self) -> bool:
        """True when a manager subscribes to our events (and the network is up)."""
        return self.connected and self._events_pub.get_subscription_count() > 0

    def publish_status(self, msg: RobotStatus) -> None:
        """Send a status (dropped while the network is cut)."""
        if self.connected:
            msg.epoch = self.outbox.epoch
            msg.event_seq = self.outbox.last_seq
            msg.acked_seq = self.outbox.acked_seq
            self._status_pub.publish(msg)

    def emit(self, type_: str, severity: int, message: str, data: dict[str, Any],
             stamp: float, **job: Any) -> int:
        """Write an event to the outbox (with ``job=`` the agent's new current mission, in
        the same transaction) and send it when the window allows; return its seq."""
        seq = self.outbox.append(type_, severity, message, data, stamp, **job)
        self.pump()
        return seq

    def pump(self) -> None:
        """Send what the window allows now (new events, or a resend after silence)."""
        present = self.manager_present()
        if present != self._manager_seen:
            self._manager_seen = present
            self._window.reset(self.outbox.acked_seq)
        if not present:
            return
        now = self._node.get_clock().now().nanoseconds * 1e-9
        due = self._window.due(self.outbox.acked_seq, now)
        if due is None or due[0] >= self.outbox.last_seq:
            return
        after, budget = due
        entries = self.outbox.unacked(after, budget)
        for entry in entries:
            self._events_pub.publish(RobotEvent(
                robot_id=self.robot_id, epoch=self.outbox.epoch, seq=entry.seq,
                stamp=timeconv.to_time_msg(entry.stamp, TimeMsg), type=entry.type,
                severity=entry.severity, message=entry.message,
                data_json=json.dumps(entry.data)))
        self._window.sent([e.seq for e in entries], now)
        self.sent += len(entries)

    # -- in ----------------------------------------------------------------------------------
    def _ack(self, msg: RobotAcks) -> None:
        if not self.connected:
            return
        for ack in msg.acks:
            if ack.robot_id == self.robot_id:
                self.outbox.acknowledge(int(ack.epoch), int(ack.seq))
                self.pump()
                return

    def _command(self, msg: RobotCommand) -> None:
        if self.connected and msg.robot_id == self.robot_id:
            self._on_command(msg)

    def destroy(self) -> None:
        """Destroy the topics and the timer, and close the outbox."""
        self._node.destroy_timer(self._timer)
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._node.destroy_publisher(self._status_pub)
        self._node.destroy_publisher(self._events_pub)
        self.outbox.close()
