"""Missions: submission (idempotent with ``Idempotency-Key``), lists, timelines, cancels."""

from __future__ import annotations

from aiohttp import web

from fleet_web import validate
from fleet_web.appkeys import BACKEND
from fleet_web.views.common import API, json_response, list_query, page, scope

MISSION_STATES = ('queued', 'assigned', 'active', 'succeeded', 'failed', 'canceled')
MAX_IDEMPOTENCY_KEY = 256  # characters


@scope('missions:write')
async def submit_mission(request: web.Request) -> web.Response:
    """Submit a mission: 201 when created, 200 with the original for a repeated key."""
    body = validate.mission_body(await validate.json_body(request))
    key = request.headers.get('Idempotency-Key', '')
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise validate.Unprocessable(
            f'Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters',
            'Idempotency-Key')
    body['idempotency_key'] = key
    mission, duplicate = await request.app[BACKEND].submit_mission(body)
    return json_response(mission, 200 if duplicate else 201,
                         {'Location': f'{API}/missions/{mission["id"]}'})


@scope('read')
async def list_missions(request: web.Request) -> web.Response:
    """A page of missions, newest first, filtered by state, robot and creation time."""
    limit, offset, state, since, until = list_query(request, MISSION_STATES)
    items, total = await request.app[BACKEND].list_missions(
        state, request.query.get('robot_id', ''), since, until, offset, limit)
    return json_response(page(items, total, limit, offset))


@scope('read')
async def get_mission(request: web.Request) -> web.Response:
    """One mission."""
    mission, _ = await request.app[BACKEND].get_mission(request.match_info['mission_id'])
    return json_response(mission)


@scope('read')
async def mission_events(request: web.Request) -> web.Response:
    """A mission's timeline: its events in order."""
    _, events = await request.app[BACKEND].get_mission(request.match_info['mission_id'])
    return json_response({'items': events, 'total': len(events)})


@scope('missions:write')
async def cancel_mission(request: web.Request) -> web.Response:
    """Cancel a mission, with an optional reason kept in its timeline."""
    body = await validate.json_body(request, required=False)
    reason = body.get('reason', 'canceled over the API')
    if not isinstance(reason, str):
        raise validate.Unprocessable('reason must be a string', 'reason')
    mission = await request.app[BACKEND].cancel_mission(request.match_info['mission_id'],
                                                        reason)
    return json_response(mission)
