"""Staged rollouts gated on mission outcomes: the state machine.

:class:`RolloutController` drives every rollout (see :mod:`.rollout_model` for the data):

1. **create**: the scope (robots that reported a version other than the release) is put
   in draw order, round robin
   across the strategy's ``spread_by`` labels (so one site does not decide); refused while
   the error budget is exhausted or when a robot already is in an active rollout.
2. **step**: the step's robots (cumulative count) are selected (WAITING: they get no new
   mission) and each is sent an install once it is online and idle, never mid-mission.
3. **bake**: once every selected robot runs the release, the gate window starts; the
   updated cohort and the baseline (the scope's robots still on their versions) are counted
   over it. As soon as the cohort has ``min_missions`` the gate is evaluated on every new
   mission: a failure rolls back at once. When the bake ends (its missions and its time),
   PASS goes to the next step, INCONCLUSIVE pauses.
4. **rollback** (a failed gate, a failed install, an operator's abort): robots not yet
   updated are released; updated ones get their previous version back, each when idle.
5. operators **promote** (next step, or the last with ``full``), **pause**, **resume** and
   **abort**; a rollout in a state that does not allow it raises Conflict (HTTP 409).

Every change is a ``rollout.*`` event in :attr:`Output.events`; installs to send are
:attr:`Output.installs`. Pure Python: robots come in as :class:`RobotView`, time as ``now``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, TypedDict

from fleet_common.events import (
    GateCheck,
    Payload,
    RolloutAborted,
    RolloutCompleted,
    RolloutCreated,
    RolloutGate,
    RolloutPaused,
    RolloutPromoted,
    RolloutResumed,
    RolloutRolledBack,
    RolloutStep,
)
from fleet_common.naming import natural_key
from fleet_manager.core.budget import BudgetVerdict
from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.rollout_gates import (
    AnalysisTemplate,
    CohortStats,
    GateResult,
    Verdict,
    evaluate_gate,
)
from fleet_manager.core.rollout_model import (
    RESERVED_PHASES,
    PauseCause,
    RobotEntry,
    RobotPhase,
    Rollout,
    RolloutState,
    Strategy,
)

CONTROLLER = 'rollout-controller'
"""The ``who`` of the changes the controller makes by itself."""
P = RobotPhase


@dataclass(frozen=True)
class RobotView:
    """What the controller needs to know about a robot now."""

    robot_id: str
    online: bool
    idle: bool
    """Not on a mission, not assigned one, not driving to its dock."""
    version: str
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class InstallOrder:
    """Send ``robot_id`` an install of ``version``."""

    robot_id: str
    version: str
    artifact: str
    rollout_id: str
    reason: str


@dataclass
class Output:
    """What a call produced: events (payload, robot id), installs, rollouts changed."""

    events: list[tuple[Payload, str]] = field(default_factory=list)
    installs: list[InstallOrder] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.events or self.installs or self.changed)


@dataclass(frozen=True)
class RolloutRequest:
    """A rollout to create: the release, how, and the robots of its scope."""

    release: str
    artifact: str
    strategy: Strategy
    analysis: AnalysisTemplate
    robots: Sequence[RobotView]
    artifacts: Mapping[str, str] = field(default_factory=dict)
    """Artifacts of the versions the robots run now (to roll back to)."""


def draw_order(robots: Sequence[RobotView], spread_by: Sequence[str]) -> list[str]:
    """Order robots round robin across the buckets of their ``spread_by`` label values
    (buckets and robots in natural order), so the first robots come from different sites."""
    buckets: dict[tuple[str, ...], list[str]] = {}
    for v in robots:
        key = tuple(','.join(v.labels.get(label, ())) for label in spread_by)
        buckets.setdefault(key, []).append(v.robot_id)
    queues = [sorted(ids, key=natural_key) for _, ids in sorted(buckets.items())]
    order: list[str] = []
    depth = 0
    while len(order) < len(robots):
        order.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return order


class _Ref(TypedDict):
    """The fields every rollout event starts with."""

    id: str
    release: str
    state: str
    step: int
    who: str
    reason: str


@dataclass
class _Window:
    """Mission counters of one rollout: per robot over the gate window, and the baseline
    since the rollout started."""

    canary: dict[str, CohortStats] = field(default_factory=dict)
    baseline: dict[str, CohortStats] = field(default_factory=dict)
    baseline_total: CohortStats = field(default_factory=CohortStats)
    dirty: bool = False


class CohortBook:
    """The gate windows of the rollouts: mission attempts and diagnostics errors counted
    per robot into the updated cohort or the baseline of the rollout that holds the robot."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def window(self, rollout_id: str) -> _Window:
        """The window of ``rollout_id`` (an empty one at first)."""
        return self._windows.setdefault(rollout_id, _Window())

    def restart(self, rollout_id: str) -> None:
        """Start a fresh gate window (the baseline since the start is kept)."""
        self._windows[rollout_id] = _Window(baseline_total=self.window(rollout_id)
                                            .baseline_total)

    def on_attempt(self, r: Rollout, robot_id: str, version: str, succeeded: bool,
                   recoveries: int, interventions: int, seconds: float, ended: float) -> None:
        """Count an attempt that ended on a robot of ``r``'s scope."""
        win = self.window(r.id)
        entry = r.robots.get(robot_id)
        if version != r.release:
            win.baseline_total.add_attempt(succeeded, recoveries, interventions, seconds)
        if r.bake_started is None or ended < r.bake_started:
            return
        if version == r.release and entry is not None and entry.phase == P.UPDATED:
            book = win.canary
        elif version != r.release and (entry is None or entry.phase != P.UPDATED):
            book = win.baseline
        else:
            return
        book.setdefault(robot_id, CohortStats()).add_attempt(succeeded, recoveries,
                                                             interventions, seconds)
        win.dirty = True

    def on_diagnostics_error(self, r: Rollout, robot_id: str, version: str,
                             time: float) -> None:
        """Count a robot's diagnostics turning ERROR."""
        if r.bake_started is None or time < r.bake_started:
            return
        win = self.window(r.id)
        book = win.canary if version == r.release else win.baseline
        book.setdefault(robot_id, CohortStats()).diagnostics_errors += 1
        win.dirty = True

    def canary_missions(self, rollout_id: str) -> int:
        """Attempts of the updated cohort in the current window."""
        return sum(s.attempts for s in self.window(rollout_id).canary.values())

    def evaluate(self, r: Rollout, now: float) -> GateResult:
        """The gate of ``r`` over its current window (PASS/FAIL/INCONCLUSIVE); reading it
        (for the API, say) changes nothing."""
        win = self.window(r.id)
        start = r.bake_started if r.bake_started is not None else now
        window = max(0.0, now - start)
        updated = r.in_phase(P.UPDATED)
        canary = CohortStats.total(win.canary.values())
        canary.robot_seconds = sum(now - max(start, r.robots[x].since) for x in updated)
        baseline = CohortStats.total(win.baseline.values())
        baseline.robot_seconds = (len(r.order) - len(updated)) * window
        fallback = CohortStats().add(win.baseline_total)
        return evaluate_gate(r.analysis, canary, baseline, window, fallback)


