"""Staged rollouts with a fake clock: steps, idle-only installs, gates, rollback, operators,
and the error budget policy (fed by the real SLO engine)."""

from __future__ import annotations

from typing import Iterable

import pytest

from fleet_manager.core.budget import ALLOWED, BudgetPolicy, BudgetVerdict
from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.rollout_gates import (
    AnalysisTemplate,
    CohortStats,
    Metric,
    MetricCheck,
    Verdict,
    evaluate_gate,
)
from fleet_manager.core.rollout_model import (
    PauseCause,
    RobotPhase,
    Rollout,
    RolloutState,
    Step,
    Strategy,
)
from fleet_manager.core.rollouts import RobotView, RolloutController, RolloutRequest, draw_order
from fleet_manager.core.slo import MissionOutcome, SloEngine, SloSpec

ANALYSIS = AnalysisTemplate('default', min_missions=4, min_baseline_missions=4, checks=(
    MetricCheck(Metric.MISSION_SUCCESS, minimum=0.8, max_degradation=0.1),
    MetricCheck(Metric.RECOVERIES_PER_HOUR, max_degradation=6.0)))
STRATEGY = Strategy('standard', (
    Step('canary', robots=1, bake_missions=4),
    Step('50%', percent=50, bake_missions=4, bake_seconds=30),
    Step('100%', percent=100)), 'default', ('site',), install_timeout=60.0)


class Fleet:
    """Robots as the controller sees them, a fake clock and what was installed when."""

    def __init__(self, n: int = 6) -> None:
        self.now = 1000.0
        self.views = {f'r{i}': RobotView(f'r{i}', True, True, '1.0.0',
                                         {'site': ('phx' if i % 2 else 'chi',)})
                      for i in range(1, n + 1)}
        self.installs: list[tuple[str, str, bool]] = []

    def set(self, robot: str, **changes: object) -> None:
        v = self.views[robot]
        self.views[robot] = RobotView(v.robot_id, bool(changes.get('online', v.online)),
                                      bool(changes.get('idle', v.idle)),
                                      str(changes.get('version', v.version)), v.labels)

    def tick(self, c: RolloutController, budget: BudgetVerdict = ALLOWED,
             dt: float = 1.0) -> list[str]:
        self.now += dt
        out = c.tick(self.views, budget, self.now)
        for order in out.installs:
            # The test's check of "never mid-mission": the robot was idle when sent.
            self.installs.append((order.robot_id, order.version,
                                  self.views[order.robot_id].idle))
        return [type(p).__name__ for p, _ in out.events]

    def finish_installs(self, c: RolloutController, r: Rollout, ok: bool = True) -> None:
        for robot, entry in r.robots.items():
            if entry.phase in (RobotPhase.INSTALLING, RobotPhase.REVERTING):
                version = r.release if entry.phase == RobotPhase.INSTALLING \
                    else entry.previous_version
                if ok:
                    self.set(robot, version=version)
                c.on_install(robot, r.id, 'succeeded' if ok else 'failed', version,
                             '' if ok else 'exit code 1', False, self.now)

    def missions(self, c: RolloutController, robots: Iterable[str], ok: bool,
                 count: int = 1) -> None:
        for robot in robots:
            for _ in range(count):
                self.now += 1.0
                c.on_attempt(robot, self.views[robot].version, ok, 0, 0, self.now - 60.0,
                             self.now)


def create(c: RolloutController, fleet: Fleet, release: str = '1.1.0',
           budget: BudgetVerdict = ALLOWED) -> Rollout:
    r, _ = c.create(RolloutRequest(release, f'reg/robot:{release}', STRATEGY, ANALYSIS,
                                   list(fleet.views.values()), {'1.0.0': 'reg/robot:1.0.0'}),
                    budget, fleet.now, 'alice', 'ship it')
    return r


