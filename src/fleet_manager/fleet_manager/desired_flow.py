"""Desired state in force, its revisions, and every robot's drift: the manager's side.

:class:`DesiredFlow` (plain Python, used by the rollouts feature) holds the applied revision
and a :class:`~fleet_manager.core.drift.DriftBook`, and returns
:class:`~fleet_manager.pipeline.Changes`:

* **apply** (and **rollback**, which applies an older revision's files again): the files are
  checked (an invalid one raises ConfigError naming file and key, and nothing changes); a
  changed state becomes revision n+1 (``config.applied``, saved with who, when, why, its
  files and its diff) and every robot whose declared parameters changed is sent them
  (``configure``); the same files as the current revision change nothing;
* robots' ``config.report`` events become ``config.drift`` events when their drift state
  changes; their ``config.reconciled`` events become ``config.reconciled``;
* **tick**: robots whose agent holds another configuration are sent theirs (again after
  ``resend_after`` s), and drifted robots of ``reconcile`` groups are sent their declared
  parameters (``set_parameters``) while idle, at most every ``reconcile_retry`` s; a tick
  sends at most :data:`SENDS_PER_TICK` of each, the rest at the next ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Container, Iterable, Mapping

from fleet_common.events import (
    ConfigApplied,
    ConfigDrift,
    ConfigReconciled,
    DriftedParam,
    ParamResult,
)
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.desired import DesiredState, Labels, load_desired
from fleet_manager.core.desired_diff import Diff, diff_desired
from fleet_manager.core.drift import (
    DriftBook,
    DriftChange,
    Expected,
    Report,
    RobotConfig,
    robot_labels,
)
from fleet_manager.core.model import NewEvent, RobotRecord
from fleet_manager.pipeline import Changes, RobotCommandRequest

RECONCILER = 'reconciler'
"""The ``who`` of parameter sets the manager sends to reconcile drift."""
SENDS_PER_TICK = 250
"""Configurations, and parameter sets, that one tick sends at most. The rest go at the next
ticks (configurations round-robin from where the last tick stopped), so a site of 10,000
robots that all need theirs, or whose agents do not answer, is never one long commit."""


@dataclass(frozen=True)
class DesiredSettings:
    """Timings of configuration pushes and reconciles (s)."""

    resend_after: float = 10.0
    reconcile_retry: float = 30.0


class DesiredFlow:
    """The applied desired state, its revision number and the robots' drift book."""

    def __init__(self, fleet: FleetConfig, revision: Mapping[str, Any] | None,
                 configs: Iterable[Mapping[str, Any]],
                 settings: DesiredSettings = DesiredSettings()) -> None:
        """Restore from the store's newest revision (None: none yet) and robot records;
        ConfigError if the stored files no longer load."""
        self.fleet = fleet
        self.settings = settings
        self.revision = int(revision['number']) if revision else 0
        self.desired: DesiredState | None = (load_desired(revision['files']) if revision
                                             else None)
        self.book = DriftBook(RobotConfig.from_dict(c) for c in configs)
        self._next_config = 0
        """Where the next tick's search for robots due their configuration starts."""

    # -- robots --------------------------------------------------------------------------
    def labels(self, rec: RobotRecord) -> Labels:
        """The robot's labels (built-in and declared)."""
        spec = self.fleet.spec_for(rec.robot_id)
        declared = self.desired.labels if self.desired else {}
        return robot_labels(rec.robot_id, rec.group or spec.group,
                            rec.capabilities or spec.capabilities, self.fleet.site, declared)

    def expected(self, rec: RobotRecord) -> Expected | None:
        """What the robot should have under the applied state (None: nothing applied)."""
        if self.desired is None:
            return None
        return Expected.of(self.desired, self.revision, self.labels(rec))

    def _refresh(self, robots: Iterable[RobotRecord]) -> list[str]:
        """Recompute every robot's expected configuration; return those that changed."""
        changed = []
        for rec in robots:
            expected = self.expected(rec)
            if expected is not None and self.book.expect(rec.robot_id, expected):
                changed.append(rec.robot_id)
        return changed

    # -- applying ------------------------------------------------------------------------
    def diff(self, files: Mapping[str, str]) -> tuple[DesiredState, Diff]:
        """Check ``files`` and return them loaded with the diff against the applied state."""
        state = load_desired(files)
        return state, diff_desired(self.desired, state)

    def robots_affected(self, state: DesiredState, robots: Iterable[RobotRecord]) -> list[str]:
        """Robots whose declared parameters (or policy) ``state`` would change."""
        out = []
        for rec in robots:
            before = self.expected(rec)
            after = Expected.of(state, self.revision + 1, self.labels(rec))
            if before is None or (before.digest, before.policy) != (after.digest, after.policy):
                out.append(rec.robot_id)
        return out

    def apply(self, files: Mapping[str, str], who: str, reason: str, now: float,
              robots: list[RobotRecord], restored_from: int | None = None
              ) -> tuple[dict[str, Any], Changes]:
        """Apply ``files`` (see the module docstring); return (the result, the changes)."""
        state, diff = self.diff(files)
        if self.desired is not None and state.digest == self.desired.digest:
            return {'revision': self.revision, 'unchanged': True, 'diff': diff.to_dict(),
                    'robots_affected': []}, Changes()
        affected = self.robots_affected(state, robots)
        self.desired, self.revision = state, self.revision + 1
        rev = {'number': self.revision, 'time': now, 'who': who, 'reason': reason,
               'digest': state.digest, 'restored_from': restored_from,
               'files': dict(state.files), 'diff': diff.to_dict()}
        changes = Changes(events=[NewEvent.of(ConfigApplied(
            revision=self.revision, who=who, reason=reason, digest=state.digest,
            files=sorted(state.files), changes=diff.lines(), robots_affected=len(affected),
            restored_from=restored_from, next_configure=list(diff.next_configure) or None))])
        changes.writes.append(lambda tx: tx.save_revision(rev))
        self._refresh(robots)
        online = {r.robot_id for r in robots if r.connectivity.value == 'online'}
        changes.add(self._send_configs([r for r in affected if r in online], now, who,
                                       f'revision {self.revision}: {reason}'.rstrip(': ')))
        return {'revision': self.revision, 'unchanged': False, 'diff': diff.to_dict(),
                'robots_affected': affected}, changes

    # -- what robots report --------------------------------------------------------------
    def on_report(self, robot_id: str, data: Mapping[str, Any], time: float) -> Changes:
        """An agent's ``config.report``."""
        change = self.book.on_report(robot_id, Report.from_data(data, time))
        return self._drift(robot_id, change)

    def on_version(self, robot_id: str, reported: str, installed: str | None = None
                   ) -> Changes:
        """A robot's reported software version (and, after an install, the installed one)."""
        return self._drift(robot_id, self.book.on_version(robot_id, reported, installed))

    def on_reconciled(self, robot_id: str, data: Mapping[str, Any]) -> Changes:
        """An agent's ``config.reconciled`` (the result of a ``set_parameters``)."""
        params = []
        for p in data.get('params') or []:
            if isinstance(p, dict):
                params.append(ParamResult(str(p.get('node', '')), str(p.get('name', '')),
                                          p.get('value'), bool(p.get('ok')),
                                          str(p.get('reason', ''))))
        event = ConfigReconciled(ok=bool(data.get('ok')), revision=int(data.get('revision') or 0),
                                 params=params, reason=str(data.get('reason', '')),
                                 who=RECONCILER)
        return Changes(events=[NewEvent.of(event, robot_id)])

    def forget_agent_config(self, robot_id: str) -> None:
        """The robot's agent restarted (a new outbox): assume it holds no configuration."""
        rec = self.book.get(robot_id)
        rec.reported_digest, rec.unconfirmed = '', 0

    def _drift(self, robot_id: str, change: DriftChange | None) -> Changes:
        rec = self.book.get(robot_id)
        changes = Changes()
        doc = rec.to_dict()  # the record as it is now, not when the write runs
        changes.writes.append(lambda tx: tx.save_robot_configs([doc]))
        if change is None:
            return changes
        changes.events.append(NewEvent.of(ConfigDrift(
            state=change.state.value, policy=change.policy.value, revision=change.revision,
            params=[DriftedParam(d.node, d.name, d.declared, d.actual) for d in change.drifted],
            unreachable=list(change.unreachable),
            software_version=change.reported_version or None,
            expected_version=change.installed_version or None), robot_id))
        return changes

    # -- the clock -----------------------------------------------------------------------
    def tick(self, robots: list[RobotRecord], idle: Container[str], now: float) -> Changes:
        """Send configurations that are due and reconcile drifted idle robots."""
        if self.desired is None:
            return Changes()
        self._refresh(r for r in robots if self.book.get(r.robot_id).expected is None)
        online = [r.robot_id for r in robots if r.connectivity.value == 'online'
                  and not r.decommissioned]
        changes = self._send_configs(self._due_configs(online, now), now, RECONCILER,
                                     f'revision {self.revision}')
        reconciles = 0
        for robot_id in online:
            if robot_id in idle and self.book.reconcile_due(robot_id, now,
                                                            self.settings.reconcile_retry):
                changes.add(self._reconcile(robot_id, now))
                reconciles += 1
                if reconciles == SENDS_PER_TICK:
                    break
        return changes

    def _due_configs(self, online: list[str], now: float) -> list[str]:
        """Robots due their configuration, at most SENDS_PER_TICK, searched round-robin from
        where the last tick stopped: a robot never waits behind others sent again and again."""
        n, due = len(online), []
        start = self._next_config % n if n else 0
        for k in range(n):
            robot_id = online[(start + k) % n]
            if self.book.config_due(robot_id, now, self.settings.resend_after):
                due.append(robot_id)
                if len(due) == SENDS_PER_TICK:
                    self._next_config = start + k + 1
                    break
        return due

    def _send_configs(self, robot_ids: list[str], now: float, who: str,
                      reason: str) -> Changes:
        changes = Changes()
        for robot_id in robot_ids:
            rec = self.book.get(robot_id)
            e = rec.expected
            if e is None:
                continue
            self.book.sent(robot_id, e.digest, now)
            changes.commands.append(RobotCommandRequest(
                robot_id, 'configure', {'revision': e.revision, 'config_digest': e.digest,
                                        'nodes': {n: dict(v) for n, v in e.params.items()}},
                who, reason))
        return changes

    def _reconcile(self, robot_id: str, now: float) -> Changes:
        rec = self.book.get(robot_id)
        assert rec.expected is not None
        rec.reconcile_at = now
        nodes: dict[str, dict[str, Any]] = {}
        for d in rec.drifted:
            nodes.setdefault(d.node, {})[d.name] = d.declared
        names = ', '.join(f'{d.node}.{d.name}' for d in rec.drifted)
        return Changes(commands=[RobotCommandRequest(
            robot_id, 'set_parameters', {'revision': rec.expected.revision, 'nodes': nodes},
            RECONCILER, f'drift: {names}')])

    def robots_view(self) -> list[dict[str, Any]]:
        """Every robot's configuration record (for the API)."""
        return [r.to_dict() for r in self.book.records()]
