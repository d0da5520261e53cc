"""Postmortems: a structured review drafted from a resolved incident, exported as Markdown.

When an incident of a configured severity (SEV0 and SEV1 by default) is resolved,
:func:`draft_from_incident` builds a draft from it: the timeline, the context (robots, area,
mission, pose), the recurrence line, and empty sections for contributing factors and action
items that people fill in. :func:`to_markdown` renders a postmortem and :func:`from_markdown`
reads that Markdown back: ``from_markdown(to_markdown(pm)) == pm`` for every postmortem (times
are kept to the millisecond; free text is stripped of surrounding blank space, and a text line
that starts with ``#`` is escaped so that it cannot end its section).

Plain Python; times are seconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import datetime as dt
import enum
import re
from typing import Any, Mapping

from fleet_manager.core.errors import ValidationError

DEFAULT_SEVERITIES = ('SEV0', 'SEV1')
MAX_TIME = 4e9
"""The latest time a postmortem may name (s since the epoch, the year 2096)."""
"""Severities whose resolution drafts a postmortem unless configured otherwise."""


class PostmortemStatus(str, enum.Enum):
    """How far a postmortem is; the value is the JSON label."""

    DRAFT = 'draft'
    """Generated or being edited."""
    FINAL = 'final'
    """Reviewed and closed by a person."""


@dataclass(frozen=True)
class TimelineLine:
    """One row of the timeline: when, what, who, and a note."""

    time: float
    kind: str
    who: str = ''
    note: str = ''


@dataclass(frozen=True)
class ActionItem:
    """Something to do so it does not happen again, with an owner."""

    text: str
    owner: str = ''
    done: bool = False


@dataclass(frozen=True)
class Postmortem:
    """A postmortem; edited by replacing fields (see :func:`apply_edit`)."""

    incident_id: str
    title: str
    severity: str
    status: PostmortemStatus = PostmortemStatus.DRAFT
    opened_at: float | None = None
    resolved_at: float | None = None
    summary: str = ''
    impact: str = ''
    timeline: tuple[TimelineLine, ...] = ()
    context: tuple[tuple[str, str], ...] = ()
    recurrence: str = ''
    contributing_factors: tuple[str, ...] = ()
    action_items: tuple[ActionItem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (the store's and the API's)."""
        return {
            'incident_id': self.incident_id, 'title': self.title, 'severity': self.severity,
            'status': self.status.value, 'opened_at': self.opened_at,
            'resolved_at': self.resolved_at, 'summary': self.summary, 'impact': self.impact,
            'timeline': [{'time': t.time, 'kind': t.kind, 'who': t.who, 'note': t.note}
                         for t in self.timeline],
            'context': {k: v for k, v in self.context},
            'recurrence': self.recurrence,
            'contributing_factors': list(self.contributing_factors),
            'action_items': [{'text': a.text, 'owner': a.owner, 'done': a.done}
                             for a in self.action_items],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Postmortem':
        """Rebuild a postmortem from :meth:`to_dict`; ValidationError naming a bad field."""
        pm = cls(str(data.get('incident_id', '')), str(data.get('title', '')),
                 str(data.get('severity', '')))
        return apply_edit(pm, {k: v for k, v in data.items()
                               if k not in ('incident_id', 'severity')})


EDITABLE = ('title', 'status', 'summary', 'impact', 'timeline', 'context', 'recurrence',
            'contributing_factors', 'action_items', 'opened_at', 'resolved_at')
"""Fields a person may change over the API."""


def apply_edit(pm: Postmortem, edit: Mapping[str, Any]) -> Postmortem:
    """Return ``pm`` with the fields in ``edit`` replaced; ValidationError naming a bad field."""
    unknown = set(edit) - set(EDITABLE)
    if unknown:
        raise ValidationError(sorted(unknown)[0],
                              f"not editable (editable: {', '.join(EDITABLE)})")
    changes: dict[str, Any] = {}
    for key, value in edit.items():
        changes[key] = _FIELD_READERS[key](key, value)
    return replace(pm, **changes)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(key, 'must be a string')
    return value.strip()


def _opt_time(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value <= MAX_TIME:
        raise ValidationError(key, f'must be seconds since the epoch, 0 to {MAX_TIME:.0f}')
    return round(float(value), 3)


def _status(key: str, value: Any) -> PostmortemStatus:
    try:
        return PostmortemStatus(value)
    except ValueError:
        raise ValidationError(key, 'must be draft or final') from None


def _list(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(key, 'must be a list')
    return value


def _factors(key: str, value: Any) -> tuple[str, ...]:
    return tuple(_text(f'{key}[{i}]', v) for i, v in enumerate(_list(key, value)))


def _timeline(key: str, value: Any) -> tuple[TimelineLine, ...]:
    out = []
    for i, row in enumerate(_list(key, value)):
        if not isinstance(row, Mapping) or 'time' not in row or 'kind' not in row:
            raise ValidationError(f'{key}[{i}]', 'needs time and kind')
        out.append(TimelineLine(_opt_time(f'{key}[{i}].time', row['time']) or 0.0,
                                _text(f'{key}[{i}].kind', row['kind']),
                                _text(f'{key}[{i}].who', row.get('who', '')),
                                _text(f'{key}[{i}].note', row.get('note', ''))))
    return tuple(out)


def _context(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ValidationError(key, 'must be an object of strings')
    return tuple((_text(key, k), _text(f'{key}.{k}', v)) for k, v in value.items())


def _actions(key: str, value: Any) -> tuple[ActionItem, ...]:
    out = []
    for i, row in enumerate(_list(key, value)):
        if not isinstance(row, Mapping) or 'text' not in row:
            raise ValidationError(f'{key}[{i}]', 'needs text')
        if not isinstance(row.get('done', False), bool):
            raise ValidationError(f'{key}[{i}].done', 'must be true or false')
        out.append(ActionItem(_text(f'{key}[{i}].text', row['text']),
                              _text(f'{key}[{i}].owner', row.get('owner', '')),
                              bool(row.get('done', False))))
    return tuple(out)


_FIELD_READERS: dict[str, Any] = {
    'title': _text, 'summary': _text, 'impact': _text, 'recurrence': _text,
    'status': _status, 'opened_at': _opt_time, 'resolved_at': _opt_time,
    'timeline': _timeline, 'context': _context, 'contributing_factors': _factors,
    'action_items': _actions,
}


def draft_from_incident(incident: Mapping[str, Any]) -> Postmortem:
    """Draft a postmortem from an incident's JSON shape (``Incident.to_dict``)."""
    context: list[tuple[str, str]] = [('robot', str(incident.get('robot_id') or ''))]
    robots = (incident.get('context') or {}).get('robots')
    if robots:
        context.append(('robots', ', '.join(str(r) for r in robots)))
    for key in ('area', 'mission_id', 'rule', 'type'):
        if incident.get(key):
            context.append((key, str(incident[key])))
    pose = incident.get('pose')
    if pose:
        context.append(('pose', f"x={pose.get('x')} y={pose.get('y')}"))
    context.append(('count', str(incident.get('count', 1))))
    timeline = [{'time': e['time'], 'kind': e['kind'], 'who': e.get('who', ''),
                 'note': e.get('note', '')} for e in incident.get('timeline') or ()]
    recurrence = (incident.get('recurrence') or {}).get('text') or 'First occurrence on record.'
    pm = Postmortem(str(incident['id']), str(incident.get('severity', '')),
                    str(incident.get('severity', '')))
    return apply_edit(pm, {
        'title': str(incident.get('title') or incident.get('type') or ''),
        'opened_at': incident.get('opened_at'), 'resolved_at': incident.get('resolved_at'),
        'summary': f"{incident.get('type')} on {incident.get('robot_id')}: "
                   f"{incident.get('title') or ''}".strip(),
        'impact': '', 'timeline': timeline, 'context': dict(context),
        'recurrence': str(recurrence), 'contributing_factors': [], 'action_items': []})


# -- Markdown --------------------------------------------------------------------------------

_SECTIONS = ('Summary', 'Impact', 'Timeline', 'Context', 'Recurrence', 'Contributing factors',
             'Action items')


def _iso(t: float | None) -> str:
    if t is None:
        return '-'
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec='milliseconds')


def _from_iso(text: str) -> float | None:
    if text == '-':
        return None
    try:
        return round(dt.datetime.fromisoformat(text).timestamp(), 3)
    except ValueError:
        raise ValidationError('markdown', f'bad time {text!r}') from None


def _cell(text: str) -> str:
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\n', '\\n')


def _uncell(text: str) -> str:
    return re.sub(r'\\(.)', lambda m: '\n' if m.group(1) == 'n' else m.group(1), text)


def _block(text: str) -> str:
    lines = [('\\' + ln) if ln.startswith(('#', '\\')) else ln for ln in text.split('\n')]
    if text == '_none_':
        return '\\_none_'
    return '\n'.join(lines) if text else '_none_'


def _unblock(lines: list[str]) -> str:
    if '\n'.join(lines).strip() == '_none_':
        return ''
    return '\n'.join(ln[1:] if ln.startswith('\\') else ln for ln in lines).strip()


def to_markdown(pm: Postmortem) -> str:
    """Render a postmortem as Markdown that :func:`from_markdown` reads back unchanged."""
    out = [f'# Postmortem {pm.incident_id}: {_cell(pm.title)}', '',
           f'- Severity: {pm.severity}', f'- Status: {pm.status.value}',
           f'- Opened: {_iso(pm.opened_at)}', f'- Resolved: {_iso(pm.resolved_at)}', '',
           '## Summary', '', _block(pm.summary), '', '## Impact', '', _block(pm.impact), '',
           '## Timeline', '', '| Time (UTC) | Event | Who | Note |', '| --- | --- | --- | --- |']
    out += [f'| {_iso(t.time)} | {_cell(t.kind)} | {_cell(t.who)} | {_cell(t.note)} |'
            for t in pm.timeline]
    out += ['', '## Context', '']
    out += [f'- {_cell(k)}: {_cell(v)}' for k, v in pm.context]
    out += ['', '## Recurrence', '', _block(pm.recurrence), '', '## Contributing factors', '']
    out += [f'- {_cell(f)}' for f in pm.contributing_factors]
    out += ['', '## Action items', '']
    out += [f"- [{'x' if a.done else ' '}] {_cell(a.text)}"
            + (f' (owner: {_cell(a.owner)})' if a.owner else '') for a in pm.action_items]
    return '\n'.join(out) + '\n'


def _split_sections(lines: list[str]) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {'': []}
    current = ''
    for line in lines:
        if line.startswith('## '):
            current = line[3:].strip()
            if current not in _SECTIONS:
                raise ValidationError('markdown', f'unknown section {current!r}')
            sections[current] = []
        else:
            sections[current].append(line)
    missing = [s for s in _SECTIONS if s not in sections]
    if missing:
        raise ValidationError('markdown', f'missing section {missing[0]!r}')
    return sections


_ROW = re.compile(r'((?:[^|\\]|\\.)*)\|')
_ACTION = re.compile(r'^- \[([ x])\] (.*?)(?: \(owner: (.*)\))?$')


def _row(line: str) -> list[str]:
    return [_uncell(c.strip()) for c in _ROW.findall(line[1:])]


def from_markdown(text: str) -> Postmortem:
    """Read a postmortem written by :func:`to_markdown`; ValidationError('markdown') if not."""
    lines = text.split('\n')
    head = re.match(r'^# Postmortem (\S+): (.*)$', lines[0] if lines else '')
    if head is None:
        raise ValidationError('markdown', "must start with '# Postmortem <incident>: <title>'")
    sections = _split_sections(lines[1:])
    meta = dict(ln[2:].split(': ', 1) for ln in sections[''] if ln.startswith('- ') and ': ' in ln)
    for key in ('Severity', 'Status', 'Opened', 'Resolved'):
        if key not in meta:
            raise ValidationError('markdown', f'missing {key!r} line')
    rows = [_row(ln) for ln in sections['Timeline'] if ln.startswith('| ')][2:]
    if any(len(r) != 4 for r in rows):
        raise ValidationError('markdown', 'a timeline row needs 4 cells')
    context = {}
    for ln in sections['Context']:
        if ln.startswith('- '):
            key, _, value = ln[2:].partition(': ')
            context[_uncell(key)] = _uncell(value)
    actions = []
    for ln in sections['Action items']:
        found = _ACTION.match(ln)
        if found:
            actions.append({'text': _uncell(found.group(2)),
                            'owner': _uncell(found.group(3) or ''),
                            'done': found.group(1) == 'x'})
    pm = Postmortem(head.group(1), _uncell(head.group(2)), meta['Severity'])
    return apply_edit(pm, {
        'title': _uncell(head.group(2)), 'status': meta['Status'],
        'opened_at': _from_iso(meta['Opened']), 'resolved_at': _from_iso(meta['Resolved']),
        'summary': _unblock(sections['Summary']), 'impact': _unblock(sections['Impact']),
        'timeline': [{'time': _from_iso(r[0]), 'kind': r[1], 'who': r[2], 'note': r[3]}
                     for r in rows],
        'context': context, 'recurrence': _unblock(sections['Recurrence']),
        'contributing_factors': [_uncell(ln[2:]) for ln in sections['Contributing factors']
                                 if ln.startswith('- ')],
        'action_items': actions})


__all__ = [
    'ActionItem', 'DEFAULT_SEVERITIES', 'EDITABLE', 'Postmortem', 'PostmortemStatus',
    'TimelineLine', 'apply_edit', 'draft_from_incident', 'from_markdown', 'to_markdown']
