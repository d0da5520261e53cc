#!/usr/bin/env python3
"""Benchmark one assignment round: 10,000 queued missions x 1,000 robots.

Measures, on the same random inputs (seeded):

1. ``GreedyPriorityPolicy.assign`` (fleet_manager.core.assignment) with prebuilt
   RobotView/MissionView lists: a fresh policy object per round.
2. ``MissionBoard.assign`` (fleet_manager.core.missions) at the same size: what the manager
   runs per round, i.e. the policy plus building the views from RobotRecord/Mission objects,
   the busy set, the dock check and the state transitions/events of every assignment. Each
   round gets a fresh board restored with fresh copies of the queued missions (not timed).
3. ``FleetStore.append`` of that round's events and missions into a fresh SQLite file (what
   the manager's ``_commit`` persists next), fewer rounds.
4. Baseline: a plain-Python loop of ``math.hypot`` straight-line distances, one pass over
   robots x missions/10 pairs (1,000 x 1,000 = 1,000,000 distances at full size), keeping
   the nearest robot per mission. It measures how fast this machine runs plain Python right
   now; ratios against it are comparable across machines and noise levels.

Rounds are interleaved (policy, board, baseline every other round) so that machine noise hits
all figures alike. Goal: policy median under 50 ms.
"""

from __future__ import annotations

import argparse
import gc
import math
import pathlib
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import Result, fmt, log, ratio, require_env, summary  # noqa: E402

NAME = 'bench_assignment'
CAPS = ('tote', 'lift', 'cold', 'tall', 'hazmat')
GOAL_MS = 50.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog='Writes bench/results/bench_assignment.json.')
    p.add_argument('--quick', action='store_true',
                   help='30 rounds instead of 100')
    p.add_argument('--robots', type=int, default=1000, help='robots (default: %(default)s)')
    p.add_argument('--missions', type=int, default=10000,
                   help='queued missions (default: %(default)s)')
    p.add_argument('--rounds', type=int, default=0,
                   help='rounds (default: 100, or 30 with --quick; at least 30 for a p99)')
    p.add_argument('--seed', type=int, default=20240601, help='random seed (default: %(default)s)')
    p.add_argument('--available', type=float, default=0.8,
                   help='share of robots available (default: %(default)s)')
    p.add_argument('--no-store', action='store_true', help='skip the FleetStore.append figure')
    return p


# -- inputs --------------------------------------------------------------------------------
def make_inputs(n_robots: int, n_missions: int, seed: int, available: float):
    """Plain tuples describing robots and missions (the same for every round)."""
    rng = random.Random(seed)
    robots = []
    for i in range(n_robots):
        caps = tuple(sorted(rng.sample(CAPS, rng.randint(1, 3))))
        robots.append((f'robot{i + 1}', rng.uniform(0, 100), rng.uniform(0, 100), caps,
                       rng.random() < available))
    missions = []
    stamps = [1_700_000_000.0 + 0.001 * k for k in range(n_missions)]
    rng.shuffle(stamps)  # distinct created_at, not in id order
    for i in range(n_missions):
        caps = tuple(sorted(rng.sample(CAPS, rng.randint(0, 2))))
        missions.append((f'm{i:05d}', rng.randint(0, 9), stamps[i], rng.uniform(0, 100),
                         rng.uniform(0, 100), caps))
    return robots, missions


def policy_views(robots, missions):
    from fleet_manager.core.assignment import MissionView, RobotView
    rv = [RobotView(rid, x, y, frozenset(caps), avail) for rid, x, y, caps, avail in robots]
    mv = [MissionView(mid, prio, created, x, y, frozenset(caps))
          for mid, prio, created, x, y, caps in missions]
    return rv, mv


