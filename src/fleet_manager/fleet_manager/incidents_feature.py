"""Incidents feature of the manager: robot events become routed, escalated incidents.

Adapts :class:`~fleet_manager.incident_flow.IncidentFlow` (plain Python) to the node: topic
``fleet/incidents``, services ``fleet/list_incidents``, ``fleet/get_incident``,
``fleet/ack_incident`` and ``fleet/resolve_incident``. Every change comes back as
:class:`~fleet_manager.pipeline.Changes`: the incident rows are saved in the same
transaction as the events that announce them, auto-actions go to robots as logged
``robot.command``s, and snapshot bags are written after the commit, off the executor.

Snapshot bags hold what the manager received from the robot: its statuses as they arrived
(``/fleet/robot_status``), its events (``/fleet/robot_events``, from the logged report) and,
derived from the statuses' poses, ``/<robot>/odom`` so RViz and Foxglove draw the path.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

from fleet_manager import convert
from fleet_manager.bags import (
    EVENT_TYPE,
    EVENTS_TOPIC,
    ODOMETRY_TYPE,
    STATUS_TOPIC,
    STATUS_TYPE,
    SnapshotRecorder,
    odometry_from_pose,
)
from fleet_manager.core.errors import ConfigError, Conflict, NotFound
from fleet_manager.core.incidents import Incident, sequential_ids
from fleet_manager.core.model import Event, RobotRecord, StatusReport
from fleet_manager.core.rules import load_workflows
from fleet_manager.core.runbooks import load_runbooks
from fleet_manager.features import FeatureHost
from fleet_manager.incident_flow import RULE_WHO, FlowResult, IncidentFlow
from fleet_manager.incident_ops import IncidentOps, OpsSettings, load_ops_settings
from fleet_manager.incident_ops_service import IncidentOpsService, save_postmortem, save_silences
from fleet_manager.pipeline import Changes, RobotCommandRequest
from fleet_msgs.msg import Incident as IncidentMsg
from fleet_msgs.msg import Pose2D
from fleet_msgs.srv import GetIncident, IncidentAction, JsonCall, ListIncidents

OWN_KINDS = ('incident.', 'notification.')
FLEET_KINDS = ('slo.alert',)
FLEET_ROBOT = 'fleet'
"""The robot id under which fleet-level facts reach the rule engine."""


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


def odometry_of_status(report: StatusReport, robot_id: str,
                       stamp_ns: int) -> list[tuple[str, str, Any]]:
    """The odometry a snapshot bag shows for a recorded status (derived from its pose)."""
    pose = report.pose
    return [(f'/{robot_id}/odom', ODOMETRY_TYPE,
             odometry_from_pose(pose.x, pose.y, pose.theta, stamp_ns * 1e-9))]


class IncidentsFeature:
    """The incident flow behind ROS interfaces."""

    name = 'incidents'

    def __init__(self, workflows_path: str, runbooks_dir: str, bag_dir: str,
                 bag_seconds: float = 60.0, ops_path: str = '') -> None:
        self._workflows_path = workflows_path
        self._ops_path = ops_path
        self._runbooks_dir = runbooks_dir
        self._bag_dir = bag_dir
        self._bag_seconds = bag_seconds
        self._host: FeatureHost | None = None
        self.flow: IncidentFlow | None = None
        self.recorder: SnapshotRecorder | None = None
        self._pub: Any = None
        self._services: list[Any] = []

    def configure(self, host: FeatureHost) -> str:
        try:
            workflows = load_workflows(self._workflows_path)
            runbooks = load_runbooks(self._runbooks_dir) \
                if os.path.isdir(self._runbooks_dir) else {}
            ops_settings = load_ops_settings(self._ops_path)
        except ConfigError as exc:
            return str(exc)
        stored = host.store.load_incidents()
        self.flow = IncidentFlow(workflows, runbooks, host.fleet, host.now,
                                 sequential_ids(start=IncidentFlow.next_sequence(stored)),
                                 bag_seconds=self._bag_seconds)
        try:
            self.flow.restore(stored)
        except (KeyError, ValueError) as exc:
            return f'{host.store.path}: incidents: cannot restore: {exc}'
        ops = self._ops(ops_settings, host)
        if isinstance(ops, str):
            return ops
        # Keep a little more than a bag's window: a bag is written just after its "until".
        self.recorder = SnapshotRecorder(self._bag_dir, seconds=self._bag_seconds,
                                         retain=self._bag_seconds + 10.0,
                                         derive={STATUS_TOPIC: odometry_of_status})
        self._host = host
        self._pub = host.create_publisher(IncidentMsg, 'fleet/incidents', 100)
        self._services = [
            host.create_service(ListIncidents, 'fleet/list_incidents', self._srv_list),
            host.create_service(GetIncident, 'fleet/get_incident', self._srv_get),
            host.create_service(IncidentAction, 'fleet/ack_incident',
                                lambda q, r: self._srv_action(q, r, 'ack')),
            host.create_service(IncidentAction, 'fleet/resolve_incident',
                                lambda q, r: self._srv_action(q, r, 'resolve')),
            host.create_service(JsonCall, 'fleet/incident_ops', IncidentOpsService(ops, host.now)),
        ]
        return ''

    def _ops(self, settings: OpsSettings, host: FeatureHost) -> IncidentOps | str:
        """Give the flow its grouping, inhibition, silences and postmortems (restored)."""
        assert self.flow is not None
        silences = host.store.load_docs('silences')
        ops = IncidentOps(settings, host.now, sequential_ids(
            'SIL-', IncidentFlow.next_sequence(silences, 'SIL-')))
        try:
            ops.restore(silences, host.store.load_docs('postmortems'), self.flow.book)
        except (KeyError, ValueError) as exc:
            return f'{host.store.path}: silences/postmortems: cannot restore: {exc}'
        self.flow.ops = ops
        return ops

    def teardown(self) -> None:
        if self._host is not None:
            for entity in [*self._services, self._pub]:
                self._host.destroy(entity)
        self._host, self._pub, self._services = None, None, []

    # -- inputs ------------------------------------------------------------------------------
    def replay(self, events: Sequence[Event], now: float) -> None:
        assert self.flow is not None
        for e in events:
            if e.kind == 'manager.configured' and e.payload.get('changed'):
                self.flow.record_config_change({'time': e.time, **e.payload}, e.time)

    def on_events(self, events: Sequence[Event], now: float) -> Changes | None:
        assert self.flow is not None and self._host is not None
        out = FlowResult()
        for e in events:
            if e.kind.startswith(OWN_KINDS):
                continue
            if e.kind == 'manager.configured' and e.payload.get('changed'):
                self.flow.record_config_change({'time': e.time, **e.payload}, now)
            if not e.robot_id and e.kind in FLEET_KINDS:
                # Fleet-level facts (SLO alerts) reach the rules as facts of robot 'fleet'.
                e = Event(e.id, e.time, e.kind, FLEET_ROBOT, e.payload, e.mission_id)
            record = self._host.robot(e.robot_id)
            if e.kind == 'robot.event' and record is not None:
                self._record_event(e)
            out.extend(self.flow.on_event(e, record, now))
        return self._changes(out, now)

    def on_status(self, statuses: Sequence[tuple[StatusReport, RobotRecord]],
                  now: float) -> Changes | None:
        assert self.flow is not None
        out = FlowResult()
        stamp_ns = int(now * 1e9)
        for report, record in statuses:
            # The report as received: its fields are RobotStatus's, built into a message only
            # if a bag is written (an unknown battery is NaN on the wire).
            if report.battery is None:
                report = report._replace(battery=math.nan)
            self._record(STATUS_TOPIC, STATUS_TYPE, stamp_ns, report, record.robot_id)
            out.extend(self.flow.on_status(record, now))
        return self._changes(out, now)

    def tick(self, now: float) -> Changes | None:
        assert self.flow is not None
        return self._changes(self.flow.tick(now), now)

    def _record_event(self, e: Event) -> None:
        p = e.payload
        self._record(EVENTS_TOPIC, EVENT_TYPE, int(e.time * 1e9), {
            'robot_id': e.robot_id, 'epoch': int(p.get('epoch', 0)),
            'seq': int(p.get('seq', 0)), 'stamp': float(p.get('stamp') or e.time),
            'type': str(p.get('type', '')), 'severity': int(p.get('severity', 0)),
            'message': str(p.get('message', '')),
            'data_json': json.dumps(p.get('data', {}))}, e.robot_id)

    def _record(self, topic: str, msgtype: str, stamp_ns: int, msg: Any,
                robot_id: str) -> None:
        assert self.recorder is not None and self._host is not None
        try:
            self.recorder.record(topic, msgtype, stamp_ns, msg, robot_id=robot_id)
        except (KeyError, ValueError) as exc:
            self._host.logger().warning(f'snapshot buffer: {exc}', throttle_duration_sec=30.0)

    # -- outputs -----------------------------------------------------------------------------
    def _changes(self, res: FlowResult, now: float) -> Changes | None:
        """Turn the flow's result into changes: incident rows, logged commands, events,
        and the bags to write after the commit."""
        if not res:
            return None
        assert self.flow is not None and self.recorder is not None
        out = Changes(events=list(res.events))
        for bag in res.bags:
            inc = self.flow.get(bag.incident_id)
            inc.context['bag_path'] = str(self.recorder.directory / bag.incident_id)
            res.changed(inc)
            out.after_commit.append(self._bag_writer(bag.incident_id, bag.robot_id,
                                                     int(bag.until * 1e9)))
        out.incidents = [i.to_dict() for i in res.incidents]
        ops = self.flow.ops
        if res.postmortem is not None:
            out.add(save_postmortem(res.postmortem, drafted=True))
        if ops is not None and ops.dirty_silences:
            out.add(save_silences(ops, ops.dirty_silences))
            ops.dirty_silences = set()
        messages = [incident_msg(i) for i in res.incidents]
        pub = self._pub

        def publish() -> None:
            for m in messages:
                pub.publish(m)
        out.publish.append(publish)
        for robot_id, command, args in res.commands:
            out.commands.append(RobotCommandRequest(
                robot_id, command, dict(args), RULE_WHO, 'incident workflow',
                str(args.get('mission_id', ''))))
        return out

    def _bag_writer(self, incident_id: str, robot_id: str, until_ns: int) -> Any:
        recorder = self.recorder
        host = self._host
        assert recorder is not None and host is not None
        logger = host.logger()

        def write() -> None:
            try:
                recorder.write(incident_id, robot_id, until_ns)
            except (OSError, ValueError, KeyError) as exc:
                logger.error(f'snapshot bag for {incident_id}: {exc}')
        return write

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
    def _srv_list(self, req: ListIncidents.Request,
                  resp: ListIncidents.Response) -> tuple[Any, None]:
        assert self.flow is not None
        try:
            items = self.flow.list(req.state or None, req.robot_id or None,
                                   req.type or None, convert.from_time_msg(req.since),
                                   convert.from_time_msg(req.until))
        except ValueError as exc:
            resp.success, resp.error_code = False, ListIncidents.Response.INVALID
            resp.error_msg = str(exc)
            return resp, None
        limit = int(req.limit or 100)
        resp.total = len(items)
        resp.incidents = [incident_msg(i) for i in items[req.offset:req.offset + limit]]
        resp.success = True
        return resp, None

    def _srv_get(self, req: GetIncident.Request,
                 resp: GetIncident.Response) -> tuple[Any, None]:
        assert self.flow is not None
        try:
            resp.incident = incident_msg(self.flow.get(req.incident_id))
        except NotFound:
            resp.success, resp.error_code = False, GetIncident.Response.NOT_FOUND
            resp.error_msg = f'unknown incident {req.incident_id!r}'
            return resp, None
        resp.success = True
        return resp, None

    def _srv_action(self, req: IncidentAction.Request, resp: IncidentAction.Response,
                    action: str) -> tuple[Any, Changes | None]:
        assert self.flow is not None and self._host is not None
        now = self._host.now()
        who = req.who or 'unknown'
        try:
            if action == 'ack':
                res = self.flow.acknowledge(req.incident_id, who, req.note, now)
            else:
                res = self.flow.resolve(req.incident_id, who, req.note, now)
        except NotFound:
            resp.success, resp.error_code = False, IncidentAction.Response.NOT_FOUND
            resp.error_msg = f'unknown incident {req.incident_id!r}'
            return resp, None
        except Conflict as exc:
            resp.success, resp.error_code = False, IncidentAction.Response.CONFLICT
            resp.error_msg = str(exc)
            return resp, None
        resp.incident = incident_msg(self.flow.get(req.incident_id))
        resp.success = True
        return resp, self._changes(res, now)
