"""Small rclpy helpers every fleet process uses: the executor, the spin loop and ``main``.

The executor is rclpy's EventsExecutor where the installed rclpy has it (Jazzy from 7.1.4:
it takes messages several times faster than the SingleThreadedExecutor) and the
SingleThreadedExecutor elsewhere (Humble). It is driven with ``spin_once`` in a loop with a
timeout, never with ``spin()``: the EventsExecutor shipped with rclpy 7.1.x busy-waits in
``spin()`` without running anything, while ``spin_once`` works.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Callable, Iterable

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.signals import SignalHandlerOptions

from fleet_common.launcher import stop_with_launcher

RCLError = _rclpy.RCLError

SPIN_TIMEOUT = 0.25
"""Seconds one ``spin_once`` may wait; bounds how long a stop request takes to be seen."""


def events_executor_available() -> bool:
    """True when rclpy has the EventsExecutor and ``FLEET_EXECUTOR`` does not say 'single'."""
    if os.environ.get('FLEET_EXECUTOR', '') == 'single':
        return False
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
    except ImportError:
        return False
    return True


def make_executor(context: Any = None) -> Any:
    """Return the fastest single-threaded executor this rclpy offers."""
    if events_executor_available():
        from rclpy.experimental import EventsExecutor
        return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def spin(executor: Any, stop: threading.Event | None = None, context: Any = None) -> None:
    """Run ``executor`` until ``stop`` is set or the context shuts down (Ctrl-C, SIGTERM)."""
    ctx = context if context is not None else executor.context
    try:
        while ctx.ok() and (stop is None or not stop.is_set()):
            executor.spin_once(timeout_sec=SPIN_TIMEOUT)
    except ExternalShutdownException:
        pass
    except RCLError:
        # A signal shut the context down while a callback was publishing: the callback's
        # work is cut short, which is what stopping means. Anything else is a real error.
        if ctx.ok():
            raise


class SpinThread:
    """An executor spinning ``nodes`` in a background thread until :meth:`stop`."""

    def __init__(self, nodes: Iterable[Any] = (), context: Any = None,
                 name: str = 'rclpy-executor') -> None:
        self.executor = make_executor(context)
        self._context = context if context is not None else rclpy.get_default_context()
        for n in nodes:
            self.executor.add_node(n)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        spin(self.executor, self._stop, self._context)

    def add(self, node: Any) -> Any:
        """Add ``node`` to the executor; return it."""
        self.executor.add_node(node)
        return node

    def start(self) -> 'SpinThread':
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop spinning, wait (at most ``timeout`` s) for the thread to end, and shut the
        executor down (the callback running at the time finishes first)."""
        self._stop.set()
        wake = getattr(self.executor, 'wake', None)
        if wake is not None:
            wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.executor.shutdown(timeout_sec=timeout)


PARAMETER_ERRORS = (InvalidParameterTypeException, InvalidParameterValueException)
"""What declaring a parameter raises for an override of the wrong type or out of range
(the message names the parameter): a usage error, not a crash."""


def init(args: list[str] | None = None) -> threading.Event:
    """``rclpy.init`` for a process that stops on Ctrl-C or SIGTERM: returns the event those
    signals set. Started by a fleet_bringup launch file, the process also gets SIGTERM when
    the launch exits (:mod:`fleet_common.launcher`). The context stays valid until
    :func:`rclpy.try_shutdown`, so nodes are destroyed (and log their goodbyes) cleanly after
    the spin loop ends."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stop_with_launcher()  # SIGTERM when a ros2 launch of fleet_bringup exits (SIGTERM too)
    return stop


def run_nodes(make: Callable[[], Iterable[Any]], args: list[str] | None = None,
              before_spin: Callable[[list[Any]], None] | None = None) -> int:
    """The ``main`` shape of every node: init, build the nodes, spin, clean up.

    ``make`` builds the nodes after ``rclpy.init``; a ``ValueError`` it raises, or a
    parameter override of the wrong type or out of range, is printed as a usage error
    without a traceback (exit 2). Ctrl-C and SIGTERM end the spin; the nodes are then
    destroyed and rclpy shut down.
    """
    stop = init(args)
    nodes: list[Any] = []
    try:
        try:
            nodes = list(make())
        except (ValueError, *PARAMETER_ERRORS) as exc:
            print(f'error: {exc}', file=sys.stderr, flush=True)
            return 2
        executor = make_executor()
        for n in nodes:
            executor.add_node(n)
        if before_spin is not None:
            before_spin(nodes)
        spin(executor, stop)
        for n in nodes:
            executor.remove_node(n)
        return 0
    finally:
        for n in nodes:
            close = getattr(n, 'close', None)
            if close is not None:
                close()
            n.destroy_node()
        rclpy.try_shutdown()
