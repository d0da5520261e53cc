"""Conversion between fleet_msgs messages and the manager's plain data: the only place that
knows both."""

from __future__ import annotations

import json
import math
from typing import Any

from builtin_interfaces.msg import Time as TimeMsg

from fleet_common import timeconv
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.missions import (
    CancelOnRobot,
    Command,
    Dispatch,
    Mission,
    MissionRequest,
    SendToDock,
    Waypoint,
)
from fleet_manager.core.model import Event, Mode, Pose, RobotEventReport, RobotRecord, StatusReport
from fleet_manager.pipeline import RobotCommandRequest
from fleet_msgs.msg import (
    FleetEvent,
    Pose2D,
    RobotAck,
    RobotAcks,
    RobotCommand,
    RobotEvent,
    RobotState,
    RobotStatus,
)
from fleet_msgs.msg import Mission as MissionMsg
from fleet_msgs.msg import Waypoint as WaypointMsg


def to_time_msg(t: float | None) -> TimeMsg:
    """Return a builtin_interfaces/Time for epoch seconds (zero for None)."""
    return timeconv.to_time_msg(t, TimeMsg)


def from_time_msg(msg: TimeMsg) -> float | None:
    """Return epoch seconds, or None for a zero time."""
    return timeconv.from_time_msg(msg)


_MODES = {m.value: m for m in Mode}


def status_from_msg(msg: RobotStatus) -> StatusReport:
    """Convert a RobotStatus; a NaN battery becomes None (unknown), an unknown mode
    UNKNOWN. Called for every status: keep it cheap (a dict lookup, not Mode(value))."""
    battery: float | None = float(msg.battery)
    if battery != battery:  # NaN
        battery = None
    mode = _MODES.get(msg.mode, Mode.UNKNOWN)
    pose, stamp = msg.pose, msg.stamp
    return StatusReport(
        msg.robot_id, msg.seq, stamp.sec + stamp.nanosec * 1e-9, msg.software_version, mode,
        battery, Pose(pose.x, pose.y, pose.theta, pose.frame_id or 'map'),
        msg.current_mission_id, msg.diagnostics_level, msg.report_period,
        msg.current_attempt, _finite(msg.mission_progress), _finite(msg.distance_remaining),
        msg.waypoint_index, msg.number_of_recoveries, msg.epoch, msg.event_seq, msg.acked_seq)


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def event_report_from_msg(msg: RobotEvent) -> RobotEventReport:
    """Convert a RobotEvent; malformed data_json becomes ``{'raw': <text>}``."""
    try:
        data = json.loads(msg.data_json) if msg.data_json else {}
        if not isinstance(data, dict):
            data = {'value': data}
    except ValueError:
        data = {'raw': msg.data_json}
    return RobotEventReport(msg.robot_id, int(msg.seq), from_time_msg(msg.stamp) or 0.0,
                            msg.type, int(msg.severity), msg.message, data, int(msg.epoch))


def robot_to_msg(rec: RobotRecord, msg: RobotState | None = None) -> RobotState:
    """Convert a registry record to RobotState; with ``msg``, update that message in place
    (cheaper than building one: the registry snapshot reuses one message per robot)."""
    if msg is None:
        msg = RobotState(robot_id=rec.robot_id, pose=Pose2D())
    msg.connectivity = rec.connectivity.value
    msg.mode = int(rec.mode)
    msg.battery = float('nan') if rec.battery is None else float(rec.battery)
    pose = msg.pose
    pose.x, pose.y, pose.theta = rec.pose.x, rec.pose.y, rec.pose.theta
    pose.frame_id = rec.pose.frame_id
    msg.last_seen = to_time_msg(rec.last_seen)
    msg.software_version = rec.software_version
    msg.decommissioned = rec.decommissioned
    if len(msg.capabilities) != len(rec.capabilities):
        msg.capabilities = list(rec.capabilities)
    msg.current_mission_id = rec.current_mission_id
    return msg


class RobotStates:
    """One RobotState per robot, kept up to date for the registry snapshots (fleet/robots):
    a robot whose state did not change since the last snapshot only gets its ``last_seen``
    written, instead of a whole message (the common case in a large fleet)."""

    def __init__(self) -> None:
        self._msgs: dict[str, tuple[tuple[Any, ...], RobotState]] = {}

    def snapshot(self, records: list[RobotRecord]) -> list[RobotState]:
        """Return the messages of ``records``, in their order (as :func:`robot_to_msg`)."""
        cache = self._msgs
        out = []
        for rec in records:
            key = (rec.connectivity, rec.mode, rec.battery, rec.pose, rec.software_version,
                   rec.decommissioned, rec.capabilities, rec.current_mission_id)
            cached = cache.get(rec.robot_id)
            if cached is None or cached[0] != key:
                msg = robot_to_msg(rec, cached[1] if cached is not None else None)
                cache[rec.robot_id] = (key, msg)
            else:
                msg = cached[1]
                stamp = msg.last_seen
                stamp.sec, stamp.nanosec = timeconv.split_time(rec.last_seen)
            out.append(msg)
        if len(cache) > len(records):
            keep = {r.robot_id for r in records}
            self._msgs = {k: v for k, v in cache.items() if k in keep}
        return out


