#!/usr/bin/env python3
"""Benchmark DDS discovery for a fleet on one machine: simple discovery against the Fast DDS
Discovery Server.

Per mode (``simple``, ``server``) a fresh stack runs: the fleet manager and ``--robots``
simulated robots, each a simulated Nav2 base plus its fleet agent (two nodes, the real
NavigateToPose/NavigateThroughPoses interfaces between them), ``--per-process`` robots per
process as ``make demo`` runs them. In ``server`` mode Fast DDS's own
``fast-discovery-server`` (shipped with the ROS 2 wheels and installs) runs on 127.0.0.1 and
every process gets ``ROS_DISCOVERY_SERVER`` pointing at it.

Measured per mode: seconds from the first robot process to **all robots online** in the
manager's ``/fleet/summary``; CPU seconds of all processes (the discovery server included)
until then; then over a steady window (30 s; 10 s with --quick) the **CPU %** of all processes
and their **RSS** total.

    python bench/bench_discovery.py [--quick] [--robots 100] [--per-process 10]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ProcessGroup,
    Result,
    child_env,
    log,
    require_env,
    run_stack,
    stop_notes,
    wait_until,
)
from _fleet_bench import (  # noqa: E402
    CpuWindow,
    SummaryWatch,
    add_common_args,
    cpu_seconds,
    manager_args,
    rss_mb,
    use_domain,
)

from fleet_common import discovery  # noqa: E402

NAME = 'bench_discovery'
MODES = ('simple', 'server')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='40 robots, 10 s steady window')
    p.add_argument('--robots', type=int, default=0, help='robots (default: 100; 40 quick)')
    p.add_argument('--per-process', type=int, default=10,
                   help='robots per simulator process (default: %(default)s)')
    p.add_argument('--modes', nargs='+', choices=MODES, default=list(MODES))
    p.add_argument('--steady', type=float, default=0.0,
                   help='seconds of steady-state measurement (default: 30; 10 quick)')
    add_common_args(p)
    return p


def fleet_yaml(path: pathlib.Path, robots: list[str]) -> pathlib.Path:
    lines = ['site: discovery-bench', 'robots:']
    docks = []
    for i, r in enumerate(robots):
        lines.append(f'  - {{id: {r}, capabilities: [tote], dock: dock_{r}}}')
        docks.append(f'    dock_{r}: {{x: {1.0 + (i % 20) * 2.0}, y: {1.0 + (i // 20) * 2.0}, '
                     'theta: 0.0}')
    lines += ['map:', '  frame_id: map', '  areas: []', '  docks:', *docks]
    path.write_text('\n'.join(lines) + '\n')
    return path


def run_mode(group: ProcessGroup, workdir: pathlib.Path, mode: str,
             args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, str] = {'ROS_HOME': str(workdir / 'ros_home')}
    pids: dict[str, int] = {}
    if mode == 'server':
        port = discovery.free_udp_port()
        server_cmd = discovery.server_command(port)
        if server_cmd is None:
            raise RuntimeError('fast-discovery-server is not installed (it comes with Fast '
                               'DDS: the ROS 2 wheels\' .venv/bin, or /opt/ros/<distro>/bin)')
        cmd, env = server_cmd
        # Proc runs Python: the interpreter replaces itself with the server (same pid).
        server = group.start('discovery_server', [
            '-c', 'import os, sys; os.execv(sys.argv[1], sys.argv[1:])', *cmd],
            env=child_env(**env))
        pids['discovery_server'] = server.pid
        extra['ROS_DISCOVERY_SERVER'] = f'127.0.0.1:{port}'
        os.environ['ROS_DISCOVERY_SERVER'] = extra['ROS_DISCOVERY_SERVER']
    else:
        os.environ.pop('ROS_DISCOVERY_SERVER', None)
    robots = [f'robot{i}' for i in range(1, args.robots + 1)]
    config = fleet_yaml(workdir / 'fleet.yaml', robots)
    manager = group.start('manager', manager_args(workdir / 'fleet.db',
                                                  fleet_config=str(config)),
                          env=child_env(**extra))
    pids['manager'] = manager.pid
    watch = SummaryWatch()
    try:
        wait_until(lambda: watch.get() is not None, 60, "the manager's first summary",
                   group=group)
        before = {n: cpu_seconds(p) for n, p in pids.items()}
        started = time.monotonic()
        for k in range(0, len(robots), args.per_process):
            part = robots[k:k + args.per_process]
            proc = group.start(f'sim{k // args.per_process}', [
                '-m', 'fleet_sim.fleet', *part, '--fleet-config', str(config)],
                env=child_env(**extra))
            pids[f'sim{k // args.per_process}'] = proc.pid
        last = [0.0]

        def online() -> bool:
            s = watch.get()
            if time.monotonic() - last[0] >= 5.0:
                last[0] = time.monotonic()
                log(f'  {mode}: {s.online} of {len(robots)} online')
            return int(s.online) == len(robots)

        wait_until(online, 300, f'all {len(robots)} robots online', group=group)
        online_s = time.monotonic() - started
        startup_cpu = sum(cpu_seconds(p) - before.get(n, 0.0) for n, p in pids.items())
        log(f'{mode}: all online after {online_s:.1f} s, {startup_cpu:.1f} CPU s')
        steady = CpuWindow(pids)
        steady.start()
        deadline = time.monotonic() + args.steady
        while time.monotonic() < deadline:
            group.check_alive()
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        steady.stop()
        not_online = int(watch.get().stale) + int(watch.get().offline)
        rss = sum(rss_mb(p).get('VmRSS', 0.0) for p in pids.values())
        return {'mode': mode, 'robots': len(robots), 'processes': len(pids),
                'online_s': round(online_s, 1), 'startup_cpu_s': round(startup_cpu, 1),
                'steady_cpu_pct': round(100 * sum(steady.used(n) for n in pids)
                                        / steady.seconds, 1),
                'manager_cpu_pct': round(100 * steady.used('manager') / steady.seconds, 1),
                'rss_mb_total': round(rss, 1), 'not_online_at_end': not_online}
    finally:
        watch.close()
        os.environ.pop('ROS_DISCOVERY_SERVER', None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_domain(args.domain)
    require_env('rclpy', 'fleet_manager.manager_node', 'fleet_sim.fleet')
    args.robots = args.robots or (40 if args.quick else 100)
    args.steady = args.steady or (10.0 if args.quick else 30.0)
    res = Result(NAME, args.quick, {'robots': args.robots, 'per_process': args.per_process,
                                    'steady_s': args.steady, 'modes': args.modes})
    root = pathlib.Path(tempfile.mkdtemp(prefix='bench_discovery_'))
    rows, stops = [], []
    for mode in args.modes:
        workdir = root / mode
        workdir.mkdir()
        # This process's own summary watcher of the previous stack may linger in the graph.
        out, stop = run_stack(res, workdir, args.allow_foreign_nodes or bool(stops),
                              lambda group, m=mode, wd=workdir: run_mode(group, wd, m, args))
        rows.append(out)
        stops.extend(stop)
    res.data['results'] = {'modes': rows}
    for n in stop_notes(stops):
        res.note(n)
    for r in rows:
        res.headline(f'{r["mode"]}: all online after', r['online_s'], 's')
        res.headline(f'{r["mode"]}: steady CPU of all processes', r['steady_cpu_pct'],
                     '% of a core')
        res.goal(f'{r["mode"]}: every robot online at the end', r['not_online_at_end'] == 0,
                 r['not_online_at_end'])
    path = res.write()
    print(f'\n{NAME}: results in {path}')
    print(f'{"mode":>7} {"robots":>6} {"procs":>5} {"online s":>8} {"start CPU s":>11} '
          f'{"steady CPU %":>12} {"manager %":>9} {"RSS MiB":>8}')
    for r in rows:
        print(f'{r["mode"]:>7} {r["robots"]:>6} {r["processes"]:>5} {r["online_s"]:>8} '
              f'{r["startup_cpu_s"]:>11} {r["steady_cpu_pct"]:>12} {r["manager_cpu_pct"]:>9} '
              f'{r["rss_mb_total"]:>8}')
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
