"""The fleet's desired state: YAML files in a directory under version control.

``fleetctl apply -f DIR`` sends every ``*.yaml`` of ``DIR``; :func:`load_desired` checks
them all, and any problem raises :class:`~fleet_common.config.ConfigError` naming the file
and the key, so nothing is applied. Each file is a mapping of kinds (any subset)::

    robots:                 # labels per robot, beside the built-in id, site, group, capability
      robot1: {site: phoenix, model: amr-200}
    groups:                 # robots selected by labels; how drift is handled
      - {name: phoenix, selector: {site: phoenix}, reconcile: reconcile}
    releases:               # what can be installed: a version and the installer's artifact
      - {version: 1.1.0, artifact: 'registry.example.com/robot-stack:1.1.0'}
    parameter_sets:         # parameters of the robots' own nodes, per group
      - name: nav2-phoenix
        groups: [phoenix]
        priority: 10        # on a conflict the higher priority wins (then the later name)
        nodes:
          controller_server: {FollowPath: {max_vel_x: 0.5}}   # = FollowPath.max_vel_x
    analysis: [...]         # gates of rollouts (see desired_rollouts)
    strategies: [...]       # steps of rollouts (see desired_rollouts)
    rollout_policy: {...}   # default strategy, error budget policy (see desired_rollouts)

``workflows.yaml`` and ``slos.yaml`` in the directory are the manager's workflow rules and
SLOs (their own formats, checked by their own loaders); they take effect at the manager's
next configure. No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
import hashlib
import posixpath
import re
from typing import Any, Mapping

from fleet_common.config import ConfigError, ConfigReader, parse_yaml
from fleet_manager.core.desired_rollouts import RolloutPolicy, check_name, parse_rollout_kinds
from fleet_manager.core.rollout_gates import AnalysisTemplate
from fleet_manager.core.rollout_model import Strategy

__all__ = ['DesiredState', 'Group', 'ParameterSet', 'ReconcilePolicy', 'Release',
           'RolloutPolicy', 'load_desired', 'Labels']

Labels = Mapping[str, tuple[str, ...]]
KINDS = ('robots', 'groups', 'releases', 'parameter_sets', 'analysis', 'strategies',
         'rollout_policy')
SPECIAL_FILES = ('workflows.yaml', 'slos.yaml')
MAX_FILES = 500
NODE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$')
PARAM = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')
SCALARS = (bool, int, float, str)


class ReconcilePolicy(str, enum.Enum):
    """What the manager does about a robot whose parameters drifted."""

    REPORT = 'report'
    """Only report it (``config.drift``; a workflow rule may open an incident)."""
    RECONCILE = 'reconcile'
    """Set the declared parameters through the nodes' ``set_parameters``, only while the
    robot is idle, and report the result (``config.reconciled``)."""


@dataclass(frozen=True)
class Group:
    """Robots selected by labels: every selector key must match one of its values."""

    name: str
    selector: Mapping[str, tuple[str, ...]]
    reconcile: ReconcilePolicy = ReconcilePolicy.REPORT
    description: str = ''

    def selects(self, labels: Labels) -> bool:
        """True when the robot with ``labels`` belongs to the group."""
        return all(set(values) & set(labels.get(key, ()))
                   for key, values in self.selector.items())


@dataclass(frozen=True)
class Release:
    """A software version the installer can put on robots."""

    version: str
    artifact: str
    notes: str = ''


@dataclass(frozen=True)
class ParameterSet:
    """Parameters of robot nodes (node -> dotted name -> value) for some groups."""

    name: str
    groups: tuple[str, ...]
    nodes: Mapping[str, Mapping[str, Any]]
    priority: int = 0


@dataclass(frozen=True)
class DesiredState:
    """Everything the files declare, checked; ``files`` keeps their text."""

    files: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, Labels] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)
    releases: Mapping[str, Release] = field(default_factory=dict)
    parameter_sets: Mapping[str, ParameterSet] = field(default_factory=dict)
    analysis: Mapping[str, AnalysisTemplate] = field(default_factory=dict)
    strategies: Mapping[str, Strategy] = field(default_factory=dict)
    policy: RolloutPolicy = field(default_factory=RolloutPolicy)

    @property
    def digest(self) -> str:
        """SHA-256 (16 hex digits) over the files' names and texts."""
        return files_digest(self.files)

    def special(self, name: str) -> str | None:
        """The text of ``workflows.yaml`` or ``slos.yaml`` when the state has one."""
        for file, text in self.files.items():
            if posixpath.basename(file) == name:
                return text
        return None

    def groups_of(self, labels: Labels) -> list[Group]:
        """The groups that select a robot with ``labels``, in declaration order."""
        return [g for g in self.groups.values() if g.selects(labels)]

    def policy_for(self, labels: Labels) -> ReconcilePolicy:
        """``reconcile`` only when every group of the robot says so (report wins)."""
        groups = self.groups_of(labels)
        if groups and all(g.reconcile == ReconcilePolicy.RECONCILE for g in groups):
            return ReconcilePolicy.RECONCILE
        return ReconcilePolicy.REPORT

    def params_for(self, labels: Labels) -> dict[str, dict[str, Any]]:
        """The robot's declared parameters: node -> name -> value, from every set of its
        groups; on a conflict the higher priority wins, then the later name."""
        mine = {g.name for g in self.groups_of(labels)}
        sets = sorted((s for s in self.parameter_sets.values() if mine & set(s.groups)),
                      key=lambda s: (s.priority, s.name))
        out: dict[str, dict[str, Any]] = {}
        for s in sets:
            for node, values in s.nodes.items():
                out.setdefault(node, {}).update(values)
        return out


