"""The agent's plain logic for configuration and software: declared parameters, reports,
value coercion, installer command lines and the install job's state machine.

No rclpy here, so it is unit-tested without a ROS graph; :mod:`fleet_agent.config_sync`
adapts it to the robot's parameter services and to a child process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
import math
import shlex
from typing import Any, Callable, Mapping, Protocol

from fleet_common.param_digest import node_digest, same_value

PLACEHOLDERS = ('version', 'artifact', 'robot_id', 'python')
"""What an installer command line may name in braces, e.g. ``{version}``."""
OUTPUT_TAIL = 400
"""Characters of the installer's output quoted in a failure reason."""


@dataclass(frozen=True)
class DesiredConfig:
    """What the manager declared for this robot: parameters per node and their digest."""

    revision: int
    config_digest: str
    nodes: Mapping[str, Mapping[str, Any]]

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> 'DesiredConfig':
        """Parse a ``configure`` command's args; ValueError saying what is wrong."""
        nodes = args.get('nodes')
        digest = args.get('config_digest')
        if not isinstance(nodes, dict) or not all(
                isinstance(n, str) and isinstance(v, dict) for n, v in nodes.items()):
            raise ValueError('configure needs nodes: {node: {parameter: value}}')
        if not isinstance(digest, str):
            raise ValueError('configure needs config_digest')
        revision = args.get('revision')
        return cls(revision if isinstance(revision, int) else 0, digest,
                   {n: dict(v) for n, v in nodes.items()})


@dataclass(frozen=True)
class NodeRead:
    """What reading one node's parameters gave: values (None: the node has no such
    parameter), or that the node did not answer."""

    values: Mapping[str, Any] = field(default_factory=dict)
    reachable: bool = True
    error: str = ''


def build_report(config: DesiredConfig | None, reads: Mapping[str, NodeRead],
                 software_version: str) -> dict[str, Any]:
    """The ``config.report`` event data: per node the digest of the declared names' actual
    values, the values, whether the node answered; and which parameters differ."""
    nodes: dict[str, Any] = {}
    drifted = []
    for node, declared in (config.nodes.items() if config else ()):
        read = reads.get(node, NodeRead(reachable=False, error='not read'))
        if not read.reachable:
            nodes[node] = {'digest': '', 'values': {}, 'reachable': False,
                           'error': read.error}
            continue
        values = {name: read.values.get(name) for name in declared}
        nodes[node] = {'digest': node_digest(values), 'values': values, 'reachable': True}
        drifted += [f'{node}.{name}' for name, value in declared.items()
                    if not same_value(value, values[name])]
    return {'config_digest': config.config_digest if config else '',
            'revision': config.revision if config else 0, 'nodes': nodes,
            'drifted': drifted, 'software_version': software_version}


def report_key(report: Mapping[str, Any]) -> tuple[Any, ...]:
    """What must change for a new report to be worth sending (not the timestamps)."""
    nodes = report.get('nodes', {})
    return (report.get('config_digest'), report.get('software_version'),
            tuple(sorted((n, v.get('digest'), v.get('reachable')) for n, v in nodes.items())))


class ValueKind(enum.Enum):
    """The type a parameter has on its node, as far as coercion cares."""

    INTEGER = 'integer'
    """An integer (or an array of them)."""
    DOUBLE = 'double'
    """A double (or an array of them)."""
    OTHER = 'other'
    """Anything else: the value is sent as it is."""


def coerce(value: Any, kind: ValueKind) -> Any:
    """Return ``value`` with the number type the node's parameter has (a YAML ``1`` for a
    double parameter is sent as 1.0; an integral 2.0 for an integer one as 2)."""
    if isinstance(value, list):
        return [coerce(v, kind) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if kind == ValueKind.DOUBLE:
        return float(value)
    if kind == ValueKind.INTEGER and float(value).is_integer():
        return int(value)
    return value


def installer_argv(template: str, values: Mapping[str, str]) -> list[str]:
    """Split ``template`` like a shell would (no shell runs it), then fill the placeholders
    in each word; ValueError for an empty template or an unknown placeholder."""
    words = shlex.split(template)
    if not words:
        raise ValueError('no installer_command is configured')
    out = []
    for word in words:
        try:
            out.append(word.format(**{k: values.get(k, '') for k in PLACEHOLDERS}))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f'installer_command: bad placeholder in {word!r} ({exc}); '
                             f'use {", ".join("{" + p + "}" for p in PLACEHOLDERS)}') from None
    return out


class Process(Protocol):
    """The part of subprocess.Popen the install job uses."""

    def poll(self) -> int | None: ...


class InstallPhase(enum.Enum):
    """Where an install job is."""

    RUNNING = 'running'
    """The installer runs."""
    VERIFYING = 'verifying'
    """It exited 0: waiting for the robot to report the new version and be healthy."""
    DONE = 'done'
    """Finished (see the result)."""


@dataclass(frozen=True)
class InstallResult:
    """How an install ended."""

    succeeded: bool
    reason: str
    exit_code: int | None
    duration: float


class InstallJob:
    """One install: the installer's process, then the check that the robot came back
    healthy on the new version. :meth:`poll` is called periodically with the time, the
    version the robot reports and whether it is healthy now; it returns the result once."""

    def __init__(self, version: str, artifact: str, rollout_id: str, previous: str,
                 process: Process, started: float, timeout: float, verify_timeout: float,
                 kill: Callable[[], None], output: Callable[[], str] = lambda: '') -> None:
        self.version, self.artifact, self.rollout_id = version, artifact, rollout_id
        self.previous = previous
        self.started = started
        self.phase = InstallPhase.RUNNING
        self.exit_code: int | None = None
        self.exited_at: float | None = None
        self._process, self._kill, self._output = process, kill, output
        self._timeout, self._verify_timeout = timeout, verify_timeout

    def poll(self, now: float, reported_version: str, healthy_since: Callable[[float], str]
             ) -> InstallResult | None:
        """Advance; ``healthy_since(t)`` returns '' when the robot was heard from since
        ``t`` and is not in error, else why not."""
        if self.phase == InstallPhase.RUNNING:
            code = self._process.poll()
            if code is None:
                if now - self.started > self._timeout:
                    self._kill()
                    return self._end(False, f'the installer did not finish within '
                                            f'{self._timeout:g} s (killed)', now)
                return None
            self.exit_code, self.exited_at = code, now
            if code != 0:
                tail = self._output().strip()[-OUTPUT_TAIL:]
                return self._end(False, f'the installer exited with {code}'
                                 + (f': {tail}' if tail else ''), now)
            self.phase = InstallPhase.VERIFYING
        if self.phase != InstallPhase.VERIFYING:
            return None
        assert self.exited_at is not None
        unhealthy = healthy_since(self.exited_at)
        if reported_version == self.version and not unhealthy:
            return self._end(True, f'running {self.version}', now)
        if now - self.exited_at > self._verify_timeout:
            why = unhealthy or f'it reports {reported_version or "no version"}'
            return self._end(False, f'the robot did not come back healthy on {self.version} '
                                    f'within {self._verify_timeout:g} s: {why}', now)
        return None

    def _end(self, ok: bool, reason: str, now: float) -> InstallResult:
        self.phase = InstallPhase.DONE
        return InstallResult(ok, reason, self.exit_code, round(now - self.started, 3))


def finite_or_none(value: Any) -> Any:
    """Parameter values as JSON can hold them (NaN and infinities become strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
