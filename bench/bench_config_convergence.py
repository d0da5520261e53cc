#!/usr/bin/env python3
"""Benchmark apply -> convergence of the desired state over 100 simulated robots.

Starts the fleet manager and 100 lightweight robots (bench/config_robots.py: the real agent
and the simulated Nav2 parameter nodes of each robot, in two processes), applies a baseline
desired state (one group with reconcile, Nav2 parameters of two nodes) and waits until every
robot reports it. Then, round after round, interleaved:

1. ``reconcile``: apply a revision that changes a declared value (controller_server
   FollowPath.desired_linear_vel): every robot is sent it, reports the drift, is sent
   set_parameters by the manager (the robots are idle), sets it and reports in sync;
2. ``push`` (the baseline): apply a revision that changes the declared set but not the
   values the nodes already hold (local_costmap robot_radius declared or not): every robot
   is sent it and reports in sync, nothing to set.

Each figure is the time from the apply call's answer to the moment every robot reports the
revision in sync (read with the manager's ``fleet/desired_state robots`` every 0.1 s);
the agents read their nodes every ``--check-period`` s. Informational, no goal.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ProcessGroup,
    Result,
    fmt,
    log,
    ratio,
    require_empty_domain,
    require_env,
    stop_notes,
    summary,
    wait_until,
)
from _fleet_bench import manager_args  # noqa: E402

NAME = 'bench_config_convergence'
BENCH = pathlib.Path(__file__).resolve().parent


def desired(robots: int, speed: float, declare_radius: bool) -> dict[str, str]:
    """The desired-state files: every robot in one reconcile group."""
    radius = '        robot_radius: 0.3\n' if declare_radius else ''
    return {
        'groups.yaml': 'groups:\n  - {name: all, selector: {}, reconcile: reconcile}\n',
        'parameters.yaml': (
            'parameter_sets:\n  - name: nav2\n    groups: [all]\n    nodes:\n'
            '      controller_server:\n        controller_frequency: 20.0\n'
            f'        FollowPath.desired_linear_vel: {speed}\n'
            '      local_costmap/local_costmap:\n'
            f'        inflation_layer.inflation_radius: 0.55\n{radius}'),
    }


class Manager:
    """The manager's desired_state service, from a context of our own (no signal handlers)."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from fleet_msgs.srv import JsonCall
        self._rclpy, self._srv = rclpy, JsonCall
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('bench_config_client', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.client = self.node.create_client(JsonCall, '/fleet/desired_state')

    def call(self, action: str, body: dict[str, Any], timeout: float = 10.0) -> Any:
        fut = self.client.call_async(self._srv.Request(action=action,
                                                       body_json=json.dumps(body),
                                                       who='bench', reason='benchmark'))
        deadline = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        if not fut.done():
            self.client.remove_pending_request(fut)
            raise RuntimeError(f'fleet/desired_state {action} did not answer in {timeout} s')
        resp = fut.result()
        if not resp.success:
            raise RuntimeError(f'{action}: {resp.error_msg} ({resp.error_field})')
        return json.loads(resp.result_json)

    def converged(self, revision: int, robots: int) -> int:
        """Robots that report ``revision`` in sync."""
        items = self.call('robots', {})['items']
        return sum(1 for r in items if r['revision'] == revision and r['state'] == 'in_sync'
                   and r['reported_digest'] == r['expected_digest'] and r['reported_at'])

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)