def test_draw_order_alternates_sites() -> None:
    views = [RobotView(f'r{i}', True, True, '1', {'site': ('a' if i <= 3 else 'b',)})
             for i in (10, 1, 2, 3, 4, 5, 6)]
    assert draw_order(views, ('site',)) == ['r1', 'r4', 'r2', 'r5', 'r3', 'r6', 'r10']


def test_bad_release_updates_only_the_idle_canary_then_rolls_back() -> None:
    fleet, c = Fleet(), RolloutController()
    canary = draw_order(list(fleet.views.values()), ('site',))[0]
    fleet.set(canary, idle=False)  # mid-mission when the rollout starts
    r = create(c, fleet)
    assert r.robots[canary].phase == RobotPhase.WAITING and canary in c.reserved()
    fleet.tick(c)
    assert fleet.installs == []  # never mid-mission
    fleet.set(canary, idle=True)
    fleet.tick(c)
    assert fleet.installs == [(canary, '1.1.0', True)]
    fleet.finish_installs(c, r)
    fleet.tick(c)  # bake starts
    assert r.bake_started is not None and c.reserved() == set()
    baseline = [x for x in fleet.views if x != canary]
    fleet.missions(c, baseline, ok=True, count=2)
    fleet.missions(c, [canary], ok=True, count=2)
    fleet.tick(c)
    assert r.state == RolloutState.PROGRESSING
    assert r.last_gate is not None and r.last_gate['verdict'] == 'inconclusive'  # 2 of 4
    fleet.missions(c, [canary], ok=False, count=2)  # 50 % now: below the minimum 0.8
    assert c.cohorts.evaluate(r, fleet.now).verdict == Verdict.FAIL  # a reader (the API)...
    assert r.state == RolloutState.PROGRESSING  # ...decides nothing; the next tick does
    events = fleet.tick(c)
    assert 'RolloutGate' in events and r.state == RolloutState.ROLLING_BACK
    assert r.gates[-1]['verdict'] == 'fail'
    assert any(ch['metric'] == 'mission_success' and ch['verdict'] == 'fail'
               for ch in r.gates[-1]['checks'])
    fleet.set(canary, idle=False)
    fleet.tick(c)
    assert len(fleet.installs) == 1  # the revert waits for the robot to be idle as well
    fleet.set(canary, idle=True)
    fleet.tick(c)
    assert fleet.installs[-1] == (canary, '1.0.0', True)
    fleet.finish_installs(c, r)
    events = fleet.tick(c)
    assert 'RolloutRolledBack' in events and r.state == RolloutState.ROLLED_BACK
    assert {robot for robot, _, _ in fleet.installs} == {canary}  # nobody else touched
    assert fleet.views[canary].version == '1.0.0'
    assert c.rollout_of(canary) is None


def run_to_completion(c: RolloutController, fleet: Fleet, r: Rollout) -> list[str]:
    seen: list[str] = []
    for _ in range(40):
        seen += fleet.tick(c)
        fleet.finish_installs(c, r)
        updated = r.in_phase(RobotPhase.UPDATED)
        fleet.missions(c, updated, ok=True, count=1)
        fleet.missions(c, [x for x in fleet.views if x not in updated], ok=True, count=1)
        fleet.now += 10.0
        if r.state.terminal:
            break
    return seen


def test_good_release_goes_through_every_step() -> None:
    fleet, c = Fleet(), RolloutController()
    r = create(c, fleet)
    seen = run_to_completion(c, fleet, r)
    assert r.state == RolloutState.COMPLETED, r.to_dict()
    assert seen.count('RolloutStep') == 2 and 'RolloutCompleted' in seen  # + the first
    assert {v.version for v in fleet.views.values()} == {'1.1.0'}
    assert [g['verdict'] for g in r.gates] == ['pass', 'pass']
    assert all(idle for _, _, idle in fleet.installs)
    assert len(fleet.installs) == len(fleet.views)


