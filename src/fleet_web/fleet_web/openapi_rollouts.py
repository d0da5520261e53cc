"""The OpenAPI paths and schemas of configuration as code, rollouts and the audit trail
(merged into :func:`fleet_web.openapi.document`)."""

from __future__ import annotations

from typing import Any

from fleet_web.openapi import (
    BAD,
    KIND,
    LIMIT,
    NULLABLE_STR,
    OFFSET,
    _body,
    _error,
    _json,
    _op,
    _p,
    _page_of,
    _q,
    _ref,
)

ROLLOUT_STATES = ('progressing', 'paused', 'rolling_back', 'completed', 'rolled_back',
                  'aborted')
DRIFT_STATES = ('unknown', 'in_sync', 'drifted')
MAX_REVISION = 2**53
REASON = {'type': 'string', 'maxLength': 1000,
          'description': 'why; recorded in the audit trail with the token\'s name'}
TIME = {'type': ['string', 'null'], 'format': 'date-time'}

ROLLOUT_SCHEMAS: dict[str, Any] = {
    'DesiredFiles': {
        'type': 'object', 'required': ['files'],
        'properties': {
            'files': {'type': 'object', 'additionalProperties': {'type': 'string'},
                      'description': 'relative path (*.yaml) -> the file\'s text'},
            'reason': REASON}},
    'DesiredDiff': {
        'type': 'object',
        'properties': {
            'changes': {'type': 'array', 'items': {'type': 'object', 'properties': {
                'kind': {'type': 'string'}, 'name': {'type': 'string'},
                'op': {'type': 'string', 'enum': ['+', '-', '~']},
                'fields': {'type': 'array', 'items': {'type': 'object'}}}}},
            'files': {'type': 'object'}, 'lines': {'type': 'array',
                                                   'items': {'type': 'string'}},
            'next_configure': {'type': 'array', 'items': {'type': 'string'}},
            'empty': {'type': 'boolean'}}},
    'ApplyResult': {
        'type': 'object', 'required': ['revision', 'unchanged', 'diff', 'robots_affected'],
        'properties': {'revision': {'type': 'integer'}, 'unchanged': {'type': 'boolean'},
                       'restored_from': {'type': ['integer', 'null']},
                       'diff': _ref('DesiredDiff'),
                       'robots_affected': {'type': 'array', 'items': {'type': 'string'}}}},
    'Revision': {
        'type': 'object', 'required': ['number', 'time', 'who', 'reason', 'digest', 'files'],
        'properties': {'number': {'type': 'integer', 'minimum': 1}, 'time': TIME,
                       'who': {'type': 'string'}, 'reason': {'type': 'string'},
                       'digest': {'type': 'string'},
                       'restored_from': {'type': ['integer', 'null']},
                       'files': {'description': 'name -> text (one revision) or the names '
                                                '(a list of revisions)'},
                       'diff': _ref('DesiredDiff')}},
    'RobotConfig': {
        'type': 'object', 'required': ['robot_id', 'state'],
        'properties': {
            'robot_id': {'type': 'string'},
            'state': {'type': 'string', 'enum': list(DRIFT_STATES)},
            'policy': {'type': 'string', 'enum': ['report', 'reconcile']},
            'groups': {'type': 'array', 'items': {'type': 'string'}},
            'revision': {'type': ['integer', 'null']},
            'drifted': {'type': 'array', 'items': {'type': 'object', 'properties': {
                'node': {'type': 'string'}, 'name': {'type': 'string'}, 'declared': {},
                'actual': {}}}},
            'unreachable': {'type': 'array', 'items': {'type': 'string'}},
            'params': {'type': 'object'}, 'reported_version': {'type': 'string'},
            'installed_version': {'type': 'string'}, 'reported_at': TIME,
            'rollout': {'type': ['object', 'null']}}},
    'RolloutCreate': {
        'type': 'object', 'required': ['release'], 'additionalProperties': False,
        'properties': {
            'release': {'type': 'string', 'description': 'a declared release version'},
            'strategy': {'type': 'string', 'description': 'a declared strategy (default: '
                                                          'rollout_policy.default_strategy)'},
            'groups': {'type': 'array', 'items': {'type': 'string'},
                       'description': 'only robots of these groups (default: every robot)'},
            'robots': {'type': 'array', 'items': {'type': 'string'},
                       'description': 'only these robots'},
            'reason': REASON}},
    'RolloutAction': {'type': 'object', 'properties': {
        'reason': REASON, 'full': {'type': 'boolean',
                                   'description': 'promote: go to the last step'}}},
    'GateResult': {
        'type': 'object', 'properties': {
            'verdict': {'type': 'string', 'enum': ['pass', 'fail', 'inconclusive']},
            'canary_missions': {'type': 'integer'}, 'baseline_missions': {'type': 'integer'},
            'window_s': {'type': 'number'}, 'detail': {'type': 'string'},
            'baseline_scope': {'type': 'string', 'enum': ['window', 'rollout']},
            'checks': {'type': 'array', 'items': {'type': 'object', 'properties': {
                'metric': {'type': 'string'}, 'canary': {'type': ['number', 'null']},
                'baseline': {'type': ['number', 'null']}, 'limit': {'type': 'string'},
                'verdict': {'type': 'string'}, 'detail': {'type': 'string'}}}}}},
    'Rollout': {
        'type': 'object',
        'required': ['id', 'release', 'state', 'step', 'steps', 'target', 'scope', 'robots'],
        'properties': {
            'id': {'type': 'string'}, 'release': {'type': 'string'},
            'artifact': {'type': 'string'},
            'state': {'type': 'string', 'enum': list(ROLLOUT_STATES)},
            'pause_cause': {'type': ['string', 'null'],
                            'enum': ['operator', 'inconclusive', 'error_budget', None]},
            'step': {'type': 'integer', 'description': '0-based'},
            'step_name': {'type': 'string'}, 'steps': {'type': 'integer'},
            'target': {'type': 'integer', 'description': 'robots the step updates'},
            'scope': {'type': 'integer'}, 'created_at': TIME, 'updated_at': TIME,
            'step_started': TIME, 'bake_started': TIME, 'created_by': {'type': 'string'},
            'reason': {'type': 'string'}, 'outcome': {'type': 'string'},
            'order': {'type': 'array', 'items': {'type': 'string'}},
            'phases': {'type': 'object', 'additionalProperties': {'type': 'integer'}},
            'robots': {'type': 'object', 'additionalProperties': {'type': 'object'},
                       'description': 'robot -> phase (waiting, installing, updated, failed, '
                                      'revert_waiting, reverting, reverted, revert_failed)'},
            'gates': {'type': 'array', 'items': _ref('GateResult')},
            'last_gate': {'anyOf': [_ref('GateResult'), {'type': 'null'}]},
            'evaluation': _ref('GateResult'), 'strategy': {'type': 'object'},
            'analysis': {'type': 'object'}}},
    'AuditEntry': {
        'type': 'object', 'required': ['id', 'time', 'kind', 'who'],
        'properties': {'id': {'type': 'integer'}, 'time': TIME,
                       'kind': {'type': 'string'}, 'who': {'type': 'string'},
                       'robot_id': NULLABLE_STR, 'target': {'type': 'string'},
                       'action': {'type': 'string'}, 'reason': {'type': 'string'},
                       'payload': {'type': 'object'}}},
}

