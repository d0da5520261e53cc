"""SLO specs: the alert windows of a burn-rate policy and the objective (see :mod:`.slo`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from fleet_common.timeofday import OperatingHours
from fleet_manager.core.errors import ValidationError
from fleet_manager.core.severity import ALERT_SEVERITIES, Severity
from fleet_manager.core.slo_kinds import SLI_KINDS, SliKind
from fleet_manager.core.slo_math import (
    DAY,
    DEFAULT_STEP_S,
    HOUR,
    MINUTE,
    exact,
    is_number,
    window_label,
)


@dataclass(frozen=True)
class AlertWindow:
    """One multi-window burn-rate alert.

    It fires when the burn rate over ``long_s`` AND over ``short_s`` are both ``>=``
    ``burn_rate``; it clears when either is ``<`` it. ``0 < short_s <= long_s`` (the workbook
    uses a short window of 1/12 of the long one). Raises ``ValidationError`` naming the field.
    """

    name: str
    severity: Severity
    burn_rate: float
    long_s: float
    short_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError('name', 'must be a non-empty string')
        try:
            object.__setattr__(self, 'severity', Severity.parse(self.severity, ALERT_SEVERITIES))
        except ValueError as error:
            raise ValidationError('severity', str(error)) from None
        for name in ('burn_rate', 'long_s', 'short_s'):
            value = getattr(self, name)
            if not is_number(value) or value <= 0:
                raise ValidationError(name, f'must be a positive number, got {value!r}')
            object.__setattr__(self, name, float(value))
        if self.short_s > self.long_s:
            raise ValidationError('short_s', f'short window {self.short_s:g} s is longer than '
                                  f'the long window {self.long_s:g} s')

    @property
    def long_label(self) -> str:
        """Label of the long window, e.g. ``'1h'``."""
        return window_label(self.long_s)

    @property
    def short_label(self) -> str:
        """Label of the short window, e.g. ``'5m'``."""
        return window_label(self.short_s)


DEFAULT_ALERT_POLICY: tuple[AlertWindow, ...] = (
    # 14.4 over 1 h spends 2 % of a 30-day budget in one hour.
    AlertWindow('page-1h', Severity.PAGE, 14.4, 1 * HOUR, 5 * MINUTE),
    # 6 over 6 h spends 5 % of a 30-day budget in six hours.
    AlertWindow('page-6h', Severity.PAGE, 6.0, 6 * HOUR, 30 * MINUTE),
    # 1 over 3 d spends 10 % of a 30-day budget in three days.
    AlertWindow('ticket-3d', Severity.TICKET, 1.0, 3 * DAY, 6 * HOUR),
)
"""The SRE workbook's recommended policy: two page alerts and one ticket alert."""

DEFAULT_MIN_COVERAGE = 0.5
"""Share of an alert's long window that must have been measured before it may fire: the
1 h page waits for 30 min of data, the 3 d ticket for 36 h."""