def test_inconclusive_pauses_and_operators_resume_promote_and_abort() -> None:
    fleet, c = Fleet(4), RolloutController()
    strategy = Strategy('timed', (Step('canary', robots=1, bake_seconds=30),
                                  Step('all', percent=100)), 'default')
    r, _ = c.create(RolloutRequest('1.1.0', 'a', strategy, ANALYSIS,
                                   list(fleet.views.values())), ALLOWED, fleet.now, 'bob', '')
    fleet.tick(c)
    fleet.finish_installs(c, r)
    fleet.tick(c)
    events = fleet.tick(c, dt=31.0)  # the bake ends with no mission: inconclusive
    assert 'RolloutPaused' in events and r.pause_cause == PauseCause.INCONCLUSIVE
    with pytest.raises(Conflict):
        c.pause(r.id, 'bob', '', fleet.now)
    c.resume(r.id, 'bob', 'bake again', fleet.now)
    assert r.state == RolloutState.PROGRESSING
    fleet.tick(c)
    assert r.bake_started == fleet.now  # a fresh window
    c.pause(r.id, 'bob', 'lunch', fleet.now)
    out = c.promote(r.id, 'bob', 'looks fine', False, ALLOWED, fleet.now)
    assert r.step == 1 and r.state == RolloutState.PROGRESSING
    assert [type(p).__name__ for p, _ in out.events] == ['RolloutPromoted', 'RolloutStep']
    fleet.tick(c)  # installs the rest
    out = c.abort(r.id, 'carol', 'wrong week', fleet.now)
    assert r.state == RolloutState.ROLLING_BACK and r.aborted
    with pytest.raises(Conflict):
        c.promote(r.id, 'bob', '', False, ALLOWED, fleet.now)
    for _ in range(3):
        fleet.finish_installs(c, r)
        fleet.tick(c)
    assert r.state == RolloutState.ABORTED
    assert {v.version for v in fleet.views.values()} == {'1.0.0'}
    with pytest.raises(Conflict, match='aborted'):
        c.promote(r.id, 'bob', '', False, ALLOWED, fleet.now)
    with pytest.raises(NotFound):
        c.promote('R-99', 'bob', '', False, ALLOWED, fleet.now)


def test_failed_or_lost_installs_roll_back() -> None:
    fleet, c = Fleet(4), RolloutController()
    r = create(c, fleet)
    fleet.tick(c)
    fleet.finish_installs(c, r, ok=False)
    assert r.state == RolloutState.ROLLING_BACK
    fleet.tick(c)
    assert r.state == RolloutState.ROLLED_BACK  # it never left 1.0.0: nothing to revert
    fleet2, c2 = Fleet(4), RolloutController()
    r2 = create(c2, fleet2)
    fleet2.tick(c2)
    fleet2.tick(c2, dt=61.0)  # no result within install_timeout
    assert r2.state == RolloutState.ROLLING_BACK
    assert 'no install result' in r2.outcome


def test_create_refuses_overlaps_and_nothing_to_do() -> None:
    fleet, c = Fleet(4), RolloutController()
    fleet.set('r4', version='')  # never reported a version: out of the scope
    r = create(c, fleet)
    assert 'r4' not in r.order and len(r.order) == 3
    with pytest.raises(Conflict, match='is in rollout R-1'):
        create(c, fleet, '1.2.0')
    with pytest.raises(ValidationError, match='already runs'):
        create(RolloutController(), fleet, '1.0.0')


def test_a_rollout_survives_a_restart_of_the_controller() -> None:
    fleet, c = Fleet(4), RolloutController()
    r = create(c, fleet)
    fleet.tick(c)
    copy = Rollout.from_dict(r.to_dict())
    assert copy.to_dict() == r.to_dict()
    c2 = RolloutController([copy])
    fleet.finish_installs(c2, copy)
    assert copy.in_phase(RobotPhase.UPDATED) == [copy.order[0]]
    assert c2.get('R-1') is copy and c2.rollout_of(copy.order[0]) is copy
    done = Rollout.from_dict({**r.to_dict(), 'state': 'completed'})
    assert create(RolloutController([done]), Fleet(2), '1.2.0').id == 'R-2'


