"""Rollouts feature of the manager: configuration as code, drift, staged rollouts, audit.

Adapts :class:`~fleet_manager.desired_flow.DesiredFlow` (the applied desired state, its
revisions, the robots' drift) and :class:`~fleet_manager.rollout_flow.RolloutFlow` (staged
rollouts gated on mission outcomes) to the node. Three services of type
``fleet_msgs/srv/JsonCall`` (an action, a JSON body, who and why):

* ``fleet/desired_state``: ``diff``, ``apply``, ``current``, ``revisions``, ``revision``,
  ``rollback``, ``robots`` (every robot's drift and versions);
* ``fleet/rollouts``: ``create``, ``list``, ``get``, ``promote``, ``pause``, ``resume``,
  ``abort``;
* ``fleet/audit``: ``list`` (who did what, when and why: the audit kinds of the event log,
  newest first, filtered and paginated).

Everything it changes goes through the pipeline as Changes: events, robot commands
(``configure``, ``set_parameters``, ``install``, each logged as ``robot.command``), and its
own tables (revisions, rollouts, robot_config) written in the same transaction. Robots a
rollout is about to update (or revert) get no new mission: see :meth:`reserved`.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import pathlib
from typing import Any, Callable, Mapping, Protocol, Sequence, cast

from fleet_common.events import ConfigRefused, PatternError, check_pattern
from fleet_manager.core.budget import BudgetPolicy, BudgetVerdict
from fleet_manager.core.errors import ConfigError, Conflict, NotFound, ValidationError
from fleet_manager.core.model import Connectivity, Event, Mode, NewEvent, RobotRecord, StatusReport
from fleet_manager.core.rollouts import RobotView
from fleet_manager.desired_flow import DesiredFlow, DesiredSettings
from fleet_manager.features import FeatureHost
from fleet_manager.pipeline import Changes
from fleet_manager.rollout_flow import RolloutFlow
from fleet_msgs.srv import JsonCall

OWN_KINDS = ('config.', 'rollout.', 'robot.install')
AUDIT_KINDS = ('config.*', 'rollout.*', 'robot.install', 'robot.command', 'robot.service',
               'incident.acknowledged', 'incident.resolved')
"""What the audit trail lists: changes of desired state, rollout actions and results, and
every command and operator action (each payload names ``who``)."""
R = JsonCall.Response
Action = Callable[[dict[str, Any], str, str], 'tuple[dict[str, Any], Changes | None]']


class ConfigStore(Protocol):
    """The store's reads this feature uses."""

    path: str

    def get_revision(self, number: int | None = None) -> dict[str, Any] | None: ...

    def list_revisions(self, offset: int = 0, limit: int = 100
                       ) -> tuple[list[dict[str, Any]], int]: ...

    def load_rollouts(self) -> list[dict[str, Any]]: ...

    def load_robot_configs(self) -> list[dict[str, Any]]: ...

    def audit(self, kinds: Sequence[str], who: str = '', robot_id: str = '',
              since: float | None = None, until: float | None = None, offset: int = 0,
              limit: int = 100) -> tuple[list[Event], int]: ...


@dataclass(frozen=True)
class RolloutSettings:
    """Timings (s) and the desired state applied when the store has none yet."""

    tick_period: float = 0.5
    resend_after: float = 10.0
    reconcile_retry: float = 30.0
    bootstrap_dir: str = ''


class Refused(Exception):
    """A request failed, but what it caused is still to be committed (an audit entry)."""

    def __init__(self, code: int, message: str, field: str, changes: Changes) -> None:
        super().__init__(message)
        self.code, self.field, self.changes = code, field, changes


