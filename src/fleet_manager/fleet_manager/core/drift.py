"""Declared against reported configuration, per robot: labels, expected parameters, drift.

* A robot's **labels** are built in (``id``, ``site``, ``group``, ``capability``) and
  declared (``robots:`` in the desired state, which win).
* Its **expected** configuration comes from the desired state: the parameters of every
  parameter set of its groups (:meth:`DesiredState.params_for`), their digests
  (:mod:`fleet_common.param_digest`) and its groups' reconcile policy.
* Its agent **reports** (robot event ``config.report``) the digest of the configuration it
  was sent and, per managed node, the digest of the values it read through the node's
  parameter service, the values themselves and whether the node answered.
* **Drift**: a parameter whose value differs, a managed node that does not answer, or a
  software version other than the one the robot was last installed with. A report about an
  older configuration than the expected one says nothing (the agent has not got the new
  one yet: it is sent again).

:class:`DriftBook` keeps a :class:`RobotConfig` per robot and returns a :class:`DriftChange`
whenever a robot's drift state changes. Pure Python: time comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
from typing import Any, Iterable, Mapping, Sequence

from fleet_common.param_digest import config_digest, node_digest, same_value
from fleet_manager.core.desired import DesiredState, Labels, ReconcilePolicy


class DriftState(str, enum.Enum):
    """Whether a robot's reported configuration matches the declared one."""

    UNKNOWN = 'unknown'
    """No report about the expected configuration yet."""
    IN_SYNC = 'in_sync'
    """Every declared parameter has its declared value; the software is the installed one."""
    DRIFTED = 'drifted'
    """Something differs (see the drifted parameters, unreachable nodes, versions)."""


def robot_labels(robot_id: str, group: str, capabilities: Sequence[str], site: str,
                 declared: Mapping[str, Labels]) -> dict[str, tuple[str, ...]]:
    """The robot's labels: built-in ``id``, ``site``, ``group``, ``capability``, then the
    desired state's ``robots:`` labels of the robot (which win)."""
    labels: dict[str, tuple[str, ...]] = {
        'id': (robot_id,), 'site': (site,) if site else (), 'group': (group,) if group else (),
        'capability': tuple(capabilities)}
    labels.update(declared.get(robot_id, {}))
    return labels


@dataclass(frozen=True)
class Expected:
    """What a robot should have: parameters (node -> name -> value), their digests, the
    reconcile policy and the groups it is in."""

    revision: int
    params: Mapping[str, Mapping[str, Any]]
    digest: str
    node_digests: Mapping[str, str]
    policy: ReconcilePolicy
    groups: tuple[str, ...]

    @classmethod
    def of(cls, desired: DesiredState, revision: int, labels: Labels) -> 'Expected':
        """The expected configuration of a robot with ``labels`` under ``desired``."""
        params = desired.params_for(labels)
        return cls(revision, params, config_digest(params),
                   {node: node_digest(values) for node, values in params.items()},
                   desired.policy_for(labels), tuple(g.name for g in desired.groups_of(labels)))


@dataclass(frozen=True)
class NodeReport:
    """What the agent read from one managed node."""

    digest: str
    values: Mapping[str, Any]
    reachable: bool = True
    error: str = ''


@dataclass(frozen=True)
class Report:
    """An agent's ``config.report``: the digest of the configuration it holds, per node."""

    config_digest: str
    nodes: Mapping[str, NodeReport]
    time: float

    @classmethod
    def from_data(cls, data: Mapping[str, Any], time: float) -> 'Report':
        """Parse the ``data`` of a ``config.report`` robot event (tolerating junk)."""
        nodes = {}
        raw_nodes = data.get('nodes')
        for node, raw in (raw_nodes.items() if isinstance(raw_nodes, dict) else ()):
            if not isinstance(raw, dict):
                continue
            values = raw.get('values')
            nodes[str(node)] = NodeReport(str(raw.get('digest', '')),
                                          dict(values) if isinstance(values, dict) else {},
                                          bool(raw.get('reachable', True)),
                                          str(raw.get('error', '')))
        return cls(str(data.get('config_digest', '')), nodes, time)


