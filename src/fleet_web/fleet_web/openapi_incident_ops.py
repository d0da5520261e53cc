"""The OpenAPI paths and schemas of silences, maintenance windows and postmortems (merged
into :func:`fleet_web.openapi.document`)."""

from __future__ import annotations

from typing import Any

from fleet_web.openapi import (
    BAD,
    LIMIT,
    OFFSET,
    _body,
    _error,
    _json,
    _op,
    _p,
    _page_of,
    _q,
    _ref,
    _text,
)

_TIME = {'type': ['string', 'null'], 'format': 'date-time'}
_TIME_IN = {'oneOf': [{'type': 'string', 'format': 'date-time'},
                      {'type': 'number', 'minimum': 0, 'maximum': 4e9}],
            'description': 'ISO-8601, or seconds since the epoch'}
_MATCHER = {
    'oneOf': [
        {'type': 'string', 'maxLength': 300,
         'pattern': r'^\s*(rule|type|robot|area|site|severity|robot_type)\s*(=~|!~|!=|=)',
         'description': 'label=value, label!=value, label=~regex or label!~regex'},
        {'type': 'object', 'required': ['label', 'value'],
         'properties': {'label': {'type': 'string', 'enum': [
             'rule', 'type', 'robot', 'area', 'site', 'severity', 'robot_type']},
                        'op': {'type': 'string', 'enum': ['=', '!=', '=~', '!~']},
                        'value': _text(300)}}]}
_STR = {'type': 'string'}

INCIDENT_OPS_SCHEMAS: dict[str, Any] = {
    'Silence': {
        'type': 'object',
        'required': ['id', 'matchers', 'starts_at', 'ends_at', 'created_by', 'comment',
                     'state', 'muted'],
        'properties': {
            'id': _STR, 'matchers': {'type': 'array', 'items': {
                'type': 'object', 'properties': {'label': _STR, 'op': _STR, 'value': _STR}}},
            'starts_at': _TIME, 'ends_at': _TIME, 'until': _TIME, 'created_at': _TIME,
            'expired_at': _TIME, 'created_by': _STR, 'comment': _STR,
            'repeat': {'type': ['string', 'null'], 'enum': ['daily', 'weekly', None]},
            'expired_by': _STR, 'expired_note': _STR,
            'state': {'type': 'string', 'enum': ['pending', 'active', 'expired']},
            'muted': {'type': 'integer', 'minimum': 0,
                      'description': 'notifications this silence has muted'}}},
    'NewSilence': {
        'type': 'object', 'additionalProperties': False, 'required': ['matchers', 'comment'],
        'properties': {
            'matchers': {'type': 'array', 'minItems': 1, 'maxItems': 20, 'items': _MATCHER},
            'comment': _text(20000, description='why (audited)'),
            'starts_at': _TIME_IN, 'ends_at': _TIME_IN, 'until': _TIME_IN,
            'duration': {'type': 'number', 'exclusiveMinimum': 0, 'maximum': 1e9,
                         'description': 's'},
            'repeat': {'type': 'string', 'enum': ['daily', 'weekly'],
                       'description': 'a maintenance window repeating every day or week'},
            'who': _text(100, description='your name, when the key is shared')}},
    'Reason': {'type': 'object', 'additionalProperties': False,
               'properties': {'reason': _text(20000), 'who': _text(100)}},
    'Postmortem': {
        'type': 'object',
        'required': ['incident_id', 'title', 'severity', 'status', 'timeline', 'context',
                     'contributing_factors', 'action_items'],
        'properties': {
            'incident_id': _STR, 'title': _STR, 'severity': _STR,
            'status': {'type': 'string', 'enum': ['draft', 'final']},
            'opened_at': {'type': ['number', 'null']},
            'resolved_at': {'type': ['number', 'null']},
            'summary': _STR, 'impact': _STR, 'recurrence': _STR,
            'timeline': {'type': 'array', 'items': {'type': 'object', 'properties': {
                'time': {'type': 'number'}, 'kind': _STR, 'who': _STR, 'note': _STR}}},
            'context': {'type': 'object', 'additionalProperties': _STR},
            'contributing_factors': {'type': 'array', 'items': _STR},
            'action_items': {'type': 'array', 'items': {'type': 'object', 'properties': {
                'text': _STR, 'owner': _STR, 'done': {'type': 'boolean'}}}},
            'markdown': {'type': 'string', 'description': 'the Markdown export'}}},
    'PostmortemSummary': {
        'type': 'object', 'required': ['incident_id', 'title', 'severity', 'status'],
        'properties': {'incident_id': _STR, 'title': _STR, 'severity': _STR,
                       'status': _STR, 'resolved_at': _TIME}},
    'PostmortemEdit': {
        'type': 'object', 'additionalProperties': False,
        'properties': {
            'title': _text(500), 'status': {'type': 'string', 'enum': ['draft', 'final']},
            'summary': _text(20000), 'impact': _text(20000), 'recurrence': _text(20000),
            'timeline': {'type': 'array', 'items': {
                'type': 'object', 'required': ['time', 'kind'],
                'properties': {'time': {'type': 'number', 'minimum': 0, 'maximum': 4e9},
                               'kind': _text(200),
                               'who': _text(200), 'note': _text(4000)}}},
            'context': {'type': 'object', 'additionalProperties': _text(2000)},
            'contributing_factors': {'type': 'array', 'items': _text(4000)},
            'action_items': {'type': 'array', 'items': {
                'type': 'object', 'required': ['text'],
                'properties': {'text': _text(4000), 'owner': _text(200),
                               'done': {'type': 'boolean'}}}},
            'who': _text(100), 'reason': _text(20000)}},
}

