"""Staged rollouts: create, list, show (with the live gate evaluation), promote, pause,
resume, abort. Writes need ``admin``; a rollout whose state does not allow an action is a
409, an unknown one a 404."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fleet_web import validate
from fleet_web.appkeys import BACKEND, PRINCIPAL
from fleet_web.openapi_rollouts import ROLLOUT_STATES
from fleet_web.views.common import API, json_response, page, page_window, scope
from fleet_web.views.desired import iso_times, reason_of

CREATE_FIELDS = {'release', 'strategy', 'groups', 'robots', 'reason'}
ACTIONS = ('promote', 'pause', 'resume', 'abort')


def rollout_json(doc: dict[str, Any]) -> dict[str, Any]:
    """A rollout with its times as ISO-8601."""
    out = iso_times(doc, 'created_at', 'updated_at', 'step_started', 'bake_started')
    out['robots'] = {r: iso_times(e, 'since', 'sent_at')
                     for r, e in (doc.get('robots') or {}).items()}
    return out


@scope('read')
async def list_rollouts(request: web.Request) -> web.Response:
    """A page of rollouts, newest first, optionally of one state."""
    limit, offset = page_window(request)
    state = validate.query_choice(request, 'state', ROLLOUT_STATES)
    result = await request.app[BACKEND].json_call('rollouts', 'list', {})
    items = [r for r in result['items'] if not state or r['state'] == state]
    return json_response(page([rollout_json(r) for r in items[offset:offset + limit]],
                              len(items), limit, offset))


@scope('admin')
async def create_rollout(request: web.Request) -> web.Response:
    """Start a rollout of a declared release: 201 with the rollout."""
    body = await validate.json_body(request)
    for key in body:
        if key not in CREATE_FIELDS:
            raise validate.Unprocessable(f'unknown field {key!r}', key)
    if not isinstance(body.get('release'), str) or not body['release']:
        raise validate.Unprocessable('release is required (a declared version)', 'release')
    if 'strategy' in body and not isinstance(body['strategy'], str):
        raise validate.Unprocessable('strategy must be a strategy name', 'strategy')
    for key in ('groups', 'robots'):
        value = body.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise validate.Unprocessable(f'{key} must be a list of names', key)
    args: dict[str, Any] = {k: body[k] for k in ('release', 'strategy', 'groups', 'robots')
                            if k in body}
    doc = await request.app[BACKEND].json_call('rollouts', 'create', args,
                                               request[PRINCIPAL].name, reason_of(body))
    return json_response(rollout_json(doc), 201, {'Location': f'{API}/rollouts/{doc["id"]}'})


@scope('read')
async def get_rollout(request: web.Request) -> web.Response:
    """One rollout: its steps, robots' phases, gate results and live evaluation."""
    doc = await request.app[BACKEND].json_call('rollouts', 'get',
                                               {'id': request.match_info['rollout_id']})
    return json_response(rollout_json(doc))


async def _action(request: web.Request, action: str) -> web.Response:
    body = await validate.json_body(request, required=False)
    args: dict[str, Any] = {'id': request.match_info['rollout_id']}
    if action == 'promote':
        full = body.get('full', False)
        if not isinstance(full, bool):
            raise validate.Unprocessable('full must be a boolean', 'full')
        args['full'] = full
    doc = await request.app[BACKEND].json_call('rollouts', action, args,
                                               request[PRINCIPAL].name, reason_of(body))
    return json_response(rollout_json(doc))


@scope('admin')
async def promote(request: web.Request) -> web.Response:
    """Go to the next step now (``full``: to the last), skipping the bake and the gate."""
    return await _action(request, 'promote')


@scope('admin')
async def pause(request: web.Request) -> web.Response:
    """Hold the rollout: no new install, no next step."""
    return await _action(request, 'pause')


@scope('admin')
async def resume(request: web.Request) -> web.Response:
    """Continue a paused rollout (after an inconclusive gate, the step bakes again)."""
    return await _action(request, 'resume')


@scope('admin')
async def abort(request: web.Request) -> web.Response:
    """Stop the rollout and take its updated robots back to their versions."""
    return await _action(request, 'abort')
