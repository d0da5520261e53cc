#!/usr/bin/env python3
"""Benchmark rollout gate evaluation at 10,000 robots.

One rollout over 10,000 robots, at its 50 % step (5,000 robots updated, 5,000 baseline),
baking; every robot ended 20 mission attempts in the gate window (seeded outcomes,
recoveries, durations, diagnostics errors). Measures, interleaved round by round:

1. ``gate``: ``CohortBook.evaluate`` (fleet_manager.core.rollouts): the updated cohort and
   the baseline summed from the 10,000 robots' counters, exposure per robot, and every check
   of the analysis template (what the API's live evaluation and every bake decision cost);
2. ``tick``: ``RolloutController.tick`` with a new attempt since the previous tick (so the
   gate is evaluated): the pass over the robots' phases and views plus the gate;
3. ``ingest``: ``RolloutController.on_attempt`` per mission outcome (per attempt, from a
   batch of 10,000);
4. baseline: a plain-Python loop adding seven counters of 10,000 small dicts, the least
   work a gate over 10,000 robots can do in Python; ratios against it compare across runs.

Goal: the tick median under 100 ms at 10,000 robots (a fifth of the default
rollout_tick_period of 0.5 s).
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import random
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import Result, fmt, log, ratio, require_env, summary  # noqa: E402

NAME = 'bench_rollout_gate'
GOAL_MS = 100.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='20 rounds instead of 60')
    p.add_argument('--robots', type=int, default=10_000, help='robots (default: %(default)s)')
    p.add_argument('--attempts', type=int, default=20,
                   help='mission attempts per robot in the window (default: %(default)s)')
    p.add_argument('--rounds', type=int, default=0, help='rounds (default: 60, 20 quick)')
    p.add_argument('--seed', type=int, default=20260101, help='random seed')
    return p


def setup(robots: int, attempts: int, seed: int) -> tuple[object, object, dict, float]:
    """A controller with one rollout at its 50 % step, baking, counters filled."""
    from fleet_manager.core.budget import ALLOWED
    from fleet_manager.core.rollout_gates import AnalysisTemplate, Metric, MetricCheck
    from fleet_manager.core.rollout_model import RobotEntry, RobotPhase, Step, Strategy
    from fleet_manager.core.rollouts import RobotView, RolloutController, RolloutRequest
    rng = random.Random(seed)
    sites = ('phoenix', 'chicago', 'dallas', 'reno')
    views = {f'robot{i}': RobotView(f'robot{i}', True, True, '1.0.0',
                                    {'site': (sites[i % 4],)}) for i in range(robots)}
    analysis = AnalysisTemplate('default', 5, 5, (
        MetricCheck(Metric.MISSION_SUCCESS, minimum=0.5, max_degradation=0.5),
        MetricCheck(Metric.RECOVERIES_PER_HOUR, max_degradation=100.0),
        MetricCheck(Metric.INTERVENTIONS_PER_MISSION, max_degradation=1.0),
        MetricCheck(Metric.DIAGNOSTICS_ERRORS_PER_HOUR, max_degradation=100.0)))
    strategy = Strategy('bench', (Step('canary', robots=1, bake_missions=1),
                                  Step('50%', percent=50, bake_missions=10 ** 9),
                                  Step('100%', percent=100)), 'default')
    c = RolloutController()
    now = 1_000_000.0
    r, _ = c.create(RolloutRequest('1.1.0', 'a', strategy, analysis, list(views.values())),
                    ALLOWED, now, 'bench', '')
    r.step = 1
    for robot in r.order[:r.target()]:  # as if the first steps had gone through
        r.robots[robot] = RobotEntry(RobotPhase.UPDATED, '1.0.0', now)
        views[robot] = RobotView(robot, True, True, '1.1.0', views[robot].labels)
    r.bake_started = now
    c.tick(views, ALLOWED, now)
    for robot in r.order:
        version = views[robot].version
        for k in range(attempts):
            end = now + 60.0 * (k + 1)
            c.on_attempt(robot, version, rng.random() < 0.95, rng.randrange(3),
                         int(rng.random() < 0.05), end - rng.uniform(60, 300), end)
        if rng.random() < 0.1:
            c.on_diagnostics_error(robot, version, now + 30.0)
    return c, r, views, now + 60.0 * (attempts + 1)


def baseline(rows: list[dict[str, float]]) -> dict[str, float]:
    """Seven counters of every row added up in plain Python."""
    total = dict.fromkeys(rows[0], 0.0)
    for row in rows:
        for key in total:
            total[key] += row[key]
    return total


def main() -> int:
    args = build_parser().parse_args()
    require_env('fleet_manager.core.rollouts')
    from fleet_manager.core.budget import ALLOWED
    rounds = args.rounds or (20 if args.quick else 60)
    res = Result(NAME, args.quick, {'robots': args.robots, 'attempts_per_robot': args.attempts,
                                    'rounds': rounds, 'seed': args.seed,
                                    'baseline': 'plain-Python sum of 7 counters of '
                                                f'{args.robots} dicts'})
    log(f'building a rollout over {args.robots} robots ({args.attempts} attempts each)')
    t = time.perf_counter()
    c, r, views, now = setup(args.robots, args.attempts, args.seed)
    setup_s = time.perf_counter() - t
    ingest_per_attempt = setup_s / (args.robots * args.attempts)
    rows = [{'attempts': 20.0, 'succeeded': 19.0, 'recoveries': 20.0, 'interventions': 1.0,
             'mission_seconds': 3600.0, 'diagnostics_errors': 0.0, 'robot_seconds': 7200.0}
            for _ in range(args.robots)]
    gate_ms, tick_ms, base_ms = [], [], []
    verdict = ''
    canary = r.order[0]
    gc.disable()
    try:
        for i in range(rounds):
            now += 1.0
            t = time.perf_counter()
            result = c.cohorts.evaluate(r, now)
            gate_ms.append((time.perf_counter() - t) * 1000)
            verdict = result.verdict.value
            c.on_attempt(canary, '1.1.0', True, 0, 0, now - 60, now)  # something new
            t = time.perf_counter()
            c.tick(views, ALLOWED, now)
            tick_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            baseline(rows)
            base_ms.append((time.perf_counter() - t) * 1000)
            if i % 10 == 0:
                log(f'round {i}: gate {gate_ms[-1]:.1f} ms, tick {tick_ms[-1]:.1f} ms, '
                    f'baseline {base_ms[-1]:.1f} ms')
    finally:
        gc.enable()
    gate, tick, base = summary(gate_ms), summary(tick_ms), summary(base_ms)
    res.data['results'] = {
        'gate_ms': gate, 'tick_ms': tick, 'baseline_ms': base,
        'ingest_us_per_attempt': round(ingest_per_attempt * 1e6, 3),
        'gate_over_baseline': ratio(gate['median'], base['median']),
        'tick_over_baseline': ratio(tick['median'], base['median']),
        'verdict': verdict, 'canary_missions': result.canary_missions,
        'baseline_missions': result.baseline_missions, 'state': r.state.value}
    res.headline('gate median', gate['median'], 'ms')
    res.headline('tick median', tick['median'], 'ms')
    res.headline('gate / baseline', res.data['results']['gate_over_baseline'], 'x')
    res.goal(f'tick median < {GOAL_MS:g} ms at {args.robots} robots', tick['median'] < GOAL_MS,
             tick['median'])
    path = res.write()
    print(f'gate evaluation, {args.robots} robots ({result.canary_missions} + '
          f'{result.baseline_missions} missions): median {fmt(gate["median"])} ms, p99 '
          f'{fmt(gate["p99"])} ms; tick {fmt(tick["median"])} ms; baseline '
          f'{fmt(base["median"])} ms (gate/baseline {res.data["results"]["gate_over_baseline"]}'
          f'); ingest {res.data["results"]["ingest_us_per_attempt"]} us/attempt -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
