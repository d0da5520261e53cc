"""Helpers shared by the ROS-level tests: deadlines, an in-process graph, processes, HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, TypeVar
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[1]
T = TypeVar('T')


def wait_for(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
             message: str = 'condition') -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {message} '
                                 f'(last value: {last!r})')
        time.sleep(interval)


class RosGraph:
    """An rclpy context with a multi-threaded executor spinning in a background thread."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self.nodes: list[Any] = []

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def add(self, node: T) -> T:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def node(self, name: str) -> Any:
        from rclpy.node import Node
        return self.add(Node(name, context=self.context))

    def remove(self, node: Any) -> None:
        self.executor.remove_node(node)
        if node in self.nodes:
            self.nodes.remove(node)
        node.destroy_node()

    def call(self, client: Any, request: Any, timeout: float = 10.0,
             resend_after: float | None = None) -> Any:
        """Call a service (waiting for it first) and return the response.

        ``resend_after`` is for read-only requests: send the request again when no answer
        came within that many seconds. A server that restarted moments ago can drop the
        response to a request that reached it before DDS matched its reply writer with this
        client's reader, and the client then waits for nothing.
        """
        assert client.wait_for_service(timeout_sec=timeout), f'{client.srv_name} not available'
        deadline = time.monotonic() + timeout
        sent = 0
        while True:
            future = client.call_async(request)
            sent += 1
            wait = deadline - time.monotonic()
            if resend_after is not None:
                wait = min(wait, resend_after)
            try:
                wait_for(future.done, max(wait, 0.0), message=f'answer from {client.srv_name}')
                return future.result()
            except AssertionError:
                client.remove_pending_request(future)
                if time.monotonic() >= deadline:
                    raise AssertionError(f'no answer from {client.srv_name} in {timeout:g} s '
                                         f'({sent} requests sent)') from None

    def _param_client(self, srv_type: Any, node_name: str, verb: str) -> Any:
        clients = self.__dict__.setdefault('_param_clients', {})
        key = (node_name, verb)
        if key not in clients:
            if '_param_node' not in self.__dict__:
                self._param_node = self.node('test_parameters')
            clients[key] = self._param_node.create_client(srv_type, f'{node_name}/{verb}')
        return clients[key]

    def set_parameters(self, node_name: str, **params: Any) -> None:
        """Set parameters of another node (e.g. ``/robot1/sim``) and assert they took."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter
        client = self._param_client(SetParameters, node_name, 'set_parameters')
        resp = self.call(client, SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in params.items()]),
            timeout=15)
        assert all(r.successful for r in resp.results), \
            f'{node_name} {params}: {[r.reason for r in resp.results]}'

    def get_parameter(self, node_name: str, name: str) -> Any:
        """Read one parameter of another node as a Python value."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python
        client = self._param_client(GetParameters, node_name, 'get_parameters')
        resp = self.call(client, GetParameters.Request(names=[name]), timeout=15)
        return parameter_value_to_python(resp.values[0])

    def close(self) -> None:
        import rclpy
        self.executor.shutdown(timeout_sec=5.0)
        for n in list(self.nodes):
            n.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5.0)


class Collector:
    """Keep every message a subscription receives."""

    def __init__(self, node: Any, msg_type: Any, topic: str, qos: Any = 100) -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()
        self.sub = node.create_subscription(msg_type, topic, self._on, qos)

    def _on(self, msg: Any) -> None:
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        """Return the first message (newest first) matching ``predicate`` within ``timeout``."""
        def found() -> Any:
            return next((m for m in reversed(self.snapshot()) if predicate(m)), None)
        try:
            return wait_for(found, timeout, message='a matching message')
        except AssertionError:
            messages = self.snapshot()
            newest = repr(messages[-1]) if messages else 'none'
            raise AssertionError(f'no matching message on {self.sub.topic_name} in '
                                 f'{timeout:g} s; {len(messages)} received, the newest: '
                                 f'{newest}') from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def fleet_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this session's domain, DDS on loopback."""
    env = dict(os.environ)
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra)
    return env


class Proc:
    """A child process whose output goes to a log file under the test's tmp dir."""

    def __init__(self, name: str, args: list[str], log_dir: pathlib.Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self._log = open(self.log_path, 'wb')
        # Agents keep their outboxes under ROS_HOME: one per log directory, so robots of
        # one test never replay their events into another test's manager, and a process
        # restarted in the same test finds its outbox again.
        env = {**(env or fleet_env()), 'ROS_HOME': str(log_dir / 'ros_home')}
        self.popen = subprocess.Popen([sys.executable, *args], stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env,
                                      cwd=str(REPO), start_new_session=True)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors='replace')

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the process's log."""
        return '\n'.join(self.output().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()
        return int(self.popen.returncode)


@contextlib.contextmanager
def processes(log_dir: pathlib.Path) -> Iterator[list[Proc]]:
    """Yield a list to append Procs to; every one is stopped at the end."""
    procs: list[Proc] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):
            p.stop()


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, Any, dict[str, str]]:
    """Make an HTTP request; return (status, parsed JSON or text, headers)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault('Content-Type', 'application/json')
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status, rh = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, rh = exc.read(), exc.code, dict(exc.headers)
    try:
        return status, json.loads(raw), rh
    except ValueError:
        return status, raw.decode(errors='replace'), rh


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """GET and return JSON when the answer is 200, else None (for polling)."""
    try:
        status, body, _ = http('GET', url, headers=headers, timeout=5.0)
    except OSError:
        return None
    return body if status == 200 else None


class ApiClient:
    """HTTP calls to the bridge at ``self.base`` with an admin bearer token (a mixin)."""

    base: str
    auth: dict[str, str]

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """One API call with the token; waits out a 429 (Retry-After) if one comes."""
        hdrs = {**self.auth, **(headers or {})}
        deadline = time.monotonic() + 20.0
        while True:
            status, data, rh = http(method, self.base + path, body, hdrs)
            if status != 429 or time.monotonic() > deadline:
                return status, data, rh
            time.sleep(min(2.0, float(rh.get('Retry-After', '1'))))  # the back-off asked for

    def get(self, path: str) -> Any:
        """GET returning the JSON body on 200, else None (for polling)."""
        return get_json(self.base + path, headers=self.auth)
