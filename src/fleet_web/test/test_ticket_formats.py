"""Jira and ServiceNow webhook formats: body shapes and their web.yaml configuration."""

from __future__ import annotations

from typing import Any

import pytest

from fleet_web.errors import ConfigError
from fleet_web.webhooks import FORMATS, Subscription, load_subscriptions


def incident_event(kind: str, severity: str = 'SEV1', **more: Any) -> dict[str, Any]:
    payload = {'id': 'INC-4', 'type': 'robot_offline', 'severity': severity,
               'state': 'triggered', 'title': 'robot3 offline', 'robot_id': 'robot3',
               'area': 'aisle b', **more}
    return {'id': 17, 'time': 1_700_000_000.0, 'kind': kind, 'robot_id': 'robot3',
            'payload': payload}


def test_jira_body_is_a_create_issue_request() -> None:
    sub = Subscription('jira', 'https://jira.example/rest/api/2/issue', format='jira',
                       options={'project_key': 'OPS'})
    body = FORMATS['jira'].render(incident_event('incident.opened', 'SEV0'), sub)
    fields = body['fields']
    assert fields['project'] == {'key': 'OPS'}
    assert fields['issuetype'] == {'name': 'Bug'}
    assert fields['priority'] == {'name': 'Highest'}
    assert fields['summary'].startswith('[SEV0] Incident INC-4 opened: robot3 offline')
    assert 'aisle_b' in fields['labels'] and all(' ' not in label for label in fields['labels'])
    assert 'severity: SEV0' in fields['description']
    long_sub = Subscription('jira', 'https://x/', format='jira',
                            options={'project_key': 'OPS', 'issue_type': 'Incident'})
    long_body = FORMATS['jira'].render(incident_event('incident.opened', title='x' * 400),
                                       long_sub)
    assert len(long_body['fields']['summary']) <= 255
    assert long_body['fields']['issuetype'] == {'name': 'Incident'}


@pytest.mark.parametrize('kind,severity,level,state', [
    ('incident.opened', 'SEV0', '1', None),
    ('incident.acknowledged', 'SEV2', '2', None),
    ('incident.resolved', 'SEV3', '3', '6'),
])
def test_servicenow_body_is_an_incident_record(kind: str, severity: str, level: str,
                                               state: str | None) -> None:
    sub = Subscription('snow', 'https://acme.service-now.com/api/now/table/incident',
                       format='servicenow', options={'assignment_group': 'Robotics'})
    body = FORMATS['servicenow'].render(incident_event(kind, severity, note='reset AP'), sub)
    assert (body['urgency'], body['impact']) == (level, level)
    assert body['correlation_id'] == 'fleet-incident-INC-4'
    assert body['assignment_group'] == 'Robotics'
    assert len(body['short_description']) <= 160
    assert body.get('state') == state
    if state:
        assert body['close_notes'] == 'reset AP'


def test_ticket_formats_load_from_web_yaml_and_need_their_options() -> None:
    subs = load_subscriptions([
        {'name': 'j', 'url': 'https://jira.example/rest/api/2/issue', 'format': 'jira',
         'project_key': 'OPS', 'events': ['incident.*']},
        {'name': 's', 'url': 'https://acme.service-now.com/api/now/table/incident',
         'format': 'servicenow', 'category': 'hardware', 'events': ['incident.*']}],
        file='web.yaml')
    assert [s.format for s in subs] == ['jira', 'servicenow']
    with pytest.raises(ConfigError, match='project_key'):
        load_subscriptions([{'name': 'j', 'url': 'https://x/', 'format': 'jira'}],
                           file='web.yaml')