NUMBER = {'name': 'number', 'in': 'path', 'required': True,
          'schema': {'type': 'integer', 'minimum': 1, 'maximum': MAX_REVISION},
          'description': 'revision number'}
ROLLOUT_ID = _p('rollout_id', 'rollout id (R-1, R-2, ...)')
INVALID_STATE = _error('the files are invalid: error.field is "<file>: <key>", nothing '
                       'changed')


def _rollout_action(summary: str, conflict: str) -> dict[str, Any]:
    return {'post': _op(summary, 'admin', {
        '200': _json('the rollout', _ref('Rollout')), '404': _error('unknown rollout'),
        '409': _error(conflict), **BAD}, [ROLLOUT_ID], _body('RolloutAction', False),
        tag='rollouts')}


def rollout_paths() -> dict[str, Any]:
    """Configuration as code, rollouts and the audit trail."""
    return {
        '/api/v1/config/diff': {'post': _op(
            'What applying these files would change', 'read', {
                '200': _json('the diff', {'type': 'object', 'properties': {
                    'revision': {'type': 'integer'}, 'digest': {'type': 'string'},
                    'diff': _ref('DesiredDiff'),
                    'robots_affected': {'type': 'array', 'items': {'type': 'string'}}}}),
                **BAD, '422': INVALID_STATE}, body=_body('DesiredFiles'), tag='config')},
        '/api/v1/config/apply': {'post': _op(
            'Apply the files as the next revision', 'admin', {
                '201': _json('a new revision', _ref('ApplyResult')),
                '200': _json('unchanged (the same files as the revision in force)',
                             _ref('ApplyResult')), **BAD, '422': INVALID_STATE},
            body=_body('DesiredFiles'), tag='config')},
        '/api/v1/config': {'get': _op('The revision in force, with its files', 'read', {
            '200': _json('the revision', _ref('Revision')),
            '404': _error('nothing applied yet')}, tag='config')},
        '/api/v1/config/revisions': {'get': _op('Revisions, newest first', 'read', {
            '200': _json('a page of revisions', _page_of('Revision')),
            '400': _error('bad query parameter')}, [LIMIT, OFFSET], tag='config')},
        '/api/v1/config/revisions/{number}': {'get': _op('One revision with its files', 'read', {
            '200': _json('the revision', _ref('Revision')), '400': _error('not a number'),
            '404': _error('unknown revision')}, [NUMBER], tag='config')},
        '/api/v1/config/revisions/{number}/rollback': {'post': _op(
            'Apply an older revision\'s files again, as a new revision', 'admin', {
                '201': _json('the new revision', _ref('ApplyResult')),
                '200': _json('unchanged', _ref('ApplyResult')),
                '404': _error('unknown revision'), **BAD}, [NUMBER],
            _body('RolloutAction', False), tag='config')},
        '/api/v1/config/robots': {'get': _op(
            'Every robot\'s configuration: drift, versions, rollout phase', 'read', {
                '200': _json('the robots', {'type': 'object', 'properties': {
                    'revision': {'type': 'integer'},
                    'items': {'type': 'array', 'items': _ref('RobotConfig')}}})},
            [_q('state', {'type': 'string', 'enum': list(DRIFT_STATES)}, 'filter')],
            tag='config')},
        '/api/v1/rollouts': {
            'get': _op('Rollouts, newest first', 'read', {
                '200': _json('a page of rollouts', _page_of('Rollout')),
                '400': _error('bad query parameter')}, [LIMIT, OFFSET, _q(
                    'state', {'type': 'string', 'enum': list(ROLLOUT_STATES)}, 'filter')],
                tag='rollouts'),
            'post': _op('Start a staged rollout of a declared release', 'admin', {
                '201': _json('the rollout', _ref('Rollout')),
                '409': _error('a robot is in another rollout, or the error budget is '
                              'exhausted'), **BAD}, body=_body('RolloutCreate'),
                tag='rollouts')},
        '/api/v1/rollouts/{rollout_id}': {'get': _op(
            'One rollout: robots\' phases, gates, live evaluation', 'read', {
                '200': _json('the rollout', _ref('Rollout')),
                '404': _error('unknown rollout')}, [ROLLOUT_ID], tag='rollouts')},
        '/api/v1/rollouts/{rollout_id}/promote': _rollout_action(
            'Go to the next step now (full: the last), skipping the bake and gate',
            'not progressing or paused (e.g. aborted), or the error budget is exhausted'),
        '/api/v1/rollouts/{rollout_id}/pause': _rollout_action(
            'Hold the rollout', 'not progressing'),
        '/api/v1/rollouts/{rollout_id}/resume': _rollout_action(
            'Continue a paused rollout', 'not paused'),
        '/api/v1/rollouts/{rollout_id}/abort': _rollout_action(
            'Abort: updated robots go back to their versions', 'already ended or rolling back'),
        '/api/v1/audit': {'get': _op('The audit trail, newest first', 'read', {
            '200': _json('a page of audit entries', _page_of('AuditEntry')),
            '400': _error('bad query parameter')}, [
            LIMIT, OFFSET, _q('who', {'type': 'string', 'maxLength': 128}, 'who acted'),
            KIND, _q('robot_id', {'type': 'string'}, 'filter'),
            _q('since', {'type': 'string', 'format': 'date-time'}, 'at or after'),
            _q('until', {'type': 'string', 'format': 'date-time'}, 'before')],
            tag='audit')},
    }
