"""Analysis gates of staged rollouts: the updated cohort against the baseline, on missions.

A gate compares the robots already on the new release (the *canary* cohort, however many
robots the rollout has reached) with the robots of the same rollout still on their previous
version (the *baseline*), over the same window. The metrics are operational, not container
health: mission success, Nav2 recoveries per mission-hour, interventions per mission and
diagnostics errors per robot-hour (:class:`Metric`).

An :class:`AnalysisTemplate` (declared in the desired state, like an Argo Rollouts
AnalysisTemplate) gives the minimum sample sizes and, per metric, absolute limits
(``min``/``max``) and how much worse than the baseline the canary may be
(``max_degradation``, in the metric's own units: a success rate 0.1 lower, 2 recoveries per
hour more). :func:`evaluate_gate` returns PASS, FAIL or INCONCLUSIVE:

* fewer canary missions than ``min_missions``: INCONCLUSIVE, whatever the values;
* any check over its limit: FAIL (a failure outranks missing data);
* a relative check whose baseline has fewer than ``min_baseline_missions``: INCONCLUSIVE;
* otherwise PASS.

Pure Python, no clock: the caller gives the counters and the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import enum
from typing import Any, Iterable

HOUR = 3600.0


class Metric(str, enum.Enum):
    """What a gate measures, per cohort over the window."""

    MISSION_SUCCESS = 'mission_success'
    """Mission attempts that succeeded / attempts that ended (0..1; higher is better)."""
    RECOVERIES_PER_HOUR = 'recoveries_per_hour'
    """Nav2 recoveries per hour of mission time (lower is better)."""
    INTERVENTIONS_PER_MISSION = 'interventions_per_mission'
    """Operator interventions and safety stops per mission attempt (lower is better)."""
    DIAGNOSTICS_ERRORS_PER_HOUR = 'diagnostics_errors_per_hour'
    """Diagnostics turning ERROR per robot-hour in the cohort (lower is better)."""

    @property
    def higher_is_better(self) -> bool:
        """True for success rates, False for rates of trouble."""
        return self is Metric.MISSION_SUCCESS


class Verdict(str, enum.Enum):
    """The outcome of a check or of a whole gate."""

    PASS = 'pass'
    """Within every limit, on enough missions."""
    FAIL = 'fail'
    """Over a limit: the rollout rolls back."""
    INCONCLUSIVE = 'inconclusive'
    """Not enough missions to decide: the rollout pauses at the end of the bake."""


@dataclass(frozen=True)
class MetricCheck:
    """Limits of one metric; None means no such limit."""

    metric: Metric
    minimum: float | None = None
    maximum: float | None = None
    max_degradation: float | None = None

    def limit_text(self) -> str:
        """The limits as one short text (``min 0.8, worse by at most 0.1``)."""
        parts = []
        if self.minimum is not None:
            parts.append(f'min {self.minimum:g}')
        if self.maximum is not None:
            parts.append(f'max {self.maximum:g}')
        if self.max_degradation is not None:
            parts.append(f'at most {self.max_degradation:g} worse than baseline')
        return ', '.join(parts)


@dataclass(frozen=True)
class AnalysisTemplate:
    """Sample sizes and metric limits of a gate (``analysis:`` in the desired state)."""

    name: str
    min_missions: int = 5
    """Mission attempts of the updated cohort before the gate decides anything."""
    min_baseline_missions: int = 5
    """Mission attempts of the baseline before a relative check can decide."""
    checks: tuple[MetricCheck, ...] = ()


@dataclass
class CohortStats:
    """Counters of one cohort (or one robot) over a window."""

    attempts: int = 0
    succeeded: int = 0
    recoveries: int = 0
    interventions: int = 0
    mission_seconds: float = 0.0
    diagnostics_errors: int = 0
    robot_seconds: float = 0.0
    """Exposure of the cohort: robots x seconds they were in it during the window."""

    def add_attempt(self, succeeded: bool, recoveries: int, interventions: int,
                    seconds: float) -> None:
        """Count one mission attempt that ended."""
        self.attempts += 1
        self.succeeded += int(succeeded)
        self.recoveries += max(0, recoveries)
        self.interventions += max(0, interventions)
        self.mission_seconds += max(0.0, seconds)

    def add(self, other: 'CohortStats') -> 'CohortStats':
        """Add ``other``'s counters to these; return self."""
        self.attempts += other.attempts
        self.succeeded += other.succeeded
        self.recoveries += other.recoveries
        self.interventions += other.interventions
        self.mission_seconds += other.mission_seconds
        self.diagnostics_errors += other.diagnostics_errors
        self.robot_seconds += other.robot_seconds
        return self

    @classmethod
    def total(cls, parts: Iterable['CohortStats']) -> 'CohortStats':
        """Return the sum of ``parts``."""
        out = cls()
        for p in parts:
            out.add(p)
        return out

    def value(self, metric: Metric) -> float | None:
        """The metric's value, or None when the cohort has nothing to measure it on."""
        if metric is Metric.MISSION_SUCCESS:
            return self.succeeded / self.attempts if self.attempts else None
        if metric is Metric.INTERVENTIONS_PER_MISSION:
            return self.interventions / self.attempts if self.attempts else None
        if metric is Metric.RECOVERIES_PER_HOUR:
            hours = self.mission_seconds / HOUR
            return self.recoveries / hours if hours > 0 else None
        hours = self.robot_seconds / HOUR
        return self.diagnostics_errors / hours if hours > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """The counters and the metrics, for the API."""
        return {'attempts': self.attempts, 'succeeded': self.succeeded,
                'recoveries': self.recoveries, 'interventions': self.interventions,
                'mission_seconds': round(self.mission_seconds, 3),
                'diagnostics_errors': self.diagnostics_errors,
                'metrics': {m.value: self.value(m) for m in Metric}}


