"""The rollout kinds of the desired state: analysis templates, strategies, rollout policy.

::

    analysis:
      - name: default
        min_missions: 5              # updated-cohort missions before the gate decides
        min_baseline_missions: 5     # baseline missions before a relative check decides
        metrics:                     # min / max (absolute), max_degradation (vs baseline)
          mission_success: {min: 0.8, max_degradation: 0.1}
          recoveries_per_hour: {max_degradation: 2.0}
          interventions_per_mission: {max: 0.5}
          diagnostics_errors_per_hour: {max_degradation: 1.0}
    strategies:
      - name: standard
        analysis: default
        spread_by: [site]            # draw robots round robin across these labels
        install_timeout_s: 600
        steps:                       # robots (a count) or percent (cumulative); bake:
          - {name: canary, robots: 1, bake: {missions: 5, time_s: 300}}
          - {percent: 10, bake: {missions: 10}}
          - {percent: 100}           # the last step must reach 100 %
    rollout_policy:
      default_strategy: standard
      error_budget: {slos: [mission_success], min_remaining: 0.0}

Checked by :func:`parse_rollout_kinds` (called by :func:`~.desired.load_desired` for each
file); references between kinds are checked once every file is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Any

from fleet_common.config import ConfigReader
from fleet_manager.core.budget import BudgetPolicy
from fleet_manager.core.rollout_gates import AnalysisTemplate, Metric, MetricCheck
from fleet_manager.core.rollout_model import Step, Strategy

METRIC_KEYS = {'min': 'minimum', 'max': 'maximum', 'max_degradation': 'max_degradation'}
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')


@dataclass(frozen=True)
class RolloutPolicy:
    """Rollout defaults: the strategy used when a rollout names none, the budget policy."""

    default_strategy: str = ''
    budget: BudgetPolicy = field(default_factory=BudgetPolicy)


def check_name(r: ConfigReader, raw: dict[str, Any], key: str, field_: str = 'name') -> str:
    """Return ``raw[field_]`` as a name; ConfigError at ``key.field_`` unless it is 1-64
    letters, digits, ``_``, ``.`` or ``-`` starting with a letter or digit."""
    name = r.string(raw.get(field_), f'{key}.{field_}', required=True)
    if not NAME.match(name):
        raise r.fail(f'{key}.{field_}', f'{name!r}: use letters, digits, "_", "." and "-" '
                     '(at most 64, starting with a letter or digit)')
    return name


def parse_rollout_kinds(r: ConfigReader, root: dict[str, Any], parts: dict[str, Any]) -> None:
    """Add the file's ``analysis``, ``strategies`` and ``rollout_policy`` to ``parts``
    (``analysis``/``strategies`` by name, ``policy``, ``refs`` to check, ``where``)."""
    for i, raw in enumerate(r.seq(root.get('analysis'), 'analysis')):
        key = f'analysis[{i}]'
        raw = r.mapping(raw, key, required=True)
        template = _analysis(r, raw, key, check_name(r, raw, key))
        _claim(r, parts, 'analysis', template.name, f'{key}.name')
        parts['analysis'][template.name] = template
    for i, raw in enumerate(r.seq(root.get('strategies'), 'strategies')):
        key = f'strategies[{i}]'
        raw = r.mapping(raw, key, required=True)
        strategy = _strategy(r, raw, key, check_name(r, raw, key))
        _claim(r, parts, 'strategy', strategy.name, f'{key}.name')
        parts['strategies'][strategy.name] = strategy
        parts['refs'].append((r, f'{key}.analysis', 'analysis', strategy.analysis))
    if root.get('rollout_policy') is not None:
        _claim(r, parts, 'rollout_policy', '', 'rollout_policy')
        parts['policy'] = _policy(r, root['rollout_policy'], parts)


def _claim(r: ConfigReader, parts: dict[str, Any], kind: str, name: str, key: str) -> None:
    first = parts['where'].get((kind, name))
    if first is not None:
        what = f'{kind} {name!r}' if name else kind
        raise r.fail(key, f'{what} is declared twice (also at {first})')
    parts['where'][(kind, name)] = f'{r.file}: {key}'


def _analysis(r: ConfigReader, raw: dict[str, Any], key: str, name: str) -> AnalysisTemplate:
    r.keys(raw, key, ('name', 'metrics'), ('min_missions', 'min_baseline_missions'))
    checks = []
    metrics = r.mapping(raw.get('metrics'), f'{key}.metrics', required=True)
    for metric_name, limits in metrics.items():
        mkey = f'{key}.metrics.{metric_name}'
        try:
            metric = Metric(metric_name)
        except ValueError:
            raise r.fail(mkey, 'unknown metric (one of: '
                         f'{", ".join(m.value for m in Metric)})') from None
        limits = r.mapping(limits, mkey, required=True)
        r.unknown_keys(limits, METRIC_KEYS, mkey)
        if not limits:
            raise r.fail(mkey, 'give at least one of min, max, max_degradation')
        values = {METRIC_KEYS[k]: r.number(v, f'{mkey}.{k}', minimum=0)
                  for k, v in limits.items()}
        checks.append(MetricCheck(metric, **values))
    if not checks:
        raise r.fail(f'{key}.metrics', 'name at least one metric')
    return AnalysisTemplate(
        name, r.integer(raw.get('min_missions', 5), f'{key}.min_missions', minimum=1),
        r.integer(raw.get('min_baseline_missions', 5), f'{key}.min_baseline_missions',
                  minimum=0), tuple(checks))


def _strategy(r: ConfigReader, raw: dict[str, Any], key: str, name: str) -> Strategy:
    r.keys(raw, key, ('name', 'analysis', 'steps'), ('spread_by', 'install_timeout_s'))
    analysis = r.string(raw.get('analysis'), f'{key}.analysis', required=True)
    spread = r.strings(raw.get('spread_by', ['site']), f'{key}.spread_by')
    timeout = r.positive(raw.get('install_timeout_s', 600.0), f'{key}.install_timeout_s')
    raw_steps = r.seq(raw.get('steps'), f'{key}.steps', required=True)
    if not raw_steps:
        raise r.fail(f'{key}.steps', 'must not be empty')
    steps = [_step(r, s, f'{key}.steps[{i}]', i) for i, s in enumerate(raw_steps)]
    last_percent = 0.0
    for i, step in enumerate(steps):
        if step.percent is not None:
            if step.percent < last_percent:
                raise r.fail(f'{key}.steps[{i}].percent', f'{step.percent:g} is below the '
                             f'previous step\'s {last_percent:g} (steps are cumulative)')
            last_percent = step.percent
    if steps[-1].percent != 100:
        raise r.fail(f'{key}.steps[{len(steps) - 1}]', 'the last step must be percent: 100 '
                     '(a rollout ends with every robot of its scope)')
    return Strategy(name, tuple(steps), analysis, spread, timeout)


def _step(r: ConfigReader, raw: Any, key: str, index: int) -> Step:
    raw = r.mapping(raw, key, required=True)
    r.unknown_keys(raw, ('name', 'robots', 'percent', 'bake'), key)
    if ('robots' in raw) == ('percent' in raw):
        raise r.fail(key, 'give exactly one of robots (a count) or percent')
    robots = percent = None
    if 'robots' in raw:
        robots = r.integer(raw['robots'], f'{key}.robots', minimum=1)
        default = 'canary' if index == 0 else f'{robots} robots'
    else:
        percent = r.number(raw['percent'], f'{key}.percent', above=0)
        if percent > 100:
            raise r.fail(f'{key}.percent', f'must be at most 100, got {percent:g}')
        default = f'{percent:g}%'
    bake = r.mapping(raw.get('bake'), f'{key}.bake')
    r.unknown_keys(bake, ('missions', 'time_s'), f'{key}.bake')
    return Step(r.string(raw.get('name'), f'{key}.name') or default, robots, percent,
                r.integer(bake.get('missions', 0), f'{key}.bake.missions', minimum=0),
                r.number(bake.get('time_s', 0.0), f'{key}.bake.time_s', minimum=0))


def _policy(r: ConfigReader, raw: Any, parts: dict[str, Any]) -> RolloutPolicy:
    raw = r.mapping(raw, 'rollout_policy', required=True)
    r.unknown_keys(raw, ('default_strategy', 'error_budget'), 'rollout_policy')
    default = r.string(raw.get('default_strategy'), 'rollout_policy.default_strategy')
    if default:
        parts['refs'].append((r, 'rollout_policy.default_strategy', 'strategy', default))
    budget_raw = r.mapping(raw.get('error_budget'), 'rollout_policy.error_budget')
    r.unknown_keys(budget_raw, ('slos', 'min_remaining'), 'rollout_policy.error_budget')
    budget = BudgetPolicy(
        r.strings(budget_raw.get('slos', ['mission_success']),
                  'rollout_policy.error_budget.slos'),
        r.number(budget_raw.get('min_remaining', 0.0),
                 'rollout_policy.error_budget.min_remaining'))
    return RolloutPolicy(default, budget)
