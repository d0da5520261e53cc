"""Configuration and software of the robot, as the manager declares them.

:class:`ConfigSync` attaches to the agent's node and handles three manager commands:

``configure``       the parameters declared for this robot's nodes (node -> name -> value);
                    kept and compared, every ``config_check_period``, with what the nodes'
                    own parameter services (``<node>/get_parameters``) answer (a node that
                    has not answered within READ_TIMEOUT does not answer). A report
                    (robot event ``config.report``: a digest per node, the values, which
                    nodes did not answer) is sent when it changes, and once at start.
``set_parameters``  set declared values through ``<node>/set_parameters`` (numbers take the
                    type the parameter has on the node), only while the robot is idle;
                    the result per parameter is reported (``config.reconciled``).
``install``         run the installer command (a child process with a timeout, polled from
                    a timer), only while the robot is idle (no mission, not driving to its
                    dock); then wait until the robot reports the new version and is healthy.
                    Reported as ``install.started`` / ``install.finished`` (outcome
                    succeeded or failed) / ``install.refused`` (``retryable`` when only busy).
                    While installing, the agent refuses missions.

The software version the agent reports is read from ``version_source`` (``node:parameter``
through that node's parameter service) when set, else it is the agent's
``software_version`` parameter, updated by successful installs.

Everything runs on the agent's single-threaded executor: service calls are asynchronous
(futures with done callbacks), and the installer's process is polled, never waited for.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any, Callable

from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter, parameter_value_to_python

from fleet_agent.config_logic import (
    DesiredConfig,
    InstallJob,
    NodeRead,
    ValueKind,
    build_report,
    coerce,
    finite_or_none,
    installer_argv,
    report_key,
)

POLL_PERIOD = 0.25
"""s between polls of a running install (and of the version while verifying it)."""
SET_TIMEOUT = 5.0
"""s to wait for the nodes' set_parameters answers."""
READ_TIMEOUT = 5.0
"""s a node may take to answer get_parameters (at least a check period) before it counts as
not answering: a busy robot computer answers late, which is not drift."""
VERSION = '\0version'
KINDS = {ParameterType.PARAMETER_INTEGER: ValueKind.INTEGER,
         ParameterType.PARAMETER_INTEGER_ARRAY: ValueKind.INTEGER,
         ParameterType.PARAMETER_DOUBLE: ValueKind.DOUBLE,
         ParameterType.PARAMETER_DOUBLE_ARRAY: ValueKind.DOUBLE}
Emit = Callable[[str, int, str, dict[str, Any]], None]


@dataclass(frozen=True)
class SyncParams:
    """The agent parameters ConfigSync uses (see AgentParams)."""

    robot_id: str
    software_version: str
    check_period: float
    version_source: str
    installer_command: str
    installer_timeout: float
    verify_timeout: float
    log_dir: str


class _Setting:
    """A set_parameters in flight: node -> (client, future, values), and the results."""

    def __init__(self, revision: int, started: float) -> None:
        self.revision, self.started = revision, started
        self.pending: dict[str, tuple[Any, Any, dict[str, Any]]] = {}
        self.results: list[dict[str, Any]] = []

    def fail(self, node: str, values: dict[str, Any], reason: str) -> None:
        self.results += [{'node': node, 'name': n, 'value': v, 'ok': False, 'reason': reason}
                         for n, v in values.items()]


