"""The OpenAPI 3.1 document served at /api/v1/openapi.json; it describes what the views do.

Event payloads are described by :mod:`fleet_common.events`, the event log's vocabulary: one
schema per kind (``<Kind>Payload``, from ``json_schema(kind)``), one event schema per kind
(``<Kind>Event``) and ``Event``, a ``oneOf`` of those discriminated by ``kind``.
"""

from __future__ import annotations

from typing import Any

from fleet_common.events import EVENT_TYPES, json_schema
from fleet_web.validate import (
    MAX_COORDINATE,
    MAX_DWELL,
    MAX_PRIORITY,
    MAX_TEXT,
    MAX_THETA,
    MAX_URL,
    MAX_WAYPOINTS,
)

NULLABLE_STR = {'type': ['string', 'null']}
NO_NUL = '^[^\\u0000]*$'
"""Strings the API keeps as sent hold no NUL character (a ROS string would end there)."""


def _text(max_length: int, nullable: bool = False, **extra: Any) -> dict[str, Any]:
    """A string schema: at most ``max_length`` characters, no NUL."""
    return {'type': ['string', 'null'] if nullable else 'string', 'maxLength': max_length,
            'pattern': NO_NUL, **extra}
KIND_PATTERNS = '^,*([A-Za-z0-9_.*]{1,100}(,+|$))*$'
"""The ``kind`` query: comma-separated kind patterns (see fleet_common.events)."""
MAX_COMMAND_REASON = 1000  # characters of a reason (commands, service changes, cancels)


def _ref(name: str) -> dict[str, str]:
    return {'$ref': f'#/components/schemas/{name}'}


