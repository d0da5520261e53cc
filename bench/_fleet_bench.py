"""Helpers shared by the fleet benchmarks (not a benchmark itself).

- the ROS domain of these benchmarks (``--domain``, default 77): overrides the domain that
  ``_common`` sets, for this process and every child it starts;
- process CPU time from ``/proc/<pid>/stat`` (utime + stime; psutil is not installed) and
  memory from ``/proc/<pid>/status``;
- the manager's ``/fleet/summary`` watched from a context of this process's own;
- read-only access to the manager's SQLite store;
- the manager's command line;
- a small rclpy client of the manager's ``fleet/get_events`` service, in its own context and
  without rclpy's signal handlers (the ProcessGroup's handlers stay in charge of Ctrl-C).
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import threading
import time
from typing import Any, Callable

import _common

DEFAULT_DOMAIN = '77'
_CLK_TCK = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


def use_domain(domain: str) -> None:
    """Run this process and every child on ROS domain ``domain`` (LOCALHOST discovery)."""
    domain = str(int(domain))
    _common.DOMAIN_ID = domain
    os.environ['ROS_DOMAIN_ID'] = domain
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


def add_common_args(p: Any) -> None:
    """Options every one of these benchmarks has."""
    p.add_argument('--domain', default=os.environ.get('FLEET_BENCH_DOMAIN', DEFAULT_DOMAIN),
                   help='ROS_DOMAIN_ID of every process (default: $FLEET_BENCH_DOMAIN or '
                        '%(default)s)')
    p.add_argument('--keep', action='store_true',
                   help='keep the temporary directory (logs, databases)')
    p.add_argument('--allow-foreign-nodes', action='store_true',
                   help='run even if other ROS nodes are on the benchmark domain')


# -- CPU time ------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    raw = pathlib.Path(f'/proc/{pid}/stat').read_text()
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = raw[raw.rindex(')') + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLK_TCK


class CpuWindow:
    """CPU seconds of some processes between :meth:`start` and :meth:`stop` (wall clock
    from time.monotonic)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.t0 = self.t1 = 0.0
        self.c0: dict[str, float] = {}
        self.c1: dict[str, float] = {}

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = {n: cpu_seconds(p) for n, p in self.pids.items()}

    def stop(self) -> None:
        self.t1 = time.monotonic()
        self.c1 = {n: cpu_seconds(p) for n, p in self.pids.items()}

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    def used(self, name: str) -> float:
        return self.c1[name] - self.c0[name]


# -- the manager's summary -------------------------------------------------------------------
class SummaryWatch:
    """Subscribes to ``/fleet/summary`` in a context of its own (no rclpy signal handlers,
    so Ctrl-C stays with the ProcessGroup) and keeps the latest message and the extremes."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.signals import SignalHandlerOptions

        from fleet_common.ros import SpinThread
        from fleet_msgs.msg import FleetSummary
        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(args=None, context=self.context,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('bench_scale_watch', context=self.context)
        self._lock = threading.Lock()
        self.latest: Any = None
        self.tracking = False
        self.worst_not_online = 0
        self.min_online: int | None = None
        self.node.create_subscription(FleetSummary, '/fleet/summary', self._on, 10)
        self.spin = SpinThread([self.node], context=self.context, name='bench-summary')
        self.spin.start()

    def _on(self, msg: Any) -> None:
        with self._lock:
            self.latest = msg
            if self.tracking:
                self.worst_not_online = max(self.worst_not_online,
                                            int(msg.stale) + int(msg.offline))
                self.min_online = int(msg.online) if self.min_online is None \
                    else min(self.min_online, int(msg.online))

    def get(self) -> Any:
        with self._lock:
            return self.latest

    def track(self) -> None:
        """From now on, keep the largest stale + offline and the smallest online count."""
        with self._lock:
            self.tracking = True

    def close(self) -> None:
        self.spin.stop()
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of ``pid`` in MiB."""
    out = {}
    for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
        key, _, value = line.partition(':')
        if key in ('VmRSS', 'VmHWM'):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