_NOT_UP = {'503': _error('the manager is not reachable')}


def incident_ops_paths() -> dict[str, Any]:
    """Silences and postmortems."""
    pm = [_p('incident_id', 'incident id')]
    return {
        '/api/v1/silences': {
            'get': _op('List silences and maintenance windows', 'read', {
                '200': _json('a page of silences, newest first', _page_of('Silence')),
                '400': _error('bad query parameter'), **_NOT_UP}, [
                LIMIT, OFFSET, _q('state', {'type': 'string',
                                            'enum': ['pending', 'active', 'expired']},
                                  'filter')], tag='incidents'),
            'post': _op('Create a silence or maintenance window (audited)', 'incidents:write', {
                '201': _json('the silence', _ref('Silence')), **BAD, **_NOT_UP},
                body=_body('NewSilence'), tag='incidents')},
        '/api/v1/silences/{silence_id}': {'delete': _op(
            'Expire a silence now (kept on record; audited)', 'incidents:write', {
                '200': _json('the silence', _ref('Silence')),
                '404': _error('unknown silence'), '409': _error('already expired'),
                **BAD, **_NOT_UP},
            [_p('silence_id', 'silence id')], _body('Reason', False), tag='incidents')},
        '/api/v1/postmortems': {'get': _op('List postmortems', 'read', {
            '200': _json('a page of postmortems', _page_of('PostmortemSummary')),
            '400': _error('bad query parameter'), **_NOT_UP}, [LIMIT, OFFSET],
            tag='incidents')},
        '/api/v1/incidents/{incident_id}/postmortem': {
            'get': _op('An incident\'s postmortem', 'read', {
                '200': _json('the postmortem', _ref('Postmortem')),
                '404': _error('no postmortem for this incident'), **_NOT_UP}, pm,
                tag='incidents'),
            'patch': _op('Edit a postmortem (audited)', 'incidents:write', {
                '200': _json('the postmortem', _ref('Postmortem')),
                '404': _error('no postmortem for this incident'), **BAD, **_NOT_UP}, pm,
                _body('PostmortemEdit'), tag='incidents')},
        '/api/v1/incidents/{incident_id}/postmortem.md': {
            'get': _op('Export a postmortem as Markdown', 'read', {
                '200': {'description': 'the Markdown document',
                        'content': {'text/markdown': {'schema': {'type': 'string'}}}},
                '404': _error('no postmortem for this incident'), **_NOT_UP}, pm,
                tag='incidents'),
            'put': _op('Import an edited Markdown export (audited)', 'incidents:write', {
                '200': _json('the postmortem', _ref('Postmortem')),
                '404': _error('no postmortem for this incident'), **BAD, **_NOT_UP},
                pm + [_q('who', _text(100), 'your name, when the key is shared'),
                      _q('reason', _text(1000), 'why')],
                {'required': True, 'content': {'text/markdown': {'schema': {
                    'type': 'string', 'maxLength': 20000}}}}, tag='incidents')},
    }