def board_inputs(robots, seed: int):
    """RobotRecords for MissionBoard.assign: available ones are online, idle, charged;
    the others are (in turn) working, offline, or in error, all with batteries above the
    floor (so no dock commands are generated)."""
    from fleet_manager.core.model import Connectivity, Mode, Pose, RobotRecord
    rng = random.Random(seed + 1)
    recs = []
    for k, (rid, x, y, caps, avail) in enumerate(robots):
        conn, mode = Connectivity.ONLINE, Mode.IDLE
        if not avail:
            conn, mode = [(Connectivity.ONLINE, Mode.WORKING), (Connectivity.OFFLINE, Mode.IDLE),
                          (Connectivity.ONLINE, Mode.ERROR)][k % 3]
        recs.append(RobotRecord(robot_id=rid, connectivity=conn, mode=mode,
                                battery=rng.uniform(0.3, 1.0), pose=Pose(x, y, 0.0),
                                last_seen=1_700_000_000.0, capabilities=caps, group='bench',
                                dock='', report_period=1.0, last_seq=1))
    return recs


def fresh_missions(missions):
    from fleet_manager.core.missions import Mission, MissionState, Waypoint
    return [Mission(id=mid, state=MissionState.QUEUED, waypoints=(Waypoint(x, y),),
                    created_at=created, updated_at=created, priority=prio, capabilities=caps)
            for mid, prio, created, x, y, caps in missions]


def fresh_board(missions):
    from fleet_manager.core.assignment import GreedyPriorityPolicy
    from fleet_manager.core.config import FleetConfig
    from fleet_manager.core.missions import MissionBoard, MissionSettings
    board = MissionBoard(FleetConfig(site='bench'), MissionSettings(), GreedyPriorityPolicy())
    board.restore(fresh_missions(missions), 1_700_000_100.0)
    return board


# -- baseline ------------------------------------------------------------------------------
def baseline_pass(rxy: list[tuple[float, float]], mxy: list[tuple[float, float]]) -> float:
    """Nearest robot per mission by plain-Python math.hypot: len(rxy) x len(mxy) distances."""
    hypot = math.hypot
    total = 0.0
    for mx, my in mxy:
        best = math.inf
        for rx, ry in rxy:
            d = hypot(rx - mx, ry - my)
            if d < best:
                best = d
        total += best
    return total


