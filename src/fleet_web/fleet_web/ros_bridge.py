"""The bridge's ROS side: an rclpy node whose calls the aiohttp loop awaits.

Threading contract: the rclpy executor spins in its own thread; aiohttp owns the asyncio
loop. A service call is started from the loop (``call_async`` is thread-safe), and its
completion is handed back to the loop with ``loop.call_soon_threadsafe``; every call has a
timeout that becomes :class:`Unavailable` (HTTP 503). Live events reach the loop the same
way and are fanned out to bounded per-consumer queues; a consumer that falls behind is
marked and catches up from the event log instead of growing memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import json
import time
from typing import Any, Protocol

from lifecycle_msgs.msg import State as LifecycleState
from lifecycle_msgs.srv import GetState
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from fleet_common.cdr import CDR_LE
from fleet_msgs.msg import FleetEvent, FleetRobots
from fleet_msgs.srv import (
    CancelMission,
    GetEvents,
    GetIncident,
    GetMission,
    GetReport,
    GetTelemetry,
    IncidentAction,
    JsonCall,
    ListIncidents,
    ListMissions,
    ListRobots,
    LogBridgeEvent,
    SendRobotCommand,
    SetRobotService,
    SubmitMission,
)
from fleet_web import convert
from fleet_web.api_errors import (
    ConflictError,
    NotActive,
    NotFoundError,
    Unavailable,
    Unprocessable,
)
from fleet_web.robots_snapshot import RobotsFeed, RobotsSnapshot

NOT_FOUND, NOT_ACTIVE, INVALID, CONFLICT = 1, 2, 3, 4

LIFECYCLE_LABELS = {
    LifecycleState.PRIMARY_STATE_UNCONFIGURED: 'unconfigured',
    LifecycleState.PRIMARY_STATE_INACTIVE: 'inactive',
    LifecycleState.PRIMARY_STATE_ACTIVE: 'active',
    LifecycleState.PRIMARY_STATE_FINALIZED: 'finalized',
}
"""Lifecycle primary states by id -> the label ``/health`` reports."""


class EventFeed:
    """A consumer's view of live events: a bounded queue plus an overflow flag."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = False


class FleetBackend(Protocol):
    """What the HTTP app needs from the fleet; the ROS node implements it, tests may fake it."""

    async def list_robots(self, robot_id: str = '') -> Sequence[dict[str, Any]]: ...

    async def get_events(self, after: int, limit: int, kinds: list[str],
                         robot_id: str = '') -> tuple[list[dict[str, Any]], int]: ...

    async def submit_mission(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]: ...

    async def cancel_mission(self, mission_id: str, reason: str) -> dict[str, Any]: ...

    async def get_mission(self, mission_id: str
                          ) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...

    async def list_missions(self, state: str, robot_id: str, since: float | None,
                            until: float | None, offset: int,
                            limit: int) -> tuple[list[dict[str, Any]], int]: ...

    async def set_robot_service(self, robot_id: str, in_service: bool, reassign_active: bool,
                                reason: str, who: str = '') -> dict[str, Any]: ...

    async def robot_command(self, robot_id: str, command: str, args: dict[str, Any],
                            who: str, reason: str) -> int: ...

    async def list_incidents(self, state: str, robot_id: str, type_: str,
                             since: float | None, until: float | None, offset: int,
                             limit: int) -> tuple[list[dict[str, Any]], int]: ...

    async def get_incident(self, incident_id: str) -> dict[str, Any]: ...

    async def incident_action(self, action: str, incident_id: str, who: str,
                              note: str) -> dict[str, Any]: ...

    async def get_telemetry(self, robot_id: str, since: float | None, until: float | None,
                            step: float) -> list[dict[str, Any]]: ...

    async def get_report(self, name: str) -> dict[str, Any]: ...

    async def json_call(self, service: str, action: str, body: dict[str, Any],
                        who: str = '', reason: str = '') -> dict[str, Any]: ...

    async def manager_state(self) -> str:
        """Return the manager's lifecycle state: ``active``, ``inactive``, ``unconfigured``,
        ``finalized``, ``transitioning``, or ``unreachable`` when it does not answer."""
        ...

    async def log_bridge_event(self, kind: str, payload: dict[str, Any]) -> int:
        """Log a fact of the bridge's own (a ``webhook.*`` kind) in the manager's event log;
        return its id."""
        ...

    def subscribe(self) -> EventFeed: ...

    def unsubscribe(self, feed: EventFeed) -> None: ...


