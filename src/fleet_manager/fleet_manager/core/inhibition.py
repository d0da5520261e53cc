"""Inhibition: an open alert holds back the noise it explains, after Alertmanager.

A rule says: while an alert matching ``source`` is open, an alert matching ``target`` whose
``equal`` labels have the same values is *inhibited*. With the defaults, a robot that is
offline does not also raise ``robot_stuck`` (same robot), and an offline robot holds back
``slo_burn`` alerts of its site. An inhibited alert is not lost: the caller records it on the
inhibiting incident's timeline, so an operator can see what was held back and why.

Plain Python; no clock is needed (the caller passes the open alerts it has now).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from fleet_manager.core.errors import ValidationError
from fleet_manager.core.silences import LABELS, Matcher, matches_all, parse_matchers


@dataclass(frozen=True)
class InhibitRule:
    """While a ``source`` alert is open, ``target`` alerts with ``equal`` labels are held back."""

    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def inhibits(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        """Return True when the open ``source`` alert holds back ``target``."""
        if not matches_all(self.source, source) or not matches_all(self.target, target):
            return False
        return all(source.get(k) not in (None, '') and source.get(k) == target.get(k)
                   for k in self.equal)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration shape."""
        return {'name': self.name, 'source': [str(m) for m in self.source],
                'target': [str(m) for m in self.target], 'equal': list(self.equal)}


DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {'name': 'offline_robot_not_stuck', 'source': ['type=robot_offline'],
     'target': ['type=~robot_stuck|slo_burn'], 'equal': ['robot']},
    {'name': 'offline_site_no_slo_burn', 'source': ['type=robot_offline'],
     'target': ['type=slo_burn'], 'equal': ['site']},
)
"""The rules used when ``incidents.inhibit`` is not configured."""


def parse_rules(specs: Any) -> tuple[InhibitRule, ...]:
    """Parse ``incidents.inhibit`` (a list of rules); ValidationError naming the field."""
    if specs is None:
        specs = DEFAULT_RULES
    if not isinstance(specs, (list, tuple)):
        raise ValidationError('inhibit', 'must be a list of rules')
    rules = []
    for i, spec in enumerate(specs):
        where = f'inhibit[{i}]'
        if not isinstance(spec, Mapping):
            raise ValidationError(where, 'must be a mapping with source, target, equal')
        equal = spec.get('equal') or []
        if not isinstance(equal, list) or any(k not in LABELS for k in equal):
            raise ValidationError(f'{where}.equal', f"a list of labels ({', '.join(LABELS)})")
        rules.append(InhibitRule(str(spec.get('name') or f'rule{i + 1}'),
                                 parse_matchers(spec.get('source')),
                                 parse_matchers(spec.get('target')), tuple(equal)))
    return tuple(rules)


@dataclass(frozen=True)
class Inhibition:
    """Why an alert was held back: by which open alert, under which rule."""

    source_id: str
    rule: str


def inhibited_by(rules: Iterable[InhibitRule], target: Mapping[str, Any],
                 open_alerts: Iterable[tuple[str, Mapping[str, Any]]]) -> Inhibition | None:
    """Return the first open alert (id, labels) that inhibits ``target``, or None.

    An alert never inhibits itself (same id), and a grouped alert inhibits for every robot it
    lists: pass one (id, labels) pair per robot.
    """
    alerts = list(open_alerts)
    for rule in rules:
        for source_id, labels in alerts:
            if rule.inhibits(labels, target):
                return Inhibition(source_id, rule.name)
    return None