class ConfigSync:
    """Declared parameters, drift reports, reconciles and installs of one robot."""

    def __init__(self, node: Any, emit: Emit, params: SyncParams, busy: Callable[[], str],
                 health: Callable[[float], str], mission_id: Callable[[], str]) -> None:
        """``busy()`` says why the robot is not idle ('' when idle); ``health(t)`` why it is
        not healthy since ``t`` ('' when it is); ``mission_id()`` its current mission."""
        self._node, self._emit, self.p = node, emit, params
        self._busy, self._health, self._mission_id = busy, health, mission_id
        self.software_version = params.software_version
        self.config: DesiredConfig | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._kinds: dict[tuple[str, str], ValueKind] = {}
        self._pending: dict[str, Any] = {}
        self._reads: dict[str, NodeRead] = {}
        self._check_started: float | None = None
        self._last_key: tuple[Any, ...] | None = None
        self._version_future: Any = None
        self._setting: _Setting | None = None
        self.job: InstallJob | None = None
        self._job_log: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._timers = [node.create_timer(params.check_period, self.check),
                        node.create_timer(POLL_PERIOD, self._poll_install)]
        self._now = lambda: node.get_clock().now().nanoseconds * 1e-9

    @property
    def installing(self) -> bool:
        """True while an install runs or is being verified."""
        return self.job is not None

    # -- commands ----------------------------------------------------------------------------
    def configure(self, args: dict[str, Any]) -> str:
        """Take the declared configuration; '' or why it is refused."""
        try:
            self.config = DesiredConfig.parse(args)
        except ValueError as exc:
            return str(exc)
        self._last_key = None
        self.check(force=True)
        return ''

    def set_parameters(self, args: dict[str, Any]) -> None:
        """Set declared values (reported as ``config.reconciled``), only while idle."""
        nodes = args.get('nodes') or {}
        revision = r if isinstance(r := args.get('revision'), int) else 0
        busy = self._busy() or ('installing' if self.installing else '') or \
            ('parameters are being set' if self._setting is not None else '')
        if not isinstance(nodes, dict) or not nodes or not all(
                isinstance(v, dict) for v in nodes.values()):
            busy = 'set_parameters needs nodes: {node: {parameter: value}}'
        if busy:
            self._emit('config.reconciled', 1, f'parameters not set: {busy}',
                       {'ok': False, 'revision': revision, 'params': [], 'reason': busy})
            return
        setting = self._setting = _Setting(revision, self._now())
        for node, values in nodes.items():
            client = self._client(SetParameters, node, 'set_parameters')
            if not client.service_is_ready():
                setting.fail(node, values, 'the node does not answer')
                continue
            params = [Parameter(n, value=coerce(v, self._kinds.get((node, n), ValueKind.OTHER)))
                      for n, v in values.items()]
            future = client.call_async(SetParameters.Request(
                parameters=[p.to_parameter_msg() for p in params]))
            setting.pending[node] = (client, future, values)
            future.add_done_callback(lambda f, n=node: self._on_set(n, f))
        self._finish_setting()

    def _on_set(self, node: str, future: Any) -> None:
        setting = self._setting
        if setting is None or node not in setting.pending \
                or setting.pending[node][1] is not future:
            return
        _, _, values = setting.pending.pop(node)
        resp = future.result()
        outcomes = list(resp.results) if resp is not None else []
        for i, (name, value) in enumerate(values.items()):
            ok = i < len(outcomes) and bool(outcomes[i].successful)
            reason = '' if ok else (outcomes[i].reason if i < len(outcomes) else 'no answer')
            setting.results.append({'node': node, 'name': name, 'value': value, 'ok': ok,
                                    'reason': reason})
        self._finish_setting()

    def _finish_setting(self, timed_out: bool = False) -> None:
        setting = self._setting
        if setting is None or (setting.pending and not timed_out):
            return
        for node, (client, future, values) in list(setting.pending.items()):
            client.remove_pending_request(future)
            setting.fail(node, values, f'no answer within {SET_TIMEOUT:g} s')
        self._setting = None
        results = setting.results
        ok = bool(results) and all(r['ok'] for r in results)
        failed = [f'{r["node"]}.{r["name"]}: {r["reason"]}' for r in results if not r['ok']]
        self._emit('config.reconciled', 0 if ok else 1,
                   'declared parameters set' if ok else f'parameters not set: {failed}',
                   {'ok': ok, 'revision': setting.revision, 'params': results,
                    'reason': '; '.join(failed)})
        self._last_key = None
        self.check(force=True)

    def install(self, args: dict[str, Any]) -> None:
        """Start an install (see the module docstring)."""
        version = args.get('version')
        artifact = str(args.get('artifact') or '')
        rollout = str(args.get('rollout_id') or '')
        data = {'version': version, 'artifact': artifact, 'rollout_id': rollout,
                'previous_version': self.software_version}
        busy = self._busy() or ('another install is running' if self.installing else '')
        if not isinstance(version, str) or not version:
            self._refuse(data, 'install needs a version', False)
            return
        if busy:
            self._refuse(data, busy, True)
            return
        try:
            argv = installer_argv(self.p.installer_command, {
                'version': version, 'artifact': artifact, 'robot_id': self.p.robot_id,
                'python': sys.executable})
        except ValueError as exc:
            self._refuse(data, str(exc), False)
            return
        try:
            self._job_log = tempfile.TemporaryFile(dir=self.p.log_dir or None)
            process = subprocess.Popen(argv, stdout=self._job_log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self._refuse(data, f'cannot run the installer {argv[0]!r}: {exc}', False)
            return
        self._process = process
        now = self._now()
        self.job = InstallJob(version, artifact, rollout, self.software_version, process, now,
                              self.p.installer_timeout, self.p.verify_timeout, self._kill,
                              self._output)
        self._emit('install.started', 0, f'installing {version}',
                   {**data, 'mission_id': self._mission_id() or None})

    def _refuse(self, data: dict[str, Any], reason: str, retryable: bool) -> None:
        self._emit('install.refused', 1, f'install of {data["version"]} refused: {reason}',
                   {**data, 'reason': reason, 'retryable': retryable})

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._process.wait(5.0)

    def _output(self) -> str:
        if self._job_log is None:
            return ''
        self._job_log.seek(0)
        return self._job_log.read().decode('utf-8', 'replace')

    def _poll_install(self) -> None:
        setting = self._setting
        if setting is not None and self._now() - setting.started > SET_TIMEOUT:
            self._finish_setting(timed_out=True)
        job = self.job
        if job is None:
            return
        if job.phase.value == 'verifying' and self.p.version_source:
            self._read_version()
        # Without a version source the installer's exit code is all there is to go by.
        reported = self.software_version if self.p.version_source else job.version
        result = job.poll(self._now(), reported, self._health)
        if result is None:
            return
        self.job, self._process = None, None
        if self._job_log is not None:
            self._job_log.close()
            self._job_log = None
        if result.succeeded and not self.p.version_source:
            self.software_version = job.version
        self._emit('install.finished', 0 if result.succeeded else 2,
                   f'install of {job.version}: {result.reason}',
                   {'outcome': 'succeeded' if result.succeeded else 'failed',
                    'version': job.version, 'previous_version': job.previous,
                    'rollout_id': job.rollout_id, 'artifact': job.artifact,
                    'reason': result.reason, 'exit_code': result.exit_code,
                    'duration': result.duration})
        self._last_key = None
        self.check(force=True)

    # -- reading the nodes -------------------------------------------------------------------
    def _client(self, srv_type: Any, node: str, verb: str) -> Any:
        key = (node, verb)
        if key not in self._clients:
            self._clients[key] = self._node.create_client(srv_type, f'{node}/{verb}')
        return self._clients[key]

    def check(self, force: bool = False) -> None:
        """Read the declared parameters (and the version) of the managed nodes; report
        when what was read changed."""
        now = self._now()
        if self._check_started is not None:
            if force:
                self._abandon_check()
            elif now - self._check_started < max(self.p.check_period, READ_TIMEOUT):
                return
            else:
                self._finish_check(timed_out=True)
        self._check_started, self._reads = now, {}
        nodes = dict(self.config.nodes) if self.config else {}
        for node, declared in nodes.items():
            self._request(node, list(declared))
        if self.p.version_source:
            self._read_version()
        if not self._pending:
            self._finish_check(timed_out=False)

    def _request(self, node: str, names: list[str]) -> None:
        client = self._client(GetParameters, node, 'get_parameters')
        if not client.service_is_ready():
            self._reads[node] = NodeRead(reachable=False, error='the node does not answer')
            return
        future = client.call_async(GetParameters.Request(names=names))
        self._pending[node] = (client, future)
        future.add_done_callback(lambda f, n=node, ns=names: self._on_read(n, ns, f))

    def _on_read(self, node: str, names: list[str], future: Any) -> None:
        if self._pending.get(node, (None, None))[1] is not future:
            return  # a read of an earlier check
        del self._pending[node]
        resp = future.result()
        values = {}
        for name, value in zip(names, resp.values if resp is not None else []):
            self._kinds[(node, name)] = KINDS.get(value.type, ValueKind.OTHER)
            values[name] = None if value.type == ParameterType.PARAMETER_NOT_SET \
                else finite_or_none(_python(value))
        self._reads[node] = NodeRead(values)
        if not self._pending and self._check_started is not None:
            self._finish_check(timed_out=False)

    def _read_version(self) -> None:
        node, _, name = self.p.version_source.partition(':')
        if self._version_future is not None and not self._version_future.done():
            return
        client = self._client(GetParameters, node, 'get_parameters')
        if not client.service_is_ready():
            return
        future = self._version_future = client.call_async(GetParameters.Request(names=[name]))
        future.add_done_callback(self._on_version)

    def _on_version(self, future: Any) -> None:
        resp = future.result()
        if resp is not None and resp.values and resp.values[0].type == \
                ParameterType.PARAMETER_STRING and resp.values[0].string_value:
            self.software_version = resp.values[0].string_value

    def _abandon_check(self) -> None:
        for client, future in self._pending.values():
            client.remove_pending_request(future)
        self._pending.clear()
        self._check_started = None

    def _finish_check(self, timed_out: bool) -> None:
        for node, (client, future) in list(self._pending.items()):
            client.remove_pending_request(future)
            self._reads[node] = NodeRead(reachable=False, error='no answer within '
                                         f'{max(self.p.check_period, READ_TIMEOUT):g} s')
        self._pending.clear()
        self._check_started = None
        report = build_report(self.config, self._reads, self.software_version)
        key = report_key(report)
        if key == self._last_key:
            return
        self._last_key = key
        drifted = report['drifted']
        down = [n for n, v in report['nodes'].items() if not v['reachable']]
        message = ('parameters as declared' if not (drifted or down) else
                   f'drift: {", ".join(drifted)}' + (f'; not answering: {", ".join(down)}'
                                                      if down else ''))
        self._emit('config.report', 1 if drifted or down else 0, message, report)

    def destroy(self) -> None:
        """Stop the timers and a running installer."""
        for t in self._timers:
            self._node.destroy_timer(t)
        for client in self._clients.values():
            self._node.destroy_client(client)
        self._kill()


def _python(value: Any) -> Any:
    result = parameter_value_to_python(value)
    return list(result) if isinstance(result, (tuple, bytes)) or hasattr(result, 'tolist') \
        else result