@dataclass(frozen=True)
class CheckResult:
    """One metric's verdict."""

    metric: Metric
    canary: float | None
    baseline: float | None
    limit: str
    verdict: Verdict
    detail: str = ''


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict, its checks and the sample it was decided on."""

    verdict: Verdict
    checks: tuple[CheckResult, ...] = ()
    canary_missions: int = 0
    baseline_missions: int = 0
    window_s: float = 0.0
    detail: str = ''
    baseline_scope: str = 'window'
    """``window`` (the baseline over the same window) or ``rollout`` (not enough baseline
    missions in the window, e.g. at 100 %: the baseline since the rollout started)."""
    canary_stats: CohortStats = field(default_factory=CohortStats)
    baseline_stats: CohortStats = field(default_factory=CohortStats)

    def summary(self) -> str:
        """One line: the verdict and the checks that did not pass."""
        bad = [f'{c.metric.value} {c.detail}' for c in self.checks if c.verdict != Verdict.PASS]
        text = f'{self.verdict.value} on {self.canary_missions} missions'
        if self.detail:
            text += f': {self.detail}'
        return text + (f' ({"; ".join(bad)})' if bad else '')

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON (for the API and the rollout document)."""
        return {'verdict': self.verdict.value, 'canary_missions': self.canary_missions,
                'baseline_missions': self.baseline_missions, 'window_s': self.window_s,
                'detail': self.detail, 'baseline_scope': self.baseline_scope,
                'checks': [{'metric': c.metric.value, 'canary': c.canary,
                            'baseline': c.baseline, 'limit': c.limit,
                            'verdict': c.verdict.value, 'detail': c.detail}
                           for c in self.checks]}


def _check(check: MetricCheck, canary: CohortStats, baseline: CohortStats | None
           ) -> CheckResult:
    metric = check.metric
    c = canary.value(metric)
    b = baseline.value(metric) if baseline is not None else None
    limit = check.limit_text()
    if c is None:
        return CheckResult(metric, c, b, limit, Verdict.INCONCLUSIVE, 'no data in the cohort')
    if check.minimum is not None and c < check.minimum:
        return CheckResult(metric, c, b, limit, Verdict.FAIL,
                           f'{c:.3g} below the minimum {check.minimum:g}')
    if check.maximum is not None and c > check.maximum:
        return CheckResult(metric, c, b, limit, Verdict.FAIL,
                           f'{c:.3g} above the maximum {check.maximum:g}')
    if check.max_degradation is not None:
        if b is None:
            return CheckResult(metric, c, b, limit, Verdict.INCONCLUSIVE,
                               'not enough baseline missions to compare with')
        worse = (b - c) if metric.higher_is_better else (c - b)
        if worse > check.max_degradation:
            return CheckResult(metric, c, b, limit, Verdict.FAIL,
                               f'{c:.3g} against baseline {b:.3g}: worse by {worse:.3g} '
                               f'(at most {check.max_degradation:g})')
    return CheckResult(metric, c, b, limit, Verdict.PASS)


def evaluate_gate(template: AnalysisTemplate, canary: CohortStats, baseline: CohortStats,
                  window_s: float, fallback_baseline: CohortStats | None = None) -> GateResult:
    """Decide a gate (see the module docstring).

    ``baseline`` is the baseline over the same window; when it has fewer than
    ``min_baseline_missions`` and ``fallback_baseline`` (the baseline since the rollout
    started) has enough, relative checks use that instead (``baseline_scope`` says so).
    """
    scope = 'window'
    if baseline.attempts < template.min_baseline_missions and fallback_baseline is not None \
            and fallback_baseline.attempts >= template.min_baseline_missions:
        baseline, scope = fallback_baseline, 'rollout'
    usable = baseline if baseline.attempts >= template.min_baseline_missions else None
    sample = GateResult(Verdict.INCONCLUSIVE, (), canary_missions=canary.attempts,
                        baseline_missions=baseline.attempts, window_s=window_s,
                        baseline_scope=scope, canary_stats=canary, baseline_stats=baseline)
    if canary.attempts < template.min_missions:
        return replace(sample, detail=(
            f'{canary.attempts} of {template.min_missions} missions needed'))
    checks = tuple(_check(c, canary, usable) for c in template.checks)
    verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in verdicts:
        verdict = Verdict.FAIL
    elif Verdict.INCONCLUSIVE in verdicts:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.PASS
    return replace(sample, verdict=verdict, checks=checks)
