"""The manager's services, answered on a thread of their own.

The manager node's executor takes thousands of robot statuses a second and runs the
batches, ticks and saves on its timers. A service request queued on that executor would
wait behind all of them; on a fleet of 10,000 robots that was hundreds of milliseconds for
a mission submission. So every service of the manager lives on a small companion node,
``<manager name>_api`` in the manager's namespace (the service names are the same as if
the manager served them), spun by its own executor in its own thread.

The domain is not thread-safe: :attr:`ApiThread.lock` (a :class:`DomainLock`) is held by
every callback that touches it, the manager's timers on one side and each service call on
the other, and a waiting service call goes before waiting timers. A request therefore
waits for at most the one callback that holds the lock, never for the executor's queue;
the manager keeps its callbacks short for this (batches, sliced saves). The thread's
executor is the same kind as the node's (:func:`fleet_common.ros.make_executor`): rclpy's
EventsExecutor answers a request in about half the time the SingleThreadedExecutor takes
(1.4-1.9 ms against 3.7-10 ms for a mission submission, on a loaded 2-core machine).

The thread starts at configure (it answers NOT_ACTIVE until the activation) or, when the
manager activates itself right after configuring (its default), at the activation: requests
sent while it configures then wait for it instead of being refused. From then on until
cleanup it answers (NOT_ACTIVE while the manager is deactivated).

The companion node ignores the process's global ROS arguments: a ``__node:=`` remap meant
for the manager would otherwise give both nodes the same name. It takes the manager's
namespace explicitly instead.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

from rclpy.node import Node

from fleet_common.ros import SpinThread

API_NODE_SUFFIX = '_api'


class DomainLock:
    """The manager's domain lock, re-entrant, with service calls first.

    A plain lock is not fair: the node's thread releases it at the end of one batch and
    takes it again for the next one before a waiting service thread is scheduled, so at
    10,000 robots a request could wait for several batches. Here a timer callback that
    wants the lock also waits while a service call waits (:meth:`first`); statuses then
    wait in the wire's queue for a few milliseconds instead of requests waiting for
    batches.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._first = 0  # service calls waiting for the lock

    def acquire(self, first: bool = False) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            if first:
                self._first += 1
            try:
                while self._owner is not None or (not first and self._first):
                    self._cond.wait()
            finally:
                if first:
                    self._first -= 1
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError('release of a DomainLock this thread does not hold')
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> 'DomainLock':
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextlib.contextmanager
    def first(self) -> Iterator[None]:
        """Hold the lock, ahead of every timer callback waiting for it."""
        self.acquire(first=True)
        try:
            yield
        finally:
            self.release()


class ApiThread:
    """A companion node for services, spun in its own thread; the lock both threads share."""

    def __init__(self, manager: Any, lock: DomainLock) -> None:
        self.lock = lock
        self.node = Node(manager.get_name() + API_NODE_SUFFIX,
                         namespace=manager.get_namespace(), context=manager.context,
                         use_global_arguments=False, start_parameter_services=False)
        self._spin: SpinThread | None = None

    def create_service(self, srv_type: Any, name: str, callback: Callable[[Any, Any], Any],
                       qos: Any) -> Any:
        """A service whose callback runs holding :attr:`lock`."""
        def locked(req: Any, resp: Any) -> Any:
            with self.lock.first():
                return callback(req, resp)
        return self.node.create_service(srv_type, name, locked, qos_profile=qos)

    def destroy_service(self, service: Any) -> None:
        self.node.destroy_service(service)

    def start(self) -> None:
        """Start answering (idempotent)."""
        if self._spin is None:
            self._spin = SpinThread([self.node], context=self.node.context,
                                    name='fleet-manager-api')
            self._spin.start()

    def stop(self) -> None:
        """Stop answering: the call being answered finishes first (idempotent)."""
        if self._spin is not None:
            self._spin.stop()
            self._spin = None

    def close(self) -> None:
        """Stop and destroy the companion node."""
        self.stop()
        self.node.destroy_node()

