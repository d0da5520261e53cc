"""The fleet manager: a lifecycle node that adapts ROS to the manager's domain core.

configure  reads parameters and the fleet definition (refusing bad ones with a message that
           names the file and key), opens the store, restores the registry, the missions,
           the incidents and the robots' committed event marks, and creates publishers,
           subscriptions, services and timers;
activate   starts taking robot messages and answering; deactivate stops both (services
           answer NOT_ACTIVE; robot events are not acknowledged, so agents keep them and
           resend them later); cleanup and shutdown destroy everything and close the store.

Inputs reach the domain in batches on the node's timers (see :mod:`fleet_manager.ingest`)
and every change goes through one commit pipeline (:mod:`fleet_manager.pipeline`).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sqlite3
import sys
import time
from typing import Any, Callable

import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from fleet_common.events import ManagerConfigured
from fleet_common.params import help_text
from fleet_common.paths import config_file
from fleet_common.ros import PARAMETER_ERRORS, init, make_executor, spin
from fleet_manager import convert
from fleet_manager import params as manager_params
from fleet_manager.api_thread import ApiThread, DomainLock
from fleet_manager.core.assignment import make_policy
from fleet_manager.core.config import FleetConfig, load_fleet_config
from fleet_manager.core.errors import ConfigError
from fleet_manager.core.ingest_health import IngestHealth
from fleet_manager.core.intake import Intake
from fleet_manager.core.link import LinkBook, LinkSettings, Verdict
from fleet_manager.core.missions import MissionBoard, MissionSettings, plan_round
from fleet_manager.core.model import Connectivity, NewEvent, RobotRecord
from fleet_manager.core.registry import Registry, RegistrySettings
from fleet_manager.core.save_rounds import SaveRounds
from fleet_manager.host import ManagerHost
from fleet_manager.incidents_feature import IncidentsFeature
from fleet_manager.ingest import RobotWire
from fleet_manager.observability import ObservabilityFeature
from fleet_manager.pipeline import Changes, Pipeline, StorageUnavailable
from fleet_manager.retention import StoreRetention
from fleet_manager.rollouts_feature import (
    RolloutSettings,
    RolloutsFeature,
    applied_special_files,
    slo_budgets,
)
from fleet_manager.services import Domain, ManagerServices
from fleet_manager.store import FleetStore
from fleet_msgs.msg import FleetEvent, FleetRobots, FleetSummary
from fleet_msgs.msg import Mission as MissionMsg

EVENTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
ROBOTS_COST_FACTOR = 10.0
"""A fleet/robots snapshot costs in proportion to the fleet (tens of ms at 10,000 robots):
the next one waits this many times as long as one took, so snapshots take at most about a
tenth of the manager's time."""
ROBOTS_MAX_INTERVAL = 2.0
"""s: the longest wait between snapshots (the bridge serves one for up to 3 s)."""
FULL_GC_PERIOD = 600.0
"""s between full passes of the cyclic garbage collector (see pace_full_collections)."""
SWITCH_INTERVAL = 0.0002
"""s: the interpreter's thread switch interval in the manager process (see main)."""
INGEST_SLICE = 250
"""Statuses applied in one hold of the domain lock (10,000 robots: about 10 ms)."""
FLUSH_SLICES = 10
"""A save of the robots' latest statuses is spread over this many slices of its period, so
no one callback holds the domain lock for the whole fleet's rows (10,000 robots: about
0.3 s at once, 30 ms a slice)."""
ROBOTS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


def companion_file(config_dir: str, name: str) -> str:
    """Return ``name`` beside the fleet definition if it exists, else the shipped one,
    else ''."""
    candidates = [os.path.join(config_dir, name), config_file(name)]
    return next((c for c in candidates if os.path.exists(c)), '')


def default_fleet_config() -> str:
    """Return the shipped config/fleet.yaml (fleet_bringup's, or the source tree's)."""
    return config_file('fleet.yaml')


