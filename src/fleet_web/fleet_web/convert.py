"""Conversion between fleet_msgs messages and the API's JSON: the bridge's only such place."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from builtin_interfaces.msg import Time as TimeMsg

from fleet_msgs.msg import FleetEvent, Incident, Mission, RobotState, TelemetrySample, Waypoint

MODES = {0: 'unknown', 1: 'idle', 2: 'working', 3: 'charging', 4: 'error', 5: 'paused'}


def iso(t: TimeMsg) -> str | None:
    """Return ISO-8601 UTC (``...Z``) for a Time, or None for zero."""
    return iso_parts(t.sec, t.nanosec)


def iso_parts(sec: int, nanosec: int) -> str | None:
    """Return ISO-8601 UTC (``...Z``) for a Time's two fields, or None for zero."""
    if sec == 0 and nanosec == 0:
        return None
    return iso_from_epoch(sec + nanosec * 1e-9)


def iso_from_epoch(seconds: float) -> str:
    """Return ISO-8601 UTC with millisecond precision for epoch seconds."""
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return stamp.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def epoch_from_iso(text: str) -> float:
    """Parse ISO-8601 (a naive time is UTC); raise ValueError when malformed."""
    stamp = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def time_msg(seconds: float | None) -> TimeMsg:
    """Return a Time for epoch seconds (zero for None or anything before 1970)."""
    if seconds is None or not seconds > 0 or seconds >= 2**31:
        return TimeMsg()
    sec = int(seconds)
    return TimeMsg(sec=sec, nanosec=int((seconds - sec) * 1e9))


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def robot_json(r: RobotState) -> dict[str, Any]:
    """Return a robot's API representation."""
    return robot_dict(r.robot_id, r.connectivity, r.mode, r.battery,
                      (r.pose.x, r.pose.y, r.pose.theta), r.last_seen.sec, r.last_seen.nanosec,
                      r.software_version, r.decommissioned, list(r.capabilities),
                      r.current_mission_id)


def robot_dict(robot_id: str, connectivity: str, mode: int, battery: float,
               pose: tuple[float, float, float], seen_sec: int, seen_nanosec: int,
               software_version: str, decommissioned: bool, capabilities: list[str],
               current_mission_id: str) -> dict[str, Any]:
    """Return a robot's API representation from the fields of a ``RobotState``, in the
    order the message declares them (``last_seen`` as its two parts)."""
    x, y, theta = pose
    return {
        'id': robot_id,
        'connectivity': connectivity,
        'mode': MODES.get(mode, 'unknown'),
        'battery': _num(battery),
        'pose': {'x': round(x, 4), 'y': round(y, 4), 'theta': round(theta, 4)},
        'last_seen': iso_parts(seen_sec, seen_nanosec),
        'software_version': software_version,
        'decommissioned': decommissioned,
        'capabilities': capabilities,
        'current_mission_id': current_mission_id or None,
    }


def event_json(e: FleetEvent) -> dict[str, Any]:
    """Return an event-log entry's API representation."""
    try:
        payload = json.loads(e.payload_json) if e.payload_json else {}
    except ValueError:
        payload = {'raw': e.payload_json}
    return {'id': int(e.id), 'time': iso(e.stamp), 'kind': e.kind,
            'robot_id': e.robot_id or None, 'payload': payload}


def waypoint_json(w: Waypoint) -> dict[str, Any]:
    return {'x': w.x, 'y': w.y, 'theta': w.theta, 'frame_id': w.frame_id or 'map',
            'dwell': round(float(w.dwell), 3)}


def mission_json(m: Mission) -> dict[str, Any]:
    """Return a mission's API representation."""
    return {
        'id': m.id, 'state': m.state, 'robot_id': m.robot_id or None, 'priority': m.priority,
        'waypoints': [waypoint_json(w) for w in m.waypoints],
        'capabilities': list(m.capabilities), 'pinned_robot': m.pinned_robot or None,
        'client_ref': m.client_ref or None, 'callback_url': m.callback_url or None,
        'attempts': m.attempts, 'created_at': iso(m.created_at),
        'updated_at': iso(m.updated_at), 'deadline': iso(m.deadline),
        'failure_reason': m.failure_reason or None,
        'robot_paused': bool(m.robot_paused),
        'waiting_on': (f'robot {m.robot_id} is paused: resume it to continue'
                       if m.robot_paused else None),
    }


def mission_msg(body: dict[str, Any]) -> Mission:
    """Build a Mission message from a validated submission body."""
    return Mission(
        waypoints=[Waypoint(x=float(w['x']), y=float(w['y']), theta=float(w.get('theta', 0.0)),
                            frame_id=w.get('frame_id', ''), dwell=float(w.get('dwell', 0.0)))
                   for w in body['waypoints']],
        priority=int(body.get('priority', 0)), capabilities=list(body.get('capabilities', [])),
        pinned_robot=body.get('pinned_robot') or '', client_ref=body.get('client_ref') or '',
        idempotency_key=body.get('idempotency_key') or '',
        callback_url=body.get('callback_url') or '',
        deadline=time_msg(body['deadline_epoch']) if body.get('deadline_epoch') else TimeMsg())


def incident_json(i: Incident) -> dict[str, Any]:
    """Return an incident's API representation (detail_json spread into it)."""
    try:
        detail = json.loads(i.detail_json) if i.detail_json else {}
    except ValueError:
        detail = {}
    out = {
        'id': i.id, 'type': i.type, 'severity': i.severity, 'state': i.state,
        'title': i.title, 'robot_id': i.robot_id or None, 'mission_id': i.mission_id or None,
        'area': i.area or None,
        'pose': {'x': round(i.pose.x, 4), 'y': round(i.pose.y, 4),
                 'theta': round(i.pose.theta, 4)},
        'opened_at': iso(i.opened_at), 'last_seen': iso(i.last_seen), 'count': int(i.count),
    }
    for key in ('recurrence', 'runbook', 'context', 'timeline', 'escalation', 'bag_path'):
        out[key] = detail.get(key)
    if out['timeline'] is None:
        out['timeline'] = []
    return out


def telemetry_json(t: TelemetrySample) -> dict[str, Any]:
    """Return one telemetry sample's API representation."""
    return {'time': iso(t.stamp), 'battery': _num(t.battery), 'x': round(t.x, 4),
            'y': round(t.y, 4), 'theta': round(t.theta, 4),
            'mode': MODES.get(t.mode, 'unknown'), 'diagnostics_level': int(t.diagnostics_level),
            'connectivity': t.connectivity}