class RolloutsFeature:
    """Configuration as code, drift and staged rollouts behind ROS services."""

    name = 'rollouts'

    def __init__(self, budget: Callable[[], Mapping[str, float | None]],
                 settings: RolloutSettings = RolloutSettings()) -> None:
        self._budget = budget
        self.settings = settings
        self._host: FeatureHost | None = None
        self._store: ConfigStore | None = None
        self.desired: DesiredFlow | None = None
        self.rollouts: RolloutFlow | None = None
        self._services: list[Any] = []
        self._ticked = 0.0
        self._bootstrapped = False
        self._versions: dict[str, str] = {}
        self._labels: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def configure(self, host: FeatureHost) -> str:
        store = cast(ConfigStore, host.store)
        s = self.settings
        try:
            self.desired = DesiredFlow(host.fleet, store.get_revision(),
                                       store.load_robot_configs(),
                                       DesiredSettings(s.resend_after, s.reconcile_retry))
        except ConfigError as exc:
            return f'{store.path}: the applied desired state no longer loads: {exc}'
        self.rollouts = RolloutFlow(store.load_rollouts())
        self._host, self._store = host, store
        self._services = [
            host.create_service(JsonCall, 'fleet/desired_state', self._serve({
                'diff': self._diff, 'apply': self._apply, 'current': self._current,
                'revisions': self._revisions, 'revision': self._revision,
                'rollback': self._rollback, 'robots': self._robots})),
            host.create_service(JsonCall, 'fleet/rollouts', self._serve({
                'create': self._create, 'list': self._list, 'get': self._get,
                'promote': self._operator('promote'), 'pause': self._operator('pause'),
                'resume': self._operator('resume'), 'abort': self._operator('abort')})),
            host.create_service(JsonCall, 'fleet/audit', self._serve({'list': self._audit})),
        ]
        return ''

    def teardown(self) -> None:
        if self._host is not None:
            for srv in self._services:
                self._host.destroy(srv)
        self._host, self._services = None, []

    def reserved(self) -> set[str]:
        """Robots that must get no new mission (a rollout updates or reverts them)."""
        return self.rollouts.controller.reserved() if self.rollouts is not None else set()

    # -- inputs ------------------------------------------------------------------------------
    def replay(self, events: Sequence[Event], now: float) -> None:
        assert self.rollouts is not None
        for e in events:  # rebuild the gate windows; install reports are in the store
            if e.kind == 'mission.state':
                self.rollouts.on_event(e, self._version_of)

    def on_events(self, events: Sequence[Event], now: float) -> Changes | None:
        assert self.desired is not None and self.rollouts is not None
        out = Changes()
        for e in events:
            if e.kind.startswith(OWN_KINDS):
                continue
            p = e.payload
            data = d if isinstance(d := p.get('data'), dict) else {}
            if e.kind == 'robot.event' and p.get('type') == 'config.report':
                out.add(self.desired.on_report(e.robot_id, data, e.time))
            elif e.kind == 'robot.event' and p.get('type') == 'config.reconciled':
                out.add(self.desired.on_reconciled(e.robot_id, data))
            elif e.kind == 'robot.event' and p.get('type') == 'install.finished' \
                    and data.get('outcome') == 'succeeded':
                version = str(data.get('version', ''))
                out.add(self.desired.on_version(e.robot_id, version, installed=version))
            elif (e.kind == 'robot.link' and p.get('change') == 'epoch') \
                    or e.kind == 'robot.registered':
                self.desired.forget_agent_config(e.robot_id)
            out.add(self.rollouts.on_event(e, self._version_of))
        return out or None

    def on_status(self, statuses: Sequence[tuple[StatusReport, RobotRecord]],
                  now: float) -> Changes | None:
        assert self.desired is not None
        out = Changes()
        for report, rec in statuses:
            version = report.software_version
            if version and self._versions.get(rec.robot_id) != version:
                self._versions[rec.robot_id] = version
                out.add(self.desired.on_version(rec.robot_id, version))
        return out or None

    def tick(self, now: float) -> Changes | None:
        assert self.desired is not None and self.rollouts is not None
        if now - self._ticked < self.settings.tick_period:
            return None
        self._ticked = now
        out = Changes()
        if not self._bootstrapped:
            self._bootstrapped = True
            out.add(self._bootstrap(now))
        # The views of the whole fleet only while a rollout needs them (10,000 robots:
        # 15-20 ms); nothing at all while there is nothing to roll out or reconcile.
        rolling = bool(self.rollouts.controller.active())
        if not rolling and self.desired.desired is None:
            return out or None
        robots, busy = self._host_robots(), self._busy()
        if rolling:
            out.add(self.rollouts.tick(self._views(robots, busy), self.budget(), now))
        idle = {r.robot_id for r in robots if not r.decommissioned
                and r.connectivity == Connectivity.ONLINE and _idle(r, busy)}
        out.add(self.desired.tick(robots, idle - self.reserved(), now))
        return out or None

    def _bootstrap(self, now: float) -> Changes | None:
        """Apply ``bootstrap_dir`` when the store holds no revision yet."""
        assert self.desired is not None and self._host is not None
        directory = self.settings.bootstrap_dir
        if not directory or self.desired.revision:
            return None
        try:
            files = read_directory(directory)
            _, changes = self.desired.apply(files, 'manager', f'bootstrap from {directory}',
                                            now, self._host_robots())
        except ConfigError as exc:
            self._host.logger().error(f'parameter desired_state_dir: {exc}')
            return None
        self._labels.clear()
        return changes

    # -- what the feature needs to know ------------------------------------------------------
    def budget(self) -> BudgetVerdict:
        """Whether rollouts may start or advance now (the error budget policy)."""
        desired = self.desired.desired if self.desired is not None else None
        policy = desired.policy.budget if desired is not None else BudgetPolicy()
        return policy.check(self._budget())

    def _host_robots(self) -> list[RobotRecord]:
        assert self._host is not None
        return self._host.robots()

    def _version_of(self, robot_id: str) -> str:
        rec = self._host.robot(robot_id) if self._host is not None else None
        return rec.software_version if rec is not None else ''

    def _views(self, robots: list[RobotRecord], busy: set[str]) -> dict[str, RobotView]:
        """Every robot in service as the rollout controller sees it (``busy``: with an
        assigned or active mission)."""
        assert self.desired is not None
        views = {}
        for rec in robots:
            if rec.decommissioned:
                continue
            labels = self._labels.get(rec.robot_id)
            if labels is None:
                labels = self._labels[rec.robot_id] = self.desired.labels(rec)
            views[rec.robot_id] = RobotView(rec.robot_id,
                                            rec.connectivity == Connectivity.ONLINE,
                                            _idle(rec, busy), rec.software_version, labels)
        return views

    def _busy(self) -> set[str]:
        """Robots with an assigned or active mission."""
        assert self._host is not None
        return {m.robot_id for m in self._host.missions()
                if m.robot_id and m.state.value in ('assigned', 'active')}

    # -- services ----------------------------------------------------------------------------
    def _serve(self, actions: dict[str, Action]) -> Callable[[Any, Any], Any]:
        def handler(req: JsonCall.Request, resp: JsonCall.Response) -> tuple[Any, Any]:
            action = actions.get(req.action)
            if action is None:
                return _fail(resp, R.INVALID, f'unknown action {req.action!r} (one of: '
                             f'{", ".join(actions)})', 'action')
            try:
                body = json.loads(req.body_json) if req.body_json else {}
            except ValueError as exc:
                return _fail(resp, R.INVALID, f'body is not JSON: {exc}', 'body')
            if not isinstance(body, dict):
                return _fail(resp, R.INVALID, 'body must be a JSON object', 'body')
            try:
                result, changes = action(body, req.who or 'unknown', req.reason)
            except Refused as exc:
                _fail(resp, exc.code, str(exc), exc.field)
                return resp, exc.changes
            except ConfigError as exc:
                return _fail(resp, R.INVALID, str(exc), f'{exc.file}: {exc.key}'.rstrip(': '))
            except ValidationError as exc:
                return _fail(resp, R.INVALID, str(exc), exc.field)
            except NotFound as exc:
                return _fail(resp, R.NOT_FOUND, str(exc.args[0] if exc.args else exc))
            except Conflict as exc:
                return _fail(resp, R.CONFLICT, str(exc))
            resp.success, resp.result_json = True, json.dumps(result, default=str)
            return resp, changes
        return handler

    def _now(self) -> float:
        assert self._host is not None
        return self._host.now()

    def _diff(self, body: dict[str, Any], who: str, reason: str) -> tuple[dict[str, Any], None]:
        assert self.desired is not None
        state, diff = self.desired.diff(_files(body))
        affected = self.desired.robots_affected(state, self._host_robots())
        return {'revision': self.desired.revision, 'digest': state.digest,
                'diff': diff.to_dict(), 'robots_affected': affected}, None

    def _apply(self, body: dict[str, Any], who: str, reason: str,
               restored_from: int | None = None) -> tuple[dict[str, Any], Changes]:
        assert self.desired is not None
        files = _files(body)
        try:
            result, changes = self.desired.apply(files, who, reason, self._now(),
                                                 self._host_robots(), restored_from)
        except ConfigError as exc:
            refused = NewEvent.of(ConfigRefused(who=who, reason=reason, error=str(exc),
                                                file=exc.file, key=exc.key))
            raise Refused(R.INVALID, str(exc), f'{exc.file}: {exc.key}'.rstrip(': '),
                          Changes(events=[refused])) from None
        self._labels.clear()
        return result, changes

    def _current(self, body: dict[str, Any], who: str, reason: str
                 ) -> tuple[dict[str, Any], None]:
        assert self._store is not None
        rev = self._store.get_revision()
        if rev is None:
            raise NotFound('no desired state has been applied yet')
        return rev, None

    def _revisions(self, body: dict[str, Any], who: str, reason: str
                   ) -> tuple[dict[str, Any], None]:
        assert self._store is not None
        offset, limit = _window(body)
        items, total = self._store.list_revisions(offset, limit)
        return {'items': items, 'total': total, 'offset': offset, 'limit': limit}, None

    def _revision(self, body: dict[str, Any], who: str, reason: str
                  ) -> tuple[dict[str, Any], None]:
        assert self._store is not None
        number = _number(body)
        rev = self._store.get_revision(number)
        if rev is None:
            raise NotFound(f'unknown revision {number}')
        return rev, None

    def _rollback(self, body: dict[str, Any], who: str, reason: str
                  ) -> tuple[dict[str, Any], Changes]:
        assert self._store is not None
        number = _number(body)
        rev = self._store.get_revision(number)
        if rev is None:
            raise NotFound(f'unknown revision {number}')
        return self._apply({'files': rev['files']}, who, reason or f'roll back to {number}',
                           restored_from=number)

    def _robots(self, body: dict[str, Any], who: str, reason: str
                ) -> tuple[dict[str, Any], None]:
        assert self.desired is not None and self.rollouts is not None
        items = []
        for doc in self.desired.robots_view():
            rollout = self.rollouts.controller.rollout_of(doc['robot_id'])
            entry = rollout.robots.get(doc['robot_id']) if rollout else None
            items.append({**doc, 'rollout': {'id': rollout.id, 'phase': entry.phase.value
                                             if entry else 'baseline'} if rollout else None})
        return {'items': items, 'revision': self.desired.revision}, None

    def _create(self, body: dict[str, Any], who: str, reason: str
                ) -> tuple[dict[str, Any], Changes]:
        assert self.desired is not None and self.rollouts is not None
        views = self._views(self._host_robots(), self._busy())
        request = self.rollouts.request(body, self.desired.desired, views)
        rollout, out = self.rollouts.controller.create(request, self.budget(), self._now(),
                                                       who, reason)
        return rollout.to_dict(), self.rollouts.changes(out)

    def _list(self, body: dict[str, Any], who: str, reason: str) -> tuple[dict[str, Any], None]:
        assert self.rollouts is not None
        items = [r.to_dict() for r in self.rollouts.controller.list()]
        return {'items': items, 'total': len(items)}, None

    def _get(self, body: dict[str, Any], who: str, reason: str) -> tuple[dict[str, Any], None]:
        assert self.rollouts is not None
        controller = self.rollouts.controller
        r = controller.get(str(body.get('id', '')))
        doc = r.to_dict()
        if not r.state.terminal and r.bake_started is not None:
            doc['evaluation'] = controller.cohorts.evaluate(r, self._now()).to_dict()
        return doc, None

    def _operator(self, verb: str) -> Action:
        def act(body: dict[str, Any], who: str, reason: str) -> tuple[dict[str, Any], Changes]:
            assert self.rollouts is not None
            c, rid, now = self.rollouts.controller, str(body.get('id', '')), self._now()
            if verb == 'promote':
                out = c.promote(rid, who, reason, bool(body.get('full')), self.budget(), now)
            else:
                out = getattr(c, verb)(rid, who, reason, now)
            return c.get(rid).to_dict(), self.rollouts.changes(out)
        return act

    def _audit(self, body: dict[str, Any], who: str, reason: str) -> tuple[dict[str, Any], None]:
        assert self._store is not None
        offset, limit = _window(body)
        kinds = body.get('kinds') or list(AUDIT_KINDS)
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise ValidationError('kind', 'must be a list of kind patterns')
        try:
            kinds = [check_pattern(k) for k in kinds]
        except PatternError as exc:
            raise ValidationError('kind', str(exc)) from None
        events, total = self._store.audit(
            kinds, str(body.get('who') or ''), str(body.get('robot_id') or ''),
            _opt_float(body, 'since'), _opt_float(body, 'until'), offset, limit)
        return {'items': [audit_entry(e) for e in events], 'total': total, 'offset': offset,
                'limit': limit}, None