@dataclass(frozen=True)
class Drifted:
    """One parameter whose reported value is not the declared one."""

    node: str
    name: str
    declared: Any
    actual: Any


RESEND_BACKOFF_MAX = 32
"""A configuration no report confirms is sent again after ``resend_after``, then after twice,
four times... as long, at most this many times as long (an agent that cannot take it is not
sent it, and the event log not written, every ``resend_after`` for ever)."""


def resend_wait(resend_after: float, unconfirmed: int) -> float:
    """How long after the last of ``unconfirmed`` unconfirmed sends the next one is due."""
    return resend_after * min(2 ** max(unconfirmed - 1, 0), RESEND_BACKOFF_MAX)


@dataclass
class RobotConfig:
    """The manager's book of one robot's configuration."""

    robot_id: str
    expected: Expected | None = None
    reported_digest: str = ''
    state: DriftState = DriftState.UNKNOWN
    drifted: list[Drifted] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    reported_at: float | None = None
    sent_digest: str = ''
    sent_at: float | None = None
    reconcile_at: float | None = None
    installed_version: str = ''
    """The version of the robot's last successful install ('' when never installed)."""
    reported_version: str = ''
    unconfirmed: int = 0
    """Sends of ``sent_digest`` that no report confirmed yet (not stored: a restart starts
    the back-off over)."""

    def version_drift(self) -> bool:
        """True when the robot reports a version other than the one last installed."""
        return bool(self.installed_version and self.reported_version
                    and self.reported_version != self.installed_version)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON (the store's and the API's shape)."""
        e = self.expected
        return {
            'robot_id': self.robot_id, 'state': self.state.value,
            'revision': e.revision if e else None, 'groups': list(e.groups) if e else [],
            'policy': e.policy.value if e else ReconcilePolicy.REPORT.value,
            'expected_digest': e.digest if e else '', 'reported_digest': self.reported_digest,
            'params': {n: dict(v) for n, v in e.params.items()} if e else {},
            'drifted': [{'node': d.node, 'name': d.name, 'declared': d.declared,
                         'actual': d.actual} for d in self.drifted],
            'unreachable': list(self.unreachable), 'reported_at': self.reported_at,
            'sent_digest': self.sent_digest, 'sent_at': self.sent_at,
            'reconcile_at': self.reconcile_at, 'installed_version': self.installed_version,
            'reported_version': self.reported_version}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> 'RobotConfig':
        """Rebuild a record written by :meth:`to_dict` (the expected part is recomputed
        from the desired state, so only the reported side is kept)."""
        return cls(
            robot_id=str(d['robot_id']), reported_digest=str(d.get('reported_digest', '')),
            state=DriftState(d.get('state', 'unknown')),
            drifted=[Drifted(x['node'], x['name'], x.get('declared'), x.get('actual'))
                     for x in d.get('drifted', [])],
            unreachable=list(d.get('unreachable', [])), reported_at=d.get('reported_at'),
            sent_digest=str(d.get('sent_digest', '')), sent_at=d.get('sent_at'),
            installed_version=str(d.get('installed_version', '')),
            reported_version=str(d.get('reported_version', '')))


@dataclass(frozen=True)
class DriftChange:
    """A robot's drift state changed (log it as ``config.drift``)."""

    robot_id: str
    state: DriftState
    policy: ReconcilePolicy
    revision: int
    drifted: tuple[Drifted, ...]
    unreachable: tuple[str, ...]
    reported_version: str = ''
    installed_version: str = ''


