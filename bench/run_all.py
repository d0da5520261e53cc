#!/usr/bin/env python3
"""Run every benchmark in sequence and print a summary table.

    python bench/run_all.py [--quick] [--only NAME ...] [--json]

Each benchmark runs as its own process (``python bench/<name>.py [--quick]``), writes
``bench/results/<name>.json`` and prints its own summary; this script then prints one table
with the headline figures and the goal verdicts, and writes ``bench/results/run_all.json``.
Exit code: 0 when every benchmark ran (whatever the goals say), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import BENCH_DIR, RESULTS_DIR, child_env, fmt  # noqa: E402

BENCHMARKS = ['bench_assignment', 'bench_submit_latency', 'bench_robots_api',
              'bench_incident_latency', 'bench_webhook_latency', 'bench_telemetry_ingest',
              'bench_rollout_gate', 'bench_config_convergence', 'bench_growth',
              'bench_scale', 'bench_discovery', 'bench_demo']


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='pass --quick to every benchmark')
    p.add_argument('--only', nargs='+', choices=BENCHMARKS, metavar='NAME',
                   help=f'run only these ({", ".join(BENCHMARKS)})')
    p.add_argument('--json', action='store_true',
                   help='print the combined JSON instead of a table')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = args.only or BENCHMARKS
    rows = []
    for name in names:
        cmd = [sys.executable, str(BENCH_DIR / f'{name}.py')] + (['--quick'] if args.quick else [])
        print(f'=== {name} {"(quick)" if args.quick else ""}', file=sys.stderr, flush=True)
        result_path = RESULTS_DIR / f'{name}.json'
        before = result_path.stat().st_mtime if result_path.exists() else 0.0
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, env=child_env(), cwd=str(BENCH_DIR.parent))
            code = proc.returncode
        except KeyboardInterrupt:
            print('interrupted', file=sys.stderr)
            return 130
        took = time.monotonic() - t0
        data = None
        if result_path.exists() and result_path.stat().st_mtime > before:
            try:
                data = json.loads(result_path.read_text())
            except ValueError:
                data = None
        rows.append({'name': name, 'exit': code, 'seconds': round(took, 1), 'result': data})

    combined = {'quick': args.quick, 'benchmarks': [
        {'name': r['name'], 'exit': r['exit'], 'seconds': r['seconds'],
         'status': (r['result'] or {}).get('status', 'no result'),
         'headline': (r['result'] or {}).get('headline', []),
         'goal': (r['result'] or {}).get('goal'),
         'notes': (r['result'] or {}).get('notes', [])} for r in rows]}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / 'run_all.json').write_text(json.dumps(combined, indent=2) + '\n')
    if args.json:
        print(json.dumps(combined, indent=2))
        return 0 if all(r['exit'] == 0 for r in rows) else 1

    print()
    print(f'{"benchmark":<22} {"status":<10} {"time":>6}  {"metric":<26} {"value":>14}  goal')
    print('-' * 100)
    for b in combined['benchmarks']:
        goal = b['goal'] or {}
        verdict = {True: 'PASS', False: 'FAIL', None: '-'}[goal.get('pass')] if goal else '-'
        heads = b['headline'] or [{'metric': '(no figures)', 'value': None, 'unit': ''}]
        for i, h in enumerate(heads):
            first = i == 0
            print(f'{b["name"] if first else "":<22} {b["status"] if first else "":<10} '
                  f'{(str(b["seconds"]) + "s") if first else "":>6}  {h["metric"]:<26} '
                  f'{fmt(h["value"], h.get("unit", "")):>14}  '
                  f'{(verdict + ": " + goal.get("description", "")) if first and goal else ""}')
        for n in b['notes']:
            print(f'{"":<22} note: {n[:150]}')
    print()
    print(f'results: {RESULTS_DIR}/<name>.json, combined: {RESULTS_DIR / "run_all.json"}')
    return 0 if all(r['exit'] == 0 for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
