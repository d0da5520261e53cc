"""Evaluating SLOs: statuses, alert changes and the engine that drives them (see :mod:`.slo`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

from fleet_manager.core.severity import Severity
from fleet_manager.core.slo_kinds import SliRecorder
from fleet_manager.core.slo_math import burn_rate
from fleet_manager.core.slo_series import LatencyStats, SliSeries
from fleet_manager.core.slo_spec import AlertWindow, SloSpec


class _StrEnum(str, Enum):
    """A string-valued enum whose str() is its value (enum.StrEnum needs Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class AlertChange(_StrEnum):
    """How an alert's state changed since the previous evaluation of the same SLO."""

    NONE = 'none'
    """No change: still firing, or still quiet."""

    STARTED = 'started'
    """It fires now and did not before (or there was no previous evaluation)."""

    CLEARED = 'cleared'
    """It fired before and does not now."""


class AlertState(_StrEnum):
    """The state an :class:`AlertTransition` moves an alert into."""

    FIRING = 'firing'
    """Both burn rates reached the threshold; the alert has just started firing."""

    RESOLVED = 'resolved'
    """At least one burn rate dropped below the threshold; the alert has just cleared."""


@dataclass(frozen=True)
class AlertStatus:
    """One alert window's state at an evaluation, with its change since the previous one."""

    alert: AlertWindow
    firing: bool
    change: AlertChange
    burn_long: float
    burn_short: float
    enough_data: bool = True
    """The long window meets the SLO's data-sufficiency rule (``min_coverage``,
    ``min_events``); without enough data the alert never fires, whatever the burn rates."""

    @property
    def name(self) -> str:
        """The alert window's name."""
        return self.alert.name

    @property
    def severity(self) -> Severity:
        """The alert window's severity."""
        return self.alert.severity

    @property
    def just_started(self) -> bool:
        """Fires now and did not at the previous evaluation."""
        return self.change is AlertChange.STARTED

    @property
    def just_cleared(self) -> bool:
        """Fired at the previous evaluation and does not now."""
        return self.change is AlertChange.CLEARED


@dataclass(frozen=True)
class SloStatus:
    """An SLO evaluated at ``time``; see the module docstring for the definitions.

    ``good``/``bad``/``sli``/budget are over the SLO period; ``burn_rates`` maps every window
    label of the alert policy (``'5m'``, ``'1h'`` ...) to its burn rate; ``alerts`` has one
    entry per alert window, in policy order; ``latency`` holds the ack-time median/p90 over
    the period for latency kinds (``None`` otherwise or without samples).
    """

    slo: str
    time: float
    objective: float
    good: float
    bad: float
    sli: float | None
    error_budget_remaining: float
    budget_consumed: float
    burn_rates: Mapping[str, float]
    alerts: tuple[AlertStatus, ...]
    latency: LatencyStats | None = None

    @property
    def total(self) -> float:
        """``good + bad`` over the period."""
        return self.good + self.bad

    @property
    def firing(self) -> tuple[AlertStatus, ...]:
        """The alerts firing now."""
        return tuple(a for a in self.alerts if a.firing)

    @property
    def firing_names(self) -> tuple[str, ...]:
        """Names of the alerts firing now."""
        return tuple(a.name for a in self.alerts if a.firing)

    @property
    def started(self) -> tuple[str, ...]:
        """Names of the alerts that just started firing."""
        return tuple(a.name for a in self.alerts if a.just_started)

    @property
    def cleared(self) -> tuple[str, ...]:
        """Names of the alerts that just cleared."""
        return tuple(a.name for a in self.alerts if a.just_cleared)

    @property
    def severity(self) -> Severity | None:
        """The most urgent severity firing (page before ticket), or ``None``."""
        severities = {a.severity for a in self.alerts if a.firing}
        for severity in (Severity.PAGE, Severity.TICKET):
            if severity in severities:
                return severity
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return the status as a JSON-ready dict."""
        return {
            'slo': self.slo,
            'time': self.time,
            'objective': self.objective,
            'good': self.good,
            'bad': self.bad,
            'sli': self.sli,
            'error_budget_remaining': self.error_budget_remaining,
            'budget_consumed': self.budget_consumed,
            'burn_rates': dict(self.burn_rates),
            'alerts': [{
                'name': a.name, 'severity': str(a.severity), 'firing': a.firing,
                'change': str(a.change), 'burn_long': a.burn_long, 'burn_short': a.burn_short,
                'enough_data': a.enough_data,
            } for a in self.alerts],
            'latency': None if self.latency is None else {
                'count': self.latency.count, 'median_s': self.latency.median_s,
                'p90_s': self.latency.p90_s,
            },
        }


def evaluate(spec: SloSpec, series: SliSeries, now: float,
             previous: SloStatus | None = None) -> SloStatus:
    """Evaluate ``spec`` over ``series`` at ``now``.

    ``previous`` is the last status of the same SLO (``ValueError`` otherwise); each alert's
    ``change`` is STARTED/CLEARED relative to it (without it, every firing alert STARTED).
    The series is only read: call the recorder's ``advance(now)`` first for time-based SLIs.
    It must retain the period and every alert window (:meth:`SliSeries.for_spec` does), else
    ``ValueError``.
    """
    if previous is not None and previous.slo != spec.name:
        raise ValueError(f'previous status is of {previous.slo!r}, not {spec.name!r}')
    budget = spec.error_budget
    period = series.counts(spec.period_s, now)
    if period.total > 0:
        consumed = Fraction(period.bad) / Fraction(period.total) / budget
        sli: float | None = period.good / period.total
        remaining, spent = float(1 - consumed), float(consumed)
    else:
        sli, remaining, spent = None, 1.0, 0.0

    rates: dict[str, float] = {}
    totals: dict[str, float] = {}
    for label, length in spec.windows.items():
        counts = series.counts(length, now)
        rates[label] = burn_rate(counts.bad, counts.total, spec.objective)
        totals[label] = counts.total

    was_firing = set(previous.firing_names) if previous is not None else set()
    alerts = []
    for alert in spec.alerts:
        long_rate, short_rate = rates[alert.long_label], rates[alert.short_label]
        enough = (totals[alert.long_label] >= spec.min_events
                  and series.coverage(alert.long_s, now) >= spec.min_coverage)
        firing = enough and long_rate >= alert.burn_rate and short_rate >= alert.burn_rate
        if firing and alert.name not in was_firing:
            change = AlertChange.STARTED
        elif not firing and alert.name in was_firing:
            change = AlertChange.CLEARED
        else:
            change = AlertChange.NONE
        alerts.append(AlertStatus(alert, firing, change, long_rate, short_rate, enough))

    latency = series.latency_stats(spec.period_s, now) if spec.kind.latency else None
    return SloStatus(spec.name, now, spec.objective, period.good, period.bad, sli, remaining,
                     spent, rates, tuple(alerts), latency)


@dataclass(frozen=True)
class AlertTransition:
    """An alert of an SLO started firing or was resolved; a trigger for the rule engine."""

    slo: str
    alert: str
    state: AlertState
    time: float
    burn_long: float
    burn_short: float
    severity: Severity = Severity.PAGE


class SloEngine:
    """Owns a series and a recorder per SLO, evaluates them and reports alert transitions.

    Feed domain events with :meth:`record` (routed to the SLO's kind recorder), then call
    :meth:`evaluate` periodically; it returns the alerts that started firing or resolved
    since the previous call, in SLO order then policy order.
    """

    def __init__(self, specs: Iterable[SloSpec]) -> None:
        self._specs: dict[str, SloSpec] = {}
        self._series: dict[str, SliSeries] = {}
        self._recorders: dict[str, SliRecorder[Any]] = {}
        self._statuses: dict[str, SloStatus] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f'duplicate SLO name {spec.name!r}')
            series = SliSeries.for_spec(spec)
            self._specs[spec.name] = spec
            self._series[spec.name] = series
            self._recorders[spec.name] = spec.kind.recorder(spec, series)

    @property
    def specs(self) -> tuple[SloSpec, ...]:
        """The SLOs, in the order given."""
        return tuple(self._specs.values())

    def spec(self, name: str) -> SloSpec:
        """Return the SLO called ``name`` (``KeyError`` if unknown)."""
        return self._specs[name]

    def series(self, name: str) -> SliSeries:
        """Return the series of the SLO called ``name``."""
        return self._series[name]

    def recorder(self, name: str) -> SliRecorder[Any]:
        """Return the recorder of the SLO called ``name``."""
        return self._recorders[name]

    def record(self, name: str, event: Any) -> None:
        """Pass ``event`` to the recorder of the SLO called ``name``."""
        self._recorders[name].record(event)

    def status(self, name: str) -> SloStatus | None:
        """Return the last status of the SLO ``name``; ``None`` before the first evaluation."""
        return self._statuses.get(name)

    @property
    def statuses(self) -> dict[str, SloStatus]:
        """The last status of every evaluated SLO."""
        return dict(self._statuses)

    def evaluate(self, now: float) -> list[AlertTransition]:
        """Advance, expire and evaluate every SLO at ``now``; return the alert transitions."""
        transitions: list[AlertTransition] = []
        for name, spec in self._specs.items():
            self._recorders[name].advance(now)
            self._series[name].expire(now)
            status = evaluate(spec, self._series[name], now, self._statuses.get(name))
            self._statuses[name] = status
            for alert in status.alerts:
                if alert.change is AlertChange.NONE:
                    continue
                state = AlertState.FIRING if alert.just_started else AlertState.RESOLVED
                transitions.append(AlertTransition(name, alert.name, state, now,
                                                   alert.burn_long, alert.burn_short,
                                                   alert.severity))
        return transitions