def test_gate_verdicts() -> None:
    def stats(attempts: int, ok: int, recoveries: int = 0) -> CohortStats:
        s = CohortStats()
        for i in range(attempts):
            s.add_attempt(i < ok, recoveries if i == 0 else 0, 0, 600.0)
        return s
    assert evaluate_gate(ANALYSIS, stats(3, 3), stats(9, 9), 60).verdict == Verdict.INCONCLUSIVE
    assert evaluate_gate(ANALYSIS, stats(5, 5), stats(2, 2), 60).verdict == Verdict.INCONCLUSIVE
    fallback = evaluate_gate(ANALYSIS, stats(5, 5), stats(2, 2), 60, stats(9, 9))
    assert fallback.verdict == Verdict.PASS and fallback.baseline_scope == 'rollout'
    # Worse than the baseline by more than 0.1, though above the minimum 0.8:
    drop = evaluate_gate(ANALYSIS, stats(10, 8), stats(10, 10), 60)
    assert drop.verdict == Verdict.FAIL and 'worse by 0.2' in drop.summary()
    # A failure outranks missing data; recoveries per mission-hour compare too.
    assert evaluate_gate(ANALYSIS, stats(5, 1), stats(0, 0), 60).verdict == Verdict.FAIL
    thrash = evaluate_gate(ANALYSIS, stats(5, 5, recoveries=10), stats(5, 5), 60)
    assert thrash.verdict == Verdict.FAIL
    assert thrash.checks[1].canary == pytest.approx(12.0)  # 10 per 50 min


def exhausting_engine(now: float) -> SloEngine:
    spec = SloSpec(name='mission_success', sli='mission_success', objective=0.95,
                   period_s=3600.0, alerts=(), step_s=60.0)
    engine = SloEngine([spec])
    for i in range(10):  # 4 failures in 10 missions: 8x the 5 % budget
        engine.record('mission_success', MissionOutcome(now - 600 + i * 10, i >= 4))
    return engine


def budget_of(engine: SloEngine, policy: BudgetPolicy, now: float) -> BudgetVerdict:
    engine.evaluate(now)
    status = engine.status('mission_success')
    return policy.check({'mission_success': status.error_budget_remaining if status else None})


def test_budget_gate_refuses_and_holds_rollouts_while_exhausted() -> None:
    now = 100_000.0
    engine, policy = exhausting_engine(now), BudgetPolicy()
    exhausted = budget_of(engine, policy, now)
    assert not exhausted.allowed and 'mission_success is exhausted' in exhausted.reason
    fleet, c = Fleet(4), RolloutController()
    fleet.now = now
    with pytest.raises(Conflict, match='exhausted'):
        create(c, fleet, budget=exhausted)
    assert c.list() == []
    # An hour later the failures left the SLO period: the budget is back.
    later = budget_of(engine, policy, now + 3700.0)
    assert later.allowed
    fleet.now = now + 3700.0
    r = create(c, fleet, budget=later)
    fleet.tick(c)
    fleet.finish_installs(c, r)
    fleet.tick(c)
    fleet.missions(c, r.order, ok=True, count=4)
    # The canary's gate passes but the budget is exhausted again: the rollout holds.
    for i in range(10):
        engine.record('mission_success', MissionOutcome(fleet.now - 5 + i * 0.1, False))
    held = budget_of(engine, policy, fleet.now)
    events = fleet.tick(c, held)
    assert r.state == RolloutState.PAUSED and r.pause_cause == PauseCause.ERROR_BUDGET
    assert 'RolloutPaused' in events and r.step == 0
    with pytest.raises(Conflict, match='exhausted'):
        c.promote(r.id, 'alice', '', False, held, fleet.now)
    fleet.tick(c, held)
    assert r.step == 0
    fleet.now += 3700.0
    events = fleet.tick(c, budget_of(engine, policy, fleet.now))
    assert 'RolloutResumed' in events and r.step == 1