class RolloutController:
    """Every rollout, their robots' phases and their gate windows."""

    def __init__(self, rollouts: Iterable[Rollout] = ()) -> None:
        self._rollouts: dict[str, Rollout] = {}
        self._scope: dict[str, str] = {}
        self.cohorts = CohortBook()
        self._next = 1
        for r in rollouts:
            self._add(r)

    def _add(self, r: Rollout) -> None:
        self._rollouts[r.id] = r
        digits = r.id.rsplit('-', 1)[-1]
        if digits.isdigit():
            self._next = max(self._next, int(digits) + 1)
        if not r.state.terminal:
            for robot in r.order:
                self._scope[robot] = r.id

    # -- reads ---------------------------------------------------------------------------
    def get(self, rollout_id: str) -> Rollout:
        """The rollout ``rollout_id``; NotFound otherwise."""
        try:
            return self._rollouts[rollout_id]
        except KeyError:
            raise NotFound(f'unknown rollout {rollout_id!r}') from None

    def list(self) -> list[Rollout]:
        """Every rollout, newest first."""
        return sorted(self._rollouts.values(), key=lambda r: (-r.created_at, r.id))

    def active(self) -> builtins.list[Rollout]:
        """The rollouts not yet ended."""
        return [r for r in self._rollouts.values() if not r.state.terminal]

    def rollout_of(self, robot_id: str) -> Rollout | None:
        """The active rollout whose scope holds ``robot_id``."""
        rid = self._scope.get(robot_id)
        return self._rollouts[rid] if rid else None

    def reserved(self) -> set[str]:
        """Robots that must get no new mission (waiting for or going through an install)."""
        return {robot for r in self.active() for robot, e in r.robots.items()
                if e.phase in RESERVED_PHASES}

    # -- creating ------------------------------------------------------------------------
    def create(self, req: RolloutRequest, budget: BudgetVerdict, now: float, who: str,
               reason: str) -> tuple[Rollout, Output]:
        """Create a rollout and start its first step (see the module docstring)."""
        known = [v for v in req.robots if v.version]  # never reported: nothing to replace
        scope = [v for v in known if v.version != req.release]
        if not known:
            raise ValidationError('groups', 'no robot is in the rollout\'s scope')
        if not scope:
            raise ValidationError('release', f'every robot of the scope already runs '
                                             f'{req.release}')
        for v in scope:
            other = self.rollout_of(v.robot_id)
            if other is not None:
                raise Conflict(f'robot {v.robot_id} is in rollout {other.id} '
                               f'({other.state.value}); finish or abort it first')
        if not budget.allowed:
            raise Conflict(f'no rollout may start: {budget.reason}')
        r = Rollout(id=f'R-{self._next}', release=req.release, artifact=req.artifact,
                    strategy=req.strategy, analysis=req.analysis,
                    order=draw_order(scope, req.strategy.spread_by),
                    previous={v.robot_id: v.version for v in scope},
                    artifacts=dict(req.artifacts), created_at=now, created_by=who,
                    reason=reason, step_started=now, updated_at=now)
        self._add(r)
        out = Output()
        versions: dict[str, int] = {}
        for version in r.previous.values():
            versions[version] = versions.get(version, 0) + 1
        out.events.append((RolloutCreated(
            **self._ref(r, who, reason), robots=len(r.order), previous=versions,
            steps=[s.name for s in r.strategy.steps], strategy=r.strategy.name,
            analysis=r.analysis.name), ''))
        self._start_step(r, now, out)
        return r, out

    # -- operators -----------------------------------------------------------------------
    def promote(self, rollout_id: str, who: str, reason: str, full: bool,
                budget: BudgetVerdict, now: float) -> Output:
        """Go to the next step (the last with ``full``) now, skipping the bake and gate."""
        r = self._operable(rollout_id, 'promoted')
        if not budget.allowed:
            raise Conflict(f'rollout {r.id} cannot advance: {budget.reason}')
        out = Output()
        first = r.step
        r.state, r.pause_cause = RolloutState.PROGRESSING, None
        last = len(r.strategy.steps) - 1
        if r.step >= last:
            r.step_passed = True
        else:
            r.step = last if full else r.step + 1
        out.events.append((RolloutPromoted(**self._ref(r, who, reason), from_step=first,
                                           full=full), ''))
        if r.step != first:
            self._start_step(r, now, out)
        return self._touch(r, now, out)

    def pause(self, rollout_id: str, who: str, reason: str, now: float) -> Output:
        """Hold a progressing rollout (installs in flight finish; nothing new starts)."""
        r = self._operable(rollout_id, 'paused')
        if r.state == RolloutState.PAUSED:
            raise Conflict(f'rollout {r.id} is already paused')
        out = Output()
        self._pause(r, PauseCause.OPERATOR, who, reason, out)
        return self._touch(r, now, out)

    def resume(self, rollout_id: str, who: str, reason: str, now: float) -> Output:
        """Continue a paused rollout; after an inconclusive gate the step bakes again."""
        r = self.get(rollout_id)
        if r.state != RolloutState.PAUSED:
            raise Conflict(f'rollout {r.id} is {r.state.value}: only a paused rollout can '
                           'be resumed')
        out = Output()
        self._resume(r, who, reason, out)
        return self._touch(r, now, out)

    def abort(self, rollout_id: str, who: str, reason: str, now: float) -> Output:
        """Stop the rollout and take its updated robots back to their versions."""
        r = self._operable(rollout_id, 'aborted')
        out = Output()
        self._start_rollback(r, reason or 'aborted', now, out, aborted=True)
        out.events.append((RolloutAborted(**self._ref(r, who, reason)), ''))
        return self._touch(r, now, out)

    def _operable(self, rollout_id: str, verb: str) -> Rollout:
        r = self.get(rollout_id)
        if r.state not in (RolloutState.PROGRESSING, RolloutState.PAUSED):
            raise Conflict(f'rollout {r.id} is {r.state.value}: it cannot be {verb}')
        return r

    # -- what robots and missions report -------------------------------------------------
    def on_install(self, robot_id: str, rollout_id: str, phase: str, version: str,
                   reason: str, retryable: bool, now: float) -> Output:
        """An agent reported an install's result (``succeeded``, ``failed``, ``refused``)."""
        out = Output()
        r = self._rollouts.get(rollout_id)
        entry = r.robots.get(robot_id) if r is not None else None
        if r is None or entry is None or phase not in ('succeeded', 'failed', 'refused'):
            return out
        ok = phase == 'succeeded'
        if entry.phase == P.INSTALLING:
            if ok and version == r.release:
                self._set(entry, P.UPDATED, now)
            elif phase == 'refused' and retryable:
                self._set(entry, P.WAITING, now)
            else:
                self._set(entry, P.FAILED, now, reason or f'{phase} on {version}')
                if r.state in (RolloutState.PROGRESSING, RolloutState.PAUSED):
                    why = f'the install on {robot_id} failed: {entry.error}'
                    out.events.append((RolloutGate(**self._ref(r, CONTROLLER, why),
                                                   verdict=Verdict.FAIL.value), ''))
                    self._start_rollback(r, why, now, out)
        elif entry.phase == P.REVERTING:
            if ok:
                self._set(entry, P.REVERTED, now)
            elif phase == 'refused' and retryable:
                self._set(entry, P.REVERT_WAITING, now)
            else:
                self._set(entry, P.REVERT_FAILED, now, reason or phase)
        return self._touch(r, now, out)

    def on_attempt(self, robot_id: str, version: str, succeeded: bool, recoveries: int,
                   interventions: int, started: float | None, ended: float) -> None:
        """Count a mission attempt that ended on ``robot_id`` running ``version``."""
        r = self.rollout_of(robot_id)
        if r is not None:
            seconds = ended - started if started is not None else 0.0
            self.cohorts.on_attempt(r, robot_id, version, succeeded, recoveries,
                                    interventions, seconds, ended)

    def on_diagnostics_error(self, robot_id: str, version: str, time: float) -> None:
        """Count a robot's diagnostics turning ERROR."""
        r = self.rollout_of(robot_id)
        if r is not None:
            self.cohorts.on_diagnostics_error(r, robot_id, version, time)

    # -- the clock -----------------------------------------------------------------------
    def tick(self, robots: Mapping[str, RobotView], budget: BudgetVerdict,
             now: float) -> Output:
        """Send due installs, time out lost ones, bake, decide gates, advance, roll back."""
        out = Output()
        for r in self.active():
            if r.state == RolloutState.ROLLING_BACK:
                self._tick_rollback(r, robots, now, out)
            else:
                self._tick_progress(r, robots, budget, now, out)
        return out

    def _tick_progress(self, r: Rollout, robots: Mapping[str, RobotView],
                       budget: BudgetVerdict, now: float, out: Output) -> None:
        self._time_out(r, P.INSTALLING, P.FAILED, now, out)
        failed = r.in_phase(P.FAILED)
        if failed:
            why = f'the install on {failed[0]} failed: {r.robots[failed[0]].error}'
            out.events.append((RolloutGate(**self._ref(r, CONTROLLER, why),
                                           verdict=Verdict.FAIL.value), ''))
            self._start_rollback(r, why, now, out)
            return
        if r.state == RolloutState.PAUSED and r.pause_cause == PauseCause.ERROR_BUDGET \
                and budget.allowed:
            self._resume(r, CONTROLLER, 'the error budget allows again', out)
        if r.state == RolloutState.PROGRESSING:
            for robot in r.in_phase(P.WAITING):
                view = robots.get(robot)
                if view is not None and view.online and view.idle:
                    self._install(r, robot, r.release, r.artifact, P.INSTALLING, now, out)
        if r.in_phase(P.WAITING, P.INSTALLING):
            return
        if r.bake_started is None:
            r.bake_started = now
            self.cohorts.restart(r.id)
            out.changed.add(r.id)
        step = r.current_step
        if r.step_passed or not step.has_bake:
            if r.state == RolloutState.PROGRESSING:
                self._advance(r, budget, now, out)
            return
        self._bake(r, now, out)
        if r.step_passed and r.state == RolloutState.PROGRESSING:
            self._advance(r, budget, now, out)

    def _bake(self, r: Rollout, now: float, out: Output) -> None:
        """Evaluate the gate when there is something new; decide at the end of the bake."""
        assert r.bake_started is not None
        step = r.current_step
        done = (self.cohorts.canary_missions(r.id) >= step.bake_missions
                and now - r.bake_started >= step.bake_seconds)
        decide = done and r.state == RolloutState.PROGRESSING
        window = self.cohorts.window(r.id)
        if not (window.dirty or decide):
            return
        window.dirty = False
        gate = self.cohorts.evaluate(r, now)
        r.last_gate = gate.to_dict()
        out.changed.add(r.id)
        if gate.verdict == Verdict.FAIL:
            self._gate_event(r, gate, out)
            self._start_rollback(r, f'gate failed: {gate.summary()}', now, out)
        elif decide:
            self._gate_event(r, gate, out)
            if gate.verdict == Verdict.PASS:
                r.step_passed = True
            else:
                self._pause(r, PauseCause.INCONCLUSIVE, CONTROLLER, gate.summary(), out)

    def _advance(self, r: Rollout, budget: BudgetVerdict, now: float, out: Output) -> None:
        if r.step >= len(r.strategy.steps) - 1:
            r.state, r.outcome = RolloutState.COMPLETED, f'{r.release} on every robot'
            self._release_scope(r)
            out.events.append((RolloutCompleted(**self._ref(r, CONTROLLER, r.outcome),
                                                robots=len(r.order)), ''))
            self._touch(r, now, out)
        elif not budget.allowed:
            self._pause(r, PauseCause.ERROR_BUDGET, CONTROLLER, budget.reason, out)
            self._touch(r, now, out)
        else:
            r.step += 1
            self._start_step(r, now, out)

    def _start_step(self, r: Rollout, now: float, out: Output) -> None:
        r.step_started, r.bake_started, r.step_passed, r.last_gate = now, None, False, None
        target = r.target()
        added = [robot for robot in r.order[:target] if robot not in r.robots]
        for robot in added:
            r.robots[robot] = RobotEntry(P.WAITING, r.previous[robot], now)
        step = r.current_step
        out.events.append((RolloutStep(**self._ref(r, CONTROLLER, f'step {step.name}'),
                                       step_name=step.name, target=target, added=added), ''))
        self._touch(r, now, out)

    # -- rolling back --------------------------------------------------------------------
    def _start_rollback(self, r: Rollout, why: str, now: float, out: Output,
                        aborted: bool = False) -> None:
        r.state, r.pause_cause, r.outcome, r.aborted = (RolloutState.ROLLING_BACK, None, why,
                                                         aborted)
        for robot in r.in_phase(P.WAITING):
            del r.robots[robot]  # never touched: back in the baseline as it is
        for robot in r.in_phase(P.UPDATED):
            self._set(r.robots[robot], P.REVERT_WAITING, now)
        self._touch(r, now, out)

    def _tick_rollback(self, r: Rollout, robots: Mapping[str, RobotView], now: float,
                       out: Output) -> None:
        self._time_out(r, P.INSTALLING, P.FAILED, now, out)
        self._time_out(r, P.REVERTING, P.REVERT_FAILED, now, out)
        for robot in r.in_phase(P.UPDATED, P.FAILED, P.REVERT_WAITING):
            entry, view = r.robots[robot], robots.get(robot)
            if entry.phase == P.FAILED:
                if view is None or not view.online:
                    continue
                if view.version == entry.previous_version:
                    self._set(entry, P.REVERTED, now)
                    out.changed.add(r.id)
                    continue
            if view is not None and view.online and view.idle:
                self._install(r, robot, entry.previous_version,
                              r.artifacts.get(entry.previous_version, ''), P.REVERTING, now,
                              out)
            elif entry.phase != P.REVERT_WAITING:
                self._set(entry, P.REVERT_WAITING, now)
                out.changed.add(r.id)
        if r.in_phase(P.INSTALLING, P.UPDATED, P.FAILED, P.REVERT_WAITING, P.REVERTING):
            return
        r.state = RolloutState.ABORTED if r.aborted else RolloutState.ROLLED_BACK
        self._release_scope(r)
        out.events.append((RolloutRolledBack(
            **self._ref(r, CONTROLLER, r.outcome), robots=r.in_phase(P.REVERTED),
            failed=r.in_phase(P.REVERT_FAILED)), ''))
        self._touch(r, now, out)

    # -- helpers -------------------------------------------------------------------------
    def _install(self, r: Rollout, robot: str, version: str, artifact: str,
                 phase: RobotPhase, now: float, out: Output) -> None:
        entry = r.robots[robot]
        self._set(entry, phase, now)
        entry.sent_at = now
        what = 'roll back to' if phase == P.REVERTING else 'update to'
        out.installs.append(InstallOrder(robot, version, artifact, r.id,
                                         f'rollout {r.id}: {what} {version}'))
        self._touch(r, now, out)

    def _time_out(self, r: Rollout, waiting: RobotPhase, to: RobotPhase, now: float,
                  out: Output) -> None:
        limit = r.strategy.install_timeout
        for robot in r.in_phase(waiting):
            entry = r.robots[robot]
            if entry.sent_at is not None and now - entry.sent_at > limit:
                self._set(entry, to, now, f'no install result within {limit:g} s')
                out.changed.add(r.id)

    def _pause(self, r: Rollout, cause: PauseCause, who: str, reason: str,
               out: Output) -> None:
        r.state, r.pause_cause = RolloutState.PAUSED, cause
        out.events.append((RolloutPaused(**self._ref(r, who, reason), cause=cause.value), ''))
        out.changed.add(r.id)

    def _resume(self, r: Rollout, who: str, reason: str, out: Output) -> None:
        if r.pause_cause == PauseCause.INCONCLUSIVE:
            r.bake_started = None  # bake the step again, on a fresh window
        r.state, r.pause_cause = RolloutState.PROGRESSING, None
        out.events.append((RolloutResumed(**self._ref(r, who, reason)), ''))
        out.changed.add(r.id)

    def _gate_event(self, r: Rollout, gate: GateResult, out: Output) -> None:
        gate_dict = gate.to_dict()
        r.gates = (r.gates + [{**gate_dict, 'step': r.step}])[-20:]
        out.events.append((RolloutGate(
            **self._ref(r, CONTROLLER, gate.summary()), verdict=gate.verdict.value,
            checks=[GateCheck(c.metric.value, c.canary, c.baseline, c.limit, c.verdict.value,
                              c.detail) for c in gate.checks],
            canary_missions=gate.canary_missions, baseline_missions=gate.baseline_missions,
            window_s=gate.window_s), ''))

    def _release_scope(self, r: Rollout) -> None:
        for robot in r.order:
            if self._scope.get(robot) == r.id:
                del self._scope[robot]

    @staticmethod
    def _set(entry: RobotEntry, phase: RobotPhase, now: float, error: str = '') -> None:
        entry.phase, entry.since = phase, now
        if error:
            entry.error = error

    @staticmethod
    def _touch(r: Rollout, now: float, out: Output) -> Output:
        r.updated_at = now
        out.changed.add(r.id)
        return out

    @staticmethod
    def _ref(r: Rollout, who: str, reason: str) -> _Ref:
        return {'id': r.id, 'release': r.release, 'state': r.state.value, 'step': r.step,
                'who': who, 'reason': reason}
