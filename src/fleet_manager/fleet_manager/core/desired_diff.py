"""What would change between two desired states (``fleetctl diff``, the revision's diff).

:func:`diff_desired` compares every declared object by kind and name and lists, for each
added, removed or changed one, the fields that differ (dotted paths). The result is plain
data: :meth:`Diff.lines` renders it as terraform-like lines (``+ group phoenix``,
``~ parameter_set nav2: nodes.controller_server.FollowPath.max_vel_x: 0.5 -> 0.6``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import enum
from typing import Any, Mapping

from fleet_manager.core.desired import SPECIAL_FILES, DesiredState

MAX_LINES = 200


@dataclass(frozen=True)
class FieldChange:
    """One field of an object: its dotted path, the value before and after (None: absent)."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ObjectChange:
    """An object added (``+``), removed (``-``) or changed (``~``)."""

    kind: str
    name: str
    op: str
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class Diff:
    """Every object change, and the files added, removed or changed."""

    changes: tuple[ObjectChange, ...] = ()
    files_added: tuple[str, ...] = ()
    files_removed: tuple[str, ...] = ()
    files_changed: tuple[str, ...] = ()
    next_configure: tuple[str, ...] = field(default=())
    """``workflows.yaml`` / ``slos.yaml`` changed: effective at the next configure."""

    @property
    def empty(self) -> bool:
        """True when nothing would change."""
        return not (self.changes or self.files_added or self.files_removed
                    or self.files_changed)

    def lines(self, limit: int = MAX_LINES) -> list[str]:
        """One line per object change or changed field (at most ``limit``)."""
        out: list[str] = []
        for c in self.changes:
            if c.op != '~':
                out.append(f'{c.op} {c.kind} {c.name}')
                continue
            for f in c.fields:
                out.append(f'~ {c.kind} {c.name}: {f.path}: {_show(f.before)} -> '
                           f'{_show(f.after)}')
        for name in self.next_configure:
            out.append(f'~ {name}: changed (takes effect at the manager\'s next configure)')
        if len(out) > limit:
            out = out[:limit - 1] + [f'... and {len(out) - limit + 1} more']
        return out

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON."""
        return {'changes': [{'kind': c.kind, 'name': c.name, 'op': c.op,
                             'fields': [{'path': f.path, 'before': f.before,
                                         'after': f.after} for f in c.fields]}
                            for c in self.changes],
                'files': {'added': list(self.files_added), 'removed': list(self.files_removed),
                          'changed': list(self.files_changed)},
                'next_configure': list(self.next_configure), 'lines': self.lines(),
                'empty': self.empty}


def _show(value: Any) -> str:
    return 'absent' if value is None else repr(value)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _flat(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(v, f'{prefix}.{k}' if prefix else k, out)
    else:
        out[prefix] = value
    return out


def _objects(state: DesiredState | None) -> dict[tuple[str, str], dict[str, Any]]:
    if state is None:
        return {}
    kinds: dict[str, Mapping[str, Any]] = {
        'robot_labels': state.labels, 'group': state.groups, 'release': state.releases,
        'parameter_set': state.parameter_sets, 'analysis': state.analysis,
        'strategy': state.strategies, 'rollout_policy': {'rollout_policy': state.policy}}
    out = {}
    for kind, objs in kinds.items():
        for name, obj in objs.items():
            flat = _flat(_plain(obj), '', {})
            flat.pop('name', None)
            flat.pop('version', None)
            out[(kind, name)] = flat
    return out


def diff_desired(before: DesiredState | None, after: DesiredState) -> Diff:
    """Return what applying ``after`` over ``before`` (None: nothing applied yet) changes."""
    old, new = _objects(before), _objects(after)
    changes = []
    for key in sorted(set(old) | set(new)):
        kind, name = key
        if key not in old:
            changes.append(ObjectChange(kind, name, '+'))
        elif key not in new:
            changes.append(ObjectChange(kind, name, '-'))
        elif old[key] != new[key]:
            a, b = old[key], new[key]
            fields = tuple(FieldChange(p, a.get(p), b.get(p)) for p in sorted(set(a) | set(b))
                           if a.get(p) != b.get(p))
            changes.append(ObjectChange(kind, name, '~', fields))
    old_files = dict(before.files) if before is not None else {}
    new_files = dict(after.files)
    changed = tuple(sorted(f for f in set(old_files) & set(new_files)
                           if old_files[f] != new_files[f]))
    special = tuple(sorted(name for name in SPECIAL_FILES
                           if (before.special(name) if before else None) != after.special(name)))
    return Diff(tuple(changes), tuple(sorted(set(new_files) - set(old_files))),
                tuple(sorted(set(old_files) - set(new_files))), changed, special)