def _error(description: str) -> dict[str, Any]:
    return {'description': description,
            'content': {'application/json': {'schema': _ref('Error')}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {'description': description, 'content': {'application/json': {'schema': schema}}}


def _page_of(item: str) -> dict[str, Any]:
    return {'type': 'object', 'required': ['items', 'total', 'limit', 'offset'],
            'properties': {'items': {'type': 'array', 'items': _ref(item)},
                           'total': {'type': 'integer', 'minimum': 0},
                           'limit': {'type': 'integer', 'minimum': 1},
                           'offset': {'type': 'integer', 'minimum': 0}}}


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {'name': name, 'in': 'query', 'required': False, 'schema': schema,
            'description': description}


def _p(name: str, description: str) -> dict[str, Any]:
    return {'name': name, 'in': 'path', 'required': True,
            'schema': {'type': 'string', 'minLength': 1, 'maxLength': 256, 'pattern': NO_NUL},
            'description': description}


LIMIT = _q('limit', {'type': 'integer', 'minimum': 1, 'maximum': 1000}, 'page size')
OFFSET = _q('offset', {'type': 'integer', 'minimum': 0, 'maximum': 1_000_000_000},
            'items to skip')
COMMON = {'401': _error('no or unknown bearer token'),
          '403': _error('the token lacks the scope'),
          '429': {'description': 'rate limited; see Retry-After',
                  'headers': {'Retry-After': {'schema': {'type': 'integer'}}},
                  'content': {'application/json': {'schema': _ref('Error')}}},
          '503': _error('the fleet manager did not answer in time')}


def _op(summary: str, scope: str | None, responses: dict[str, Any],
        parameters: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, tag: str = 'fleet',
        operation_id: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {'summary': summary, 'tags': [tag], 'responses': dict(responses)}
    if operation_id is not None:
        op['operationId'] = operation_id
    if scope is None:
        op['security'] = []
    else:
        op['description'] = f'Requires scope `{scope}` (or `admin`).'
        op['responses'].update({k: v for k, v in COMMON.items() if k not in responses})
    if parameters:
        op['parameters'] = parameters
        # Any parameter may be refused (bad UTF-8 or NUL, by the strict-input middleware).
        op['responses'].setdefault('400', _error('bad parameter (named in error.field)'))
    if body is not None:
        op['requestBody'] = body
    return op


OPERATOR = _text(100, description='the person asking; logged as "<operator> (key <token '
                                   'name>)" (absent: the token\'s name alone)')


SCHEMAS: dict[str, Any] = {
    'Error': {
        'type': 'object', 'required': ['error'],
        'properties': {'error': {
            'type': 'object', 'required': ['code', 'message', 'field'],
            'properties': {'code': {'type': 'string'}, 'message': {'type': 'string'},
                           'field': NULLABLE_STR}}}},
    'Pose': {'type': 'object', 'required': ['x', 'y', 'theta'],
             'properties': {'x': {'type': 'number'}, 'y': {'type': 'number'},
                            'theta': {'type': 'number'}}},
    'Robot': {
        'type': 'object',
        'required': ['id', 'connectivity', 'mode', 'battery', 'pose', 'last_seen',
                     'software_version'],
        'properties': {
            'id': {'type': 'string'},
            'connectivity': {'type': 'string', 'enum': ['online', 'stale', 'offline']},
            'mode': {'type': 'string',
                     'enum': ['unknown', 'idle', 'working', 'charging', 'error', 'paused']},
            'battery': {'type': ['number', 'null'], 'minimum': 0, 'maximum': 1},
            'pose': _ref('Pose'),
            'last_seen': {'type': ['string', 'null'], 'format': 'date-time'},
            'software_version': {'type': 'string'},
            'decommissioned': {'type': 'boolean'},
            'capabilities': {'type': 'array', 'items': {'type': 'string'}},
            'current_mission_id': NULLABLE_STR}},
    'Waypoint': {
        'type': 'object', 'required': ['x', 'y'], 'additionalProperties': False,
        'properties': {
            'x': {'type': 'number', 'minimum': -MAX_COORDINATE, 'maximum': MAX_COORDINATE,
                  'description': 'm'},
            'y': {'type': 'number', 'minimum': -MAX_COORDINATE, 'maximum': MAX_COORDINATE,
                  'description': 'm'},
            'theta': {'type': 'number', 'minimum': -MAX_THETA, 'maximum': MAX_THETA,
                      'description': 'rad'},
            'frame_id': _text(64, description='the site map frame (empty or absent: map)'),
            'dwell': {'type': 'number', 'minimum': 0, 'maximum': MAX_DWELL,
                      'description': 's'}}},
    'MissionSubmission': {
        'type': 'object', 'required': ['waypoints'], 'additionalProperties': False,
        'description': 'Strings must be valid Unicode without NUL characters; nothing is '
                      'truncated or coerced: what cannot be kept as sent is a 422 naming the '
                      'field.',
        'properties': {
            'waypoints': {'type': 'array', 'minItems': 1, 'maxItems': MAX_WAYPOINTS,
                          'items': _ref('Waypoint')},
            'priority': {'type': 'integer', 'minimum': -MAX_PRIORITY, 'maximum': MAX_PRIORITY,
                         'description': 'higher goes first'},
            'capabilities': {'type': 'array', 'maxItems': MAX_WAYPOINTS,
                             'items': _text(64)},
            'pinned_robot': _text(MAX_TEXT, True),
            'client_ref': _text(MAX_TEXT, True),
            'callback_url': _text(MAX_URL, True, description=(
                'http(s) URL the outcome is POSTed to (signed, Standard Webhooks); loopback, '
                'private, link-local and metadata addresses are refused unless web.yaml '
                'egress.allow names them')),
            'deadline': {'type': ['string', 'null'], 'format': 'date-time'}}},
    'Mission': {
        'type': 'object',
        'required': ['id', 'state', 'robot_id', 'priority', 'waypoints', 'client_ref',
                     'attempts', 'created_at', 'updated_at', 'failure_reason'],
        'properties': {
            'id': {'type': 'string'},
            'state': {'type': 'string', 'enum': ['queued', 'assigned', 'active', 'succeeded',
                                                 'failed', 'canceled']},
            'robot_id': NULLABLE_STR, 'priority': {'type': 'integer'},
            'waypoints': {'type': 'array', 'items': _ref('Waypoint')},
            'capabilities': {'type': 'array', 'items': {'type': 'string'}},
            'pinned_robot': NULLABLE_STR, 'client_ref': NULLABLE_STR,
            'callback_url': NULLABLE_STR, 'attempts': {'type': 'integer', 'minimum': 0},
            'created_at': {'type': ['string', 'null'], 'format': 'date-time'},
            'updated_at': {'type': ['string', 'null'], 'format': 'date-time'},
            'deadline': {'type': ['string', 'null'], 'format': 'date-time'},
            'failure_reason': NULLABLE_STR,
            'interventions': {'type': 'integer', 'minimum': 0, 'description':
                              'GET /missions/{id} only: human interventions during the mission '
                              '(timeline events with `intervention: true`)'},
            'robot_paused': {'type': 'boolean',
                             'description': 'its robot reports that it is paused'},
            'waiting_on': {**NULLABLE_STR, 'description': 'what the mission waits for (a '
                                                          'paused robot), else null'}}},
    'ServiceChange': {
        'type': 'object', 'additionalProperties': False,
        'properties': {'reassign_active': {'type': 'boolean'},
                       'reason': _text(MAX_COMMAND_REASON),
                       'operator': OPERATOR}},
    'Command': {
        'type': 'object', 'required': ['command'], 'additionalProperties': False,
        'properties': {'command': {'type': 'string',
                                   'enum': ['pause', 'resume', 'return_to_dock',
                                            'cancel_mission']},
                       'args': {'type': 'object',
                                'description': 'command-specific arguments'},
                       'reason': _text(MAX_COMMAND_REASON,
                                       description='why; logged with the command (who sent '
                                                   'it: operator and the token\'s name)'),
                       'operator': OPERATOR}},
    'CommandAccepted': {
        'type': 'object', 'required': ['robot_id', 'command', 'accepted', 'command_id'],
        'properties': {'robot_id': {'type': 'string'}, 'command': {'type': 'string'},
                       'accepted': {'type': 'boolean'},
                       'command_id': {'type': 'integer', 'minimum': 0,
                                      'description': 'the id the manager sent the command '
                                                     'with (see the robot.command event)'}}},
    'Incident': {
        'type': 'object',
        'required': ['id', 'type', 'severity', 'state', 'robot_id', 'opened_at', 'last_seen',
                     'count', 'timeline'],
        'properties': {
            'id': {'type': 'string'}, 'type': {'type': 'string'},
            'severity': {'type': 'string', 'enum': ['SEV0', 'SEV1', 'SEV2', 'SEV3']},
            'state': {'type': 'string', 'enum': ['triggered', 'acknowledged', 'resolved']},
            'title': {'type': 'string'}, 'robot_id': NULLABLE_STR, 'mission_id': NULLABLE_STR,
            'area': NULLABLE_STR, 'pose': _ref('Pose'),
            'opened_at': {'type': ['string', 'null'], 'format': 'date-time'},
            'last_seen': {'type': ['string', 'null'], 'format': 'date-time'},
            'count': {'type': 'integer', 'minimum': 0},
            'recurrence': {'type': ['object', 'null']}, 'runbook': {'type': ['object', 'null']},
            'context': {'type': ['object', 'null']},
            'timeline': {'type': 'array', 'items': {'type': 'object'}},
            'escalation': {'type': ['object', 'null']}, 'bag_path': NULLABLE_STR}},
    'Note': {'type': 'object', 'additionalProperties': False,
             'properties': {'note': _text(4000), 'who': _text(128)}},
    'TelemetrySample': {
        'type': 'object', 'required': ['time', 'battery', 'x', 'y', 'theta', 'mode'],
        'properties': {'time': {'type': ['string', 'null'], 'format': 'date-time'},
                       'battery': {'type': ['number', 'null']}, 'x': {'type': 'number'},
                       'y': {'type': 'number'}, 'theta': {'type': 'number'},
                       'mode': {'type': 'string'}, 'diagnostics_level': {'type': 'integer'},
                       'connectivity': {'type': 'string'}}},
    'Delivery': {'type': 'object', 'required': ['id', 'subscription', 'event_id', 'status'],
                 'properties': {'id': {'type': 'integer'}, 'subscription': {'type': 'string'},
                                'destination': {'type': 'string',
                                                'description': 'the origin it goes to'},
                                'event_id': {'type': 'integer'},
                                'status': {'type': 'string',
                                           'enum': ['pending', 'delivered', 'dead']},
                                'attempts': {'type': 'integer', 'minimum': 0},
                                'last_error': {'type': ['string', 'null'],
                                               'description': 'a short status line'},
                                'last_status': {'type': ['integer', 'null']}}},
    'Subscription': {
        'type': 'object', 'required': ['name', 'state', 'pending', 'dead'],
        'properties': {'name': {'type': 'string'}, 'format': {'type': 'string'},
                       'events': {'type': 'array', 'items': {'type': 'string'}},
                       'destination': {'type': ['string', 'null'],
                                       'description': 'origin; null for mission callbacks '
                                                      '(one queue per callback origin)'},
                       'state': {'type': 'string', 'enum': ['enabled', 'disabled']},
                       'disabled_at': {'type': ['number', 'null']},
                       'reason': NULLABLE_STR,
                       'max_attempts': {'type': 'integer', 'minimum': 1},
                       'pending': {'type': 'integer', 'minimum': 0},
                       'dead': {'type': 'integer', 'minimum': 0}}},
    'Condition': {
        'type': 'object', 'required': ['status'],
        'properties': {'status': {'type': 'string', 'enum': ['ok', 'degraded']},
                       'reason': {'type': 'string'}, 'since': {'type': 'number'}}},
}


EVENT_FIELDS: dict[str, Any] = {
    'id': {'type': 'integer', 'minimum': 1, 'description': 'position in the event log'},
    'time': {'type': ['string', 'null'], 'format': 'date-time'},
    'robot_id': NULLABLE_STR,
}


def schema_stem(kind: str) -> str:
    """Return the component-name stem of ``kind`` (``incident.opened`` -> ``IncidentOpened``)."""
    return ''.join(part[:1].upper() + part[1:]
                   for part in kind.replace('_', '.').split('.'))


def event_schemas() -> dict[str, Any]:
    """Return ``<Kind>Payload`` and ``<Kind>Event`` for every declared kind, ``EventKind``
    and ``Event`` (a ``oneOf`` of the per-kind events, discriminated by ``kind``)."""
    schemas: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for kind in sorted(EVENT_TYPES):
        stem = schema_stem(kind)
        # Open to fields added later: receivers ignore what they do not know.
        schemas[f'{stem}Payload'] = {key: value for key, value in json_schema(kind).items()
                                     if key != 'additionalProperties'}
        schemas[f'{stem}Event'] = {
            'type': 'object', 'description': f'An event-log entry of kind `{kind}`.',
            'required': ['id', 'time', 'kind', 'robot_id', 'payload'],
            'properties': {**EVENT_FIELDS, 'kind': {'const': kind},
                           'payload': _ref(f'{stem}Payload')}}
        mapping[kind] = f'#/components/schemas/{stem}Event'
    schemas['EventKind'] = {'type': 'string', 'enum': sorted(EVENT_TYPES),
                            'description': 'Every kind the event log holds.'}
    schemas['Event'] = {
        'description': 'An event-log entry; `kind` says which payload it carries.',
        'oneOf': [{'$ref': ref} for ref in mapping.values()],
        'discriminator': {'propertyName': 'kind', 'mapping': mapping}}
    return schemas


COMPONENT_SCHEMAS: dict[str, Any] = {**SCHEMAS, **event_schemas()}
"""Every schema of the document's ``components``."""


AFTER = {'type': 'integer', 'minimum': 0, 'maximum': 2**62}
ROBOT_ID = _p('robot_id', 'robot id')
MISSION_LINKS = {
    name: {'operationId': op, 'parameters': {'mission_id': '$response.body#/id'}}
    for name, op in (('GetMission', 'getMission'), ('GetMissionEvents', 'getMissionEvents'),
                     ('CancelMission', 'cancelMission'))}
"""What a created mission leads to (OpenAPI links: stateful clients and fuzzers follow
them)."""
MISSION_ID = _p('mission_id', 'mission id')
SINCE = _q('since', {'type': 'string', 'format': 'date-time'}, 'created at or after')
UNTIL = _q('until', {'type': 'string', 'format': 'date-time'}, 'created before')
KIND = _q('kind', {'type': 'string', 'pattern': KIND_PATTERNS},
          'comma-separated kind patterns: exact kinds (see EventKind) or globs where `*` '
          'matches any run of characters (`incident.*`, `*.opened`); letters, digits, '
          '`_`, `.` and `*`, at most 100 characters each; a bad pattern is a 400 naming '
          '`kind`')
BAD = {'400': _error('malformed request'), '408': _error('the body did not arrive in time'),
       '413': _error('body too large'), '422': _error('invalid field (named in error.field)')}


def _body(ref: str, required: bool = True) -> dict[str, Any]:
    """Return a JSON request body of schema ``ref``."""
    return {'required': required, 'content': {'application/json': {'schema': _ref(ref)}}}


def _service_paths() -> dict[str, Any]:
    """The bridge itself: health, reports and the webhook outbox."""
    return {
        '/api/v1/health': {'get': _op('Liveness, the manager\'s state and the bridge\'s own '
                                      'parts', None, {
            '200': _json('ok or degraded', {
                'type': 'object',
                'required': ['status', 'manager', 'manager_state', 'storage', 'webhooks'],
                'properties': {
                    'status': {'type': 'string', 'enum': ['ok', 'degraded']},
                    'manager': {'type': 'string',
                                'enum': ['reachable', 'inactive', 'unreachable'],
                                'description': 'inactive: it answers but is not active'},
                    'manager_state': {'type': 'string', 'enum': [
                        'active', 'inactive', 'unconfigured', 'finalized', 'transitioning',
                        'unreachable']},
                    'robots': {'type': ['integer', 'null'],
                               'description': 'robots the manager knows; null when it '
                                              'cannot say (inactive or unreachable)'},
                    'version': {'type': 'string'},
                    'storage': _ref('Condition'),
                    'webhooks': {'type': 'object', 'properties': {
                        'pump': _ref('Condition'), 'worker': _ref('Condition'),
                        'disabled_subscriptions': {'type': 'array',
                                                   'items': {'type': 'string'}}}}}})})},
        '/api/v1/slos': {'get': _op('SLOs: SLI, error budget, burn rates, alerts', 'read', {
            '200': _json('status of every SLO', {'type': 'object'})}, tag='observability')},
        '/api/v1/kpis': {'get': _op('Fleet KPIs', 'read', {
            '200': _json('the KPIs', {'type': 'object'})}, tag='observability')},
        '/api/v1/webhooks/deliveries': {'get': _op('Webhook deliveries (dead letters with '
                                                   'status=dead)', 'read', {
            '200': {**_json('a page of deliveries', _page_of('Delivery')), 'links': {
                'RetryDelivery': {'operationId': 'retryDelivery', 'parameters': {
                    'delivery_id': '$response.body#/items/0/id'}}}},
            '400': _error('bad query parameter')}, [
            LIMIT, OFFSET, _q('status', {'type': 'string',
                                         'enum': ['pending', 'delivered', 'dead']}, 'filter'),
            _q('subscription', _text(64), 'filter')], tag='webhooks')},
        '/api/v1/webhooks/deliveries/{delivery_id}/retry': {'post': _op(
            'Retry a dead-lettered delivery', 'admin', {
                '202': _json('queued again', _ref('Delivery')),
                '404': _error('no such delivery'), '409': _error('not dead')},
            [_p('delivery_id', 'delivery id')], tag='webhooks', operation_id='retryDelivery')},
        '/api/v1/webhooks/subscriptions': {'get': _op(
            'Webhook subscriptions and their state', 'read', {
                '200': {**_json('every subscription', {
                    'type': 'object', 'required': ['items', 'total'],
                    'properties': {'items': {'type': 'array', 'items': _ref('Subscription')},
                                   'total': {'type': 'integer', 'minimum': 0}}}),
                    'links': {'EnableSubscription': {
                        'operationId': 'enableSubscription',
                        'parameters': {'name': '$response.body#/items/0/name'}}}}},
            tag='webhooks')},
        '/api/v1/webhooks/subscriptions/{name}/enable': {'post': _op(
            'Enable a subscription its receiver disabled (HTTP 410)', 'admin', {
                '200': _json('enabled', _ref('Subscription')),
                '404': _error('no such subscription'), '409': _error('not disabled')},
            [_p('name', 'subscription name')], tag='webhooks',
            operation_id='enableSubscription')},
    }


def _robot_paths() -> dict[str, Any]:
    """Robots: registry, service changes, commands, telemetry."""
    return {
        '/api/v1/robots': {'get': _op('List robots', 'read', {
            '200': _json('a page of robots', _page_of('Robot')),
            '400': _error('bad query parameter')}, [
            LIMIT, OFFSET, _q('connectivity', {'type': 'string',
                                               'enum': ['online', 'stale', 'offline']},
                              'filter'),
            _q('id_contains', {'type': 'string', 'maxLength': 64},
               'only robots whose id contains this text (case-insensitive)')])},
        '/api/v1/robots/{robot_id}': {'get': _op('One robot', 'read', {
            '200': _json('the robot', _ref('Robot')), '404': _error('unknown robot')},
            [ROBOT_ID])},
        '/api/v1/robots/{robot_id}/decommission': {'post': _op(
            'Take a robot out of service', 'admin', {
                '200': _json('the robot', _ref('Robot')), '404': _error('unknown robot'),
                **BAD}, [ROBOT_ID], _body('ServiceChange', False))},
        '/api/v1/robots/{robot_id}/recommission': {'post': _op(
            'Put a robot back in service', 'admin', {
                '200': _json('the robot', _ref('Robot')), '404': _error('unknown robot'),
                **BAD}, [ROBOT_ID], _body('ServiceChange', False))},
        '/api/v1/robots/{robot_id}/commands': {'post': _op(
            'Send the robot a command through the manager', 'incidents:write', {
                '202': _json('accepted: the manager logged it (a robot.command event) and '
                             'sent it', _ref('CommandAccepted')),
                '404': _error('unknown robot'),
                '409': _error('the robot cannot take it now (offline, decommissioned)'),
                **BAD}, [ROBOT_ID], _body('Command'))},
        '/api/v1/robots/{robot_id}/telemetry': {'get': _op(
            'Downsampled telemetry history', 'read', {
                '200': _json('samples, oldest first', {
                    'type': 'object', 'required': ['robot_id', 'items'],
                    'properties': {'robot_id': {'type': 'string'},
                                   'items': {'type': 'array',
                                             'items': _ref('TelemetrySample')}}}),
                '400': _error('bad range or step (error.field names it)'),
                '404': _error('unknown robot'),
                '422': _error('the range is wider than 7 days, or ends before the manager\'s '
                              'retention starts (error.field names it)')}, [
                ROBOT_ID, _q('since', {'type': 'string', 'format': 'date-time'}, 'from'),
                _q('until', {'type': 'string', 'format': 'date-time'}, 'to (span <= 7 days)'),
                _q('step', {'type': 'number', 'minimum': 0, 'maximum': 86400},
                   'seconds between samples')])},
    }


def _event_paths() -> dict[str, Any]:
    """The event log: pages and the SSE stream."""
    return {
        '/api/v1/events': {'get': _op('Page through the event log', 'read', {
            '200': _json('events after the cursor', {
                'type': 'object', 'required': ['items', 'last_id', 'next_after'],
                'properties': {'items': {'type': 'array', 'items': _ref('Event')},
                               'last_id': {'type': 'integer'},
                               'next_after': {'type': 'integer'}}}),
            '400': _error('bad query parameter')}, [
            _q('after', AFTER, 'return events with id > after'),
            LIMIT, KIND, _q('robot_id', _text(256), 'filter')])},
        '/api/v1/events/stream': {'get': _op(
            'Server-Sent Events from the event log; resumes after Last-Event-ID or after, '
            'else starts from now', 'read', {
                '200': {'description': 'text/event-stream: one unnamed SSE message per log '
                                       'entry (no `event:` line, so `EventSource.onmessage` '
                                       'gets every one): `id` is the event id and `data` the '
                                       'Event as JSON, whose `kind` says what it is. Without '
                                       '`Last-Event-ID` and `after` the stream starts after '
                                       'the newest event when it opens.',
                        'content': {'text/event-stream': {'schema': {
                            'type': 'object', 'required': ['data'],
                            'properties': {'id': {'type': 'string'},
                                           'data': {'type': 'string'},
                                           'retry': {'type': 'string'}}}}}},
                '400': _error('bad cursor or kind pattern'),
                '401': _error('no valid bearer token or stream ticket (expired, malformed, '
                              'or its key no longer exists; error.field is `ticket`)')}, [
                {'name': 'Last-Event-ID', 'in': 'header', 'required': False,
                 'schema': {'type': 'string', 'pattern': '^[0-9]{1,18}$'},
                 'description': 'resume after this id'},
                _q('after', AFTER, 'resume after this id (without it and Last-Event-ID: '
                   'from now)'),
                _q('ticket', _text(512), 'a stream ticket (POST /api/v1/events/stream-ticket) '
                   'instead of the Authorization header, for EventSource; valid for this '
                   'route only'),
                KIND])},
        '/api/v1/events/stream-ticket': {'post': _op(
            'Issue a short-lived ticket that opens the event stream (for EventSource, which '
            'cannot send an Authorization header)', 'read', {
                '201': _json('the ticket: valid for opening GET /api/v1/events/stream '
                             '(?ticket=) for expires_in seconds, for no other route; it acts '
                             'for the API key that asked for it', {
                                 'type': 'object',
                                 'required': ['ticket', 'expires_at', 'expires_in', 'url'],
                                 'properties': {'ticket': {'type': 'string'},
                                                'expires_at': {'type': 'string',
                                                               'format': 'date-time'},
                                                'expires_in': {'type': 'number'},
                                                'url': {'type': 'string'}}})})},
    }


def _mission_paths() -> dict[str, Any]:
    """Missions."""
    return {
        '/api/v1/missions': {
            'post': _op('Submit a mission', 'missions:write', {
                '201': {**_json('created', _ref('Mission')), 'links': MISSION_LINKS},
                '200': _json('the original mission (same Idempotency-Key and body)',
                             _ref('Mission')),
                '409': _error('Idempotency-Key reused with a different body'), **BAD},
                [{'name': 'Idempotency-Key', 'in': 'header', 'required': False,
                  'schema': {'type': 'string', 'maxLength': 256, 'pattern': '^[ -~]*$'},
                  'description': 'printable ASCII; scoped to the API key: another key\'s '
                                 'equal Idempotency-Key never returns this mission'}],
                _body('MissionSubmission')),
            'get': _op('List missions, newest first', 'read', {
                '200': _json('a page of missions', _page_of('Mission')),
                '400': _error('bad query parameter')}, [
                LIMIT, OFFSET, _q('state', {'type': 'string', 'enum': [
                    'queued', 'assigned', 'active', 'succeeded', 'failed', 'canceled']},
                    'filter'), _q('robot_id', _text(256), 'filter'), SINCE, UNTIL])},
        '/api/v1/missions/{mission_id}': {'get': _op('One mission', 'read', {
            '200': _json('the mission', _ref('Mission')), '404': _error('unknown mission')},
            [MISSION_ID], operation_id='getMission')},
        '/api/v1/missions/{mission_id}/events': {'get': _op(
            'The mission\'s timeline', 'read', {
                '200': _json('its events in order', {
                    'type': 'object', 'required': ['items', 'total'],
                    'properties': {'items': {'type': 'array', 'items': _ref('Event')},
                                   'total': {'type': 'integer'}}}),
                '404': _error('unknown mission')}, [MISSION_ID],
            operation_id='getMissionEvents')},
        '/api/v1/missions/{mission_id}/cancel': {'post': _op('Cancel a mission',
                                                             'missions:write', {
            '200': _json('the canceled mission', _ref('Mission')),
            '404': _error('unknown mission'), '409': _error('already finished'), **BAD},
            [MISSION_ID], {'required': False, 'content': {'application/json': {'schema': {
                'type': 'object', 'additionalProperties': False,
                'properties': {'reason': _text(MAX_COMMAND_REASON)}}}}},
            operation_id='cancelMission')},
    }


def _incident_paths() -> dict[str, Any]:
    """Incidents."""
    return {
        '/api/v1/incidents': {'get': _op('List incidents, newest first', 'read', {
            '200': _json('a page of incidents', _page_of('Incident')),
            '400': _error('bad query parameter')}, [
            LIMIT, OFFSET, _q('state', {'type': 'string', 'enum': [
                'triggered', 'acknowledged', 'resolved']}, 'filter'),
            _q('robot_id', _text(256), 'filter'),
            _q('type', _text(256), 'filter'), SINCE, UNTIL], tag='incidents')},
        '/api/v1/incidents/{incident_id}': {'get': _op(
            'One incident with context, runbook and timeline', 'read', {
                '200': _json('the incident', _ref('Incident')),
                '404': _error('unknown incident')},
            [_p('incident_id', 'incident id')], tag='incidents')},
        '/api/v1/incidents/{incident_id}/ack': {'post': _op(
            'Acknowledge: stops escalation', 'incidents:write', {
                '200': _json('the incident', _ref('Incident')),
                '404': _error('unknown incident'), '409': _error('already resolved'), **BAD},
            [_p('incident_id', 'incident id')], _body('Note', False), tag='incidents')},
        '/api/v1/incidents/{incident_id}/resolve': {'post': _op(
            'Resolve, with a note', 'incidents:write', {
                '200': _json('the incident', _ref('Incident')),
                '404': _error('unknown incident'), '409': _error('already resolved'), **BAD},
            [_p('incident_id', 'incident id')], _body('Note', False), tag='incidents')},
    }


def document(version: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the API."""
    from fleet_web.openapi_incident_ops import INCIDENT_OPS_SCHEMAS, incident_ops_paths
    from fleet_web.openapi_rollouts import ROLLOUT_SCHEMAS, rollout_paths
    from fleet_web.openapi_site import SITE_SCHEMAS, site_paths
    paths = {**_service_paths(), **_robot_paths(), **site_paths(), **_event_paths(),
             **_mission_paths(),
             **_incident_paths(), **incident_ops_paths(), **rollout_paths()}
    return {
        'openapi': '3.1.0',
        'info': {'title': 'Fleet operations API', 'version': version,
                 'description': 'The business bridge of the fleet operations suite. Errors '
                                'always have the shape {"error": {"code", "message", '
                                '"field"}}.'},
        'servers': [{'url': '/'}],
        'security': [{'bearer': []}],
        'paths': paths,
        'components': {'schemas': {**COMPONENT_SCHEMAS, **ROLLOUT_SCHEMAS, **SITE_SCHEMAS,
                                   **INCIDENT_OPS_SCHEMAS},
                       'securitySchemes': {
            'bearer': {'type': 'http', 'scheme': 'bearer'}}},
    }
