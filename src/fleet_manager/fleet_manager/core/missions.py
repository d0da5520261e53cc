"""Missions: validation, the state machine, retries, and what to tell robots.

``MissionBoard`` owns every mission in memory. Each method takes the time and returns what
happened as plain data: events for the event log and commands for the node to carry out
(dispatch a mission to a robot, cancel one on a robot, send a robot to its dock). The node
persists the missions :meth:`MissionBoard.take_dirty` returns.

States: queued -> assigned -> active -> succeeded | failed | canceled. An attempt that fails,
or whose robot stays offline past the grace period, returns the mission to the queue until
``max_attempts`` attempts were made; then the mission fails with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import enum
import hashlib
import json
import math
from typing import Any, Callable, Container, Iterable
import uuid

from fleet_common.events import EventKind, MissionStateChanged, RobotDock
from fleet_manager.core.assignment import Assignment, AssignmentPolicy, MissionView, RobotView
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.model import Connectivity, Mode, NewEvent, RobotRecord

STATE_EVENT = EventKind.MISSION_STATE.value
DOCK_EVENT = EventKind.ROBOT_DOCK.value


class Pruned(LookupError):
    """The mission finished long ago and is no longer held in memory (read the store)."""

    def __init__(self, mission_id: str) -> None:
        super().__init__(mission_id)
        self.mission_id = mission_id


class MissionState(str, enum.Enum):
    """Where a mission is in its life."""

    QUEUED = 'queued'
    """Waiting for a robot."""
    ASSIGNED = 'assigned'
    """Given to a robot; its agent has not accepted it yet."""
    ACTIVE = 'active'
    """The robot's agent accepted it and is executing it."""
    SUCCEEDED = 'succeeded'
    """Every waypoint was reached."""
    FAILED = 'failed'
    """It could not be done; ``failure_reason`` says why."""
    CANCELED = 'canceled'
    """A client or operator canceled it."""

    @property
    def terminal(self) -> bool:
        """True for succeeded, failed and canceled."""
        return self in (MissionState.SUCCEEDED, MissionState.FAILED, MissionState.CANCELED)


class Outcome(str, enum.Enum):
    """How one attempt on one robot ended, as its agent reports it."""

    SUCCEEDED = 'succeeded'
    """The robot reached every waypoint."""
    FAILED = 'failed'
    """Navigation aborted or the agent refused the mission."""
    CANCELED = 'canceled'
    """The attempt was canceled on the robot."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what a submission may ask for."""

    max_waypoints: int = 100
    max_coordinate: float = 100_000.0  # m
    max_dwell: float = 3600.0  # s
    max_priority: int = 1_000_000
    max_text: int = 256


@dataclass(frozen=True)
class MissionSettings:
    """Failure policy, timing of the robot link and battery floor."""

    max_attempts: int = 3
    robot_lost_after: float = 300.0
    """s a robot with a mission may be out of reach (it may still be executing it) before
    the mission returns to the queue with the next attempt number."""
    battery_floor: float = 0.2  # 0..1, below which a robot takes no mission and docks
    cancel_repeat: float = 5.0  # s between repeated cancel requests to the same robot
    dispatch_retry: float = 2.0  # s between resends of a mission the robot has not taken
    dispatch_timeout: float = 30.0
    """s an online robot that reports no mission may leave an assigned mission untaken
    before the attempt fails."""


@dataclass(frozen=True)
class Waypoint:
    """A pose to reach, with an optional wait there."""

    x: float
    y: float
    theta: float = 0.0
    frame_id: str = 'map'
    dwell: float = 0.0  # s


