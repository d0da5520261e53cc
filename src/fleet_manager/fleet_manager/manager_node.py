"""The fleet manager: a lifecycle node that adapts ROS to the manager's domain core.

configure  reads parameters and the fleet definition (refusing bad ones with a message that
           names the file and key), opens the store, restores the registry and the missions,
           and creates publishers, subscriptions, services and timers;
activate   starts publishing and processing; deactivate stops both (services answer
           NOT_ACTIVE); cleanup and shutdown destroy everything and close the store.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import sqlite3
import threading
from typing import Any, Callable

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from action_msgs.msg import GoalStatus
from fleet_msgs.action import ExecuteMission
from fleet_msgs.msg import FleetEvent, FleetRobots, FleetSummary, Mission as MissionMsg
from fleet_msgs.msg import RobotEvent, RobotStatus, TelemetrySample
from fleet_msgs.srv import CancelMission, GetEvents, GetMission, ListMissions, ListRobots
from fleet_msgs.srv import GetTelemetry, RobotCommand, SetRobotService, SubmitMission
from rclpy.action import ActionClient
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from fleet_common.paths import config_file
from fleet_manager import convert, params as manager_params
from fleet_manager.core.assignment import make_policy
from fleet_manager.core.config import FleetConfig, load_fleet_config
from fleet_manager.core.errors import ConfigError, Conflict, NotFound, ValidationError
from fleet_manager.core.missions import CancelOnRobot, Dispatch, MissionBoard, MissionSettings
from fleet_manager.core.missions import Outcome, Pruned, Result, SendToDock
from fleet_manager.core.model import Connectivity, NewEvent
from fleet_manager.core.registry import CONNECTIVITY_EVENT, REGISTERED_EVENT, Registry
from fleet_manager.core.registry import RegistrySettings
from fleet_manager.incidents_feature import IncidentsFeature
from fleet_manager.observability import ObservabilityFeature
from fleet_manager.store import FleetStore

EVENTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
ROBOT_EVENTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                              reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
ROBOTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
SERVICE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                         reliability=ReliabilityPolicy.RELIABLE)
"""Deep enough that a burst of concurrent bridge requests is queued, not dropped."""
ROBOT_EVENT_KIND = 'robot.event'
OPERATOR_COMMANDS = ('pause', 'resume', 'return_to_dock')
ROBOT_STATE_KINDS = ('robot.connectivity', 'robot.service', 'robot.registered')


def companion_file(config_dir: str, name: str) -> str:
    """Return ``name`` beside the fleet definition if it exists, else the installed one
    (``config/<name>``), else ''."""
    candidates = [os.path.join(config_dir, name),
                  os.path.join(os.path.dirname(default_fleet_config()), name)]
    return next((c for c in candidates if os.path.exists(c)), '')


def default_fleet_config() -> str:
    """Return the shipped config/fleet.yaml (fleet_bringup's, or the source tree's)."""
    return config_file('fleet.yaml')


class FleetManager(LifecycleNode):
    """Registry, missions and event log of one site; the single writer of the fleet store."""

    def __init__(self, node_name: str = 'fleet_manager', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        manager_params.declare(self)
        self._lock = threading.RLock()
        self._active = False
        self.params: manager_params.ManagerParams | None = None
        self.fleet: FleetConfig | None = None
        self.store: FleetStore | None = None
        self.registry: Registry | None = None
        self.board: MissionBoard | None = None
        self._summary_pub: Any = None
        self._robots_pub: Any = None
        self._events_pub: Any = None
        self._missions_pub: Any = None
        self._subs: list[Any] = []
        self._srvs: list[Any] = []
        self._tmrs: list[Any] = []
        self._actions: dict[str, ActionClient] = {}
        self._commands: dict[str, Any] = {}
        self._goals: dict[tuple[str, int], Any] = {}
        self._dirty_robots: set[str] = set()
        self.features: list[Any] = []
        self._robots_changed = False
        self._telemetry: list[dict[str, Any]] = []
        self._telemetry_last: dict[str, float] = {}
        self._pruned_at = 0.0
        self._want_assign = False
        self.configure_error = ''
        """Why the last configure failed (empty after a successful one)."""

    def _refuse(self, message: str) -> TransitionCallbackReturn:
        self.configure_error = message
        self.get_logger().error(f'refusing to configure: {message}')
        return TransitionCallbackReturn.FAILURE

    # -- lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            p = manager_params.read(self)
            path = p.fleet_config or default_fleet_config()
            fleet = load_fleet_config(path)
            policy = make_policy(p.assignment_policy)
        except ConfigError as exc:
            return self._refuse(str(exc))
        except KeyError as exc:
            return self._refuse(f'parameter assignment_policy: {exc.args[0]}')
        if p.offline_after_periods <= p.stale_after_periods:
            return self._refuse('parameter offline_after_periods must be greater than '
                                'stale_after_periods')
        try:
            store = FleetStore(p.database)
        except (sqlite3.Error, OSError) as exc:
            return self._refuse(f'parameter database: cannot open {p.database}: {exc}')
        self.configure_error = ''
        now = self._now()
        self.params, self.fleet, self.store = p, fleet, store
        self.registry = Registry(fleet, RegistrySettings(
            p.report_period, p.stale_after_periods, p.offline_after_periods,
            p.accept_unknown_robots))
        self.registry.restore(store.load_robots(), now, p.restore_grace)
        self.board = MissionBoard(fleet, MissionSettings(
            max_attempts=p.max_attempts, offline_grace=p.offline_grace,
            battery_floor=p.battery_floor), policy)
        # Unfinished missions come back into memory; finished ones stay in the store.
        self.board.restore(store.load_missions(active_only=True), now, p.restore_grace)
        self.board.restore_keys(store.idempotency_keys())
        self._create_interfaces(p)
        config_dir = os.path.dirname(os.path.abspath(path))
        error = self._configure_features(p, config_dir, now)
        if error:
            self._teardown()
            return self._refuse(error)
        self._log_configuration(p, path, config_dir, now)
        self.get_logger().info(
            f'configured: fleet {fleet.source} ({len(fleet.robots)} robots listed), '
            f'store {p.database} ({len(self.registry.records())} robots, '
            f'{len(self.board.missions())} missions, last event {store.last_event_id()})')
        return TransitionCallbackReturn.SUCCESS

    def _create_interfaces(self, p: manager_params.ManagerParams) -> None:
        self._summary_pub = self.create_lifecycle_publisher(FleetSummary, 'fleet/summary', 10)
        self._events_pub = self.create_lifecycle_publisher(FleetEvent, 'fleet/events', EVENTS_QOS)
        self._missions_pub = self.create_lifecycle_publisher(MissionMsg, 'fleet/missions', 100)
        self._robots_pub = self.create_lifecycle_publisher(FleetRobots, 'fleet/robots',
                                                           ROBOTS_QOS)
        self._subs = [
            self.create_subscription(RobotStatus, p.status_topic, self._on_status, 100),
            self.create_subscription(RobotEvent, p.robot_events_topic, self._on_robot_event,
                                     ROBOT_EVENTS_QOS),
        ]
        self._srvs = [
            self.create_service(ListRobots, 'fleet/list_robots', self._srv_list_robots,
                                qos_profile=SERVICE_QOS),
            self.create_service(GetEvents, 'fleet/get_events', self._srv_get_events,
                                qos_profile=SERVICE_QOS),
            self.create_service(SubmitMission, 'fleet/submit_mission', self._srv_submit,
                                qos_profile=SERVICE_QOS),
            self.create_service(CancelMission, 'fleet/cancel_mission', self._srv_cancel,
                                qos_profile=SERVICE_QOS),
            self.create_service(GetMission, 'fleet/get_mission', self._srv_get_mission,
                                qos_profile=SERVICE_QOS),
            self.create_service(ListMissions, 'fleet/list_missions', self._srv_list_missions,
                                qos_profile=SERVICE_QOS),
            self.create_service(SetRobotService, 'fleet/set_robot_service',
                                self._srv_set_service, qos_profile=SERVICE_QOS),
            self.create_service(GetTelemetry, 'fleet/get_telemetry', self._srv_telemetry,
                                qos_profile=SERVICE_QOS),
        ]
        self._tmrs = [
            self.create_timer(p.tick_period, self._on_tick),
            self.create_timer(p.summary_period, self._publish_summary),
            self.create_timer(p.robot_flush_period, self._flush_robots),
        ]

    def _configure_features(self, p: manager_params.ManagerParams, config_dir: str,
                            now: float) -> str:
        slo_path = p.slo_config or companion_file(config_dir, 'slos.yaml')
        workflows = p.workflows_config or companion_file(config_dir, 'workflows.yaml')
        if not workflows:
            return 'parameter workflows_config: no workflows.yaml found'
        bags = p.bag_directory or os.path.join(
            os.path.dirname(os.path.abspath(p.database)), 'bags')
        self.features = [
            ObservabilityFeature(slo_path),
            IncidentsFeature(workflows, companion_file(config_dir, 'runbooks'), bags,
                             p.bag_seconds),
        ]
        for feature in self.features:
            error = feature.configure(self)
            if error:
                return error
        history = self.store.events_since(now - 7 * 86400.0)  # type: ignore[union-attr]
        for feature in self.features:
            feature.replay(history, now)
        return ''

    def _log_configuration(self, p: manager_params.ManagerParams, fleet_path: str,
                           config_dir: str, now: float) -> None:
        """Log the configuration files' digests; name the ones changed since last time."""
        assert self.store is not None
        files = {'fleet': fleet_path,
                 'slos': p.slo_config or os.path.join(config_dir, 'slos.yaml'),
                 'workflows': p.workflows_config or os.path.join(config_dir, 'workflows.yaml')}
        digests = {}
        for name, file in files.items():
            try:
                with open(file, 'rb') as fh:
                    digests[name] = hashlib.sha256(fh.read()).hexdigest()[:16]
            except OSError:
                digests[name] = ''
        last = self.store.events_since(0.0, kinds=['manager.configured'])
        previous = last[-1].payload.get('digests', {}) if last else {}
        changed = sorted(k for k, v in digests.items() if previous and previous.get(k) != v)
        self.store.append([NewEvent('manager.configured', '', {
            'files': files, 'digests': digests, 'changed': changed})], now)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self._active = True
            self._want_assign = True
        self.get_logger().info('active')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self._active = False
        self.get_logger().info('inactive: not publishing or processing')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Release everything (flushing the registry and closing the store); idempotent."""
        self._teardown()

    def _teardown(self) -> None:
        with self._lock:
            self._active = False
            if self.store is not None and not self.store.closed:
                self._flush_robots(force=True)
            for feature in self.features:
                feature.teardown()
            self.features = []
            for t in self._tmrs:
                self.destroy_timer(t)
            for s in self._subs:
                self.destroy_subscription(s)
            for s in self._srvs:
                self.destroy_service(s)
            for c in self._actions.values():
                c.destroy()
            for c in self._commands.values():
                self.destroy_client(c)
            for pub in (self._summary_pub, self._events_pub, self._missions_pub,
                        self._robots_pub):
                if pub is not None:
                    self.destroy_lifecycle_publisher(pub)
            self._tmrs, self._subs, self._srvs = [], [], []
            self._actions, self._commands, self._goals = {}, {}, {}
            self._summary_pub = self._events_pub = self._missions_pub = None
            self._robots_pub = None
            if self.store is not None:
                self.store.close()
            self.store = self.registry = self.board = None

    # -- helpers -----------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def now(self) -> float:
        """The node clock in epoch seconds (ROS time)."""
        return self._now()

    @property
    def lock(self) -> threading.RLock:
        """The lock that serialises every state change (features take it in callbacks)."""
        return self._lock

    def open_incidents(self) -> list[dict[str, Any]]:
        """Open incidents (id, type, severity, pose) for the markers."""
        for feature in self.features:
            if feature.name == 'incidents':
                return feature.open_incidents()
        return []

    def commit(self, result: Result) -> None:
        """Persist, publish and carry out a feature's result (call with the lock held)."""
        self._commit(result)

    @property
    def active(self) -> bool:
        """True between activate and deactivate."""
        return self._active

    def _commit(self, result: Result | None = None, events: list[NewEvent] | None = None,
                robots: tuple[str, ...] = ()) -> None:
        """Persist and publish what a domain call returned, then carry out its commands."""
        assert self.store is not None and self.board is not None and self.registry is not None
        all_events = list(events or []) + (result.events if result else [])
        missions = self.board.take_dirty()
        recs = [self.registry.get(r) for r in robots if r in self.registry]
        for r in robots:
            self._dirty_robots.discard(r)
        now = self._now()
        stored = self.store.append(all_events, now, recs, missions)
        for e in stored:
            self._events_pub.publish(convert.event_to_msg(e))
        for m in missions:
            self._missions_pub.publish(convert.mission_to_msg(m))
        if any(e.kind in ROBOT_STATE_KINDS for e in stored):
            self._robots_changed = True  # published once per tick, not once per change
        for cmd in (result.commands if result else []):
            self._execute(cmd)
        if stored:
            for feature in self.features:
                follow = feature.on_events(stored, now)
                if follow is not None and (follow.events or follow.commands):
                    self._commit(follow)

    def _flush_robots(self, force: bool = False) -> None:
        with self._lock:
            if (not self._active and not force) or self.store is None or self.registry is None:
                return
            if self._dirty_robots:
                recs = [self.registry.get(r) for r in sorted(self._dirty_robots)]
                self._dirty_robots.clear()
                self.store.append([], self._now(), recs)
            if self._telemetry:
                self.store.add_telemetry(self._telemetry)
                self._telemetry = []
            now = self._now()
            if self.params is not None and now - self._pruned_at > 60.0:
                self._pruned_at = now
                self.store.prune_telemetry(now - self.params.telemetry_retention)
                if self.board is not None:
                    self.board.prune(now, self.params.mission_memory)

    # -- robots ------------------------------------------------------------------------------
    def _on_status(self, msg: RobotStatus) -> None:
        with self._lock:
            if not self._active:
                return
            assert self.registry is not None and self.board is not None
            now = self._now()
            result = self.registry.ingest(convert.status_from_msg(msg), now)
            if not result.accepted:
                rej = result.rejection
                self.get_logger().warning(
                    f'dropped status from {msg.robot_id!r}: {rej.value if rej else "?"} '
                    f'(rejected so far: {self.registry.rejections})',
                    throttle_duration_sec=5.0)
                return
            rec = result.record
            assert rec is not None
            self._dirty_robots.add(rec.robot_id)
            self._sample_telemetry(rec, now)
            res = self.board.on_robot_status(rec, now)
            for feature in self.features:
                more = feature.on_status(rec, now)
                if more is not None:
                    res.extend(more)
            if result.events or res.events:
                self._commit(res, result.events, (rec.robot_id,))
            else:
                for cmd in res.commands:
                    self._execute(cmd)
            if not rec.current_mission_id and self.board.mission_of(rec.robot_id) is None:
                self._want_assign = True

    def _sample_telemetry(self, rec: Any, now: float) -> None:
        assert self.params is not None
        # One sample per telemetry period bucket: a status arriving a little early still
        # starts the next bucket, so jitter does not halve the sampling rate.
        last = self._telemetry_last.get(rec.robot_id)
        period = self.params.telemetry_period
        if last is not None and int(now / period) == int(last / period):
            return
        self._telemetry_last[rec.robot_id] = now
        self._telemetry.append({
            'robot_id': rec.robot_id, 'time': now,
            'battery': rec.battery if rec.battery is not None else float('nan'),
            'x': rec.pose.x, 'y': rec.pose.y, 'theta': rec.pose.theta, 'mode': int(rec.mode),
            'diagnostics_level': rec.diagnostics_level,
            'connectivity': rec.connectivity.value})

    def _on_robot_event(self, msg: RobotEvent) -> None:
        with self._lock:
            if not self._active:
                return
            assert self.registry is not None and self.board is not None
            known = msg.robot_id in self.registry
            if not self.registry.accept_event(msg.robot_id, int(msg.seq)):
                return
            registered = [] if known else [NewEvent(REGISTERED_EVENT, msg.robot_id, {
                'capabilities': list(self.registry.get(msg.robot_id).capabilities)})]
            rep = convert.event_report_from_msg(msg)
            now = self._now()
            rec = self.registry.get(rep.robot_id)
            mine = self.board.mission_of(rep.robot_id)
            if mine is not None and (rep.type == 'safety_stop' or (
                    rep.type == 'command' and rep.data.get('command') in OPERATOR_COMMANDS)):
                mine.interventions += 1
            assert self.fleet is not None
            event = NewEvent(ROBOT_EVENT_KIND, rep.robot_id, {
                'type': rep.type, 'severity': rep.severity, 'message': rep.message,
                'data': rep.data, 'seq': rep.seq, 'stamp': rep.stamp,
                'pose': {'x': rec.pose.x, 'y': rec.pose.y, 'theta': rec.pose.theta},
                'area': self.fleet.area_at(rec.pose.x, rec.pose.y),
                'mission_id': rep.data.get('mission_id') or (mine.id if mine else None)},
                mission_id=str(rep.data.get('mission_id') or (mine.id if mine else '')))
            res = Result()
            if rep.type == 'mission.finished':
                res = self._finish(rep.data, rep.robot_id, now)
            self._commit(res, registered + [event], (rep.robot_id,))

    def _finish(self, data: dict[str, Any], robot_id: str, now: float) -> Result:
        assert self.board is not None
        try:
            outcome = Outcome(data.get('outcome', 'failed'))
        except ValueError:
            outcome = Outcome.FAILED
        detail = {k: data[k] for k in ('error_code', 'nav_error_code', 'nav_error_msg')
                  if k in data}
        if self.registry is not None and robot_id in self.registry:
            detail['software_version'] = self.registry.get(robot_id).software_version
        res = self.board.on_result(str(data.get('mission_id', '')), int(data.get('attempt', 0)),
                                   robot_id, outcome, str(data.get('reason', '')), now, detail)
        if res.events:
            self._want_assign = True
        return res

    def _on_tick(self) -> None:
        with self._lock:
            if not self._active:
                return
            assert self.registry is not None and self.board is not None
            now = self._now()
            events = self.registry.tick(now)
            for e in events:
                if e.kind == CONNECTIVITY_EVENT:
                    self.board.on_connectivity(e.robot_id, Connectivity(e.payload['to']), now)
            res = self.board.tick(now)
            for feature in self.features:
                more = feature.tick(now)
                if more is not None:
                    res.extend(more)
            if self._want_assign or res.events or events:
                self._want_assign = False
                res.extend(self.board.assign(self._assignable(), now))
            if events or res.events or res.commands:
                self._commit(res, events, tuple(e.robot_id for e in events))
            if self._robots_changed:
                self._robots_changed = False
                self._publish_robots()

    def _assignable(self) -> list[Any]:
        """Registry records, leaving out robots whose agent's action server is not reachable
        (checked only when a mission waits: docking needs no action server)."""
        assert self.registry is not None and self.board is not None
        if not self.board.has_queued():
            return self.registry.records()
        out = []
        for rec in self.registry.records():
            client = self._action(rec.robot_id)
            if not client.server_is_ready():
                continue
            out.append(rec)
        return out

    def _publish_robots(self) -> None:
        """Publish the whole registry on fleet/robots (the bridge serves it from memory)."""
        assert self.registry is not None
        self._robots_pub.publish(FleetRobots(
            stamp=convert.to_time_msg(self._now()),
            robots=[convert.robot_to_msg(r) for r in self.registry.records()]))

    def _publish_summary(self) -> None:
        with self._lock:
            if not self._active or self.registry is None or self.board is None:
                return
            self._publish_robots()
            c = self.registry.counts()
            m = self.board.counts()
            rej = self.registry.rejections
            dup = sum(v for k, v in rej.items() if k.value == 'duplicate')
            self._summary_pub.publish(FleetSummary(
                stamp=convert.to_time_msg(self._now()), robots_total=c['total'],
                online=c['online'], stale=c['stale'], offline=c['offline'],
                decommissioned=c['decommissioned'], missions_queued=m['queued'],
                missions_active=m['assigned'] + m['active'],
                last_event_id=self.store.last_event_id() if self.store else 0,
                statuses_rejected=sum(rej.values()) - dup, statuses_duplicate=dup))

    # -- commands to robots ------------------------------------------------------------------
    def _action(self, robot_id: str) -> ActionClient:
        client = self._actions.get(robot_id)
        if client is None:
            client = ActionClient(self, ExecuteMission, f'/{robot_id}/execute_mission')
            self._actions[robot_id] = client
        return client

    def _command_client(self, robot_id: str) -> Any:
        client = self._commands.get(robot_id)
        if client is None:
            client = self.create_client(RobotCommand, f'/{robot_id}/robot_command')
            self._commands[robot_id] = client
        return client

    def _execute(self, cmd: Any) -> None:
        if isinstance(cmd, Dispatch):
            self._dispatch(cmd)
        elif isinstance(cmd, CancelOnRobot):
            mine = self.board.mission_of(cmd.robot_id) if self.board else None
            self.get_logger().info(
                f'{cmd.robot_id}: cancelling mission {cmd.mission_id} ({cmd.reason}); '
                f'board: {mine.id + " " + mine.state.value if mine else "no mission"}')
            self.send_command(cmd.robot_id, 'cancel_mission',
                              {'mission_id': cmd.mission_id, 'reason': cmd.reason})
        elif isinstance(cmd, SendToDock):
            assert self.fleet is not None
            dock = self.fleet.docks.get(cmd.dock)
            if dock is not None:
                self.send_command(cmd.robot_id, 'return_to_dock',
                                  {'dock': cmd.dock, 'x': dock.x, 'y': dock.y,
                                   'theta': dock.theta})

    def send_command(self, robot_id: str, command: str, args: dict[str, Any],
                     done: Callable[[bool, str], None] | None = None) -> None:
        """Call the agent's robot_command service without blocking; ``done`` gets the answer."""
        client = self._command_client(robot_id)
        req = RobotCommand.Request(robot_id=robot_id, command=command,
                                   args_json=json.dumps(args))
        future = client.call_async(req)

        def _answer(fut: Any) -> None:
            resp = fut.result()
            ok = bool(resp and resp.success)
            msg = resp.error_msg if resp else 'no answer'
            if not ok:
                self.get_logger().warning(f'{robot_id}: command {command} refused: {msg}')
            if done is not None:
                done(ok, msg)
        future.add_done_callback(_answer)

    def _dispatch(self, d: Dispatch) -> None:
        goal = ExecuteMission.Goal(mission_id=d.mission.id, attempt=d.attempt,
                                   waypoints=[convert.waypoint_to_msg(w)
                                              for w in d.mission.waypoints])
        client = self._action(d.robot_id)
        mission_id, attempt, robot_id = d.mission.id, d.attempt, d.robot_id

        def on_feedback(fb: Any) -> None:
            with self._lock:
                if self.board is not None:
                    f = fb.feedback
                    self.board.on_feedback(mission_id, attempt, robot_id, float(f.progress),
                                           float(f.distance_remaining),
                                           int(f.number_of_recoveries))

        future = client.send_goal_async(goal, feedback_callback=on_feedback)
        future.add_done_callback(lambda fut: self._on_goal_response(fut, mission_id, attempt,
                                                                    robot_id))

    def _on_goal_response(self, future: Any, mission_id: str, attempt: int,
                          robot_id: str) -> None:
        handle = future.result()
        with self._lock:
            if self.board is None or not self._active:
                return
            now = self._now()
            if handle is None or not handle.accepted:
                res = self.board.on_result(mission_id, attempt, robot_id, Outcome.FAILED,
                                           'the robot refused the mission', now)
                self._want_assign = True
                self._commit(res)
                return
            self._goals[(mission_id, attempt)] = handle
            self._commit(self.board.on_started(mission_id, attempt, robot_id, now))
        handle.get_result_async().add_done_callback(
            lambda fut: self._on_goal_result(fut, mission_id, attempt, robot_id))

    def _on_goal_result(self, future: Any, mission_id: str, attempt: int,
                        robot_id: str) -> None:
        wrapped = future.result()
        with self._lock:
            self._goals.pop((mission_id, attempt), None)
            if self.board is None or not self._active or wrapped is None:
                return
            r = wrapped.result
            if wrapped.status == GoalStatus.STATUS_SUCCEEDED and r.error_code == 0:
                outcome = Outcome.SUCCEEDED
            elif wrapped.status == GoalStatus.STATUS_CANCELED or \
                    r.error_code == ExecuteMission.Result.CANCELED:
                outcome = Outcome.CANCELED
            else:
                outcome = Outcome.FAILED
            data = {'mission_id': mission_id, 'attempt': attempt, 'outcome': outcome.value,
                    'reason': r.error_msg, 'error_code': int(r.error_code),
                    'nav_error_code': int(r.nav_error_code), 'nav_error_msg': r.nav_error_msg}
            self._commit(self._finish(data, robot_id, self._now()))

    # -- services ----------------------------------------------------------------------------
    def _not_active(self, response: Any) -> Any:
        response.success = False
        response.error_code = 2
        response.error_msg = 'the fleet manager is not active'
        return response

    def _srv_list_robots(self, req: ListRobots.Request,
                         resp: ListRobots.Response) -> ListRobots.Response:
        with self._lock:
            if not self._active or self.registry is None:
                return self._not_active(resp)
            if req.robot_id:
                try:
                    recs = [self.registry.get(req.robot_id)]
                except NotFound as exc:
                    resp.success, resp.error_code = False, ListRobots.Response.NOT_FOUND
                    resp.error_msg = str(exc.args[0])
                    return resp
            else:
                recs = self.registry.records()
            resp.robots = [convert.robot_to_msg(r) for r in recs]
            resp.success = True
            return resp

    def _srv_get_events(self, req: GetEvents.Request,
                        resp: GetEvents.Response) -> GetEvents.Response:
        with self._lock:
            if not self._active or self.store is None or self.params is None:
                return self._not_active(resp)
            limit = min(req.limit or 100, self.params.events_page_limit)
            events = self.store.events_after(int(req.after_id), limit, list(req.kinds),
                                             req.robot_id)
            resp.events = [convert.event_to_msg(e) for e in events]
            resp.last_id = self.store.last_event_id()
            resp.success = True
            return resp

    def _srv_submit(self, req: SubmitMission.Request,
                    resp: SubmitMission.Response) -> SubmitMission.Response:
        with self._lock:
            if not self._active or self.board is None or self.registry is None:
                return self._not_active(resp)
            now = self._now()
            try:
                request = convert.request_from_msg(req.mission)
                mission, duplicate, res = self.board.submit(
                    request, [r.robot_id for r in self.registry.records()], now)
            except ValidationError as exc:
                resp.success, resp.error_code = False, SubmitMission.Response.INVALID
                resp.error_msg, resp.error_field = exc.reason, exc.field
                return resp
            except Conflict as exc:
                resp.success, resp.error_code = False, SubmitMission.Response.CONFLICT
                resp.error_msg, resp.error_field = str(exc), 'idempotency_key'
                return resp
            except Pruned as exc:
                original = self.store.get_mission(exc.mission_id)
                assert original is not None  # pruned missions are always persisted
                resp.success, resp.duplicate = True, True
                resp.mission = convert.mission_to_msg(original)
                return resp
            if not duplicate:
                res.extend(self.board.assign(self._assignable(), now))
                self._commit(res)
            resp.success, resp.duplicate = True, duplicate
            resp.mission = convert.mission_to_msg(mission)
            return resp

    def _srv_cancel(self, req: CancelMission.Request,
                    resp: CancelMission.Response) -> CancelMission.Response:
        with self._lock:
            if not self._active or self.board is None:
                return self._not_active(resp)
            try:
                mission, res = self.board.cancel(req.mission_id, req.reason, self._now())
            except NotFound as exc:
                stored = self.store.get_mission(req.mission_id) if self.store else None
                if stored is not None:  # finished long ago and pruned from memory
                    resp.success, resp.error_code = False, CancelMission.Response.CONFLICT
                    resp.error_msg = f'mission {stored.id} already {stored.state.value}'
                    resp.mission = convert.mission_to_msg(stored)
                    return resp
                resp.success, resp.error_code = False, CancelMission.Response.NOT_FOUND
                resp.error_msg = str(exc.args[0])
                return resp
            except Conflict as exc:
                resp.success, resp.error_code = False, CancelMission.Response.CONFLICT
                resp.error_msg = str(exc)
                resp.mission = convert.mission_to_msg(self.board.get(req.mission_id))
                return resp
            self._want_assign = True
            self._commit(res)
            resp.success, resp.mission = True, convert.mission_to_msg(mission)
            return resp

    def _srv_get_mission(self, req: GetMission.Request,
                         resp: GetMission.Response) -> GetMission.Response:
        with self._lock:
            if not self._active or self.board is None or self.store is None:
                return self._not_active(resp)
            try:
                mission = self.board.get(req.mission_id)
            except NotFound as exc:
                stored = self.store.get_mission(req.mission_id)
                if stored is None:
                    resp.success, resp.error_code = False, GetMission.Response.NOT_FOUND
                    resp.error_msg = str(exc.args[0])
                    return resp
                mission = stored
            resp.mission = convert.mission_to_msg(mission)
            resp.events = [convert.event_to_msg(e) for e in
                           self.store.events_after(0, 10000, mission_id=mission.id)]
            resp.success = True
            return resp

    def _srv_list_missions(self, req: ListMissions.Request,
                           resp: ListMissions.Response) -> ListMissions.Response:
        with self._lock:
            if not self._active or self.store is None:
                return self._not_active(resp)
            missions, total = self.store.list_missions(
                req.state, req.robot_id, convert.from_time_msg(req.since),
                convert.from_time_msg(req.until), int(req.offset), int(req.limit or 100))
            resp.missions = [convert.mission_to_msg(m) for m in missions]
            resp.total, resp.success = total, True
            return resp

    def _srv_set_service(self, req: SetRobotService.Request,
                         resp: SetRobotService.Response) -> SetRobotService.Response:
        with self._lock:
            if not self._active or self.registry is None or self.board is None:
                return self._not_active(resp)
            now = self._now()
            try:
                events = self.registry.set_in_service(req.robot_id, req.in_service, req.reason)
            except NotFound as exc:
                resp.success, resp.error_code = False, SetRobotService.Response.NOT_FOUND
                resp.error_msg = str(exc.args[0])
                return resp
            res = self.board.set_in_service(req.robot_id, req.in_service, req.reassign_active,
                                            now)
            res.extend(self.board.assign(self._assignable(), now))
            self._commit(res, events, (req.robot_id,))
            resp.success = True
            resp.robot = convert.robot_to_msg(self.registry.get(req.robot_id))
            return resp

    def _srv_telemetry(self, req: GetTelemetry.Request,
                       resp: GetTelemetry.Response) -> GetTelemetry.Response:
        with self._lock:
            if not self._active or self.store is None or self.registry is None \
                    or self.params is None:
                return self._not_active(resp)
            if req.robot_id not in self.registry:
                resp.success, resp.error_code = False, GetTelemetry.Response.NOT_FOUND
                resp.error_msg = f'unknown robot {req.robot_id!r}'
                return resp
            self._flush_robots(force=True)
            now = self._now()
            until = convert.from_time_msg(req.until) or now
            since = convert.from_time_msg(req.since) or (now - self.params.telemetry_retention)
            if until < since:
                resp.success, resp.error_code = False, GetTelemetry.Response.INVALID
                resp.error_msg = 'until must not be before since'
                return resp
            rows = self.store.telemetry(req.robot_id, since, until, float(req.step))
            resp.samples = [TelemetrySample(
                stamp=convert.to_time_msg(r['time']),
                battery=float('nan') if r['battery'] is None else float(r['battery']),
                x=r['x'], y=r['y'], theta=r['theta'], mode=int(r['mode']),
                diagnostics_level=int(r['diagnostics_level']),
                connectivity=r['connectivity']) for r in rows]
            resp.success = True
            return resp


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_manager',
        description='The fleet manager lifecycle node (registry, missions, event log). '
                    'Parameters come from --ros-args; see config/params.yaml.')
    p.add_argument('--no-autostart', action='store_true',
                   help='stay unconfigured and let a lifecycle manager (e.g. ros2 launch) '
                        'drive the transitions; by default the node configures and '
                        'activates itself')
    return p


def main(args: list[str] | None = None) -> None:
    """Run the manager until Ctrl-C or SIGTERM (configured and activated unless told not to)."""
    argv = args if args is not None else sys.argv
    options = build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = FleetManager()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if not options.no_autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal(f'configuration failed: {node.configure_error}')
                raise SystemExit(1)
            node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError as exc:
        if rclpy.ok():  # only a context already shut down by the signal is expected here
            raise
        node.get_logger().debug(f'shutdown: {exc}')
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
