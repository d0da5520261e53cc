"""Service level objectives: error budgets and multi-window, multi-burn-rate alerts.

The model follows the Google SRE workbook, chapter "Alerting on SLOs". Pure Python, no ROS:
time is always injected as ``now`` (epoch seconds) and nothing here reads a clock.

Definitions (all ratios are computed exactly with :class:`fractions.Fraction` and rounded to
``float`` once, so hand-computed values such as ``0.144 / (1 - 0.99) = 14.4`` come out exact):

* **SLI** over a window = good / (good + bad). ``None`` when the window holds no events.
* **allowed error** = ``1 - objective``, taken from the objective's decimal spelling
  (``0.99`` means exactly 99/100, not the nearest binary float).
* **burn rate** over a window = (bad / total in the window) / (1 - objective). A window with
  no events burns nothing: its burn rate is ``0.0``. A burn rate of 1 spends exactly the
  whole budget over one SLO period.
* **error budget remaining** over the SLO period = ``1 - bad / ((1 - objective) * total)``,
  which is ``1 - burn rate over the period``; ``budget consumed`` is its complement.
  Edge cases: no events in the period -> SLI ``None``, budget remaining ``1.0``, consumed
  ``0.0``. The remaining budget is not clamped: it is negative once the budget is overspent
  (``-0.5`` means 150 % of the budget is gone).

Alert semantics (stateless, no hysteresis): an alert window *fires* when BOTH its long-window
and its short-window burn rate are ``>=`` its ``burn_rate`` threshold (a burn rate exactly at
the threshold fires), and it *clears* as soon as either of them is ``<`` the threshold. The
default policy (:data:`DEFAULT_ALERT_POLICY`) is the workbook's: page at 14.4 over 1 h and
5 m, page at 6 over 6 h and 30 m, ticket at 1 over 3 d and 6 h.

Windows are answered from a bucketed counter store, :class:`SliSeries`: bucket ``i`` holds
the observations with ``i * step < time <= (i + 1) * step``, and a window of ``W`` seconds
ending at ``now`` sums the ``ceil(W / step)`` buckets ending with the bucket that holds
``now``. It covers exactly ``(now - W, now]`` when ``now`` and ``W`` are multiples of the
step, and otherwise starts up to one step later (it is never longer than ``W``).

SLI kinds live in a registry (:data:`SLI_KINDS`); each :class:`SliKind` states what counts as
good and bad and supplies a recorder that turns its domain events into good/bad observations.
Built in: ``mission_success``, ``availability`` and ``ack_time``.

Nothing here is thread-safe; the owner (e.g. the manager node's executor) serializes calls.

This module is the SLO subsystem's public face; the code lives in :mod:`.slo_math` (window
labels, exact burn rates, quantiles), :mod:`.slo_series` (the counter store),
:mod:`.slo_kinds` (SLI kinds, their events and recorders), :mod:`.slo_spec` (alert windows
and SLO specs), :mod:`.slo_eval` (statuses and :class:`SloEngine`) and :mod:`.slo_config`
(loading ``slos.yaml``). Operating hours and UTC offsets are
:mod:`fleet_common.timeofday`'s, as in the workflows; ``Severity`` is the one of
:mod:`.severity` (``page`` and ``ticket`` for SLO alerts).
"""

from __future__ import annotations

from fleet_common.timeofday import MAX_UTC_OFFSET_S, OperatingHours, Shift, parse_utc_offset
from fleet_manager.core.severity import Severity
from fleet_manager.core.slo_eval import (
                                         AlertChange,
                                         AlertState,
                                         AlertStatus,
                                         AlertTransition,
                                         SloEngine,
                                         SloStatus,
                                         evaluate,
)
from fleet_manager.core.slo_kinds import (
                                         SLI_KINDS,
                                         AckTimeRecorder,
                                         AvailabilityRecorder,
                                         HealthInterval,
                                         HealthSample,
                                         IncidentAck,
                                         MissionOutcome,
                                         MissionSuccessRecorder,
                                         SliKind,
                                         SliRecorder,
                                         SliRegistry,
)
from fleet_manager.core.slo_math import (
                                         DAY,
                                         DEFAULT_STEP_S,
                                         HOUR,
                                         MINUTE,
                                         burn_rate,
                                         quantile,
                                         window_label,
)
from fleet_manager.core.slo_series import LatencyStats, SliSeries, WindowCounts
from fleet_manager.core.slo_spec import DEFAULT_ALERT_POLICY, AlertWindow, SloSpec

__all__ = [
    'AckTimeRecorder',
    'AlertChange',
    'AlertState',
    'AlertStatus',
    'AlertTransition',
    'AlertWindow',
    'AvailabilityRecorder',
    'DAY',
    'DEFAULT_ALERT_POLICY',
    'DEFAULT_STEP_S',
    'HOUR',
    'HealthInterval',
    'HealthSample',
    'IncidentAck',
    'LatencyStats',
    'MAX_UTC_OFFSET_S',
    'MINUTE',
    'MissionOutcome',
    'MissionSuccessRecorder',
    'OperatingHours',
    'SLI_KINDS',
    'Severity',
    'Shift',
    'SliKind',
    'SliRecorder',
    'SliRegistry',
    'SliSeries',
    'SloEngine',
    'SloSpec',
    'SloStatus',
    'WindowCounts',
    'burn_rate',
    'evaluate',
    'parse_utc_offset',
    'quantile',
    'window_label',
]