class FleetManager(LifecycleNode):
    """Registry, missions, incidents and event log of one site; the store's single writer."""

    def __init__(self, node_name: str = 'fleet_manager', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        manager_params.declare(self)
        self.params: manager_params.ManagerParams | None = None
        self.fleet: FleetConfig | None = None
        self.store: FleetStore | None = None
        self.domain: Domain | None = None
        self.intake: Intake | None = None
        self.pipeline: Pipeline | None = None
        self.host: ManagerHost | None = None
        self.wire: RobotWire | None = None
        self.features: list[Any] = []
        self.rollouts: RolloutsFeature | None = None
        self._pubs: dict[str, Any] = {}
        self._timers: list[Any] = []
        self._active = False
        self._want_assign = False
        self._robots_changed = False
        self._unsaved = SaveRounds(FLUSH_SLICES)
        self._lock = DomainLock()
        self.api = ApiThread(self, self._lock)
        """The companion node and thread that answer the manager's services."""
        self.answer_while_inactive = True
        """Answer from configure on (False: from the activation; see api_thread)."""
        self._snapshots = RobotsSnapshots()
        self._ingest_health = IngestHealth(1.0)
        self._pruned_at = 0.0
        self._retention: StoreRetention | None = None
        self.configure_error = ''
        """Why the last configure failed (empty after a successful one)."""

    def _refuse(self, message: str) -> TransitionCallbackReturn:
        self.configure_error = message
        self.get_logger().error(f'refusing to configure: {message}')
        return TransitionCallbackReturn.FAILURE

    def now(self) -> float:
        """The node clock in epoch seconds (ROS time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    @property
    def active(self) -> bool:
        """True between activate and deactivate."""
        return self._active

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
        if p.store_sync not in ('full', 'normal'):
            return self._refuse(f'parameter store_sync: must be full or normal, not '
                                f'{p.store_sync!r}')
        try:
            store = FleetStore(p.database, sync=p.store_sync)
        except (sqlite3.Error, OSError) as exc:
            return self._refuse(f'parameter database: cannot open {p.database}: '
                                f'{exc or type(exc).__name__}')
        self.configure_error = ''
        self.params, self.fleet, self.store = p, fleet, store
        try:
            self._build(p, fleet, store, policy)
        except sqlite3.Error as exc:
            self._teardown()
            return self._refuse(f'parameter database: cannot read {p.database}: '
                                f'{exc or type(exc).__name__}')
        config_dir = os.path.dirname(os.path.abspath(path))
        error = self._configure_features(p, config_dir)
        if error:
            self._teardown()
            return self._refuse(error)
        try:
            log_configuration(self.pipeline, store, p, path, config_dir)
        except StorageUnavailable as exc:
            self._teardown()
            return self._refuse(f'parameter database: cannot write {p.database}: {exc}')
        assert self.domain is not None
        if self.answer_while_inactive:
            self.api.start()
        self.get_logger().info(
            f'configured: fleet {fleet.source} ({len(fleet.robots)} robots listed), '
            f'store {p.database} ({len(self.domain.registry.records())} robots, '
            f'{len(self.domain.board.missions())} missions, last event '
            f'{store.last_event_id()})')
        return TransitionCallbackReturn.SUCCESS

    def _build(self, p: manager_params.ManagerParams, fleet: FleetConfig, store: FleetStore,
               policy: Any) -> None:
        """Create the domain from the store and the node's interfaces."""
        now = self.now()
        registry = Registry(fleet, RegistrySettings(
            p.report_period, p.stale_after_periods, p.offline_after_periods,
            p.accept_unknown_robots))
        registry.restore(store.load_robots(), now, p.restore_grace)
        board = MissionBoard(fleet, MissionSettings(
            max_attempts=p.max_attempts, robot_lost_after=p.robot_lost_after,
            battery_floor=p.battery_floor, dispatch_retry=p.dispatch_retry,
            dispatch_timeout=p.dispatch_timeout), policy)
        # Unfinished missions come back into memory; finished ones stay in the store.
        board.restore(store.load_missions(active_only=True), now, p.restore_grace)
        board.restore_keys(store.idempotency_keys())
        link = LinkBook(LinkSettings(p.max_seq_jump, p.max_clock_skew))
        link.restore(store.load_marks())
        self.domain = Domain(p, fleet, store, registry, board, link)
        self._retention = StoreRetention(store, p.event_retention, p.telemetry_retention)
        self.intake = Intake(fleet, registry, link, board, p.telemetry_period)
        self._ingest_health = IngestHealth(p.report_period)
        self.wire = RobotWire(self, p.status_topic, p.robot_events_topic,
                              p.robot_commands_topic, p.robot_acks_topic)
        self.host = ManagerHost(self, self.domain, self.wire)
        self._pubs = {
            'summary': self.create_lifecycle_publisher(FleetSummary, 'fleet/summary', 10),
            'events': self.create_lifecycle_publisher(FleetEvent, 'fleet/events', EVENTS_QOS),
            'missions': self.create_lifecycle_publisher(MissionMsg, 'fleet/missions', 100),
            'robots': self.create_lifecycle_publisher(FleetRobots, 'fleet/robots', ROBOTS_QOS),
        }
        self.host.publishers = self._pubs
        services = ManagerServices(self.domain, self.now, self._assignable,
                                   self._request_assignment)
        for srv_type, name, handler, finish in services.table():
            self.host.create_service(srv_type, name, handler, finish)
        self._timers = [self.create_timer(p.ingest_period, self._on_ingest),
                        self.create_timer(p.tick_period, self._on_tick),
                        self.create_timer(p.summary_period, self._publish_summary),
                        self.create_timer(p.robot_flush_period / FLUSH_SLICES,
                                          self._flush_robots)]

    def _configure_features(self, p: manager_params.ManagerParams, config_dir: str) -> str:
        assert self.host is not None and self.store is not None and self.domain is not None
        data_dir = os.path.dirname(os.path.abspath(p.database))
        # Workflows and SLOs of the applied desired state win over the files.
        applied = applied_special_files(self.store, os.path.join(data_dir, 'desired'))
        slo_path = applied.get('slos.yaml') or p.slo_config \
            or companion_file(config_dir, 'slos.yaml')
        workflows = applied.get('workflows.yaml') or p.workflows_config \
            or companion_file(config_dir, 'workflows.yaml')
        if not workflows:
            return 'parameter workflows_config: no workflows.yaml found'
        bags = p.bag_directory or os.path.join(data_dir, 'bags')
        incidents = IncidentsFeature(workflows, companion_file(config_dir, 'runbooks'), bags,
                                     p.bag_seconds,
                                     companion_file(config_dir, 'incident_ops.yaml'))
        observability = ObservabilityFeature(slo_path, incidents.open_incidents)
        self.rollouts = RolloutsFeature(lambda: slo_budgets(observability.engine),
                                        RolloutSettings(p.rollout_tick_period,
                                                        p.config_resend_after,
                                                        p.reconcile_retry, p.desired_state_dir))
        self.features = [observability, incidents, self.rollouts]
        for feature in self.features:
            error = feature.configure(self.host)
            if error:
                return error
        error = manager_params.check_event_retention(p.event_retention, {
            'the history replayed at configure': manager_params.HISTORY_WINDOW_S,
            **observability.history_windows()})
        if error:
            return error
        now = self.now()
        history = self.store.events_since(now - manager_params.HISTORY_WINDOW_S)
        for feature in self.features:
            feature.replay(history, now)
        self.pipeline = Pipeline(
            self.store, self.domain.board.take_dirty,
            self.domain.registry.find, self.features, self.host, self.host.next_command_id,
            self.now)
        self.host.pipeline = self.pipeline
        return ''

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        self._want_assign = True
        if self.wire is not None:
            self.wire.accepting = True
        self.api.start()  # after a deactivate it keeps answering, with NOT_ACTIVE
        self.get_logger().info('active')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        if self.wire is not None:
            self.wire.accepting = False
            self.wire.clear()
        self.get_logger().info('inactive: not taking robot messages or answering')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    on_shutdown = on_error = on_cleanup  # each releases everything

    def close(self) -> None:
        """Release everything (saving the registry and closing the store); idempotent."""
        self._teardown()

    def destroy_node(self) -> None:
        self._teardown()
        self.api.close()
        super().destroy_node()

    def _teardown(self) -> None:
        self._active = False
        self.api.stop()  # the call being answered finishes first; none starts after
        if self.pipeline is not None and self.store is not None and not self.store.closed:
            self._flush_robots(force=True)
        for feature in self.features:
            feature.teardown()
        self.features = []
        self.rollouts = None
        for t in self._timers:
            self.destroy_timer(t)
        if self.host is not None:
            self.host.destroy_all()
        if self.wire is not None:
            self.wire.destroy()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        if self.store is not None:
            self.store.close()
        self._timers, self._pubs = [], {}
        self.store = self.domain = self.intake = self.pipeline = None
        self.host = self.wire = None

    # -- the batches -------------------------------------------------------------------------
    def _ready(self) -> bool:
        """True when the node may take input: active, configured, storage writable."""
        if not self._active or self.pipeline is None:
            return False
        return self.pipeline.retry()

    def _commit(self, changes: Changes) -> None:
        assert self.pipeline is not None
        try:
            self.pipeline.commit(changes)
        except StorageUnavailable as exc:
            self.get_logger().error(f'cannot write the store (will retry): {exc}',
                                    throttle_duration_sec=10.0)

    def _on_ingest(self) -> None:
        """Apply the statuses and robot events received since the last batch (taken from
        the wire and decoded before the domain lock is taken)."""
        with self._lock:
            if not self._ready():
                return
        assert self.wire is not None and self.params is not None
        now = self.now()
        statuses = self.wire.take_statuses(now, self.params.max_statuses_per_batch)
        events = [convert.event_report_from_msg(m)
                  for m in self.wire.take_events(self.params.max_events_per_batch)]
        # In slices, each holding the domain lock on its own: a service call waits for one
        # slice at most, not for the whole batch.
        for k in range(0, max(len(statuses), 1), INGEST_SLICE):
            with self._lock:
                if k and not self._ready():
                    return  # statuses are snapshots: the next ones replace these
                self._apply_input(statuses[k:k + INGEST_SLICE], [] if k else events, now,
                                  observe=not k)

    def _apply_input(self, statuses: list[tuple[Any, float]], events: list[Any],
                     now: float, observe: bool) -> None:
        assert self.wire is not None and self.intake is not None
        changes = Changes()
        if statuses:
            batch = self.intake.statuses(statuses, now)
            changes.add(batch.result)
            changes.robots |= batch.robots
            changes.telemetry.extend(batch.telemetry)
            self._unsaved.changed(batch.changed)
            by_id = {r.robot_id: r for r, _ in statuses}
            pairs = [(by_id[r.robot_id], r) for r in batch.accepted]
            for feature in self.features:
                changes.add(feature.on_status(pairs, now))
            if any(not r.current_mission_id for r in batch.accepted):
                self._want_assign = True
        if observe:
            changes.events.extend(self._ingest_health.observe(
                self.wire.lag if statuses else 0.0, self.wire.statuses_coalesced, now))
        if events:
            batch_e = self.intake.events(events, now)
            changes.add(batch_e.result)
            changes.marks.update(batch_e.marks)
            changes.acks |= batch_e.acks
            changes.robots |= batch_e.robots
            if batch_e.result.events:
                self._want_assign = True
        if any(e.kind in ('robot.connectivity', 'robot.registered') for e in changes.events):
            self._robots_changed = True
        if changes:
            self._commit(changes)

    def _on_tick(self) -> None:
        """Timeouts, retries, each feature's work and an assignment round, each in a lock
        hold of its own; then fleet/robots if a robot's connectivity changed."""
        with self._lock:
            assign = self._tick()
        for feature in list(self.features):  # each in a lock hold of its own
            with self._lock:
                if self._ready() and (changes := feature.tick(self.now())):
                    self._commit(changes)
        if assign and self.domain is not None:
            self._want_assign |= assignment_round(self._lock, self.domain, self._ready,
                                                  self._assignable, self.now, self._commit)
        if self._robots_changed:
            self._robots_changed = False
            self._publish_robots()

    def _tick(self) -> bool:
        """The registry's and the board's part of a tick; True when a round is due."""
        if not self._ready():
            return False
        assert self.domain is not None
        now = self.now()
        registry, board = self.domain.registry, self.domain.board
        if self.wire is not None:
            # A status waiting in the ingest backlog (a burst larger than a batch) counts
            # as heard: a busy moment of the manager never makes a live robot stale.
            registry.heard(self.wire.waiting(now))
        events = registry.tick(now)
        for e in events:
            if e.kind == 'robot.connectivity':
                board.on_connectivity(e.robot_id, Connectivity(e.payload['to']), now)
        res = board.tick(now)
        res.extend(board.redispatch(now))
        changes = Changes(events=list(events)).add(res)
        changes.robots |= {e.robot_id for e in events}
        if changes:
            self._commit(changes)
        if events:
            self._robots_changed = True
        assign = self._want_assign or bool(res.events or events)
        self._want_assign = False
        return assign

    def _request_assignment(self) -> None:
        self._want_assign = True

    def _assignable(self) -> list[RobotRecord]:
        """Robots that may take missions: all but those a rollout is about to update."""
        assert self.domain is not None
        reserved = self.rollouts.reserved() if self.rollouts is not None else set()
        records = self.domain.registry.records()
        return [r for r in records if r.robot_id not in reserved] if reserved else records

    def _flush_robots(self, force: bool = False) -> None:
        """Save a slice of the robots whose latest status changed (every such robot once per
        ``robot_flush_period``; all of them with ``force``); prune old telemetry, events,
        missions."""
        with self._lock:
            if (not force and not self._ready()) or self.domain is None \
                    or self.pipeline is None:
                return
            now = self.now()
            round_starts = self._unsaved.round_starts
            changes = Changes(robots=self._unsaved.take_all() if force
                              else self._unsaved.take())
            if changes.robots:
                try:
                    self.pipeline.commit(changes)
                except StorageUnavailable:
                    pass  # kept by the pipeline for its retry
            p = self.domain.params
            if now - self._pruned_at > 60.0 and not self.pipeline.blocked:
                self._pruned_at = now
                self.domain.board.prune(now, p.mission_memory)
            if self._retention is not None and not force and round_starts \
                    and not self.pipeline.blocked:
                try:
                    self._retention.run(now)  # bounded batches of old events and telemetry
                except sqlite3.Error as exc:
                    self.get_logger().warning(f'pruning events and telemetry: {exc}')

    # -- snapshots for the bridge ------------------------------------------------------------
    def _publish_robots(self) -> None:
        if self.domain is not None and 'robots' in self._pubs and self._active:
            if not self._snapshots.publish(self._pubs['robots'], self._lock,
                                           self.domain.registry,
                                           convert.to_time_msg(self.now())):
                self._robots_changed = True  # too soon after the last one: at a later tick

    def _publish_summary(self) -> None:
        with self._lock:
            if not self._active or self.domain is None or self.wire is None \
                    or self.intake is None:
                return
            summary = fleet_summary(self.domain, self.wire, self.intake,
                                    convert.to_time_msg(self.now()))
        self._publish_robots()
        self._pubs['summary'].publish(summary)


class RobotsSnapshots:
    """fleet/robots: the whole registry, paced by its cost (ROBOTS_COST_FACTOR).

    Only the list of records is taken under the domain lock; the conversion reads the
    records after it is released (a robot changed by a service call meanwhile shows either
    way, and the next snapshot has it right)."""

    def __init__(self) -> None:
        self._states = convert.RobotStates()
        self._next_at = 0.0

    def publish(self, publisher: Any, lock: DomainLock, registry: Registry,
                stamp: Any) -> bool:
        """Publish a snapshot unless the last one was too recent; True if published."""
        start = time.monotonic()
        if start < self._next_at:
            return False
        with lock:
            records = registry.records()  # a new list: the registry's dict is not shared
        publisher.publish(FleetRobots(stamp=stamp, robots=self._states.snapshot(records)))
        spent = time.monotonic() - start
        self._next_at = start + min(ROBOTS_MAX_INTERVAL, ROBOTS_COST_FACTOR * spent)
        return True


def assignment_round(lock: DomainLock, domain: Domain, ready: Callable[[], bool],
                     robots: Callable[[], list[RobotRecord]], now: Callable[[], float],
                     commit: Callable[[Changes], None]) -> bool:
    """One assignment round, holding the domain lock only to copy its input and to apply
    its decisions: the planning between (10,000 robots: about 30 ms) runs without it, so a
    service call does not wait for it. True when a decision went stale meanwhile and a
    round is due again."""
    board = domain.board
    with lock:
        if not ready():
            return False
        inp = board.round_input(robots())
    if inp is None:
        return False
    plan = plan_round(inp)
    with lock:
        if not ready():
            return True
        res, stale = board.apply_round(plan, domain.registry.find, now())
        if res.events or res.commands:
            commit(Changes().add(res))
    return stale


def log_configuration(pipeline: Pipeline | None, store: FleetStore,
                      p: manager_params.ManagerParams, fleet_path: str, config_dir: str) -> None:
    """Log the configuration files' digests; name the ones changed since last time."""
    assert pipeline is not None
    last = store.events_since(0.0, kinds=['manager.configured'])
    pipeline.commit(Changes(events=[configured_event(
        {'fleet': fleet_path,
         'slos': p.slo_config or os.path.join(config_dir, 'slos.yaml'),
         'workflows': p.workflows_config or os.path.join(config_dir, 'workflows.yaml')},
        last[-1].payload.get('digests', {}) if last else {})]))


def configured_event(files: dict[str, str], previous: dict[str, str]) -> NewEvent:
    """The manager.configured event: each file's digest, and which changed since
    ``previous`` (the digests of the last such event)."""
    digests = {}
    for name, file in files.items():
        try:
            with open(file, 'rb') as fh:
                digests[name] = hashlib.sha256(fh.read()).hexdigest()[:16]
        except OSError:
            digests[name] = ''
    changed = sorted(k for k, v in digests.items() if previous and previous.get(k) != v)
    return NewEvent.of(ManagerConfigured(files, digests, changed))


def fleet_summary(domain: Domain, wire: RobotWire, intake: Intake, stamp: Any) -> FleetSummary:
    """The fleet/summary message: counts of robots, missions, statuses and robot events."""
    c = domain.registry.counts()
    m = domain.board.counts()
    link = domain.link.counts
    return FleetSummary(
        stamp=stamp, robots_total=c['total'], online=c['online'], stale=c['stale'],
        offline=c['offline'], decommissioned=c['decommissioned'], missions_queued=m['queued'],
        missions_active=m['assigned'] + m['active'],
        last_event_id=domain.store.last_event_id(),
        statuses_received=wire.statuses_received,
        statuses_rejected=sum(domain.registry.rejections.values()),
        events_applied=link[Verdict.APPLY] + link[Verdict.NEW_EPOCH],
        events_duplicate=link[Verdict.DUPLICATE],
        events_out_of_order=link[Verdict.AHEAD] + link[Verdict.UNCONFIRMED],
        events_rejected=intake.rejections(), ingest_backlog=wire.backlog)


def pace_full_collections(node: Any, period: float = FULL_GC_PERIOD) -> None:
    """Run the cyclic collector's full passes every ``period`` s instead of when CPython's
    heuristics decide.

    A large fleet keeps millions of small objects alive (each robot's recent statuses for
    snapshot bags, its trajectory): a full pass scans all of them, about a second at 10,000
    robots, and CPython starts one every few seconds while that memory fills, so the
    executor stalls long enough to lose statuses. Young generations are still collected as
    usual; what exists at start (modules, messages, the restored state) is frozen out of
    every pass. One pass every ``period`` s still frees reference cycles (rare here: the
    per-status data holds none); its stall is absorbed by the status reader queue.
    """
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 2**31 - 1)
    node.create_timer(period, gc.collect)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_manager',
        description='The fleet manager lifecycle node (registry, missions, incidents, event '
                    'log). Parameters come from --ros-args (-p name:=value or '
                    '--params-file config/params.yaml).',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='ROS parameters (also in config/params.yaml, section fleet_manager):\n'
               + help_text(manager_params.ManagerParams))
    p.add_argument('--no-autostart', action='store_true',
                   help='stay unconfigured and let a lifecycle manager (e.g. ros2 launch) '
                        'drive the transitions; by default the node configures and '
                        'activates itself')
    return p


def main(args: list[str] | None = None) -> None:
    """Run the manager until Ctrl-C or SIGTERM (configured and activated unless told not to)."""
    argv = args if args is not None else sys.argv
    options = build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    stop = init(argv)
    try:
        node = FleetManager()
    except PARAMETER_ERRORS as exc:
        print(f'fleet_manager: error: {exc}', file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        raise SystemExit(2) from None
    executor = make_executor()
    executor.add_node(node)
    try:
        if not options.no_autostart:
            node.answer_while_inactive = False
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal(f'configuration failed: {node.configure_error}')
                raise SystemExit(1)
            node.trigger_activate()
        pace_full_collections(node)
        # The executor thread takes the GIL back for every message it handles; while the
        # after-commit thread (snapshot bags) runs Python, each take would wait up to the
        # default 5 ms switch interval, capping ingest at a few hundred messages a second.
        sys.setswitchinterval(SWITCH_INTERVAL)
        spin(executor, stop)
        executor.remove_node(node)
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