def event_to_msg(event: Event) -> FleetEvent:
    """Convert an event-log entry to FleetEvent (the mission id travels in the payload)."""
    text = event.payload_json
    if not text or (event.mission_id and 'mission_id' not in event.payload):
        payload = dict(event.payload)
        if event.mission_id:
            payload.setdefault('mission_id', event.mission_id)
        text = json.dumps(payload)
    return FleetEvent(id=event.id, stamp=to_time_msg(event.time), kind=event.kind,
                      robot_id=event.robot_id, payload_json=text)


def waypoint_to_msg(w: Waypoint) -> WaypointMsg:
    return WaypointMsg(x=w.x, y=w.y, theta=w.theta, frame_id=w.frame_id, dwell=float(w.dwell))


def mission_to_msg(m: Mission) -> MissionMsg:
    """Convert a mission to the Mission message."""
    return MissionMsg(
        id=m.id, state=m.state.value, robot_id=m.robot_id, priority=m.priority,
        waypoints=[waypoint_to_msg(w) for w in m.waypoints], capabilities=list(m.capabilities),
        pinned_robot=m.pinned_robot, client_ref=m.client_ref,
        idempotency_key=m.idempotency_key, callback_url=m.callback_url, attempts=m.attempts,
        created_at=to_time_msg(m.created_at), updated_at=to_time_msg(m.updated_at),
        deadline=to_time_msg(m.deadline), failure_reason=m.failure_reason,
        robot_paused=bool(m.paused and m.robot_id))


def request_from_msg(msg: MissionMsg) -> MissionRequest:
    """Convert a submitted Mission message to a request (validation happens in the core)."""
    return MissionRequest(
        waypoints=tuple(Waypoint(float(w.x), float(w.y), float(w.theta), w.frame_id or 'map',
                                 float(w.dwell)) for w in msg.waypoints),
        priority=int(msg.priority), capabilities=tuple(msg.capabilities),
        pinned_robot=msg.pinned_robot, client_ref=msg.client_ref,
        idempotency_key=msg.idempotency_key, callback_url=msg.callback_url,
        deadline=from_time_msg(msg.deadline))


def payload_json(data: dict[str, Any]) -> str:
    """Serialise a payload compactly."""
    return json.dumps(data, separators=(',', ':'))


def command_to_msg(command_id: int, cmd: Command | RobotCommandRequest,
                   fleet: FleetConfig) -> RobotCommand | None:
    """Convert a domain command (Dispatch, CancelOnRobot, SendToDock or a
    RobotCommandRequest) to the RobotCommand message; None for a dock that does not exist."""
    msg = RobotCommand(robot_id=cmd.robot_id, id=command_id)
    if isinstance(cmd, Dispatch):
        msg.command = RobotCommand.EXECUTE_MISSION
        msg.mission_id, msg.attempt = cmd.mission.id, cmd.attempt
        msg.waypoints = [waypoint_to_msg(w) for w in cmd.mission.waypoints]
    elif isinstance(cmd, CancelOnRobot):
        msg.command = RobotCommand.CANCEL_MISSION
        msg.mission_id, msg.attempt = cmd.mission_id, cmd.attempt
        msg.args_json = json.dumps({'reason': cmd.reason})
    elif isinstance(cmd, SendToDock):
        dock = fleet.docks.get(cmd.dock)
        if dock is None:
            return None
        msg.command = RobotCommand.RETURN_TO_DOCK
        msg.args_json = json.dumps({'dock': cmd.dock, 'x': dock.x, 'y': dock.y,
                                    'theta': dock.theta})
    else:
        msg.command = cmd.command
        msg.mission_id = cmd.mission_id
        msg.args_json = json.dumps(cmd.args)
    return msg


def acks_to_msg(marks: list[tuple[str, int, int]], now: float) -> RobotAcks:
    """Build a RobotAcks message of (robot id, epoch, seq) marks."""
    return RobotAcks(stamp=to_time_msg(now),
                     acks=[RobotAck(robot_id=r, epoch=e, seq=q) for r, e, q in marks])