def audit_entry(e: Event) -> dict[str, Any]:
    """One audit entry: who did what (the event kind), to what, when, why. Facts nobody
    asked for (a robot's drift) name the robot as who reported them."""
    p = e.payload
    target = p.get('id') or (f'revision {p["revision"]}' if 'revision' in p else '') \
        or e.robot_id
    what = p.get('command') or p.get('phase') or p.get('verdict') or p.get('state') or ''
    who = p.get('who') or (f'robot {e.robot_id}' if e.robot_id else 'manager')
    return {'id': e.id, 'time': e.time, 'kind': e.kind, 'who': who,
            'robot_id': e.robot_id or None, 'target': target, 'action': what,
            'reason': p.get('reason') or p.get('note') or '', 'payload': p}


def read_directory(directory: str) -> dict[str, str]:
    """Read every ``*.yaml``/``*.yml`` under ``directory`` (relative names -> text);
    ConfigError naming the directory when it cannot be read."""
    root = pathlib.Path(directory)
    if not root.is_dir():
        raise ConfigError(directory, '', 'not a directory')
    out = {}
    for path in sorted(root.rglob('*')):
        if path.is_file() and path.suffix in ('.yaml', '.yml'):
            try:
                out[path.relative_to(root).as_posix()] = path.read_text(encoding='utf-8')
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(str(path), '', f'cannot read: {exc}') from None
    return out


