"""Incident operations inside the incident flow: grouping, inhibition, silences, postmortems.

:class:`IncidentOps` is plain Python (no rclpy), owned by the
:class:`~fleet_manager.incident_flow.IncidentFlow` and called by it at three points:

* :meth:`IncidentOps.hold` before an ``open_incident`` action opens an incident: an alert
  inhibited by an open one is recorded on that incident (``context.inhibited`` and the
  timeline) and opens nothing; an alert of a robot failing together with others joins their
  group's incident (``context.robots``, an ``incident.updated`` event) and opens nothing;
* :meth:`IncidentOps.opened` right after an incident opens: it records its labels, heads a
  new group, and notes the silences that mute it (``context.silenced_by``; its events carry
  ``silenced_by`` so the bridge delivers no webhook for them);
* :meth:`IncidentOps.unsilenced` before notifications (pages) go out: a notification of a
  silenced incident is not sent; the incident's timeline says which silence muted it.

It also keeps the postmortems: a draft when an incident of a configured severity is
resolved, edits and Markdown import. Configuration: ``incident_ops.yaml`` (see
:func:`load_ops_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import pathlib
from typing import Any, Callable, Iterable, Mapping

import yaml

from fleet_manager.core.errors import ConfigError, NotFound, ValidationError
from fleet_manager.core.grouping import Grouper, GroupingSettings
from fleet_manager.core.incident_model import OpenIncidentAction
from fleet_manager.core.incidents import Incident, IncidentBook
from fleet_manager.core.inhibition import InhibitRule, inhibited_by, parse_rules
from fleet_manager.core.postmortem import (
    DEFAULT_SEVERITIES,
    Postmortem,
    apply_edit,
    draft_from_incident,
    from_markdown,
)
from fleet_manager.core.silences import Silence, SilenceBook

OPS_WHO = 'incident_ops'
MAX_INHIBITED = 50
"""Inhibited (type, robot) pairs kept per incident; later ones only count."""


@dataclass(frozen=True)
class OpsSettings:
    """``incident_ops.yaml``: grouping, inhibit rules and which severities get postmortems."""

    grouping: GroupingSettings = field(default_factory=GroupingSettings)
    inhibit: tuple[InhibitRule, ...] = field(default_factory=lambda: parse_rules(None))
    postmortem_severities: tuple[str, ...] = DEFAULT_SEVERITIES


def load_ops_settings(path: str) -> OpsSettings:
    """Read ``incident_ops.yaml`` ('' or a missing file: the defaults); ConfigError naming
    the file and the key when it is bad."""
    if not path or not pathlib.Path(path).exists():
        return OpsSettings()
    try:
        data = yaml.safe_load(pathlib.Path(path).read_text(encoding='utf-8')) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(path, '', str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(path, '', 'must be a mapping')
    unknown = set(data) - {'grouping', 'inhibit', 'postmortems'}
    if unknown:
        raise ConfigError(path, sorted(unknown)[0],
                          'unknown key (known: grouping, inhibit, postmortems)')
    try:
        pm = data.get('postmortems') or {}
        severities = pm.get('severities', list(DEFAULT_SEVERITIES)) \
            if isinstance(pm, dict) else None
        if not isinstance(severities, list) or not all(isinstance(s, str) for s in severities):
            raise ValidationError('postmortems.severities', 'a list of severities (SEV0..SEV3)')
        return OpsSettings(GroupingSettings.from_mapping(data.get('grouping')),
                           parse_rules(data.get('inhibit')), tuple(severities))
    except ValidationError as exc:
        raise ConfigError(path, exc.field, str(exc).removeprefix(f'{exc.field}: ')) from None


def action_labels(action: OpenIncidentAction) -> dict[str, str]:
    """Return the labels of the alert an ``open_incident`` action raises."""
    fact = action.fact
    return {'rule': action.rule, 'type': action.type, 'robot': action.robot_id,
            'area': fact.area or '', 'site': fact.site or '',
            'severity': action.severity.value, 'robot_type': fact.group or ''}


def incident_labels(inc: Incident) -> dict[str, str]:
    """Return an incident's labels (recorded when it opened; rebuilt for older ones)."""
    stored = inc.context.get('labels')
    if isinstance(stored, dict):
        return {k: str(v) for k, v in stored.items()}
    return {'rule': inc.rule, 'type': inc.type, 'robot': inc.robot_id, 'area': inc.area or '',
            'site': '', 'severity': inc.severity.value, 'robot_type': ''}


@dataclass
class Held:
    """An alert that opened no incident: the incident it was recorded on, and why."""

    incident: Incident
    how: str
    """``grouped`` (it joined the incident's group) or ``inhibited``."""


