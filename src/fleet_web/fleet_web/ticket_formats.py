"""Ticket webhook formats: Jira and ServiceNow, beside Slack and PagerDuty.

Both are registered in :data:`fleet_web.webhooks.FORMATS` when this module is imported
(``fleet_web.webhooks`` imports it last), so ``format: jira`` and ``format: servicenow`` work in
``web.yaml`` like the others.

* ``jira``: the body of Jira's REST ``POST /rest/api/2/issue`` (create issue): ``fields`` with
  ``project.key``, ``summary`` (at most 255 characters), ``description`` (plain text),
  ``issuetype.name`` (option ``issue_type``, default ``Bug``), ``priority.name`` (SEV0..SEV3 ->
  Highest/High/Medium/Low) and ``labels`` (Jira labels have no spaces). Options: ``project_key``
  (required), ``issue_type``. Point ``url`` at ``https://<site>/rest/api/2/issue`` (or at a
  relay that adds Jira's credentials: the bridge sends no ``Authorization`` header).
* ``servicenow``: the fields of ServiceNow's Table API ``POST /api/now/table/incident``:
  ``short_description`` (at most 160 characters), ``description``, ``urgency`` and ``impact``
  (``'1'`` high .. ``'3'`` low, from SEV0..SEV3), ``category``, ``correlation_id``
  (``fleet-incident-<id>``, the same for every event of one incident) and
  ``correlation_display``; a resolved incident adds ``state: '6'`` (Resolved), ``close_code``
  and ``close_notes``. The Table API creates a record per POST; to update one record per
  incident, post to an import set (``/api/now/import/<table>``) that coalesces on
  ``correlation_id``. Options: ``caller_id``, ``assignment_group``, ``category``.
"""

from __future__ import annotations

from typing import Any, Mapping

from fleet_web.webhooks import Subscription, _payload, _pick, _short, register_format, summarize

JIRA_PRIORITIES = {'SEV0': 'Highest', 'SEV1': 'High', 'SEV2': 'Medium', 'SEV3': 'Low'}
"""Incident severity -> Jira priority name (Jira's default scheme)."""

SERVICENOW_LEVELS = {'SEV0': '1', 'SEV1': '1', 'SEV2': '2', 'SEV3': '3'}
"""Incident severity -> ServiceNow urgency and impact (1 high, 2 medium, 3 low)."""


def _description(event: Mapping[str, Any]) -> str:
    """Return a plain-text description: the summary, then one line per payload field."""
    payload = _payload(event)
    lines = [summarize(event), '']
    lines += [f'{key}: {_short(value)}' for key, value in sorted(payload.items())
              if value not in (None, '', [], {})]
    lines += ['', f"event {event.get('id')} ({event.get('kind')}) at {event.get('time')}"]
    return '\n'.join(lines)


def _label(text: str) -> str:
    return ''.join('_' if ch.isspace() else ch for ch in text)[:255]


class JiraFormat:
    """Jira REST ``POST /rest/api/2/issue``; see the module docstring."""

    name = 'jira'
    option_keys: tuple[str, ...] = ('project_key', 'issue_type')
    required_options: tuple[str, ...] = ('project_key',)
    requires_secret = False

    def render(self, event: Mapping[str, Any], subscription: Subscription) -> dict[str, Any]:
        """Return a Jira create-issue body."""
        payload = _payload(event)
        kind = str(event.get('kind') or '')
        severity = str(payload.get('severity') or '').upper()
        labels = ['fleet', _label(kind)]
        for key in ('type', 'area'):
            if payload.get(key):
                labels.append(_label(str(payload[key])))
        if event.get('robot_id'):
            labels.append(_label(str(event['robot_id'])))
        fields: dict[str, Any] = {
            'project': {'key': subscription.options['project_key']},
            'summary': _short(summarize(event), 255),
            'description': _description(event),
            'issuetype': {'name': subscription.options.get('issue_type') or 'Bug'},
            'labels': labels,
        }
        if severity in JIRA_PRIORITIES:
            fields['priority'] = {'name': JIRA_PRIORITIES[severity]}
        return {'fields': fields}


class ServiceNowFormat:
    """ServiceNow Table API ``incident`` record; see the module docstring."""

    name = 'servicenow'
    option_keys: tuple[str, ...] = ('caller_id', 'assignment_group', 'category')
    required_options: tuple[str, ...] = ()
    requires_secret = False

    def render(self, event: Mapping[str, Any], subscription: Subscription) -> dict[str, Any]:
        """Return the fields of a ServiceNow incident record."""
        payload = _payload(event)
        kind = str(event.get('kind') or '')
        incident_id = _pick(payload, 'incident_id', 'id') if kind.startswith('incident.') \
            else None
        level = SERVICENOW_LEVELS.get(str(payload.get('severity') or '').upper(), '3')
        body: dict[str, Any] = {
            'short_description': _short(summarize(event), 160),
            'description': _description(event),
            'urgency': level, 'impact': level,
            'category': subscription.options.get('category') or 'robotics',
            'correlation_id': (f'fleet-incident-{incident_id}' if incident_id is not None
                               else f"fleet-event-{event.get('id')}")[:100],
            'correlation_display': 'fleet_web',
        }
        for key in ('caller_id', 'assignment_group'):
            if subscription.options.get(key):
                body[key] = subscription.options[key]
        if kind == 'incident.resolved':
            body['state'] = '6'
            body['close_code'] = 'Solved (Permanently)'
            body['close_notes'] = _short(str(_pick(payload, 'note') or 'Resolved in fleet_web'),
                                         4000)
        return body


for _fmt in (JiraFormat(), ServiceNowFormat()):
    register_format(_fmt, replace=True)