def timed(fn, *args):
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    require_env('numpy', 'fleet_manager.core.assignment')
    from fleet_manager.core.assignment import GreedyPriorityPolicy
    rounds = args.rounds or (30 if args.quick else 100)
    res = Result(NAME, args.quick, {
        'robots': args.robots, 'missions': args.missions, 'rounds': rounds, 'seed': args.seed,
        'available_share': args.available, 'capabilities': list(CAPS),
        'area_m': [100, 100], 'robot_caps': '1-3', 'mission_caps': '0-2', 'priorities': '0-9',
        'baseline': 'plain-Python math.hypot nearest-robot loop over robots x missions/10 '
                    'pairs'})

    log(f'building inputs: {args.robots} robots x {args.missions} missions (seed {args.seed})')
    robots, missions = make_inputs(args.robots, args.missions, args.seed, args.available)
    rviews, mviews = policy_views(robots, missions)
    recs = board_inputs(robots, args.seed)
    n_avail = sum(1 for r in robots if r[4])
    rxy = [(r[1], r[2]) for r in robots]
    mxy = [(m[3], m[4]) for m in missions[:max(1, len(missions) // 10)]]
    n_base = len(rxy) * len(mxy)

    # Warm-up (imports, numpy first-call costs), and a correctness check.
    first = GreedyPriorityPolicy().assign(mviews, rviews)
    robots_used = [a.robot_id for a in first]
    assert len(robots_used) == len(set(robots_used)), 'a robot was assigned twice'
    fingerprint = [(a.mission_id, a.robot_id) for a in first]
    log(f'warm-up: {len(first)} assignments ({n_avail} robots available)')

    t_policy: list[float] = []
    t_board: list[float] = []
    t_base: list[float] = []
    board_assigned = 0
    mismatches = 0
    log(f'{rounds} rounds: policy, MissionBoard.assign, baseline every other round')
    for i in range(rounds):
        dt_p, out = timed(GreedyPriorityPolicy().assign, mviews, rviews)
        t_policy.append(dt_p)
        if [(a.mission_id, a.robot_id) for a in out] != fingerprint:
            mismatches += 1
        board = fresh_board(missions)
        dt_b, r = timed(board.assign, recs, 1_700_000_200.0)
        t_board.append(dt_b)
        board_assigned = len(r.commands)
        if i % 2 == 0:
            dt_base, _ = timed(baseline_pass, rxy, mxy)
            t_base.append(dt_base)
        if (i + 1) % 25 == 0 or i + 1 == rounds:
            log(f'  round {i + 1}/{rounds}: '
                f'policy median {statistics.median(t_policy) * 1e3:.1f} ms, '
                f'board median {statistics.median(t_board) * 1e3:.1f} ms, '
                f'baseline median {statistics.median(t_base) * 1e3:.1f} ms')

    # Persisting a round (the manager's _commit): FleetStore.append into a fresh file.
    t_store: list[float] = []
    if not args.no_store:
        from fleet_manager.store import FleetStore
        n_store = 5 if args.quick else 10
        log(f'{n_store} rounds of FleetStore.append (events + missions of one round)')
        with tempfile.TemporaryDirectory(prefix='bench-assign-') as tmp:
            for k in range(n_store):
                board = fresh_board(missions)
                r = board.assign(recs, 1_700_000_200.0)
                dirty = board.take_dirty()
                store = FleetStore(pathlib.Path(tmp) / f'round{k}.db')
                dt_s, _ = timed(store.append, r.events, 1_700_000_200.0, [], dirty)
                t_store.append(dt_s)
                store.close()

    pol = summary(t_policy, 1e3)
    brd = summary(t_board, 1e3)
    base = summary(t_base, 1e3)
    sto = summary(t_store, 1e3) if t_store else None
    res.data['results'] = {
        'assignments_per_round': len(first),
        'robots_available': n_avail,
        'board_assignments_per_round': board_assigned,
        'policy_ms': pol,
        'board_assign_ms': brd,
        'store_append_ms': sto,
        'baseline_ms': base,
        'baseline_distances': n_base,
        'baseline_ns_per_distance': round(base['median'] * 1e6 / n_base, 1),
        'policy_vs_baseline': ratio(pol['median'], base['median']),
        'board_vs_baseline': ratio(brd['median'], base['median']),
        'board_vs_policy': ratio(brd['median'], pol['median']),
        'nondeterministic_rounds': mismatches,
    }
    passed = pol['median'] < GOAL_MS
    res.goal(f'GreedyPriorityPolicy.assign median < {GOAL_MS:g} ms '
             f'({args.missions} missions x {args.robots} robots)', passed, pol['median'])
    res.headline('policy median', pol['median'], 'ms')
    res.headline('policy p99', pol['p99'], 'ms')
    res.headline('board.assign median', brd['median'], 'ms')
    res.headline('baseline median', base['median'], 'ms')
    res.headline('policy/baseline', res.data['results']['policy_vs_baseline'], 'x')
    if mismatches:
        res.note(f'{mismatches} rounds gave different assignments than the warm-up round')
    path = res.write()

    print(f'Assignment round, {args.missions} missions x {args.robots} robots '
          f'({n_avail} available, {len(first)} assigned), {rounds} rounds:')
    print(f'  GreedyPriorityPolicy.assign  median {fmt(pol["median"], "ms")}  '
          f'p99 {fmt(pol["p99"], "ms")}  -> {"PASS" if passed else "FAIL"} '
          f'(goal < {GOAL_MS:g} ms)')
    print(f'  MissionBoard.assign          median {fmt(brd["median"], "ms")}  '
          f'p99 {fmt(brd["p99"], "ms")}  '
          f'({fmt(res.data["results"]["board_vs_policy"], "x")} the policy)')
    if sto:
        print(f'  FleetStore.append (1 round)  median {fmt(sto["median"], "ms")}  '
              f'({len(t_store)} rounds)')
    print(f'  baseline, {n_base:,} hypot in plain Python  median {fmt(base["median"], "ms")}  '
          f'({res.data["results"]["baseline_ns_per_distance"]} ns each)')
    print(f'  ratios to baseline: policy {res.data["results"]["policy_vs_baseline"]}, '
          f'board {res.data["results"]["board_vs_baseline"]}')
    print(f'  result: {path}')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