class IncidentOps:
    """Grouping, inhibition, silences and postmortems for one incident book."""

    def __init__(self, settings: OpsSettings, clock: Callable[[], float],
                 silence_ids: Callable[[], str]) -> None:
        self.settings = settings
        self.grouper = Grouper(settings.grouping)
        self.silences = SilenceBook(clock, silence_ids)
        self.postmortems: dict[str, Postmortem] = {}
        self.dirty_silences: set[str] = set()
        """Silences whose stored documents are out of date (the feature saves them)."""

    # -- the flow's hooks ------------------------------------------------------------------
    def hold(self, action: OpenIncidentAction, book: IncidentBook,
             open_ids: Iterable[str], now: float) -> Held | None:
        """Return where the alert went if it opens no incident (inhibited or grouped)."""
        labels = action_labels(action)
        opened = [book.get(i) for i in sorted(open_ids)]
        if any(i.type == action.type and i.robot_id == action.robot_id and i.is_open
               for i in opened):
            return None  # a repeat of its own incident: the book correlates it
        sources = [(i.id, {**incident_labels(i), 'robot': robot}) for i in opened
                   for robot in (i.context.get('robots') or [i.robot_id])]
        why = inhibited_by(self.settings.inhibit, labels, sources)
        if why is not None:
            return Held(self._inhibit(book.get(why.source_id), labels, why.rule, now),
                        'inhibited')
        group = self.grouper.join(labels, now)
        if group is None or group.incident_id not in book:
            return None
        inc = book.get(group.incident_id)
        if not inc.is_open:
            self.grouper.close(inc.id)
            return None
        inc.context['robots'] = list(group.robots)
        inc.count += 1
        inc.last_seen = now
        inc.add_entry(now, 'grouped', action.rule,
                      f'{action.robot_id} joined ({len(group.robots)} robots)',
                      {'robot': action.robot_id, 'labels': labels})
        return Held(inc, 'grouped')

    def _inhibit(self, inc: Incident, labels: Mapping[str, str], rule: str,
                 now: float) -> Incident:
        held = inc.context.setdefault('inhibited', [])
        for item in held:
            if item['type'] == labels['type'] and item['robot'] == labels['robot']:
                item['count'] += 1
                item['last'] = now
                return inc
        if len(held) < MAX_INHIBITED:
            held.append({'type': labels['type'], 'robot': labels['robot'], 'rule': rule,
                         'severity': labels['severity'], 'count': 1, 'first': now,
                         'last': now})
        inc.add_entry(now, 'inhibited', OPS_WHO,
                      f"held back {labels['type']} on {labels['robot']} ({rule})",
                      {'labels': dict(labels), 'rule': rule})
        return inc

    def opened(self, inc: Incident, action: OpenIncidentAction, now: float) -> None:
        """Record a new incident's labels, start its group and note its silences."""
        labels = action_labels(action)
        inc.context['labels'] = labels
        group = self.grouper.start(labels, inc.id, now)
        if group is not None:
            inc.context['robots'] = list(group.robots)
        self.note_silences(inc)

    def note_silences(self, inc: Incident) -> list[Silence]:
        """Set ``context.silenced_by`` to the silences that mute ``inc`` now; return them."""
        matching = self.silences.matching(incident_labels(inc))
        if matching:
            inc.context['silenced_by'] = [s.id for s in matching]
        else:
            inc.context.pop('silenced_by', None)
        return matching

    def unsilenced(self, notifications: Iterable[Any], book: IncidentBook,
                   changed: Callable[[Incident], None], now: float) -> list[Any]:
        """Return the notifications whose incidents no silence mutes; record the others."""
        out = []
        for n in notifications:
            inc = book.get(n.incident_id)
            matching = self.note_silences(inc)
            if not matching:
                out.append(n)
                continue
            for s in matching:
                s.muted += 1
                self.dirty_silences.add(s.id)
            inc.add_entry(now, 'silenced', OPS_WHO,
                          f'notification to {n.target} muted by '
                          + ', '.join(f'{s.id} ({s.comment})' for s in matching),
                          {'silences': [s.id for s in matching], 'target': n.target,
                           'level': n.level})
            changed(inc)
        return out

    def resolved(self, inc: Incident) -> Postmortem | None:
        """Close the incident's group; draft its postmortem if its severity asks for one."""
        self.grouper.close(inc.id)
        if inc.severity.value not in self.settings.postmortem_severities \
                or inc.id in self.postmortems:
            return None
        pm = draft_from_incident(inc.to_dict())
        self.postmortems[inc.id] = pm
        return pm

    # -- postmortems -----------------------------------------------------------------------
    def postmortem(self, incident_id: str) -> Postmortem:
        """Return an incident's postmortem; NotFound when it has none."""
        try:
            return self.postmortems[incident_id]
        except KeyError:
            raise NotFound(f'no postmortem for incident {incident_id!r}') from None

    def edit_postmortem(self, incident_id: str, edit: Mapping[str, Any]) -> Postmortem:
        """Apply an edit; NotFound, or ValidationError naming the field."""
        pm = apply_edit(self.postmortem(incident_id), edit)
        self.postmortems[incident_id] = pm
        return pm

    def import_postmortem(self, incident_id: str, markdown: str) -> Postmortem:
        """Replace a postmortem by its Markdown; ValidationError when it is another's."""
        self.postmortem(incident_id)
        pm = from_markdown(markdown)
        if pm.incident_id != incident_id:
            raise ValidationError('markdown', f'is the postmortem of {pm.incident_id}, '
                                  f'not {incident_id}')
        self.postmortems[incident_id] = pm
        return pm

    # -- persistence -----------------------------------------------------------------------
    def restore(self, silences: Iterable[Mapping[str, Any]],
                postmortems: Iterable[Mapping[str, Any]], book: IncidentBook) -> None:
        """Load stored silences and postmortems; rebuild the open groups from the book."""
        self.silences.restore(Silence.from_dict(d) for d in silences)
        for d in postmortems:
            pm = Postmortem.from_dict({k: v for k, v in d.items() if k != 'id'})
            self.postmortems[pm.incident_id] = pm
        for inc in book.incidents():
            if inc.is_open and inc.context.get('robots'):
                self.grouper.restore(inc.id, incident_labels(inc), inc.opened_at,
                                     list(inc.context['robots']))