class DriftBook:
    """Every robot's expected and reported configuration, and their drift state."""

    def __init__(self, records: Iterable[RobotConfig] = ()) -> None:
        self._robots: dict[str, RobotConfig] = {r.robot_id: r for r in records}

    def get(self, robot_id: str) -> RobotConfig:
        """The robot's record (a new, empty one for a robot not seen yet)."""
        rec = self._robots.get(robot_id)
        if rec is None:
            rec = self._robots[robot_id] = RobotConfig(robot_id)
        return rec

    def records(self) -> list[RobotConfig]:
        """Every record, by robot id."""
        return [self._robots[r] for r in sorted(self._robots)]

    def expect(self, robot_id: str, expected: Expected) -> bool:
        """Set what the robot should have; True when its configuration digest changed (then
        a reconcile may be sent at once, whatever the retry back-off of earlier ones)."""
        rec = self.get(robot_id)
        changed = rec.expected is None or rec.expected.digest != expected.digest
        rec.expected = expected
        if changed:
            rec.reconcile_at = None  # new declared values: no back-off from older attempts
        return changed

    def on_report(self, robot_id: str, report: Report) -> DriftChange | None:
        """Take an agent's report; return the change of the robot's drift state, if any."""
        rec = self.get(robot_id)
        rec.reported_digest, rec.reported_at = report.config_digest, report.time
        if report.config_digest == rec.sent_digest:
            rec.unconfirmed = 0
        e = rec.expected
        if e is None or report.config_digest != e.digest:
            return None  # about another configuration: the expected one is sent again
        drifted, unreachable = [], []
        for node, declared in e.params.items():
            nr = report.nodes.get(node)
            if nr is None or not nr.reachable:
                unreachable.append(node)
                continue
            if nr.digest == e.node_digests.get(node):
                continue
            drifted += [Drifted(node, name, value, nr.values.get(name))
                        for name, value in declared.items()
                        if not same_value(value, nr.values.get(name))]
        return self._update(rec, drifted, unreachable)

    def on_version(self, robot_id: str, reported: str, installed: str | None = None
                   ) -> DriftChange | None:
        """Take the robot's reported software version (and, after a successful install,
        the installed one); return the change of its drift state, if any."""
        rec = self.get(robot_id)
        rec.reported_version = reported
        if installed is not None:
            rec.installed_version = installed
        return self._update(rec, rec.drifted, rec.unreachable)

    def _update(self, rec: RobotConfig, drifted: list[Drifted],
                unreachable: list[str]) -> DriftChange | None:
        if rec.expected is None or (rec.reported_at is None and not rec.version_drift()):
            return None
        known = rec.reported_at is not None and rec.reported_digest == rec.expected.digest
        if drifted or unreachable or rec.version_drift():
            state = DriftState.DRIFTED
        else:
            state = DriftState.IN_SYNC if known else DriftState.UNKNOWN
        before = (rec.state, rec.drifted, rec.unreachable)
        rec.state, rec.drifted, rec.unreachable = state, list(drifted), list(unreachable)
        if before == (rec.state, rec.drifted, rec.unreachable) or state == DriftState.UNKNOWN:
            return None
        e = rec.expected
        return DriftChange(rec.robot_id, state, e.policy, e.revision, tuple(drifted),
                           tuple(unreachable), rec.reported_version, rec.installed_version)

    def config_due(self, robot_id: str, now: float, resend_after: float) -> bool:
        """True when the robot should be sent its expected configuration now: it reports
        another one and none was sent within ``resend_after`` s."""
        rec = self.get(robot_id)
        e = rec.expected
        if e is None or rec.reported_digest == e.digest:
            return False
        if rec.sent_digest == e.digest and rec.sent_at is not None \
                and now - rec.sent_at < resend_wait(resend_after, rec.unconfirmed):
            return False
        return True

    def sent(self, robot_id: str, digest: str, now: float) -> None:
        """The configuration ``digest`` was sent to the robot at ``now``."""
        rec = self.get(robot_id)
        rec.unconfirmed = rec.unconfirmed + 1 if rec.sent_digest == digest else 1
        rec.sent_digest, rec.sent_at = digest, now

    def reconcile_due(self, robot_id: str, now: float, retry_after: float) -> bool:
        """True when the robot's drifted parameters should be set now (policy reconcile,
        drifted parameters, no attempt within ``retry_after`` s)."""
        rec = self.get(robot_id)
        e = rec.expected
        return (e is not None and e.policy == ReconcilePolicy.RECONCILE and bool(rec.drifted)
                and (rec.reconcile_at is None or now - rec.reconcile_at >= retry_after))
