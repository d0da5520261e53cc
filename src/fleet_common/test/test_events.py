"""The event vocabulary: declared kinds, typed payloads, validation, schemas, patterns."""

from __future__ import annotations

import json

import pytest

from fleet_common import events
from fleet_common.events import EVENT_TYPES, EventKind, MissionStateChanged, RobotConnectivity


def test_every_kind_has_exactly_one_payload_type() -> None:
    assert set(EVENT_TYPES) == {k.value for k in EventKind}
    for kind, cls in EVENT_TYPES.items():
        assert cls.KIND.value == kind


def test_reserved_word_keys_round_trip() -> None:
    payload = RobotConnectivity(from_='online', to='stale', reason='no status for 3.0 s')
    data = payload.to_json()
    assert data == {'from': 'online', 'to': 'stale', 'reason': 'no status for 3.0 s'}
    assert events.validate('robot.connectivity', data) == []
    assert events.decode('robot.connectivity', data) == payload


def test_optional_fields_left_out_when_none_and_accepted_when_missing() -> None:
    payload = MissionStateChanged(mission_id='m1', state='queued', from_=None, robot_id='',
                                  attempt=0, reason='submitted', client_ref='')
    data = payload.to_json()
    assert 'callback_url' not in data and data['from'] is None
    assert events.validate('mission.state', data) == []
    assert events.decode('mission.state', json.loads(json.dumps(data))) == payload


@pytest.mark.parametrize('kind, payload, problem', [
    ('mission.nonsense', {}, "undeclared event kind 'mission.nonsense'"),
    ('robot.connectivity', {'from': 'online', 'to': 'stale'}, 'payload.reason: missing'),
    ('robot.connectivity', {'from': 'online', 'to': 1, 'reason': ''},
     'payload.to: expected string, got int'),
    ('robot.connectivity', {'from': 'a', 'to': 'b', 'reason': '', 'extra': 1},
     'payload.extra: not declared'),
    ('robot.registered', {'capabilities': ['lift', 3]},
     'payload.capabilities[1]: expected string, got int'),
    ('mission.state', {'mission_id': 'm', 'state': 's', 'from': None, 'robot_id': '',
                       'attempt': True, 'reason': '', 'client_ref': ''},
     'payload.attempt: expected integer, got bool'),
    ('robot.event', {'type': 't', 'severity': 0, 'message': '', 'data': {}, 'seq': 1,
                     'stamp': 1.0, 'pose': {'x': 1.0}}, 'payload.pose.y: missing'),
])
def test_validation_names_what_is_wrong(kind: str, payload: dict, problem: str) -> None:
    errors = events.validate(kind, payload)
    assert any(problem in e for e in errors), errors


def test_numbers_accept_ints_where_floats_are_declared() -> None:
    assert events.validate('robot.dock', {'dock': 'd', 'battery': 0, 'reason': ''}) == []


def test_schema_lists_required_keys_and_types() -> None:
    schema = events.json_schema('robot.connectivity')
    assert schema['required'] == ['from', 'to', 'reason']
    assert schema['properties']['to'] == {'type': 'string'}
    assert schema['additionalProperties'] is False
    mission = events.json_schema('mission.state')
    assert 'callback_url' not in mission['required']
    assert mission['properties']['from'] == {'anyOf': [{'type': 'string'}, {'type': 'null'}]}


@pytest.mark.parametrize('pattern, kind, expected', [
    ('mission.state', 'mission.state', True),
    ('mission.state', 'mission.states', False),
    ('incident.*', 'incident.opened', True),
    ('*.opened', 'incident.opened', True),
    ('*.opened', 'incident.updated', False),
    ('*', 'robot.event', True),
    ('robot.*', 'robotx.event', False),
])
def test_one_pattern_semantics(pattern: str, kind: str, expected: bool) -> None:
    assert events.kind_matches(pattern, kind) is expected


@pytest.mark.parametrize('bad', ['', 'a b', 'a[b]', 'x?', 'x' * 101, "a'--"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(events.PatternError):
        events.check_pattern(bad)


def test_matches_any_with_no_patterns_matches_everything() -> None:
    assert events.matches_any([], 'robot.event')
    assert not events.matches_any(['mission.*'], 'robot.event')
