"""The audit trail: who changed the desired state, acted on rollouts or sent commands, when,
why, and what happened next (installs, gates, rollbacks), newest first."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fleet_common.events import PatternError, check_pattern
from fleet_web import validate
from fleet_web.api_errors import BadRequest
from fleet_web.appkeys import BACKEND
from fleet_web.views.common import json_response, page, page_window, scope
from fleet_web.views.desired import iso_times

MAX_WHO = 128  # characters


@scope('read')
async def list_audit(request: web.Request) -> web.Response:
    """A page of audit entries filtered by ``who``, ``kind`` (patterns), robot and time."""
    limit, offset = page_window(request)
    since, until = validate.query_range(request)
    who = request.query.get('who', '')
    if len(who) > MAX_WHO:
        raise BadRequest(f'who must be at most {MAX_WHO} characters', 'who')
    body: dict[str, Any] = {'offset': offset, 'limit': limit, 'who': who,
                            'robot_id': request.query.get('robot_id', ''),
                            'since': since, 'until': until}
    kind = request.query.get('kind', '')
    if kind:
        try:
            body['kinds'] = [check_pattern(k) for k in kind.split(',') if k]
        except PatternError as exc:
            raise BadRequest(str(exc), 'kind') from None
    result = await request.app[BACKEND].json_call('audit', 'list', body)
    items = [iso_times(e, 'time') for e in result['items']]
    return json_response(page(items, result['total'], limit, offset))