@dataclass(frozen=True)
class MissionRequest:
    """What a client submits."""

    waypoints: tuple[Waypoint, ...]
    priority: int = 0
    capabilities: tuple[str, ...] = ()
    pinned_robot: str = ''
    client_ref: str = ''
    idempotency_key: str = ''
    callback_url: str = ''
    deadline: float | None = None

    def body_hash(self) -> str:
        """Return a hash of everything but the idempotency key, to detect a reused key."""
        body = asdict(self)
        body.pop('idempotency_key')
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class Mission:
    """A mission and everything recorded about it."""

    id: str
    state: MissionState
    waypoints: tuple[Waypoint, ...]
    created_at: float
    updated_at: float
    priority: int = 0
    capabilities: tuple[str, ...] = ()
    pinned_robot: str = ''
    client_ref: str = ''
    idempotency_key: str = ''
    callback_url: str = ''
    deadline: float | None = None
    robot_id: str = ''
    attempts: int = 0
    failure_reason: str = ''
    tried_robots: list[str] = field(default_factory=list)
    body_hash: str = ''
    progress: float = 0.0
    distance_remaining: float = 0.0
    recoveries: int = 0
    interventions: int = 0
    """Human interventions (safety stops, operator commands) during the mission."""
    lost_since: float | None = None
    """When the robot executing it went out of reach (or the manager restarted)."""
    dispatched_at: float | None = None
    """When the current attempt was last sent to its robot."""
    paused: bool = False
    """The robot executing it reports that it is paused."""

    def begin_attempt(self, robot_id: str, now: float) -> None:
        """Count a new attempt, on ``robot_id`` from ``now`` (the state is the board's)."""
        self.attempts += 1
        self.robot_id = robot_id
        self.tried_robots.append(robot_id)
        self.progress = 0.0
        self.recoveries = 0
        self.dispatched_at = now
        self.paused = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        data = asdict(self)
        data['state'] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'Mission':
        """Rebuild a mission written by :meth:`to_dict`."""
        data = dict(data)
        data['state'] = MissionState(data['state'])
        data['waypoints'] = tuple(Waypoint(**w) for w in data['waypoints'])
        data['capabilities'] = tuple(data.get('capabilities', ()))
        data['tried_robots'] = list(data.get('tried_robots', ()))
        return cls(**data)


@dataclass(frozen=True)
class Dispatch:
    """Send ``mission`` to ``robot_id`` as attempt number ``attempt``."""

    mission: Mission
    robot_id: str
    attempt: int


@dataclass(frozen=True)
class CancelOnRobot:
    """Tell ``robot_id`` to stop executing ``mission_id`` (``attempt`` 0: any attempt)."""

    robot_id: str
    mission_id: str
    reason: str
    attempt: int = 0


@dataclass(frozen=True)
class SendToDock:
    """Send an idle robot whose battery is below the floor to its dock."""

    robot_id: str
    dock: str


Command = Dispatch | CancelOnRobot | SendToDock


@dataclass
class Result:
    """Events to log and commands to carry out."""

    events: list[NewEvent] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    def extend(self, other: 'Result') -> 'Result':
        self.events.extend(other.events)
        self.commands.extend(other.commands)
        return self


