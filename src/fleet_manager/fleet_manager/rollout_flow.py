"""Staged rollouts fed by the event log: the manager's side of the state machine.

:class:`RolloutFlow` (plain Python, used by the rollouts feature) wraps the
:class:`~fleet_manager.core.rollouts.RolloutController`:

* it resolves a create request against the desired state: the release (declared, with its
  artifact), the strategy (named, or the policy's default) and its analysis template, the
  scope (groups, explicit robots, or every robot in service);
* it feeds the gates from the event log: every ``mission.state`` event that ends an attempt
  (it carries the robot's software version) with the attempt's recoveries, interventions
  and duration, and diagnostics turning ERROR;
* it turns agents' install reports (robot events ``install.started``, ``install.finished``,
  ``install.refused``) into ``robot.install`` events and into the controller's phases;
* it returns :class:`~fleet_manager.pipeline.Changes`: the ``rollout.*`` events, the installs
  as logged ``install`` robot commands, and the changed rollouts to save.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from fleet_common.events import RobotInstall
from fleet_manager.core.budget import BudgetVerdict
from fleet_manager.core.desired import DesiredState
from fleet_manager.core.errors import ValidationError
from fleet_manager.core.model import Event, NewEvent
from fleet_manager.core.rollout_model import Rollout
from fleet_manager.core.rollouts import (
    CONTROLLER,
    Output,
    RobotView,
    RolloutController,
    RolloutRequest,
)
from fleet_manager.pipeline import Changes, RobotCommandRequest

INSTALL_TYPES = {'install.started': 'started', 'install.finished': '',
                 'install.refused': 'refused'}
ATTEMPT_ENDS = ('succeeded', 'failed', 'queued')
DIAG_ERROR = 2
MAX_STARTS = 100_000


class RolloutFlow:
    """Rollouts, fed by events and ticks; their changes as Changes."""

    def __init__(self, rollouts: Iterable[Mapping[str, Any]]) -> None:
        self.controller = RolloutController(Rollout.from_dict(dict(d)) for d in rollouts)
        self._started: dict[tuple[str, int], float] = {}

    # -- requests ------------------------------------------------------------------------
    def request(self, body: Mapping[str, Any], desired: DesiredState | None,
                robots: Mapping[str, RobotView]) -> RolloutRequest:
        """Resolve a create request (``release``, optional ``strategy``, ``groups``,
        ``robots``); ValidationError naming the field otherwise."""
        if desired is None:
            raise ValidationError('release', 'no desired state is applied yet: declare the '
                                             'release (fleetctl apply -f DIR) first')
        version = body.get('release')
        if not isinstance(version, str) or version not in desired.releases:
            raise ValidationError('release', f'unknown release {version!r} (declared: '
                                  f'{", ".join(desired.releases) or "none"})')
        name = body.get('strategy') or desired.policy.default_strategy
        if not isinstance(name, str) or name not in desired.strategies:
            raise ValidationError('strategy', f'unknown strategy {name!r} (declared: '
                                  f'{", ".join(desired.strategies) or "none"})')
        strategy = desired.strategies[name]
        scope = self._scope(body, desired, robots)
        artifacts = {v.version: r.artifact for v in scope
                     for r in [desired.releases.get(v.version)] if r is not None}
        return RolloutRequest(version, desired.releases[version].artifact, strategy,
                              desired.analysis[strategy.analysis], scope, artifacts)

    @staticmethod
    def _scope(body: Mapping[str, Any], desired: DesiredState,
               robots: Mapping[str, RobotView]) -> list[RobotView]:
        groups, ids = body.get('groups') or [], body.get('robots') or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ValidationError('groups', 'must be a list of group names')
        if not isinstance(ids, list) or not all(isinstance(r, str) for r in ids):
            raise ValidationError('robots', 'must be a list of robot ids')
        for g in groups:
            if g not in desired.groups:
                raise ValidationError('groups', f'unknown group {g!r} (declared: '
                                      f'{", ".join(desired.groups) or "none"})')
        for r in ids:
            if r not in robots:
                raise ValidationError('robots', f'unknown robot {r!r}')
        chosen = [robots[r] for r in ids] if ids else list(robots.values())
        if groups:
            chosen = [v for v in chosen
                      if any(desired.groups[g].selects(v.labels) for g in groups)]
        return chosen

    # -- events --------------------------------------------------------------------------
    def on_event(self, e: Event, version_of: Callable[[str], str]) -> Changes | None:
        """Feed one logged event (mission outcomes, diagnostics, install reports);
        ``version_of`` gives a robot's software version now."""
        p = e.payload
        if e.kind == 'mission.state':
            self._mission(e)
            return None
        if e.kind != 'robot.event':
            return None
        kind = str(p.get('type', ''))
        data = d if isinstance(d := p.get('data'), dict) else {}
        if kind == 'diagnostics_level' and _int(data.get('to')) >= DIAG_ERROR \
                and _int(data.get('from')) < DIAG_ERROR:
            self.controller.on_diagnostics_error(e.robot_id, version_of(e.robot_id), e.time)
            return None
        if kind in INSTALL_TYPES:
            return self._install(e, kind, data)
        return None

    def _mission(self, e: Event) -> None:
        p = e.payload
        key = (str(p.get('mission_id', '')), _int(p.get('attempt')))
        if p.get('state') == 'active':
            if len(self._started) >= MAX_STARTS:
                self._started.pop(next(iter(self._started)))
            self._started[key] = e.time
            return
        version = p.get('software_version')
        if p.get('state') not in ATTEMPT_ENDS or not isinstance(version, str):
            return  # not the end of an attempt on a robot (a submission, a lost robot)
        robot = str(p.get('robot_id') or e.robot_id)
        self.controller.on_attempt(robot, version, p.get('state') == 'succeeded',
                                   _int(p.get('recoveries')), _int(p.get('interventions')),
                                   self._started.pop(key, None), e.time)

    def _install(self, e: Event, kind: str, data: Mapping[str, Any]) -> Changes:
        phase = INSTALL_TYPES[kind] or ('succeeded' if data.get('outcome') == 'succeeded'
                                        else 'failed')
        rollout_id = str(data.get('rollout_id') or '')
        version = str(data.get('version', ''))
        reason = str(data.get('reason', ''))
        changes = Changes(events=[NewEvent.of(RobotInstall(
            phase=phase, version=version, previous_version=str(data.get('previous_version', '')),
            reason=reason, who=CONTROLLER if rollout_id else 'unknown',
            rollout_id=rollout_id or None, mission_id=data.get('mission_id') or None,
            exit_code=data.get('exit_code') if isinstance(data.get('exit_code'), int) else None,
            duration=_float(data.get('duration'))), e.robot_id)])
        if rollout_id and phase != 'started':
            out = self.controller.on_install(e.robot_id, rollout_id, phase, version, reason,
                                             bool(data.get('retryable')), e.time)
            changes.add(self.changes(out))
        return changes

    # -- output --------------------------------------------------------------------------
    def changes(self, out: Output) -> Changes:
        """The controller's output as Changes (events, logged install commands, saves)."""
        changes = Changes(events=[NewEvent.of(p, robot) for p, robot in out.events])
        for order in out.installs:
            changes.commands.append(RobotCommandRequest(
                order.robot_id, 'install', {'version': order.version,
                                            'artifact': order.artifact,
                                            'rollout_id': order.rollout_id},
                CONTROLLER, order.reason))
        if out.changed:
            docs = [self.controller.get(i).to_dict() for i in sorted(out.changed)]
            changes.writes.append(lambda tx: tx.save_rollouts(docs))
        return changes

    def tick(self, robots: Mapping[str, RobotView], budget: BudgetVerdict,
             now: float) -> Changes:
        """Advance every active rollout."""
        return self.changes(self.controller.tick(robots, budget, now))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
