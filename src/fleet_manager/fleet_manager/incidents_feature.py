"""Incidents feature of the manager: robot events become routed, escalated incidents.

Adapts :class:`~fleet_manager.incident_flow.IncidentFlow` (plain Python) to ROS: topic
``fleet/incidents``, services ``fleet/list_incidents``, ``fleet/get_incident``,
``fleet/ack_incident`` and ``fleet/resolve_incident``; incidents persisted in the fleet
store; auto-actions sent to the robots' agents; a snapshot bag written for every new
incident from the robot's recent status, events and odometry.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from fleet_msgs.msg import Incident as IncidentMsg, Pose2D, RobotEvent, RobotStatus
from fleet_msgs.srv import GetIncident, IncidentAction, ListIncidents
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from fleet_manager import convert
from fleet_manager.bags import SnapshotRecorder, odometry_from_pose
from fleet_manager.core.errors import ConfigError, Conflict, NotFound
from fleet_manager.core.incidents import Incident, sequential_ids
from fleet_manager.core.missions import Result
from fleet_manager.core.model import Event, RobotRecord
from fleet_manager.core.rules import load_workflows
from fleet_manager.core.runbooks import load_runbooks
from fleet_manager.incident_flow import FlowResult, IncidentFlow

OWN_KINDS = ('incident.', 'notification.')
FLEET_KINDS = ('slo.alert',)
FLEET_ROBOT = 'fleet'
"""The robot id under which fleet-level facts reach the rule engine."""
SERVICE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                         reliability=ReliabilityPolicy.RELIABLE)


def incident_msg(inc: Incident) -> IncidentMsg:
    """Convert an incident to the Incident message (details as JSON)."""
    d = inc.to_dict()
    pose = inc.pose
    detail = {
        'context': d.get('context'), 'runbook': d.get('runbook'),
        'timeline': d.get('timeline', []), 'recurrence': d.get('recurrence') or None,
        'escalation': d.get('escalation'), 'bag_path': (d.get('context') or {}).get('bag_path'),
        'acknowledged_by': d.get('acknowledged_by'), 'resolved_by': d.get('resolved_by'),
        'rule': d.get('rule')}
    return IncidentMsg(
        id=inc.id, type=inc.type, severity=str(getattr(inc.severity, 'value', inc.severity)),
        state=str(getattr(inc.state, 'value', inc.state)).lower(), title=inc.title,
        robot_id=inc.robot_id, mission_id=inc.mission_id or '', area=inc.area or '',
        pose=Pose2D(x=pose.x, y=pose.y, theta=pose.theta) if pose is not None else Pose2D(),
        opened_at=convert.to_time_msg(inc.opened_at),
        last_seen=convert.to_time_msg(inc.last_seen), count=int(inc.count),
        detail_json=json.dumps(detail, default=str))


class IncidentsFeature:
    """The incident flow behind ROS interfaces."""

    name = 'incidents'

    def __init__(self, workflows_path: str, runbooks_dir: str, bag_dir: str,
                 bag_seconds: float = 60.0) -> None:
        self._workflows_path = workflows_path
        self._runbooks_dir = runbooks_dir
        self._bag_dir = bag_dir
        self._bag_seconds = bag_seconds
        self._node: Any = None
        self.flow: IncidentFlow | None = None
        self.recorder: SnapshotRecorder | None = None
        self._pub: Any = None
        self._services: list[Any] = []

    def configure(self, node: Any) -> str:
        try:
            workflows = load_workflows(self._workflows_path)
            runbooks = load_runbooks(self._runbooks_dir) \
                if os.path.isdir(self._runbooks_dir) else {}
        except ConfigError as exc:
            return str(exc)
        stored = node.store.load_incidents()
        self.flow = IncidentFlow(workflows, runbooks, node.fleet, node.now,
                                 sequential_ids(start=IncidentFlow.next_sequence(stored)),
                                 bag_seconds=self._bag_seconds)
        try:
            self.flow.restore(stored)
        except (KeyError, ValueError) as exc:
            return f'{node.store.path}: incidents: cannot restore: {exc}'
        self.recorder = SnapshotRecorder(self._bag_dir, seconds=self._bag_seconds)
        self._node = node
        self._pub = node.create_publisher(IncidentMsg, 'fleet/incidents', 100)
        self._services = [
            node.create_service(ListIncidents, 'fleet/list_incidents', self._srv_list,
                                qos_profile=SERVICE_QOS),
            node.create_service(GetIncident, 'fleet/get_incident', self._srv_get,
                                qos_profile=SERVICE_QOS),
            node.create_service(IncidentAction, 'fleet/ack_incident',
                                lambda q, r: self._srv_action(q, r, 'ack'),
                                qos_profile=SERVICE_QOS),
            node.create_service(IncidentAction, 'fleet/resolve_incident',
                                lambda q, r: self._srv_action(q, r, 'resolve'),
                                qos_profile=SERVICE_QOS),
        ]
        return ''

    def teardown(self) -> None:
        if self._node is not None:
            for s in self._services:
                self._node.destroy_service(s)
            self._node.destroy_publisher(self._pub)
        self._node, self._pub, self._services = None, None, []

    # -- inputs ------------------------------------------------------------------------------
    def replay(self, events: Sequence[Event], now: float) -> None:
        assert self.flow is not None
        for e in events:
            if e.kind == 'manager.configured' and e.payload.get('changed'):
                self.flow.record_config_change({'time': e.time, **e.payload}, e.time)

    def on_events(self, events: Sequence[Event], now: float) -> Result | None:
        assert self.flow is not None and self.recorder is not None
        node = self._node
        out = FlowResult()
        for e in events:
            if e.kind.startswith(OWN_KINDS):
                continue
            if e.kind == 'manager.configured' and e.payload.get('changed'):
                self.flow.record_config_change({'time': e.time, **e.payload}, now)
            if not e.robot_id and e.kind in FLEET_KINDS:
                # Fleet-level facts (SLO alerts) reach the rules as facts of robot 'fleet'.
                e = Event(e.id, e.time, e.kind, FLEET_ROBOT, e.payload, e.mission_id)
            record = node.registry.get(e.robot_id) if e.robot_id in node.registry else None
            if e.kind == 'robot.event' and record is not None:
                p = e.payload
                self._record(record.robot_id, '/fleet/robot_events',
                             'fleet_msgs/msg/RobotEvent', e.time, RobotEvent(
                                 robot_id=e.robot_id, seq=int(p.get('seq', 0)),
                                 stamp=convert.to_time_msg(e.time), type=str(p.get('type', '')),
                                 severity=int(p.get('severity', 0)),
                                 message=str(p.get('message', '')),
                                 data_json=json.dumps(p.get('data', {}))))
            out.extend(self.flow.on_event(e, record, now))
        return self._apply(out, now)

    def on_status(self, record: RobotRecord, now: float) -> Result | None:
        assert self.flow is not None
        self._record(record.robot_id, '/fleet/robot_status', 'fleet_msgs/msg/RobotStatus', now,
                     RobotStatus(robot_id=record.robot_id, seq=record.last_seq,
                                 stamp=convert.to_time_msg(now),
                                 software_version=record.software_version,
                                 mode=int(record.mode),
                                 battery=float('nan') if record.battery is None
                                 else record.battery,
                                 pose=Pose2D(x=record.pose.x, y=record.pose.y,
                                             theta=record.pose.theta, frame_id='map'),
                                 current_mission_id=record.current_mission_id,
                                 diagnostics_level=record.diagnostics_level,
                                 report_period=record.report_period))
        self._record(record.robot_id, f'/{record.robot_id}/odom', 'nav_msgs/msg/Odometry', now,
                     odometry_from_pose(record.pose.x, record.pose.y, record.pose.theta, now))
        return self._apply(self.flow.on_status(record, now), now)

    def tick(self, now: float) -> Result | None:
        assert self.flow is not None
        return self._apply(self.flow.tick(now), now)

    def _record(self, robot_id: str, topic: str, msgtype: str, t: float, msg: Any) -> None:
        assert self.recorder is not None
        try:
            self.recorder.record(topic, msgtype, int(t * 1e9), msg, robot_id=robot_id)
        except (KeyError, ValueError) as exc:
            self._node.get_logger().warning(f'snapshot buffer: {exc}',
                                            throttle_duration_sec=30.0)

    # -- outputs -----------------------------------------------------------------------------
    def _apply(self, res: FlowResult, now: float) -> Result | None:
        """Write bags, persist and publish changed incidents, send commands; return the
        events for the node to log."""
        if not res:
            return None
        node = self._node
        for bag in res.bags:
            try:
                path = self.recorder.write(bag.incident_id, bag.robot_id,  # type: ignore
                                           int(bag.until * 1e9))
            except (OSError, ValueError, KeyError) as exc:
                node.get_logger().error(f'snapshot bag for {bag.incident_id}: {exc}')
                continue
            inc = self.flow.get(bag.incident_id)  # type: ignore[union-attr]
            inc.context['bag_path'] = str(path)
            res.changed(inc)
        if res.incidents:
            node.store.upsert_incidents([i.to_dict() for i in res.incidents])
            for inc in res.incidents:
                self._pub.publish(incident_msg(inc))
        for robot_id, command, args in res.commands:
            node.send_command(robot_id, command, dict(args))
        return Result(events=list(res.events))

    def open_incidents(self) -> list[dict[str, Any]]:
        """Open incidents as small dicts (for markers)."""
        assert self.flow is not None
        out = []
        for inc in self.flow.list():
            if str(getattr(inc.state, 'value', inc.state)).lower() == 'resolved':
                continue
            pose = inc.pose
            out.append({'id': inc.id, 'type': inc.type,
                        'severity': str(getattr(inc.severity, 'value', inc.severity)),
                        'pose': {'x': pose.x, 'y': pose.y} if pose else {}})
        return out

    # -- services ----------------------------------------------------------------------------
    def _srv_list(self, req: ListIncidents.Request, resp: ListIncidents.Response) -> Any:
        node = self._node
        with node.lock:
            if not node.active or self.flow is None:
                return node._not_active(resp)
            try:
                items = self.flow.list(req.state or None, req.robot_id or None,
                                       req.type or None, convert.from_time_msg(req.since),
                                       convert.from_time_msg(req.until))
            except ValueError as exc:
                resp.success, resp.error_code = False, ListIncidents.Response.INVALID
                resp.error_msg = str(exc)
                return resp
            limit = int(req.limit or 100)
            resp.total = len(items)
            resp.incidents = [incident_msg(i) for i in items[req.offset:req.offset + limit]]
            resp.success = True
            return resp

    def _srv_get(self, req: GetIncident.Request, resp: GetIncident.Response) -> Any:
        node = self._node
        with node.lock:
            if not node.active or self.flow is None:
                return node._not_active(resp)
            try:
                resp.incident = incident_msg(self.flow.get(req.incident_id))
            except NotFound:
                resp.success, resp.error_code = False, GetIncident.Response.NOT_FOUND
                resp.error_msg = f'unknown incident {req.incident_id!r}'
                return resp
            resp.success = True
            return resp

    def _srv_action(self, req: IncidentAction.Request, resp: IncidentAction.Response,
                    action: str) -> Any:
        node = self._node
        with node.lock:
            if not node.active or self.flow is None:
                return node._not_active(resp)
            now = node.now()
            who = req.who or 'unknown'
            try:
                if action == 'ack':
                    res = self.flow.acknowledge(req.incident_id, who, req.note, now)
                else:
                    res = self.flow.resolve(req.incident_id, who, req.note, now)
            except NotFound:
                resp.success, resp.error_code = False, IncidentAction.Response.NOT_FOUND
                resp.error_msg = f'unknown incident {req.incident_id!r}'
                return resp
            except Conflict as exc:
                resp.success, resp.error_code = False, IncidentAction.Response.CONFLICT
                resp.error_msg = str(exc)
                return resp
            follow = self._apply(res, now)
            if follow is not None:
                node.commit(follow)
            resp.incident = incident_msg(self.flow.get(req.incident_id))
            resp.success = True
            return resp
