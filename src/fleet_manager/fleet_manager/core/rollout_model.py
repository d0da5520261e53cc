"""The data of staged rollouts: strategies and their steps, rollouts, robots' phases.

A :class:`Strategy` (declared in the desired state) is a list of :class:`Step` s: each
selects more robots (a number, or a percentage of the rollout's scope, cumulative) and
bakes (a number of missions of the updated cohort and/or a time) before its analysis gate
decides. A :class:`Rollout` is one release going through one strategy over a scope of
robots; its robots move through :class:`RobotPhase` s. The state machine is
:class:`~fleet_manager.core.rollouts.RolloutController`. No rclpy, no clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import enum
import math
from typing import Any

from fleet_manager.core.rollout_gates import AnalysisTemplate, Metric, MetricCheck


class RolloutState(str, enum.Enum):
    """Where a rollout is."""

    PROGRESSING = 'progressing'
    """Selecting robots, updating them when idle, baking the current step."""
    PAUSED = 'paused'
    """Holding: no new install and no next step until resumed or promoted (an operator, an
    inconclusive gate) or until the error budget allows again."""
    ROLLING_BACK = 'rolling_back'
    """Taking the updated robots back to their previous versions, each when idle."""
    COMPLETED = 'completed'
    """Every robot of the scope runs the release."""
    ROLLED_BACK = 'rolled_back'
    """A gate or an install failed; the robots are back on their previous versions."""
    ABORTED = 'aborted'
    """An operator aborted it; the robots are back on their previous versions."""

    @property
    def terminal(self) -> bool:
        """True once nothing more happens to the rollout."""
        return self in (RolloutState.COMPLETED, RolloutState.ROLLED_BACK,
                        RolloutState.ABORTED)


class PauseCause(str, enum.Enum):
    """Why a rollout is paused."""

    OPERATOR = 'operator'
    """An operator paused it; resume or promote continues."""
    INCONCLUSIVE = 'inconclusive'
    """The bake ended without enough missions to decide; resume bakes again, promote
    skips ahead."""
    ERROR_BUDGET = 'error_budget'
    """The fleet's mission SLO error budget is exhausted; resumes by itself once it is not."""


class RobotPhase(str, enum.Enum):
    """Where a robot selected by a rollout is (robots not selected are the baseline)."""

    WAITING = 'waiting'
    """Selected for the release: gets no new mission and is updated once idle."""
    INSTALLING = 'installing'
    """The install command was sent; waiting for the agent's result."""
    UPDATED = 'updated'
    """Runs the release (and missions again)."""
    FAILED = 'failed'
    """The install failed or timed out."""
    REVERT_WAITING = 'revert_waiting'
    """To go back to its previous version once idle (no new mission meanwhile)."""
    REVERTING = 'reverting'
    """The install of its previous version was sent."""
    REVERTED = 'reverted'
    """Back on its previous version."""
    REVERT_FAILED = 'revert_failed'
    """Could not be taken back; see its robot.install events."""


RESERVED_PHASES = frozenset({RobotPhase.WAITING, RobotPhase.INSTALLING,
                             RobotPhase.REVERT_WAITING, RobotPhase.REVERTING})
"""Phases in which a robot gets no new mission."""


@dataclass(frozen=True)
class Step:
    """One step: ``robots`` (a count) or ``percent`` of the scope, cumulative, then a bake of
    ``bake_missions`` missions of the updated cohort and/or ``bake_seconds``."""

    name: str
    robots: int | None = None
    percent: float | None = None
    bake_missions: int = 0
    bake_seconds: float = 0.0

    def target(self, scope: int) -> int:
        """Robots (cumulative) this step updates out of ``scope``: at least 1."""
        if self.robots is not None:
            wanted = self.robots
        else:
            wanted = math.ceil(scope * (self.percent or 0.0) / 100.0 - 1e-9)
        return max(1, min(scope, wanted))

    @property
    def has_bake(self) -> bool:
        """True when the step bakes (and its gate decides) before the next one."""
        return self.bake_missions > 0 or self.bake_seconds > 0


@dataclass(frozen=True)
class Strategy:
    """How a release goes out: steps, the analysis template, how robots are drawn."""

    name: str
    steps: tuple[Step, ...]
    analysis: str = ''
    spread_by: tuple[str, ...] = ('site',)
    """Labels robots are drawn across, round robin, so one site or aisle does not decide."""
    install_timeout: float = 600.0
    """s from the install command to the agent's result before the install counts failed."""


@dataclass
class RobotEntry:
    """A selected robot: its phase, the version it had, and since when."""

    phase: RobotPhase
    previous_version: str
    since: float
    sent_at: float | None = None
    error: str = ''