@dataclass(frozen=True)
class SloSpec:
    """A service level objective.

    * ``name``: unique id; ``sli``: a kind registered in :data:`SLI_KINDS`.
    * ``objective``: target SLI, strictly between 0 and 1 (0.95 = 95 % good).
    * ``period_s``: the SLO period the error budget is counted over; at least the longest
      alert window.
    * ``threshold_s``: the latency threshold, required by latency kinds (``ack_time``) and
      rejected by the others.
    * ``operating_hours``: only for kinds measured during operating hours (``availability``);
      ``None`` there means around the clock.
    * ``alerts``: the alert policy (may be empty); every window must be ``>= step_s`` and
      every threshold reachable (``burn_rate <= 1 / (1 - objective)``, the burn rate when
      every event is bad).
    * ``step_s``: bucket width of the :class:`SliSeries` that feeds it.
    * ``min_coverage`` (0 to 1, default :data:`DEFAULT_MIN_COVERAGE`) and ``min_events``
      (default 0): the data-sufficiency rule. An alert may fire only once the SLI has been
      measured for at least ``min_coverage`` of its long window and that window holds at
      least ``min_events`` (good + bad: events, or robot-seconds for availability), so the
      first minutes of data (or a handful of missions) never page anyone.

    Invalid values raise ``ValidationError`` whose ``field`` names the offending field
    (``'objective'``, ``'alerts[1].short_s'`` ...).
    """

    name: str
    sli: str
    objective: float
    period_s: float
    threshold_s: float | None = None
    operating_hours: OperatingHours | None = None
    alerts: tuple[AlertWindow, ...] = DEFAULT_ALERT_POLICY
    step_s: float = DEFAULT_STEP_S
    description: str = ''
    min_coverage: float = DEFAULT_MIN_COVERAGE
    min_events: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, 'alerts', tuple(self.alerts))
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError('name', 'must be a non-empty string')
        if self.sli not in SLI_KINDS:
            raise ValidationError('sli', f'unknown SLI kind {self.sli!r}; known: '
                                  f'{", ".join(SLI_KINDS.names())}')
        kind = SLI_KINDS.get(self.sli)
        if not is_number(self.objective) or not 0 < self.objective < 1:
            raise ValidationError('objective', 'must be strictly between 0 and 1, got '
                                  f'{self.objective!r}')
        object.__setattr__(self, 'objective', float(self.objective))
        for name in ('step_s', 'period_s'):
            value = getattr(self, name)
            if not is_number(value) or value <= 0:
                raise ValidationError(name, f'must be a positive number, got {value!r}')
            object.__setattr__(self, name, float(value))
        if not is_number(self.min_coverage) or not 0 <= self.min_coverage <= 1:
            raise ValidationError('min_coverage', 'must be a number from 0 to 1, got '
                                  f'{self.min_coverage!r}')
        if not is_number(self.min_events) or self.min_events < 0:
            raise ValidationError('min_events', 'must be a number of at least 0, got '
                                  f'{self.min_events!r}')
        object.__setattr__(self, 'min_coverage', float(self.min_coverage))
        object.__setattr__(self, 'min_events', float(self.min_events))
        self._check_threshold(kind)
        self._check_operating_hours(kind)
        self._check_alerts()

    def _check_threshold(self, kind: SliKind) -> None:
        if kind.latency:
            if self.threshold_s is None:
                raise ValidationError('threshold_s', f'required by the latency SLI kind '
                                      f'{self.sli!r}')
            if not is_number(self.threshold_s) or self.threshold_s <= 0:
                raise ValidationError('threshold_s', 'must be a positive number, got '
                                      f'{self.threshold_s!r}')
            object.__setattr__(self, 'threshold_s', float(self.threshold_s))
        elif self.threshold_s is not None:
            raise ValidationError('threshold_s', f'only latency SLI kinds take a threshold; '
                                  f'{self.sli!r} is not one')

    def _check_operating_hours(self, kind: SliKind) -> None:
        if self.operating_hours is None:
            return
        if not kind.operating_hours:
            raise ValidationError('operating_hours', f'the SLI kind {self.sli!r} is not '
                                  'measured during operating hours')
        if not isinstance(self.operating_hours, OperatingHours):
            raise ValidationError('operating_hours', 'must be an OperatingHours')

    def _check_alerts(self) -> None:
        seen: set[str] = set()
        max_burn = 1 / (1 - exact(self.objective))
        for index, alert in enumerate(self.alerts):
            where = f'alerts[{index}]'
            if not isinstance(alert, AlertWindow):
                raise ValidationError(where, 'must be an AlertWindow')
            if alert.name in seen:
                raise ValidationError(f'{where}.name', f'duplicate alert name {alert.name!r}')
            seen.add(alert.name)
            for name in ('short_s', 'long_s'):
                if getattr(alert, name) < self.step_s:
                    raise ValidationError(f'{where}.{name}', f'window {getattr(alert, name):g}'
                                          f' s is shorter than the step {self.step_s:g} s')
            if exact(alert.burn_rate) > max_burn:
                raise ValidationError(f'{where}.burn_rate', f'alert {alert.name!r} can never '
                                      f'fire: burn rate {alert.burn_rate:g} is above '
                                      f'{float(max_burn):g}, the burn rate when every event '
                                      f'is bad under objective {self.objective:g}')
            if alert.long_s > self.period_s:
                raise ValidationError('period_s', f'period {self.period_s:g} s is shorter than '
                                      f'the {alert.long_label} window of alert '
                                      f'{alert.name!r}')

    @property
    def kind(self) -> SliKind:
        """The registered SLI kind of this SLO."""
        return SLI_KINDS.get(self.sli)

    @property
    def error_budget(self) -> Fraction:
        """The allowed error ratio ``1 - objective``, exactly (0.95 -> 1/20)."""
        return 1 - exact(self.objective)

    @property
    def windows(self) -> dict[str, float]:
        """Every window the alert policy uses, label -> seconds, shortest first."""
        lengths = sorted({a.long_s for a in self.alerts} | {a.short_s for a in self.alerts})
        return {window_label(length): length for length in lengths}

    @property
    def longest_window_s(self) -> float:
        """The longest alert window, in seconds (0 without alerts)."""
        return max((alert.long_s for alert in self.alerts), default=0.0)