def _finite(value: Any, name: str, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(name, f'must be a number, got {type(value).__name__}')
    if not math.isfinite(value):
        raise ValidationError(name, 'must be a finite number')
    if abs(value) > bound:
        raise ValidationError(name, f'must be within ±{bound:g}')
    return float(value)


def validate_request(req: MissionRequest, fleet: FleetConfig, robot_ids: Container[str],
                     now: float, limits: Limits = Limits()) -> None:
    """Raise ValidationError naming the field when ``req`` is invalid or impossible.

    Impossible means no robot of the fleet could ever do it: a capability no robot has, a
    combination of capabilities no single robot has, or a pinned robot not in the fleet.
    """
    if not req.waypoints:
        raise ValidationError('waypoints', 'at least one waypoint is required')
    if len(req.waypoints) > limits.max_waypoints:
        raise ValidationError('waypoints', f'at most {limits.max_waypoints} waypoints')
    for i, w in enumerate(req.waypoints):
        _finite(w.x, f'waypoints[{i}].x', limits.max_coordinate)
        _finite(w.y, f'waypoints[{i}].y', limits.max_coordinate)
        _finite(w.theta, f'waypoints[{i}].theta', 2 * math.pi * 1000)
        dwell = _finite(w.dwell, f'waypoints[{i}].dwell', limits.max_dwell)
        if dwell < 0:
            raise ValidationError(f'waypoints[{i}].dwell', 'must not be negative')
        if w.frame_id and w.frame_id != fleet.frame_id:
            raise ValidationError(f'waypoints[{i}].frame_id',
                                  f'must be {fleet.frame_id!r}, the site map frame')
    if isinstance(req.priority, bool) or not isinstance(req.priority, int):
        raise ValidationError('priority', 'must be an integer')
    if abs(req.priority) > limits.max_priority:
        raise ValidationError('priority', f'must be within ±{limits.max_priority}')
    for name in ('client_ref', 'idempotency_key', 'pinned_robot'):
        if len(getattr(req, name)) > limits.max_text:
            raise ValidationError(name, f'at most {limits.max_text} characters')
    if req.callback_url and not req.callback_url.startswith(('http://', 'https://')):
        raise ValidationError('callback_url', 'must be an http:// or https:// URL')
    if req.deadline is not None:
        _finite(req.deadline, 'deadline', 1e11)
        if req.deadline <= now:
            raise ValidationError('deadline', 'is in the past')
    known = fleet.known_capabilities()
    for i, cap in enumerate(req.capabilities):
        if not cap or cap not in known:
            raise ValidationError(f'capabilities[{i}]',
                                  f'no robot in the fleet has capability {cap!r}')
    if req.pinned_robot:
        if req.pinned_robot not in robot_ids and req.pinned_robot not in fleet.robots:
            raise ValidationError('pinned_robot',
                                  f'robot {req.pinned_robot!r} is not in the fleet')
        spec = fleet.spec_for(req.pinned_robot)
        missing = set(req.capabilities) - set(spec.capabilities)
        if missing:
            raise ValidationError('capabilities', f'pinned robot {req.pinned_robot!r} lacks '
                                  f'{", ".join(sorted(missing))}')
    elif req.capabilities:
        need = set(req.capabilities)
        # Robots the fleet definition does not list have its default capabilities.
        if not any(need <= set(fleet.spec_for(r).capabilities) for r in fleet.robots) \
                and not need <= set(fleet.default_capabilities):
            raise ValidationError('capabilities', 'no single robot in the fleet has all of '
                                  f'{", ".join(sorted(need))}')


@dataclass(frozen=True)
class RoundInput:
    """What an assignment round decides from, copied from the board
    (:meth:`MissionBoard.round_input`)."""

    missions: tuple[MissionView, ...]
    robots: tuple[RobotRecord, ...]
    busy: frozenset[str]
    """Robots with an assigned or active mission."""
    battery_floor: float
    policy: AssignmentPolicy


@dataclass(frozen=True)
class RoundPlan:
    """An assignment round's decisions, for :meth:`MissionBoard.apply_round`."""

    assignments: tuple[Assignment, ...]
    low_battery: tuple[str, ...]
    """Robots below the battery floor and not charging: the round may send them to dock."""


def available(rec: RobotRecord, busy: Container[str], floor: float) -> bool:
    """True when ``rec`` may take a mission: online, in service, idle or charging, not
    ``busy``, with its battery at or above ``floor``."""
    return (rec.connectivity == Connectivity.ONLINE and not rec.decommissioned
            and rec.mode in (Mode.IDLE, Mode.CHARGING) and rec.robot_id not in busy
            and not rec.current_mission_id
            and rec.battery is not None and rec.battery >= floor)


def plan_round(inp: RoundInput) -> RoundPlan:
    """Decide a round from ``inp`` alone.

    It reads the robot records but changes nothing, so the manager runs it without its
    domain lock (on 10,000 robots it is the costly step, tens of milliseconds);
    :meth:`MissionBoard.apply_round` then checks every decision against the board as it
    is by then. Only the available robots are candidates, so a large fleet's round costs
    what its free robots cost.
    """
    floor, busy = inp.battery_floor, inp.busy
    views = [RobotView(r.robot_id, r.pose.x, r.pose.y, frozenset(r.capabilities), True)
             for r in inp.robots if available(r, busy, floor)]
    low = tuple(r.robot_id for r in inp.robots
                if r.battery is not None and r.battery < floor and r.mode != Mode.CHARGING)
    return RoundPlan(tuple(inp.policy.assign(inp.missions, views)), low)


class MissionBoard:
    """Every mission, the state machine and the failure policy; no I/O."""

    def __init__(self, fleet: FleetConfig, settings: MissionSettings, policy: AssignmentPolicy,
                 new_id: Callable[[], str] | None = None, limits: Limits = Limits()) -> None:
        self._fleet = fleet
        self._settings = settings
        self._policy = policy
        self._new_id = new_id or (lambda: uuid.uuid4().hex[:12])
        self._limits = limits
        self._missions: dict[str, Mission] = {}
        self._queued: set[str] = set()
        self._by_robot: dict[str, str] = {}
        """robot id -> its assigned or active mission (kept in step by _index)."""
        self._by_key: dict[str, str] = {}
        self._key_hashes: dict[str, str] = {}
        """idempotency key -> body hash, kept after the mission itself is pruned."""
        self._dirty: set[str] = set()
        self._docking: set[str] = set()
        self._cancel_sent: dict[tuple[str, str], float] = {}

    # -- reading -------------------------------------------------------------------------
    def get(self, mission_id: str) -> Mission:
        """Return the mission; raise NotFound for an unknown id."""
        try:
            return self._missions[mission_id]
        except KeyError:
            raise NotFound(f'unknown mission {mission_id!r}') from None

    def missions(self) -> list[Mission]:
        """Return every mission held in memory."""
        return list(self._missions.values())

    def counts(self) -> dict[str, int]:
        """Return the number of missions per state."""
        out = {s.value: 0 for s in MissionState}
        for m in self._missions.values():
            out[m.state.value] += 1
        return out

    def take_dirty(self) -> list[Mission]:
        """Return the missions changed since the last call (for the caller to persist)."""
        out = [self._missions[i] for i in sorted(self._dirty) if i in self._missions]
        self._dirty.clear()
        return out

    def mission_of(self, robot_id: str) -> Mission | None:
        """Return the assigned or active mission of ``robot_id``, if any."""
        mission_id = self._by_robot.get(robot_id)
        return self._missions.get(mission_id) if mission_id is not None else None

    def has_queued(self) -> bool:
        """True when a mission waits for a robot."""
        return bool(self._queued)

    def _index(self, m: Mission, previous_robot: str = '') -> None:
        """Keep the queued set and the robot index in step with ``m``'s state."""
        if m.state == MissionState.QUEUED:
            self._queued.add(m.id)
        else:
            self._queued.discard(m.id)
        for robot in (previous_robot, m.robot_id):
            if robot and self._by_robot.get(robot) == m.id:
                del self._by_robot[robot]
        if m.state in (MissionState.ASSIGNED, MissionState.ACTIVE) and m.robot_id:
            self._by_robot[m.robot_id] = m.id

    # -- restoring -----------------------------------------------------------------------
    def restore(self, missions: Iterable[Mission], now: float, grace: float = 0.0) -> None:
        """Load persisted missions after a restart.

        Assigned and active missions count as out of reach from ``now + grace`` (``grace``:
        time for discovery and for agents' buffered events to arrive) until their robot
        reports it is executing them (then they are re-adopted) or the offline grace period
        ends (then they return to the queue), so a restart does not start a mission twice.
        """
        for m in missions:
            if m.state in (MissionState.ASSIGNED, MissionState.ACTIVE):
                m.lost_since = now + grace
            self._missions[m.id] = m
            self._index(m)
            if m.idempotency_key:
                self._by_key[m.idempotency_key] = m.id
                self._key_hashes[m.idempotency_key] = m.body_hash

    def restore_keys(self, keys: Iterable[tuple[str, str, str]]) -> None:
        """Remember idempotency keys (key, mission id, body hash) of missions not in memory."""
        for key, mission_id, body_hash in keys:
            self._by_key.setdefault(key, mission_id)
            self._key_hashes.setdefault(key, body_hash)

    def prune(self, now: float, keep_s: float) -> int:
        """Forget finished missions last changed more than ``keep_s`` ago (the store keeps
        them; their idempotency keys are still honoured). Returns how many were dropped."""
        old = [m.id for m in self._missions.values()
               if m.state.terminal and now - m.updated_at > keep_s and m.id not in self._dirty]
        for mission_id in old:
            del self._missions[mission_id]
        return len(old)

    # -- requests ------------------------------------------------------------------------
    def submit(self, req: MissionRequest, robot_ids: Container[str],
               now: float) -> tuple[Mission, bool, Result]:
        """Validate and queue a mission; return (mission, duplicate, result).

        With an idempotency key already used for the same body the original mission is
        returned and ``duplicate`` is True; with a different body, Conflict is raised.
        """
        body_hash = req.body_hash()
        if req.idempotency_key and req.idempotency_key in self._by_key:
            original_id = self._by_key[req.idempotency_key]
            if self._key_hashes.get(req.idempotency_key) != body_hash:
                raise Conflict(f'idempotency key {req.idempotency_key!r} was used for a '
                               f'different mission ({original_id})')
            if original_id not in self._missions:
                raise Pruned(original_id)
            return self._missions[original_id], True, Result()
        validate_request(req, self._fleet, robot_ids, now, self._limits)
        m = Mission(id=self._new_id(), state=MissionState.QUEUED, waypoints=req.waypoints,
                    created_at=now, updated_at=now, priority=req.priority,
                    capabilities=req.capabilities, pinned_robot=req.pinned_robot,
                    client_ref=req.client_ref, idempotency_key=req.idempotency_key,
                    callback_url=req.callback_url, deadline=req.deadline, body_hash=body_hash)
        self._missions[m.id] = m
        self._index(m)
        if m.idempotency_key:
            self._by_key[m.idempotency_key] = m.id
            self._key_hashes[m.idempotency_key] = m.body_hash
        self._dirty.add(m.id)
        return m, False, Result([self._event(m, None, 'submitted')])

    def cancel(self, mission_id: str, reason: str, now: float) -> tuple[Mission, Result]:
        """Cancel a mission; Conflict if it already ended, NotFound if unknown."""
        m = self.get(mission_id)
        if m.state.terminal:
            raise Conflict(f'mission {mission_id} already {m.state.value}')
        res = Result()
        if m.robot_id and m.state in (MissionState.ASSIGNED, MissionState.ACTIVE):
            res.commands.append(CancelOnRobot(m.robot_id, m.id, reason or 'canceled',
                                              m.attempts))
        res.events.append(self._set(m, MissionState.CANCELED, now, reason or 'canceled'))
        return m, res

    # -- assignment ----------------------------------------------------------------------
    @property
    def battery_floor(self) -> float:
        """The state of charge below which a robot takes no mission and docks."""
        return self._settings.battery_floor

    def check_dock(self, rec: RobotRecord) -> Result:
        """Send ``rec`` to its dock if it is idle with its battery below the floor."""
        res = Result()
        self._maybe_dock(rec, self._by_robot, res)
        return res

    def assign(self, robots: Iterable[RobotRecord], now: float) -> Result:
        """Run one whole assignment round (:meth:`round_input`, :func:`plan_round`,
        :meth:`apply_round`)."""
        inp = self.round_input(robots)
        if inp is None:
            return Result()
        return self.apply_round(plan_round(inp), {r.robot_id: r for r in inp.robots}.get,
                                now)[0]

    def round_input(self, robots: Iterable[RobotRecord]) -> RoundInput | None:
        """Copy what a round decides from (None when no mission is queued); the caller's
        lock is needed for this step only."""
        if not self._queued:
            return None
        missions = tuple(MissionView(m.id, m.priority, m.created_at, m.waypoints[0].x,
                                     m.waypoints[0].y, frozenset(m.capabilities),
                                     m.pinned_robot, frozenset(m.tried_robots))
                         for m in (self._missions[i] for i in self._queued))
        return RoundInput(missions, tuple(robots), frozenset(self._by_robot),
                          self._settings.battery_floor, self._policy)

    def apply_round(self, plan: RoundPlan, robot: Callable[[str], RobotRecord | None],
                    now: float) -> tuple[Result, bool]:
        """Carry out ``plan`` on the board as it is now (``robot``: the current record of an
        id): low-battery idle robots are sent to their docks (and a robot that reported a
        battery below the floor is, by :meth:`check_dock`), then each assignment whose
        mission is still queued and whose robot is still available is made. Returns the
        result, and True when a decision went stale meanwhile (a round is due again)."""
        res, stale = Result(), False
        for robot_id in (*plan.low_battery, *(self._docking - set(plan.low_battery))):
            rec = robot(robot_id)
            if rec is not None:
                self._maybe_dock(rec, self._by_robot, res)
        for a in plan.assignments:
            m, rec = self._missions.get(a.mission_id), robot(a.robot_id)
            if m is None or m.id not in self._queued or rec is None \
                    or not available(rec, self._by_robot, self._settings.battery_floor) \
                    or not set(m.capabilities) <= set(rec.capabilities):
                stale = True
                continue
            m.begin_attempt(a.robot_id, now)
            res.events.append(self._set(m, MissionState.ASSIGNED, now,
                                        f'nearest available robot ({a.cost:.1f} m)'))
            res.commands.append(Dispatch(m, a.robot_id, m.attempts))
        return res, stale

    def _maybe_dock(self, rec: RobotRecord, busy: Container[str], res: Result) -> None:
        if rec.mode == Mode.CHARGING or rec.battery is None \
                or rec.battery >= self._settings.battery_floor:
            self._docking.discard(rec.robot_id)
            return
        if (rec.robot_id in self._docking or rec.robot_id in busy or not rec.dock
                or rec.mode != Mode.IDLE or rec.connectivity != Connectivity.ONLINE
                or rec.decommissioned):
            return
        dock = self._fleet.docks.get(rec.dock)
        if dock is not None and dock.distance_to(rec.pose.x, rec.pose.y) < 0.3:
            return
        self._docking.add(rec.robot_id)
        res.commands.append(SendToDock(rec.robot_id, rec.dock))
        res.events.append(NewEvent.of(RobotDock(
            rec.dock, rec.battery, f'battery {rec.battery:.2f} below floor '
                                   f'{self._settings.battery_floor:.2f}'), rec.robot_id))

    # -- what agents report ----------------------------------------------------------------
    def _current(self, mission_id: str, attempt: int, robot_id: str) -> Mission | None:
        m = self._missions.get(mission_id)
        if m is None or m.state.terminal or m.robot_id != robot_id or m.attempts != attempt:
            return None
        return m

    def on_started(self, mission_id: str, attempt: int, robot_id: str, now: float) -> Result:
        """The agent accepted the attempt."""
        m = self._current(mission_id, attempt, robot_id)
        if m is None or m.state != MissionState.ASSIGNED:
            return Result()
        m.lost_since = None
        return Result([self._set(m, MissionState.ACTIVE, now, 'accepted by robot')])

    def on_result(self, mission_id: str, attempt: int, robot_id: str, outcome: Outcome,
                  reason: str, now: float, detail: dict[str, Any] | None = None) -> Result:
        """The attempt ended on the robot; succeed, retry elsewhere or fail the mission."""
        m = self._current(mission_id, attempt, robot_id)
        if m is None:
            return Result()
        extra = dict(detail or {})
        extra.setdefault('interventions', m.interventions)
        extra.setdefault('recoveries', m.recoveries)
        if outcome == Outcome.SUCCEEDED:
            m.progress = 1.0
            return Result([self._set(m, MissionState.SUCCEEDED, now, reason or 'completed',
                                     extra)])
        if outcome == Outcome.CANCELED:
            # Canceled on the robot without our asking (an operator at the robot): retry.
            reason = reason or 'canceled on the robot'
        return Result([self._attempt_failed(m, reason, now, extra)])

    def _attempt_failed(self, m: Mission, reason: str, now: float,
                        extra: dict[str, Any] | None = None) -> NewEvent:
        if m.attempts >= self._settings.max_attempts:
            m.failure_reason = f'failed after {m.attempts} attempt(s): {reason}'
            return self._set(m, MissionState.FAILED, now, m.failure_reason, extra)
        robot = m.robot_id
        m.robot_id = ''
        m.lost_since = None
        return self._set(m, MissionState.QUEUED, now, f'retry: {reason}', extra, robot)

    def on_robot_status(self, rec: RobotRecord, covered: bool, now: float,
                        restarted: bool = False) -> Result:
        """Reconcile what a robot says it executes with what the board believes.

        ``covered`` is True when every event the agent wrote before this status is
        committed: then a robot that reports not executing the board's mission for it has
        lost it (its agent restarted, say), and the attempt fails at once instead of
        waiting. A robot executing a mission (or an attempt) the board no longer gives it
        is told to stop.
        """
        res = Result()
        reported, attempt = rec.current_mission_id, rec.current_attempt
        mine = self.mission_of(rec.robot_id)
        if mine is not None:
            if reported == mine.id and attempt == mine.attempts:
                mine.paused = rec.mode == Mode.PAUSED
                mine.progress = rec.mission_progress
                mine.distance_remaining = rec.distance_remaining
                mine.recoveries = max(mine.recoveries, rec.mission_recoveries)
                if mine.lost_since is not None:
                    mine.lost_since = None
                    if mine.state == MissionState.ASSIGNED:
                        res.events.append(self._set(mine, MissionState.ACTIVE, now, 're-adopted'))
                    else:
                        res.events.append(self._event(mine, mine.state, 're-adopted'))
                        self._dirty.add(mine.id)
            elif (covered or restarted) and rec.connectivity == Connectivity.ONLINE:
                res.events.extend(self._lost_by_robot(mine, now, restarted))
        if reported and (mine is None or mine.id != reported or attempt != mine.attempts):
            key = (rec.robot_id, reported)
            last = self._cancel_sent.get(key)
            if last is None or now - last >= self._settings.cancel_repeat:
                self._cancel_sent[key] = now
                res.commands.append(CancelOnRobot(
                    rec.robot_id, reported, 'the mission is no longer assigned to this robot',
                    attempt))
        return res

    def _lost_by_robot(self, m: Mission, now: float, restarted: bool) -> list[NewEvent]:
        """The robot is reachable, has reported everything (or its agent restarted, which
        never carries on a job), and is not executing ``m``."""
        if m.state == MissionState.ACTIVE or restarted:
            why = "'s agent restarted and" if restarted else ''
            return [self._attempt_failed(
                m, f'robot {m.robot_id}{why} reports it is not executing the mission', now)]
        # updated_at is when it was assigned (resends do not move it).
        if m.state == MissionState.ASSIGNED and \
                now - m.updated_at >= self._settings.dispatch_timeout:
            return [self._attempt_failed(
                m, f'robot {m.robot_id} did not take the mission within '
                   f'{self._settings.dispatch_timeout:g} s', now)]
        return []

    def redispatch(self, now: float) -> Result:
        """Resend assigned missions their robot has not taken yet (every dispatch_retry s)."""
        res = Result()
        for robot_id, mission_id in self._by_robot.items():
            m = self._missions[mission_id]
            if m.state != MissionState.ASSIGNED or m.lost_since is not None:
                continue
            if m.dispatched_at is None or now - m.dispatched_at >= self._settings.dispatch_retry:
                m.dispatched_at = now
                res.commands.append(Dispatch(m, robot_id, m.attempts))
        return res

    def on_refused(self, mission_id: str, attempt: int, robot_id: str, reason: str,
                   now: float) -> Result:
        """The robot's agent refused the attempt (busy, invalid): try elsewhere."""
        m = self._current(mission_id, attempt, robot_id)
        if m is None:
            return Result()
        return Result([self._attempt_failed(m, f'refused by the robot: {reason}', now)])

    def on_connectivity(self, robot_id: str, connectivity: Connectivity, now: float) -> None:
        """Start the grace period when a robot with a mission goes offline."""
        m = self.mission_of(robot_id)
        if m is None:
            return
        if connectivity == Connectivity.OFFLINE and m.lost_since is None:
            m.lost_since = now

    def tick(self, now: float) -> Result:
        """Requeue missions whose robot stayed out of reach; fail missions past deadline."""
        res = Result()
        for m in list(self._missions.values()):
            lost = m.lost_since
            if m.state in (MissionState.ASSIGNED, MissionState.ACTIVE) and \
                    lost is not None and now - lost >= self._settings.robot_lost_after:
                robot = m.robot_id
                res.events.append(self._attempt_failed(
                    m, f'robot {robot} out of reach for {now - lost:.0f} s', now))
            elif m.state == MissionState.QUEUED and m.deadline is not None and now > m.deadline:
                m.failure_reason = 'deadline passed while queued'
                res.events.append(self._set(m, MissionState.FAILED, now, m.failure_reason))
        return res

    def set_in_service(self, robot_id: str, in_service: bool, reassign_active: bool,
                       now: float) -> Result:
        """On decommission, requeue the robot's assigned mission (and its active one if asked)."""
        res = Result()
        if in_service:
            return res
        m = self.mission_of(robot_id)
        if m is None:
            return res
        if m.state == MissionState.ASSIGNED or reassign_active:
            res.commands.append(CancelOnRobot(robot_id, m.id, 'robot decommissioned',
                                              m.attempts))
            m.robot_id = ''
            m.lost_since = None
            res.events.append(self._set(m, MissionState.QUEUED, now,
                                        f'robot {robot_id} decommissioned', None, robot_id))
        return res

    # -- helpers -------------------------------------------------------------------------
    def _set(self, m: Mission, state: MissionState, now: float, reason: str,
             extra: dict[str, Any] | None = None, robot_id: str | None = None) -> NewEvent:
        previous = m.state
        m.state = state
        m.updated_at = now
        self._index(m, robot_id or '')
        self._dirty.add(m.id)
        return self._event(m, previous, reason, extra, robot_id)

    def _event(self, m: Mission, previous: MissionState | None, reason: str,
               extra: dict[str, Any] | None = None, robot_id: str | None = None) -> NewEvent:
        """Build the event of a transition; ``robot_id`` names the robot it concerns.

        ``extra`` holds the outcome fields of :class:`MissionStateChanged` (interventions,
        recoveries, error codes, software version).
        """
        robot = m.robot_id if robot_id is None else robot_id
        payload = MissionStateChanged(
            mission_id=m.id, state=m.state.value, from_=previous.value if previous else None,
            robot_id=robot, attempt=m.attempts, reason=reason, client_ref=m.client_ref,
            callback_url=m.callback_url or None, **(extra or {}))
        return NewEvent.of(payload, robot, mission_id=m.id)
