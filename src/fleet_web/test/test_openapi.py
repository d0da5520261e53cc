"""The OpenAPI document: event payload schemas for every declared kind, commands, refs."""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from fleet_common.events import EVENT_TYPES, PatternError, check_pattern, json_schema
from fleet_web.openapi import KIND_PATTERNS, document
from fleet_web.routes import ROUTES

DOC = document('test')
SCHEMAS = DOC['components']['schemas']


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == '$ref':
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(ref: str) -> Any:
    assert ref.startswith('#/'), ref
    node: Any = DOC
    for part in ref[2:].split('/'):
        node = node[part]
    return node


def test_every_declared_kind_has_its_payload_schema_in_the_document() -> None:
    assert EVENT_TYPES, 'fleet_common declares no event kinds'
    event = SCHEMAS['Event']
    mapping = event['discriminator']['mapping']
    assert event['discriminator']['propertyName'] == 'kind'
    assert set(mapping) == set(EVENT_TYPES)
    assert [v['$ref'] for v in event['oneOf']] == list(mapping.values())
    assert SCHEMAS['EventKind']['enum'] == sorted(EVENT_TYPES)
    for kind in EVENT_TYPES:
        one = _resolve(mapping[kind])
        assert one['properties']['kind'] == {'const': kind}
        assert set(one['required']) == {'id', 'time', 'kind', 'robot_id', 'payload'}
        assert _resolve(one['properties']['payload']['$ref']) == open_schema(kind), kind


def open_schema(kind: str) -> dict:
    """The declared payload schema, open to fields added later (receivers ignore unknown
    fields, so adding one to a payload breaks no client that follows the document)."""
    return {k: v for k, v in json_schema(kind).items() if k != 'additionalProperties'}


def test_payload_schemas_have_distinct_names() -> None:
    payloads = [name for name in SCHEMAS if name.endswith('Payload')]
    assert len(payloads) == len(EVENT_TYPES)
    assert SCHEMAS['IncidentOpenedPayload'] == open_schema('incident.opened')
    assert SCHEMAS['RobotConnectivityPayload']['properties']['from'] == {'type': 'string'}


def test_every_ref_resolves_and_events_are_listed_as_event() -> None:
    refs = set(_refs(DOC))
    assert '#/components/schemas/Event' in refs
    for ref in refs:
        assert _resolve(ref) is not None, ref
    items = DOC['paths']['/api/v1/events']['get']['responses']['200']['content'][
        'application/json']['schema']['properties']['items']
    assert items == {'type': 'array', 'items': {'$ref': '#/components/schemas/Event'}}


def test_robot_commands_document_reason_and_command_id() -> None:
    op = DOC['paths']['/api/v1/robots/{robot_id}/commands']['post']
    body = _resolve(op['requestBody']['content']['application/json']['schema']['$ref'])
    assert body['properties']['reason'] == {
        'type': 'string', 'maxLength': 1000, 'pattern': '^[^\\u0000]*$',
        'description': body['properties']['reason']['description']}
    assert body['additionalProperties'] is False
    assert 'reason' not in body['required']
    accepted = _resolve(op['responses']['202']['content']['application/json']['schema'][
        '$ref'])
    assert 'command_id' in accepted['required']
    assert accepted['properties']['command_id']['type'] == 'integer'
    assert {'404', '409', '422'} <= set(op['responses'])


def test_every_api_route_is_documented() -> None:
    documented = {(method.upper(), path) for path, ops in DOC['paths'].items()
                  for method in ops}
    api = {(m, p) for m, p, _ in ROUTES if p.startswith('/api/v1/')
           and not p.endswith('openapi.json')}
    assert api - documented == set()


def test_kind_query_documents_the_pattern_syntax() -> None:
    params = DOC['paths']['/api/v1/events']['get']['parameters']
    kind = next(p for p in params if p['name'] == 'kind')
    assert '*.opened' in kind['description']
    assert kind['schema']['pattern'].startswith('^')


@pytest.mark.parametrize('query', ['', 'mission.state', '*.opened,incident.*', 'a,,b,', ',*',
                                   'a' * 100, 'a' * 101, 'incident.[ab]', 'x,robot/*',
                                   'mission state', 'a,' + 'b' * 101])
def test_the_documented_kind_syntax_is_what_the_api_accepts(query: str) -> None:
    try:
        for part in query.split(','):
            if part:
                check_pattern(part)
        accepted = True
    except PatternError:
        accepted = False
    assert bool(re.match(KIND_PATTERNS, query)) == accepted