def converge(m: Manager, files: dict[str, str], robots: int, group: ProcessGroup,
             timeout: float) -> tuple[float, int]:
    """Apply ``files``; return (seconds until every robot reports it in sync, revision)."""
    result = m.call('apply', {'files': files})
    t0 = time.monotonic()
    revision = result['revision']
    wait_until(lambda: m.converged(revision, robots) >= robots, timeout,
               f'{robots} robots in sync with revision {revision}', interval=0.1,
               group=group, describe=lambda: f'{m.converged(revision, robots)} in sync')
    return time.monotonic() - t0, revision


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=f'Writes bench/results/{NAME}.json.')
    p.add_argument('--quick', action='store_true', help='20 robots and 2 rounds each')
    p.add_argument('--robots', type=int, default=0, help='robots (default: 100, 20 quick)')
    p.add_argument('--rounds', type=int, default=0, help='rounds of each kind (default: 5)')
    p.add_argument('--check-period', type=float, default=1.0,
                   help="agents' config_check_period, s (default: %(default)s)")
    p.add_argument('--allow-foreign-nodes', action='store_true')
    p.add_argument('--keep', action='store_true', help='keep the temporary directory')
    args = p.parse_args()
    require_env('fleet_manager.rollouts_feature', 'fleet_agent.config_sync')
    robots = args.robots or (20 if args.quick else 100)
    rounds = args.rounds or (2 if args.quick else 5)
    res = Result(NAME, args.quick, {'robots': robots, 'rounds': rounds,
                                    'check_period_s': args.check_period,
                                    'baseline': 'push: a revision the nodes already hold'})
    tmp = pathlib.Path(tempfile.mkdtemp(prefix='bench-config-'))
    require_empty_domain(args.allow_foreign_nodes)
    times: dict[str, list[float]] = {'reconcile': [], 'push': []}
    status = 'ok'
    initial = 0.0
    m: Manager | None = None
    with ProcessGroup(tmp) as group:
        try:
            group.start('manager', manager_args(
                tmp / 'fleet.db', report_period=1.0, tick_period=0.1, rollout_tick_period=0.1,
                config_resend_after=3.0, reconcile_retry=2.0, accept_unknown_robots=True))
            half = robots // 2
            for first, count in ((1, half), (1 + half, robots - half)):
                group.start(f'robots{first}', [str(BENCH / 'config_robots.py'), '--first',
                                               str(first), '--count', str(count),
                                               '--check-period', str(args.check_period)],
                            stop_timeout=30.0)  # 150 nodes to destroy
            m = Manager()
            wait_until(lambda: m.client.wait_for_service(timeout_sec=0.5), 60,
                       'the fleet/desired_state service', group=group)
            t = time.monotonic()
            initial, _ = converge(m, desired(robots, 0.8, False), robots, group, 300.0)
            log(f'{robots} robots in sync with the baseline after {initial:.1f} s '
                f'(discovery included; {time.monotonic() - t:.1f} s)')
            speed, radius = 0.8, False
            for i in range(rounds):
                speed = round(speed + 0.01, 2)
                took, rev = converge(m, desired(robots, speed, radius), robots, group, 120.0)
                times['reconcile'].append(took)
                radius = not radius
                push, rev2 = converge(m, desired(robots, speed, radius), robots, group, 120.0)
                times['push'].append(push)
                log(f'round {i}: reconcile {took:.2f} s (revision {rev}), push {push:.2f} s '
                    f'(revision {rev2})')
        except (RuntimeError, KeyboardInterrupt) as exc:
            status = 'error' if not isinstance(exc, KeyboardInterrupt) else 'interrupted'
            res.data['results']['error'] = str(exc)
            log(f'error: {exc}')
        finally:
            if m is not None:
                m.close()
    for note in stop_notes(group.stops):
        res.note(note)
    rec, push = summary(times['reconcile']), summary(times['push'])
    res.data['results'].update({'initial_s': round(initial, 2) if times['push'] else None,
                                'reconcile_s': rec, 'push_s': push,
                                'reconcile_over_push': ratio(rec.get('median', 0.0),
                                                             push.get('median', 0.0))})
    if rec.get('n'):
        res.headline('apply -> converged (reconcile)', rec['median'], 's')
        res.headline('apply -> converged (push only)', push['median'], 's')
    path = res.write(status)
    print(f'{robots} robots, apply -> every robot in sync: reconcile median '
          f'{fmt(rec.get("median"))} s (p99 {fmt(rec.get("p99"))} s), push only '
          f'{fmt(push.get("median"))} s; ratio {res.data["results"]["reconcile_over_push"]} '
          f'-> {path}')
    if not args.keep and status == 'ok':
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if status == 'ok' else 1


if __name__ == '__main__':
    sys.exit(main())
