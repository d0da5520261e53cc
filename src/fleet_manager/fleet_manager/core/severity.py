"""How urgently something needs a person: one scale for incidents and SLO alerts.

The manager grades two things. An incident has a severity by impact, ``SEV0`` (worst) to
``SEV3``; an SLO burn-rate alert has one by how soon its error budget runs out, ``page`` or
``ticket``. Both are members of the one :class:`Severity` enum, so a severity is parsed,
printed, ordered and sent in events one way. Each loader accepts only its own family
(:data:`INCIDENT_SEVERITIES` in ``workflows.yaml``, :data:`ALERT_SEVERITIES` in
``slos.yaml``) through :meth:`Severity.parse`, with the same error text.
"""

from __future__ import annotations

import enum
from typing import Iterable

__all__ = ['ALERT_SEVERITIES', 'INCIDENT_SEVERITIES', 'Severity']


class Severity(str, enum.Enum):
    """How urgently something needs a person; the value is the label in YAML and JSON."""

    SEV0 = 'SEV0'
    """Incident: safety or site-wide impact; people may be at risk or the whole fleet is down."""
    SEV1 = 'SEV1'
    """Incident: a robot is about to fail its work or strand itself (battery critical)."""
    SEV2 = 'SEV2'
    """Incident: a robot cannot make progress and needs a person (stuck, offline)."""
    SEV3 = 'SEV3'
    """Incident: a degraded or one-off failure worth a look during the shift (an abort)."""
    PAGE = 'page'
    """SLO alert: notify the on-call person now; at this burn rate the budget is gone within
    hours or days."""
    TICKET = 'ticket'
    """SLO alert: open a ticket for working hours; the budget burns faster than it is
    replenished."""

    def __str__(self) -> str:
        return str(self.value)

    @property
    def rank(self) -> int:
        """Return the position in the member's family, 0 for the most urgent (SEV0 .. SEV3
        are 0 .. 3; page is 0 and ticket 1). Compare ranks within one family only."""
        family = INCIDENT_SEVERITIES if self in INCIDENT_SEVERITIES else ALERT_SEVERITIES
        return family.index(self)

    @classmethod
    def parse(cls, text: object,
              allowed: Iterable[Severity] | None = None) -> Severity:
        """Return the severity labelled ``text`` (case-insensitive) among ``allowed``
        (default: the incident severities); ValueError naming the accepted labels."""
        allowed = tuple(INCIDENT_SEVERITIES if allowed is None else allowed)
        wanted = text.strip().lower() if isinstance(text, str) else None
        for member in allowed:
            if member.value.lower() == wanted:
                return member
        raise ValueError(f'unknown severity {text!r} (expected one of: '
                         f'{", ".join(m.value for m in allowed)})')


INCIDENT_SEVERITIES: tuple[Severity, ...] = (
    Severity.SEV0, Severity.SEV1, Severity.SEV2, Severity.SEV3)
"""The severities of incidents, most severe first."""

ALERT_SEVERITIES: tuple[Severity, ...] = (Severity.PAGE, Severity.TICKET)
"""The severities of SLO alerts, most urgent first."""