# -- the manager's store -------------------------------------------------------------------
def open_ro(path: pathlib.Path | str) -> sqlite3.Connection:
    """A read-only connection to a SQLite file another process writes (WAL mode)."""
    conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=5.0)
    conn.execute('PRAGMA query_only=1')
    return conn


def manager_args(database: pathlib.Path, **params: Any) -> list[str]:
    """Arguments (after the interpreter) that start the fleet manager with ``params``."""
    args = ['-m', 'fleet_manager.manager_node', '--ros-args', '-p', f'database:={database}']
    for key, value in params.items():
        args += ['-p', f'{key}:={value}']
    return args


# -- reading the event log over ROS --------------------------------------------------------
class EventLogClient:
    """Pages through the manager's event log with the ``fleet/get_events`` service.

    Owns an rclpy context of its own, initialised without rclpy's signal handlers, so that
    Ctrl-C and SIGTERM still reach the ProcessGroup of the benchmark.
    """

    def __init__(self, node_name: str = 'bench_event_reader') -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        from fleet_msgs.srv import GetEvents
        try:
            from rclpy.signals import SignalHandlerOptions
            opts: dict[str, Any] = {'signal_handler_options': SignalHandlerOptions.NO}
        except ImportError:  # older rclpy
            opts = {}
        self._rclpy = rclpy
        self._srv = GetEvents
        self.context = Context()
        rclpy.init(args=None, context=self.context, **opts)
        self.node = rclpy.create_node(node_name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.client = self.node.create_client(GetEvents, '/fleet/get_events')
        self.calls = 0
        self.call_seconds = 0.0

    def wait_ready(self, timeout: float) -> bool:
        return bool(self.client.wait_for_service(timeout_sec=timeout))

    def page(self, after_id: int, limit: int = 1000, kinds: list[str] | None = None,
             timeout: float = 10.0) -> tuple[list[dict[str, Any]], int]:
        """Events with id > after_id (oldest first, at most ``limit``) as dicts with id,
        time (epoch s, full precision of the stamp), kind, robot_id, payload; and the
        newest id in the log. RuntimeError when the manager does not answer."""
        req = self._srv.Request(after_id=int(after_id), limit=int(limit),
                                kinds=list(kinds or []), robot_id='')
        t0 = time.monotonic()
        fut = self.client.call_async(req)
        deadline = t0 + timeout
        while not fut.done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
        self.calls += 1
        self.call_seconds += time.monotonic() - t0
        if not fut.done():
            self.client.remove_pending_request(fut)
            raise RuntimeError(f'fleet/get_events did not answer within {timeout:g} s')
        resp = fut.result()
        if not resp.success:
            raise RuntimeError(f'fleet/get_events failed: {resp.error_msg}')
        out = []
        for e in resp.events:
            try:
                payload = json.loads(e.payload_json) if e.payload_json else {}
            except ValueError:
                payload = {}
            out.append({'id': int(e.id), 'time': e.stamp.sec + e.stamp.nanosec * 1e-9,
                        'kind': e.kind, 'robot_id': e.robot_id, 'payload': payload})
        return out, int(resp.last_id)

    def read_all(self, after_id: int, kinds: list[str] | None = None,
                 until_id: int | None = None, max_pages: int = 1000,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Page through the log after ``after_id`` (up to ``until_id`` or the newest event),
        calling ``on_event`` for each; return the last id read."""
        cursor = after_id
        for _ in range(max_pages):
            events, last = self.page(cursor, 1000, kinds)
            for e in events:
                if until_id is not None and e['id'] > until_id:
                    return cursor
                if on_event is not None:
                    on_event(e)
                cursor = e['id']
            # With a kinds filter a page can be short although more events follow.
            if not events or cursor >= (until_id if until_id is not None else last):
                break
        return cursor

    def close(self) -> None:
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            self._rclpy.try_shutdown(context=self.context)
