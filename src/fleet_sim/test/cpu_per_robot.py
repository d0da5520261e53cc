"""Measure the CPU one SimRobot costs when many share a process (not a test; run by hand).

    python src/fleet_sim/test/cpu_per_robot.py --robots 50 --executor events

Starts ``--robots`` SimRobots in this process on one executor, lets them settle, and reports
this process's CPU time (user + system, all threads, DDS included) over ``--seconds``, as a
percentage of one core per robot: first idle, then with every robot navigating a goal far
away. The goals come from a client in a child process, so the client's own cost (feedback,
status) is not counted. Each phase is measured ``--repeat`` times; the median is reported.
Run with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a ROS_DOMAIN_ID of your own.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, List

GOAL_DISTANCE = 10000.0  # m; far enough that no robot arrives during a run
WARMUP_S = 3.0
"""s before the first idle window: DDS discovery's first burst of traffic is not the steady
state measured (it has no end to wait for)."""


def cpu_seconds() -> float:
    """Return this process's CPU time so far (s), all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; exit with an error after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f'timed out waiting for {what}')
        time.sleep(0.05)


def measure(seconds: float, robots: int, repeat: int) -> List[float]:
    """Return CPU % of one core per robot over ``repeat`` windows of ``seconds``."""
    figures = []
    for _ in range(repeat):
        wall, cpu = time.monotonic(), cpu_seconds()
        time.sleep(seconds)
        figures.append(100.0 * (cpu_seconds() - cpu) / (time.monotonic() - wall) / robots)
    return figures


def run_client(prefix: str, robots: int) -> None:
    """Child process: send every robot one far navigation goal, then idle until killed."""
    from nav2_msgs.action import NavigateToPose
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    rclpy.init()
    node = Node('cpu_bench_client')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    clients = [ActionClient(node, NavigateToPose, f'/{prefix}{i}/navigate_to_pose')
               for i in range(robots)]
    for client in clients:
        if not client.wait_for_server(timeout_sec=60.0):
            sys.exit(f'{client._action_name}: no server')
    goal = NavigateToPose.Goal()
    goal.pose.header.frame_id = 'map'
    goal.pose.pose.position.x = GOAL_DISTANCE
    goal.pose.pose.orientation.w = 1.0
    futures = [client.send_goal_async(goal) for client in clients]
    while not all(f.done() for f in futures):
        executor.spin_once(timeout_sec=0.1)
    print('sent', flush=True)
    while True:  # keep the goals' client alive; its feedback is this process's cost
        executor.spin_once(timeout_sec=1.0)


def report(args: argparse.Namespace, idle: List[float], navigating: List[float]) -> None:
    """Print the medians and the windows."""
    def show(figures: List[float]) -> str:
        if not figures:
            return 'not measured'
        return (f'{statistics.median(figures):.2f} % of one core per robot '
                f'(windows: {", ".join(f"{f:.2f}" for f in figures)})')
    print(f'{args.robots} robots, {args.executor} executor, {args.seconds:g} s windows')
    print(f'  idle:       {show(idle)}')
    print(f'  navigating: {show(navigating)}', flush=True)


def make_executor(kind: str, threads: int) -> Any:
    """Return the executor to spin the robots on."""
    if kind == 'events':
        from fleet_common.ros import make_executor as make
        return make()
    if kind == 'single':
        from rclpy.executors import SingleThreadedExecutor
        return SingleThreadedExecutor()
    from rclpy.executors import MultiThreadedExecutor
    return MultiThreadedExecutor(num_threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--robots', type=int, default=50)
    parser.add_argument('--seconds', type=float, default=10.0, help='length of one window')
    parser.add_argument('--repeat', type=int, default=3, help='windows per phase')
    parser.add_argument('--executor', choices=('events', 'single', 'multi'), default='events')
    parser.add_argument('--threads', type=int, default=0,
                        help='MultiThreadedExecutor threads (default: 2 * robots + 4, as '
                             'fleet_sim uses)')
    parser.add_argument('--idle-only', action='store_true', help='skip the navigating phase')
    parser.add_argument('--prefix', default='cpubench')
    parser.add_argument('--client', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.prefix, args.robots)
        return

    import rclpy

    from fleet_common.ros import spin
    from fleet_sim.sim_node import SimRobot

    rclpy.init()
    robots = [SimRobot(f'{args.prefix}{i}', float(i), 0.0, 0.0, battery=1.0,
                       drain_per_meter=0.0) for i in range(args.robots)]
    executor = make_executor(args.executor, args.threads or 2 * args.robots + 4)
    for robot in robots:
        executor.add_node(robot)
    stop = threading.Event()
    if args.executor == 'multi':
        thread = threading.Thread(target=executor.spin, daemon=True)
    else:
        thread = threading.Thread(target=spin, args=(executor, stop), daemon=True)
    thread.start()
    client = None
    idle: List[float] = []
    navigating: List[float] = []
    try:
        time.sleep(WARMUP_S)  # a measurement's warm-up, not a wait for a condition
        idle = measure(args.seconds, args.robots, args.repeat)
        if args.idle_only:
            return
        client = subprocess.Popen([sys.executable, __file__, '--client', '--robots',
                                   str(args.robots), '--prefix', args.prefix],
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdout is not None
        if client.stdout.readline().strip() != 'sent':
            sys.exit('the client failed')
        wait_until(lambda: all(r.pose.x > i + 0.5 for i, r in enumerate(robots)), 30.0,
                   'every robot to move')
        navigating = measure(args.seconds, args.robots, args.repeat)
        moved = min(r.pose.x - i for i, r in enumerate(robots))
        assert moved < GOAL_DISTANCE and math.isfinite(moved)
    finally:
        report(args, idle, navigating)
        if client is not None:
            client.kill()
            client.wait()
        if args.executor == 'multi':  # its threads may be running goals: end them first
            for robot in robots:
                robot.destroy_node()
            executor.shutdown()
        else:
            stop.set()
            thread.join()
            for robot in robots:
                robot.destroy_node()
            executor.shutdown()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