def files_digest(files: Mapping[str, str]) -> str:
    """SHA-256 (16 hex digits) over sorted (name, text) pairs."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b'\0' + files[name].encode() + b'\0')
    return h.hexdigest()[:16]


def check_file_name(name: str) -> None:
    """ConfigError unless ``name`` is a relative ``*.yaml``/``*.yml`` path inside the
    directory (no ``..``, not absolute)."""
    norm = posixpath.normpath(name) if name else ''
    if (not name or name.startswith('/') or norm.startswith('..') or '\\' in name
            or not name.endswith(('.yaml', '.yml')) or norm != name):
        raise ConfigError(name or '<unnamed>', '', 'a desired-state file must be a relative '
                          'path ending in .yaml or .yml, inside the directory')


def load_desired(files: Mapping[str, str]) -> DesiredState:
    """Check and combine the desired-state files (name -> text); ConfigError naming the file
    and key on the first problem."""
    if not files:
        raise ConfigError('<desired state>', '', 'no files: a desired state needs at least one '
                          '*.yaml file')
    if len(files) > MAX_FILES:
        raise ConfigError('<desired state>', '', f'{len(files)} files (at most {MAX_FILES})')
    acc = _Accumulator()
    for name in sorted(files):
        check_file_name(name)
        data = parse_yaml(files[name], name)
        base = posixpath.basename(name)
        if base in SPECIAL_FILES:
            _check_special(base, data, name)
            continue
        r = ConfigReader(name)
        root = r.root(data, allow_empty=True)
        r.unknown_keys(root, (*KINDS, 'version'), '')
        acc.read(r, root)
        parse_rollout_kinds(r, root, acc.rollout_parts)
    return acc.build(dict(files))


def _check_special(base: str, data: Any, file: str) -> None:
    if base == 'workflows.yaml':
        from fleet_manager.core.rules import parse_workflows
        parse_workflows(data, file)
    else:
        from fleet_manager.core.slo_config import parse_slos
        parse_slos(data, file)


class _Accumulator:
    """Collects the kinds of every file, refusing a name declared twice."""

    def __init__(self) -> None:
        self.labels: dict[str, Labels] = {}
        self.groups: dict[str, Group] = {}
        self.releases: dict[str, Release] = {}
        self.sets: dict[str, ParameterSet] = {}
        self.where: dict[tuple[str, str], str] = {}
        self.set_refs: list[tuple[ConfigReader, str, str]] = []
        self.rollout_parts: dict[str, Any] = {'analysis': {}, 'strategies': {},
                                              'policy': None, 'refs': [], 'where': {}}

    def _claim(self, r: ConfigReader, kind: str, name: str, key: str) -> None:
        first = self.where.get((kind, name))
        if first is not None:
            raise r.fail(key, f'{kind} {name!r} is declared twice (also at {first})')
        self.where[(kind, name)] = f'{r.file}: {key}'

    def read(self, r: ConfigReader, root: dict[str, Any]) -> None:
        for robot, raw in r.mapping(root.get('robots'), 'robots').items():
            key = f'robots.{robot}'
            self._claim(r, 'robot', robot, key)
            self.labels[robot] = {label: r.strings(v, f'{key}.{label}', required=True)
                                  for label, v in r.mapping(raw, key).items()}
        for i, raw in enumerate(r.seq(root.get('groups'), 'groups')):
            group = _group(r, raw, f'groups[{i}]')
            self._claim(r, 'group', group.name, f'groups[{i}].name')
            self.groups[group.name] = group
        for i, raw in enumerate(r.seq(root.get('releases'), 'releases')):
            release = _release(r, raw, f'releases[{i}]')
            self._claim(r, 'release', release.version, f'releases[{i}].version')
            self.releases[release.version] = release
        for i, raw in enumerate(r.seq(root.get('parameter_sets'), 'parameter_sets')):
            pset = _parameter_set(r, raw, f'parameter_sets[{i}]')
            self._claim(r, 'parameter set', pset.name, f'parameter_sets[{i}].name')
            self.sets[pset.name] = pset
            self.set_refs += [(r, f'parameter_sets[{i}].groups[{j}]', g)
                              for j, g in enumerate(pset.groups)]

    def build(self, files: dict[str, str]) -> DesiredState:
        for r, key, group in self.set_refs:
            if group not in self.groups:
                raise r.fail(key, f'unknown group {group!r} (groups: '
                             f'{", ".join(self.groups) or "none declared"})')
        parts = self.rollout_parts
        for r, key, kind, name in parts['refs']:
            known = parts['analysis'] if kind == 'analysis' else parts['strategies']
            if name not in known:
                raise r.fail(key, f'unknown {kind} {name!r} (declared: '
                             f'{", ".join(known) or "none"})')
        return DesiredState(files=files, labels=self.labels, groups=self.groups,
                            releases=self.releases, parameter_sets=self.sets,
                            analysis=parts['analysis'], strategies=parts['strategies'],
                            policy=parts['policy'] or RolloutPolicy())


def _group(r: ConfigReader, raw: Any, key: str) -> Group:
    raw = r.mapping(raw, key, required=True)
    r.keys(raw, key, ('name',), ('selector', 'reconcile', 'description'))
    selector = {label: r.strings(v, f'{key}.selector.{label}', required=True)
                for label, v in r.mapping(raw.get('selector'), f'{key}.selector').items()}
    policy = r.string(raw.get('reconcile'), f'{key}.reconcile') or 'report'
    try:
        reconcile = ReconcilePolicy(policy)
    except ValueError:
        raise r.fail(f'{key}.reconcile', f'must be report or reconcile, got {policy!r}') \
            from None
    return Group(check_name(r, raw, key), selector, reconcile,
                 r.string(raw.get('description'), f'{key}.description'))


def _release(r: ConfigReader, raw: Any, key: str) -> Release:
    raw = r.mapping(raw, key, required=True)
    r.keys(raw, key, ('version', 'artifact'), ('notes',))
    version = raw.get('version')
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        raise r.fail(f'{key}.version', f'must be a string: quote it (\'{version}\')')
    version = r.string(version, f'{key}.version', required=True)
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$', version):
        raise r.fail(f'{key}.version', f'{version!r}: use letters, digits, "_", "." and "-"')
    return Release(version, r.string(raw.get('artifact'), f'{key}.artifact', required=True),
                   r.string(raw.get('notes'), f'{key}.notes'))


def _parameter_set(r: ConfigReader, raw: Any, key: str) -> ParameterSet:
    raw = r.mapping(raw, key, required=True)
    r.keys(raw, key, ('name', 'groups', 'nodes'), ('priority',))
    groups = r.strings(raw.get('groups'), f'{key}.groups', required=True)
    priority = r.integer(raw.get('priority', 0), f'{key}.priority')
    nodes: dict[str, dict[str, Any]] = {}
    for node, params in r.mapping(raw.get('nodes'), f'{key}.nodes', required=True).items():
        nkey = f'{key}.nodes.{node}'
        if not NODE.match(node):
            raise r.fail(nkey, f'{node!r} is not a node name relative to the robot\'s '
                         'namespace (e.g. controller_server or local_costmap/local_costmap)')
        values: dict[str, Any] = {}
        _flatten(r, r.mapping(params, nkey, required=True), '', nkey, values)
        if not values:
            raise r.fail(nkey, 'declares no parameter')
        nodes[node] = values
    if not nodes:
        raise r.fail(f'{key}.nodes', 'declares no node')
    return ParameterSet(check_name(r, raw, key), groups, nodes, priority)


def _flatten(r: ConfigReader, data: Mapping[str, Any], prefix: str, key: str,
             out: dict[str, Any]) -> None:
    """Nested mappings become dotted names (``FollowPath: {max_vel_x: 1}``)."""
    for name, value in data.items():
        full = f'{prefix}.{name}' if prefix else str(name)
        where = f'{key}.{name}'
        if isinstance(value, dict):
            _flatten(r, r.mapping(value, where), full, where, out)
            continue
        if not PARAM.match(full):
            raise r.fail(where, f'{full!r} is not a parameter name (letters, digits, "_", '
                         'dots between parts)')
        out[full] = _param_value(r, value, where)


def _param_value(r: ConfigReader, value: Any, key: str) -> Any:
    if isinstance(value, float) and value != value:
        raise r.fail(key, 'must be a number, not NaN')
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, list):
        if not value:
            raise r.fail(key, 'an empty list has no parameter type; give at least one item')
        kinds = {bool if isinstance(v, bool) else (float if isinstance(v, int) else type(v))
                 for v in value}
        if len(kinds) != 1 or not kinds <= {bool, float, str}:
            raise r.fail(key, 'a list parameter holds booleans, numbers or strings, all of '
                         'one kind')
        return list(value)
    raise r.fail(key, f'must be a boolean, number, string or list of them, got '
                 f'{type(value).__name__}')