def _fail(resp: Any, code: int, message: str, field: str = '') -> tuple[Any, None]:
    resp.success, resp.error_code, resp.error_msg, resp.error_field = False, code, message, field
    return resp, None


def _files(body: dict[str, Any]) -> dict[str, str]:
    files = body.get('files')
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in files.items()):
        raise ValidationError('files', 'must be an object of file name -> YAML text')
    return files


def _number(body: dict[str, Any]) -> int:
    number = body.get('number')
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValidationError('number', 'must be a revision number (an integer >= 1)')
    return number


def _window(body: dict[str, Any]) -> tuple[int, int]:
    offset, limit = body.get('offset', 0), body.get('limit', 100)
    for name, value in (('offset', offset), ('limit', limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(name, 'must be a non-negative integer')
    return offset, min(max(1, limit), 1000)


def _opt_float(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(name, 'must be epoch seconds')
    return float(value)


def slo_budgets(engine: Any) -> dict[str, float | None]:
    """The remaining error budget of every SLO the engine evaluated (for the budget
    policy); ``engine`` is the observability feature's SloEngine, or None."""
    if engine is None:
        return {}
    return {name: status.error_budget_remaining for name, status in engine.statuses.items()}


def applied_special_files(store: Any, directory: str) -> dict[str, str]:
    """Write the applied revision's ``workflows.yaml`` and ``slos.yaml`` (when it has them)
    into ``directory``; return name -> path, for the manager's configure."""
    rev = store.get_revision()
    out: dict[str, str] = {}
    if rev is None:
        return out
    for name in ('workflows.yaml', 'slos.yaml'):
        text = next((t for f, t in rev['files'].items()
                     if pathlib.PurePosixPath(f).name == name), None)
        if text is None:
            continue
        path = pathlib.Path(directory) / f'revision-{rev["number"]}-{name}'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')
        out[name] = str(path)
    return out


def _idle(rec: RobotRecord, busy: set[str]) -> bool:
    """Not on a mission, not assigned one (``busy``), idle or charging."""
    return (rec.mode in (Mode.IDLE, Mode.CHARGING) and not rec.current_mission_id
            and rec.robot_id not in busy)