@dataclass
class Rollout:
    """One release going out through one strategy over a scope of robots."""

    id: str
    release: str
    artifact: str
    strategy: Strategy
    analysis: AnalysisTemplate
    order: list[str]
    """The scope in draw order: step k updates the first ``target`` robots of it."""
    previous: dict[str, str]
    """Every robot of the scope -> the version it ran when the rollout was created."""
    artifacts: dict[str, str]
    """Version -> artifact for the previous versions (to roll back to)."""
    created_at: float
    created_by: str
    reason: str
    state: RolloutState = RolloutState.PROGRESSING
    pause_cause: PauseCause | None = None
    step: int = 0
    step_started: float = 0.0
    bake_started: float | None = None
    step_passed: bool = False
    """The current step's gate passed (or an operator promoted): next step once allowed."""
    updated_at: float = 0.0
    robots: dict[str, RobotEntry] = field(default_factory=dict)
    aborted: bool = False
    outcome: str = ''
    gates: list[dict[str, Any]] = field(default_factory=list)
    """Decisive gate results (newest last), for the API and the dashboard."""
    last_gate: dict[str, Any] | None = None
    """The latest evaluation during the bake (not necessarily decisive)."""

    @property
    def current_step(self) -> Step:
        """The step the rollout is at."""
        return self.strategy.steps[min(self.step, len(self.strategy.steps) - 1)]

    def target(self) -> int:
        """Robots the current step updates (cumulative)."""
        return self.current_step.target(len(self.order))

    def in_phase(self, *phases: RobotPhase) -> list[str]:
        """Selected robots in one of ``phases``, in draw order."""
        return [r for r in self.order if r in self.robots and self.robots[r].phase in phases]

    def to_dict(self) -> dict[str, Any]:
        """The rollout as JSON (the store's and the API's shape)."""
        strategy = asdict(self.strategy)
        analysis = {'name': self.analysis.name, 'min_missions': self.analysis.min_missions,
                    'min_baseline_missions': self.analysis.min_baseline_missions,
                    'checks': [{**asdict(c), 'metric': c.metric.value}
                               for c in self.analysis.checks]}
        counts: dict[str, int] = {}
        for entry in self.robots.values():
            counts[entry.phase.value] = counts.get(entry.phase.value, 0) + 1
        return {
            'id': self.id, 'release': self.release, 'artifact': self.artifact,
            'state': self.state.value,
            'pause_cause': self.pause_cause.value if self.pause_cause else None,
            'step': self.step, 'step_name': self.current_step.name,
            'steps': len(self.strategy.steps), 'target': self.target(),
            'scope': len(self.order), 'step_started': self.step_started,
            'bake_started': self.bake_started, 'step_passed': self.step_passed,
            'created_at': self.created_at,
            'updated_at': self.updated_at, 'created_by': self.created_by,
            'reason': self.reason, 'aborted': self.aborted, 'outcome': self.outcome,
            'strategy': strategy, 'analysis': analysis, 'order': list(self.order),
            'previous': dict(self.previous), 'artifacts': dict(self.artifacts),
            'phases': counts,
            'robots': {r: {'phase': e.phase.value, 'previous_version': e.previous_version,
                           'since': e.since, 'sent_at': e.sent_at, 'error': e.error}
                       for r, e in self.robots.items()},
            'gates': list(self.gates), 'last_gate': self.last_gate,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> 'Rollout':
        """Rebuild a rollout written by :meth:`to_dict`."""
        s = d['strategy']
        strategy = Strategy(s['name'], tuple(Step(**step) for step in s['steps']),
                            s.get('analysis', ''), tuple(s.get('spread_by', ())),
                            float(s.get('install_timeout', 600.0)))
        a = d['analysis']
        analysis = AnalysisTemplate(a['name'], int(a['min_missions']),
                                    int(a['min_baseline_missions']), tuple(
                                        MetricCheck(Metric(c['metric']), c.get('minimum'),
                                                    c.get('maximum'), c.get('max_degradation'))
                                        for c in a.get('checks', ())))
        robots = {r: RobotEntry(RobotPhase(e['phase']), e['previous_version'],
                                float(e['since']), e.get('sent_at'), e.get('error', ''))
                  for r, e in d.get('robots', {}).items()}
        cause = d.get('pause_cause')
        return cls(
            id=d['id'], release=d['release'], artifact=d.get('artifact', ''),
            strategy=strategy, analysis=analysis, order=list(d['order']),
            previous=dict(d['previous']), artifacts=dict(d.get('artifacts', {})),
            created_at=float(d['created_at']), created_by=d.get('created_by', ''),
            reason=d.get('reason', ''), state=RolloutState(d['state']),
            pause_cause=PauseCause(cause) if cause else None, step=int(d['step']),
            step_started=float(d.get('step_started', 0.0)),
            bake_started=d.get('bake_started'),
            step_passed=bool(d.get('step_passed', False)),
            updated_at=float(d.get('updated_at', 0.0)),
            robots=robots, aborted=bool(d.get('aborted', False)),
            outcome=d.get('outcome', ''), gates=list(d.get('gates', [])),
            last_gate=d.get('last_gate'))
