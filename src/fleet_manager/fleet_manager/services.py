"""The manager's ROS services: thin adapters from requests to domain calls and back.

Each handler takes (request, response) and returns (response, changes): the node checks
that it is active before calling, commits the changes through the pipeline, and answers
NOT_ACTIVE when the store cannot be written. Errors are filled in by one helper,
:func:`fail`, with the service's own error constants.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
from typing import Any, Callable

from fleet_common.events import PatternError, check_pattern, validate
from fleet_manager import convert
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.link import LinkBook
from fleet_manager.core.missions import Mission, MissionBoard, Pruned
from fleet_manager.core.model import Connectivity, Event, NewEvent, RobotRecord
from fleet_manager.core.registry import Registry
from fleet_manager.core.site_map import site_map
from fleet_manager.params import ManagerParams
from fleet_manager.pipeline import Changes, RobotCommandRequest
from fleet_manager.store import FleetStore
from fleet_msgs.msg import TelemetrySample
from fleet_msgs.srv import (
    CancelMission,
    GetEvents,
    GetMission,
    GetTelemetry,
    JsonCall,
    ListMissions,
    ListRobots,
    LogBridgeEvent,
    SendRobotCommand,
    SetRobotService,
    SubmitMission,
)

OPERATOR_COMMANDS = ('pause', 'resume', 'return_to_dock', 'cancel_mission')
BRIDGE_KINDS = ('webhook.',)
"""The kinds of fact the bridge may log (fleet/log_bridge_event)."""
Answer = tuple[Any, 'Changes | None']
Finish = Callable[[Any, list[Event]], None]


def fail(resp: Any, code: int, message: str, field: str = '') -> Answer:
    """Fill ``resp`` as a failure (``success`` False, the code, the message and, where the
    response has one, the offending field); nothing to commit."""
    resp.success = False
    resp.error_code = code
    resp.error_msg = message
    if field and hasattr(resp, 'error_field'):
        resp.error_field = field
    return resp, None


@dataclass
class Domain:
    """What the services work on (owned by the node, created at configure)."""

    params: ManagerParams
    fleet: FleetConfig
    store: FleetStore
    registry: Registry
    board: MissionBoard
    link: LinkBook


class ManagerServices:
    """Handlers of the fleet/* services."""

    def __init__(self, domain: Domain, now: Callable[[], float],
                 assignable: Callable[[], list[RobotRecord]],
                 want_assignment: Callable[[], None]) -> None:
        self._d = domain
        self._now = now
        self._assignable = assignable
        self._want_assignment = want_assignment
        """Asks for an assignment round at the node's next tick: submissions and
        cancellations answer without running one each (at 50 per second over 10,000 robots
        a round per request would starve everything else)."""


    def table(self) -> list[tuple[Any, str, Callable[[Any, Any], Answer], Finish | None]]:
        """(service type, name, handler, finisher) of every service; the finisher completes
        the response from the stored events once the changes are committed."""
        return [
            (ListRobots, 'fleet/list_robots', self.list_robots, None),
            (GetEvents, 'fleet/get_events', self.get_events, None),
            (SubmitMission, 'fleet/submit_mission', self.submit, None),
            (CancelMission, 'fleet/cancel_mission', self.cancel, None),
            (GetMission, 'fleet/get_mission', self.get_mission, None),
            (ListMissions, 'fleet/list_missions', self.list_missions, None),
            (SetRobotService, 'fleet/set_robot_service', self.set_service, None),
            (GetTelemetry, 'fleet/get_telemetry', self.telemetry, None),
            (SendRobotCommand, 'fleet/robot_command', self.robot_command, _command_id),
            (LogBridgeEvent, 'fleet/log_bridge_event', self.bridge_event, _event_id),
            (JsonCall, 'fleet/site', self.site, None),
        ]

    def bridge_event(self, req: LogBridgeEvent.Request,
                     resp: LogBridgeEvent.Response) -> Answer:
        """Log a fact the bridge reports (only ``webhook.*`` kinds, checked against their
        declared payload type)."""
        R = LogBridgeEvent.Response
        if not req.kind.startswith(BRIDGE_KINDS):
            return fail(resp, R.INVALID, f'kind {req.kind!r}: the bridge reports only '
                        f'{", ".join(k + "*" for k in BRIDGE_KINDS)} kinds')
        try:
            payload = json.loads(req.payload_json or '{}')
        except ValueError as exc:
            return fail(resp, R.INVALID, f'payload_json is not JSON: {exc}')
        problems = validate(req.kind, payload)
        if problems:
            return fail(resp, R.INVALID, '; '.join(problems))
        resp.success = True
        return resp, Changes(events=[NewEvent(req.kind, '', payload)])

    def site(self, req: JsonCall.Request, resp: JsonCall.Response) -> Answer:
        """``map``: the site map (areas, docks, the occupancy grid) from the fleet config."""
        if req.action != 'map':
            return fail(resp, JsonCall.Response.INVALID,
                        f'unknown action {req.action!r} (one of: map)', 'action')
        resp.result_json = json.dumps(site_map(self._d.fleet), separators=(',', ':'))
        resp.success = True
        return resp, None

    def list_robots(self, req: ListRobots.Request, resp: ListRobots.Response) -> Answer:
        if req.robot_id:
            try:
                recs = [self._d.registry.get(req.robot_id)]
            except NotFound as exc:
                return fail(resp, ListRobots.Response.NOT_FOUND, str(exc.args[0]))
        else:
            recs = self._d.registry.records()
        resp.robots = [convert.robot_to_msg(r) for r in recs]
        resp.success = True
        return resp, None

    def get_events(self, req: GetEvents.Request, resp: GetEvents.Response) -> Answer:
        try:
            kinds = [check_pattern(k) for k in req.kinds]
        except PatternError as exc:
            return fail(resp, GetEvents.Response.INVALID, str(exc))
        limit = min(req.limit or 100, self._d.params.events_page_limit)
        events = self._d.store.events_after(int(req.after_id), limit, kinds, req.robot_id)
        resp.events = [convert.event_to_msg(e) for e in events]
        resp.last_id = self._d.store.last_event_id()
        resp.success = True
        return resp, None

    def submit(self, req: SubmitMission.Request, resp: SubmitMission.Response) -> Answer:
        now = self._now()
        board = self._d.board
        try:
            request = convert.request_from_msg(req.mission)
            mission, duplicate, res = board.submit(request, self._d.registry, now)
        except ValidationError as exc:
            return fail(resp, SubmitMission.Response.INVALID, exc.reason, exc.field)
        except Conflict as exc:
            return fail(resp, SubmitMission.Response.CONFLICT, str(exc), 'idempotency_key')
        except Pruned as exc:
            original = self._d.store.get_mission(exc.mission_id)
            assert original is not None  # pruned missions are always persisted
            resp.success, resp.duplicate = True, True
            resp.mission = convert.mission_to_msg(original)
            return resp, None
        changes = None
        if not duplicate:
            self._want_assignment()
            changes = Changes.of(res)
        resp.success, resp.duplicate = True, duplicate
        resp.mission = convert.mission_to_msg(mission)
        return resp, changes

    def cancel(self, req: CancelMission.Request, resp: CancelMission.Response) -> Answer:
        try:
            mission, res = self._d.board.cancel(req.mission_id, req.reason, self._now())
        except NotFound as exc:
            stored = self._d.store.get_mission(req.mission_id)
            if stored is not None:  # finished long ago and pruned from memory
                resp.mission = convert.mission_to_msg(stored)
                return fail(resp, CancelMission.Response.CONFLICT,
                            f'mission {stored.id} already {stored.state.value}')
            return fail(resp, CancelMission.Response.NOT_FOUND, str(exc.args[0]))
        except Conflict as exc:
            resp.mission = convert.mission_to_msg(self._d.board.get(req.mission_id))
            return fail(resp, CancelMission.Response.CONFLICT, str(exc))
        resp.success, resp.mission = True, convert.mission_to_msg(mission)
        self._want_assignment()
        return resp, Changes.of(res)

    def get_mission(self, req: GetMission.Request, resp: GetMission.Response) -> Answer:
        try:
            mission = self._d.board.get(req.mission_id)
        except NotFound as exc:
            stored = self._d.store.get_mission(req.mission_id)
            if stored is None:
                return fail(resp, GetMission.Response.NOT_FOUND, str(exc.args[0]))
            mission = stored
        resp.mission = convert.mission_to_msg(mission)
        resp.events = [convert.event_to_msg(e) for e in
                       self._d.store.events_after(0, 10000, mission_id=mission.id)]
        resp.success = True
        return resp, None

    def list_missions(self, req: ListMissions.Request, resp: ListMissions.Response) -> Answer:
        missions, total = self._d.store.list_missions(
            req.state, req.robot_id, convert.from_time_msg(req.since),
            convert.from_time_msg(req.until), int(req.offset), int(req.limit or 100))
        # The board's live copy where it has one: what the robot reports (paused, progress)
        # is not written to the store on every status.
        resp.missions = [convert.mission_to_msg(self._live(m)) for m in missions]
        resp.total, resp.success = total, True
        return resp, None

    def _live(self, mission: Mission) -> Mission:
        try:
            return self._d.board.get(mission.id)
        except NotFound:
            return mission

    def set_service(self, req: SetRobotService.Request,
                    resp: SetRobotService.Response) -> Answer:
        now = self._now()
        try:
            events = self._d.registry.set_in_service(req.robot_id, req.in_service, req.reason,
                                                     req.who)
        except NotFound as exc:
            return fail(resp, SetRobotService.Response.NOT_FOUND, str(exc.args[0]))
        board = self._d.board
        res = board.set_in_service(req.robot_id, req.in_service, req.reassign_active, now)
        res.extend(board.assign(self._assignable(), now))
        changes = Changes.of(res)
        changes.events[:0] = events
        changes.robots.add(req.robot_id)
        resp.success = True
        resp.robot = convert.robot_to_msg(self._d.registry.get(req.robot_id))
        return resp, changes

    def telemetry(self, req: GetTelemetry.Request, resp: GetTelemetry.Response) -> Answer:
        if req.robot_id not in self._d.registry:
            return fail(resp, GetTelemetry.Response.NOT_FOUND,
                        f'unknown robot {req.robot_id!r}')
        now = self._now()
        until = convert.from_time_msg(req.until) or now
        since = convert.from_time_msg(req.since) or (now - self._d.params.telemetry_retention)
        if until < since:
            return fail(resp, GetTelemetry.Response.INVALID, 'until must not be before since')
        rows = self._d.store.telemetry(req.robot_id, since, until, float(req.step))
        resp.samples = [TelemetrySample(
            stamp=convert.to_time_msg(r['time']),
            battery=float('nan') if r['battery'] is None else float(r['battery']),
            x=r['x'], y=r['y'], theta=r['theta'], mode=int(r['mode']),
            diagnostics_level=int(r['diagnostics_level']),
            connectivity=r['connectivity']) for r in rows]
        resp.success = True
        return resp, None

    def robot_command(self, req: SendRobotCommand.Request,
                      resp: SendRobotCommand.Response) -> Answer:
        R = SendRobotCommand.Response
        try:
            rec = self._d.registry.get(req.robot_id)
        except NotFound as exc:
            return fail(resp, R.NOT_FOUND, str(exc.args[0]), 'robot_id')
        if req.command not in OPERATOR_COMMANDS:
            return fail(resp, R.INVALID, f'unknown command {req.command!r} (one of: '
                        f'{", ".join(OPERATOR_COMMANDS)})', 'command')
        try:
            args = json.loads(req.args_json) if req.args_json else {}
        except ValueError as exc:
            return fail(resp, R.INVALID, f'args is not JSON: {exc}', 'args')
        if not isinstance(args, dict):
            return fail(resp, R.INVALID, 'args must be a JSON object', 'args')
        if rec.connectivity != Connectivity.ONLINE:
            return fail(resp, R.CONFLICT, f'robot {rec.robot_id} is {rec.connectivity.value}: '
                        'the command would not reach it', 'robot_id')
        mine = self._d.board.mission_of(rec.robot_id)
        if req.command == 'return_to_dock':
            error = self._dock_args(rec, args)
            if error:
                return fail(resp, R.INVALID, error, 'args')
        if req.command == 'cancel_mission' and 'mission_id' not in args and mine is not None:
            args['mission_id'] = mine.id
        who = req.who or 'unknown'
        changes = Changes(commands=[RobotCommandRequest(
            rec.robot_id, req.command, args, who, req.reason,
            str(args.get('mission_id') or (mine.id if mine else '')))])
        resp.success = True
        return resp, changes

    def _dock_args(self, rec: RobotRecord, args: dict[str, Any]) -> str:
        """Fill in the dock's pose (the robot's own dock unless ``dock`` names another)."""
        name = args.get('dock', rec.dock)
        if 'x' in args or 'y' in args:
            try:
                values = [float(args['x']), float(args['y']), float(args.get('theta', 0.0))]
            except (KeyError, TypeError, ValueError):
                return 'return_to_dock needs numeric x and y (or a dock name)'
            if not all(math.isfinite(v) for v in values):
                return 'return_to_dock: x, y and theta must be finite'
            return ''
        dock = self._d.fleet.docks.get(str(name)) if name else None
        if dock is None:
            return f'unknown dock {name!r}' if name else f'robot {rec.robot_id} has no dock'
        args.update({'dock': str(name), 'x': dock.x, 'y': dock.y, 'theta': dock.theta})
        return ''


def _command_id(resp: Any, stored: list[Event]) -> None:
    """Answer the id the command was logged and sent with."""
    for e in stored:
        if e.kind == 'robot.command':
            resp.command_id = int(e.payload['command_id'])
            return


def _event_id(resp: Any, stored: list[Event]) -> None:
    """Answer the id the bridge's event was logged with."""
    if stored:
        resp.event_id = stored[0].id