DISCOVERY_GRACE = 30.0
"""s after the bridge starts during which a call waits for DDS to discover its service."""


class RosFleetBackend(Node):
    """The bridge node: service clients to the manager and the live event subscription."""

    def __init__(self, manager_namespace: str = '', timeout: float = 5.0,
                 robots_max_age: float = 3.0, manager_node: str = 'fleet_manager',
                 **kwargs: Any) -> None:
        super().__init__('fleet_web', **kwargs)
        self.robots_max_age = robots_max_age
        self._robots = RobotsFeed(lambda text: self.get_logger().warning(
            text, throttle_duration_sec=60.0))
        self.declare_parameter('manager_namespace', manager_namespace)
        ns = self.get_parameter('manager_namespace').value.rstrip('/')
        self.timeout = timeout
        self._started = time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._feeds: set[EventFeed] = set()
        prefix = f'{ns}/fleet' if ns else '/fleet'
        deep = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                          reliability=ReliabilityPolicy.RELIABLE)
        services = {
            'list_robots': (ListRobots, 'list_robots'),
            'get_events': (GetEvents, 'get_events'),
            'submit': (SubmitMission, 'submit_mission'),
            'cancel': (CancelMission, 'cancel_mission'),
            'get_mission': (GetMission, 'get_mission'),
            'list_missions': (ListMissions, 'list_missions'),
            'set_service': (SetRobotService, 'set_robot_service'),
            'list_incidents': (ListIncidents, 'list_incidents'),
            'get_incident': (GetIncident, 'get_incident'),
            'ack': (IncidentAction, 'ack_incident'),
            'resolve': (IncidentAction, 'resolve_incident'),
            'telemetry': (GetTelemetry, 'get_telemetry'),
            'report': (GetReport, 'get_report'),
            'command': (SendRobotCommand, 'robot_command'),
            'bridge_event': (LogBridgeEvent, 'log_bridge_event'),
            'desired_state': (JsonCall, 'desired_state'),
            'rollouts': (JsonCall, 'rollouts'),
            'audit': (JsonCall, 'audit'),
            'site': (JsonCall, 'site'),
            'incident_ops': (JsonCall, 'incident_ops'),
        }
        self._srv = {key: self.create_client(srv_type, f'{prefix}/{name}', qos_profile=deep)
                     for key, (srv_type, name) in services.items()}
        self.declare_parameter('manager_node', manager_node)
        node_name = self.get_parameter('manager_node').value
        self._srv['get_state'] = self.create_client(
            GetState, f'{ns}/{node_name}/get_state' if ns else f'/{node_name}/get_state')
        # Serialized (raw): see _on_robots.
        self.create_subscription(FleetRobots, f'{prefix}/robots', self._on_robots, QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL), raw=True)
        self.create_subscription(FleetEvent, f'{prefix}/events', self._on_event, QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1000, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE))

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the aiohttp loop; call from the loop before serving."""
        self.loop = loop

    # -- the registry snapshot -------------------------------------------------------------
    def _on_robots(self, raw: bytes) -> None:
        # The snapshot is taken serialized: rclpy's deserialization of 10,000 robots holds
        # the interpreter for 100-300 ms and stalled every HTTP answer meanwhile. The loop
        # indexes the bytes in slices (RobotsFeed), and a robot is converted when a request
        # reads it (RobotsSnapshot), not 10,000 of them every time the manager publishes.
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        arrived = time.monotonic()
        if raw[:2] == CDR_LE:
            loop.call_soon_threadsafe(self._robots.receive, raw, arrived)
        else:  # another encoding (a big-endian host): rclpy reads it, at rclpy's cost
            msgs = deserialize_message(raw, FleetRobots).robots
            loop.call_soon_threadsafe(self._store_messages, msgs, arrived)

    def _store_messages(self, msgs: list[Any], arrived: float) -> None:
        self._robots.replace(RobotsSnapshot(msgs, convert.robot_json), arrived)

    def _cached_robots(self) -> RobotsSnapshot | None:
        """The manager's last registry snapshot while it is fresh, else None."""
        return self._robots.fresh(self.robots_max_age)

    # -- live events ------------------------------------------------------------------------
    def _on_event(self, msg: FleetEvent) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._fan_out, convert.event_json(msg))

    def _fan_out(self, event: dict[str, Any]) -> None:
        for feed in list(self._feeds):
            try:
                feed.queue.put_nowait(event)
            except asyncio.QueueFull:
                feed.overflowed = True

    def subscribe(self) -> EventFeed:
        feed = EventFeed()
        self._feeds.add(feed)
        return feed

    def unsubscribe(self, feed: EventFeed) -> None:
        self._feeds.discard(feed)

    # -- calls ------------------------------------------------------------------------------
    async def _call(self, client: Any, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        if not client.service_is_ready() and not await self._discovered(client):
            raise Unavailable(f'the fleet manager is not reachable ({client.srv_name})')
        done: asyncio.Future[Any] = loop.create_future()
        ros_future = client.call_async(request)

        def finish(fut: Any) -> None:
            def settle() -> None:
                if done.done():
                    return
                exc = fut.exception()
                if exc is not None:
                    done.set_exception(Unavailable(f'{client.srv_name} failed: {exc}'))
                else:
                    done.set_result(fut.result())
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle)
        ros_future.add_done_callback(finish)
        try:
            resp = await asyncio.wait_for(done, self.timeout)
        except asyncio.TimeoutError:
            client.remove_pending_request(ros_future)
            raise Unavailable(f'the fleet manager did not answer {client.srv_name} '
                              f'within {self.timeout:g} s') from None
        if not getattr(resp, 'success', True):
            code = getattr(resp, 'error_code', 0)
            message = resp.error_msg or 'request failed'
            if code == NOT_FOUND:
                raise NotFoundError(message)
            if code == NOT_ACTIVE:
                raise NotActive(message)
            if code == CONFLICT:
                raise ConflictError(message, getattr(resp, 'error_field', None) or None)
            raise Unprocessable(message, getattr(resp, 'error_field', None) or None)
        return resp

    async def _discovered(self, client: Any) -> bool:
        """Within DISCOVERY_GRACE s of the bridge's start, DDS may not have matched a
        service yet although the manager is up: wait for it, up to the call timeout. Later,
        a service that is not there means the manager is not, and the answer is at once."""
        deadline = min(self._started + DISCOVERY_GRACE, time.monotonic() + self.timeout)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if client.service_is_ready():
                return True
        return False

    async def list_robots(self, robot_id: str = '') -> Sequence[dict[str, Any]]:
        """The registry: from the fresh fleet/robots snapshot when there is one (at most
        ``robots_max_age`` s old), else from the manager's list_robots service."""
        cached = self._cached_robots()
        if cached is not None:
            if not robot_id:
                return cached
            robot = cached.get(robot_id)
            if robot is not None:
                return [robot]
        resp = await self._call(self._srv['list_robots'], ListRobots.Request(robot_id=robot_id))
        return [convert.robot_json(r) for r in resp.robots]

    async def get_events(self, after: int, limit: int, kinds: list[str],
                         robot_id: str = '') -> tuple[list[dict[str, Any]], int]:
        resp = await self._call(self._srv['get_events'], GetEvents.Request(
            after_id=after, limit=limit, kinds=kinds, robot_id=robot_id))
        return [convert.event_json(e) for e in resp.events], int(resp.last_id)

    async def submit_mission(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resp = await self._call(self._srv['submit'],
                                SubmitMission.Request(mission=convert.mission_msg(body)))
        return convert.mission_json(resp.mission), bool(resp.duplicate)

    async def cancel_mission(self, mission_id: str, reason: str) -> dict[str, Any]:
        resp = await self._call(self._srv['cancel'],
                                CancelMission.Request(mission_id=mission_id, reason=reason))
        return convert.mission_json(resp.mission)

    async def get_mission(self, mission_id: str
                          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        resp = await self._call(self._srv['get_mission'],
                                GetMission.Request(mission_id=mission_id))
        return convert.mission_json(resp.mission), [convert.event_json(e) for e in resp.events]

    async def list_missions(self, state: str, robot_id: str, since: float | None,
                            until: float | None, offset: int,
                            limit: int) -> tuple[list[dict[str, Any]], int]:
        resp = await self._call(self._srv['list_missions'], ListMissions.Request(
            state=state, robot_id=robot_id, since=convert.time_msg(since),
            until=convert.time_msg(until), offset=offset, limit=limit))
        return [convert.mission_json(m) for m in resp.missions], int(resp.total)

    async def set_robot_service(self, robot_id: str, in_service: bool, reassign_active: bool,
                                reason: str, who: str = '') -> dict[str, Any]:
        resp = await self._call(self._srv['set_service'], SetRobotService.Request(
            robot_id=robot_id, in_service=in_service, reassign_active=reassign_active,
            reason=reason, who=who))
        return convert.robot_json(resp.robot)

    async def list_incidents(self, state: str, robot_id: str, type_: str,
                             since: float | None, until: float | None, offset: int,
                             limit: int) -> tuple[list[dict[str, Any]], int]:
        resp = await self._call(self._srv['list_incidents'], ListIncidents.Request(
            state=state, robot_id=robot_id, type=type_, since=convert.time_msg(since),
            until=convert.time_msg(until), offset=offset, limit=limit))
        return [convert.incident_json(i) for i in resp.incidents], int(resp.total)

    async def get_incident(self, incident_id: str) -> dict[str, Any]:
        resp = await self._call(self._srv['get_incident'],
                                GetIncident.Request(incident_id=incident_id))
        return convert.incident_json(resp.incident)

    async def incident_action(self, action: str, incident_id: str, who: str,
                              note: str) -> dict[str, Any]:
        resp = await self._call(self._srv[action], IncidentAction.Request(
            incident_id=incident_id, who=who, note=note))
        return convert.incident_json(resp.incident)

    async def get_telemetry(self, robot_id: str, since: float | None, until: float | None,
                            step: float) -> list[dict[str, Any]]:
        resp = await self._call(self._srv['telemetry'], GetTelemetry.Request(
            robot_id=robot_id, since=convert.time_msg(since), until=convert.time_msg(until),
            step=step))
        return [convert.telemetry_json(t) for t in resp.samples]

    async def get_report(self, name: str) -> dict[str, Any]:
        resp = await self._call(self._srv['report'], GetReport.Request(name=name))
        try:
            return json.loads(resp.report_json or '{}')
        except ValueError:
            raise Unavailable(f'the manager sent a malformed {name} report') from None

    async def manager_state(self) -> str:
        """The manager's lifecycle state from its ``get_state`` service (``unreachable`` when
        the service is not there or does not answer in time)."""
        try:
            resp = await self._call(self._srv['get_state'], GetState.Request())
        except Unavailable:
            return 'unreachable'
        return LIFECYCLE_LABELS.get(resp.current_state.id, 'transitioning')

    async def robot_command(self, robot_id: str, command: str, args: dict[str, Any],
                            who: str, reason: str) -> int:
        """Send an operator command through the manager (which validates and logs it);
        return the command id."""
        resp = await self._call(self._srv['command'], SendRobotCommand.Request(
            robot_id=robot_id, command=command, args_json=json.dumps(args), who=who,
            reason=reason))
        return int(resp.command_id)

    async def json_call(self, service: str, action: str, body: dict[str, Any],
                        who: str = '', reason: str = '') -> dict[str, Any]:
        """Call one of the manager's JSON services (``desired_state``, ``rollouts``,
        ``audit``); return its result. Errors map like every call's (404, 409, 422, 503)."""
        resp = await self._call(self._srv[service], JsonCall.Request(
            action=action, body_json=json.dumps(body), who=who, reason=reason))
        try:
            result = json.loads(resp.result_json or '{}')
        except ValueError:
            raise Unavailable(f'the manager sent a malformed {service} answer') from None
        return result if isinstance(result, dict) else {'result': result}

    async def log_bridge_event(self, kind: str, payload: dict[str, Any]) -> int:
        resp = await self._call(self._srv['bridge_event'], LogBridgeEvent.Request(
            kind=kind, payload_json=json.dumps(payload)))
        return int(resp.event_id)
