"""Fleet KPIs computed from the event log: plain functions over plain events."""

from __future__ import annotations

from collections import Counter, defaultdict
import statistics
from typing import Any, Callable, Iterable

from fleet_manager.core.model import Event

INTERVENTION_TYPES = ('safety_stop', 'command')
"""Robot event types that count as a human intervention."""


def compute_kpis(events: Iterable[Event], now: float, window_s: float,
                 shift_of: Callable[[float], str | None] | None = None) -> dict[str, Any]:
    """Return KPIs over the events in ``(now - window_s, now]``.

    - ``missions``: succeeded/failed and success rate per robot and per software version
      (the version the robot reported when the mission ended);
    - ``recoveries``: recovery behaviours started, per robot and per named area;
    - ``interventions``: safety stops and operator commands, per shift (``shift_of`` names
      the shift of a time; ``None`` or no function: ``'unassigned'``);
    - ``incidents``: mean time to acknowledge and to resolve (s), and counts.
    """
    start = now - window_s
    per_robot: dict[str, Counter[str]] = defaultdict(Counter)
    per_version: dict[str, Counter[str]] = defaultdict(Counter)
    recoveries_robot: Counter[str] = Counter()
    recoveries_area: Counter[str] = Counter()
    interventions: Counter[str] = Counter()
    opened: dict[str, float] = {}
    tta: list[float] = []
    ttr: list[float] = []
    for e in events:
        if not start < e.time <= now:
            continue
        p = e.payload
        if e.kind == 'mission.state' and p.get('state') in ('succeeded', 'failed'):
            robot = str(p.get('robot_id') or e.robot_id or '')
            per_robot[robot][p['state']] += 1
            per_version[str(p.get('software_version') or 'unknown')][p['state']] += 1
        elif e.kind == 'robot.event':
            kind = str(p.get('type', ''))
            if kind == 'recovery_started':
                recoveries_robot[e.robot_id] += 1
                recoveries_area[str(p.get('area') or 'unknown')] += 1
            if kind in INTERVENTION_TYPES:
                interventions[(shift_of(e.time) if shift_of else None) or 'unassigned'] += 1
        elif e.kind == 'incident.opened':
            opened[str(p.get('id', ''))] = e.time
        elif e.kind in ('incident.acknowledged', 'incident.resolved'):
            t0 = opened.get(str(p.get('id', '')))
            if t0 is not None:
                (tta if e.kind == 'incident.acknowledged' else ttr).append(e.time - t0)

    def rates(table: dict[str, Counter[str]]) -> dict[str, dict[str, Any]]:
        out = {}
        for key, c in sorted(table.items()):
            total = c['succeeded'] + c['failed']
            out[key] = {'succeeded': c['succeeded'], 'failed': c['failed'],
                        'success_rate': c['succeeded'] / total if total else None}
        return out

    return {
        'window_s': window_s,
        'missions': {'per_robot': rates(per_robot), 'per_software_version': rates(per_version)},
        'recoveries': {'per_robot': dict(recoveries_robot), 'per_area': dict(recoveries_area)},
        'interventions': {'per_shift': dict(interventions)},
        'incidents': {
            'opened': len(opened),
            'mean_time_to_acknowledge_s': statistics.fmean(tta) if tta else None,
            'mean_time_to_resolve_s': statistics.fmean(ttr) if ttr else None},
    }


def utilization(samples: Iterable[dict[str, Any]], working_mode: int = 2) -> dict[str, float]:
    """Fraction of telemetry samples per robot in which it was working."""
    total: Counter[str] = Counter()
    working: Counter[str] = Counter()
    for s in samples:
        total[s['robot_id']] += 1
        if int(s['mode']) == working_mode:
            working[s['robot_id']] += 1
    return {r: working[r] / n for r, n in sorted(total.items()) if n}
