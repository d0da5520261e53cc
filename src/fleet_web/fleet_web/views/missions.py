"""Missions: submission (idempotent with ``Idempotency-Key``), lists, timelines, cancels."""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from fleet_web import redact, validate
from fleet_web.api_errors import ConflictError
from fleet_web.appkeys import BACKEND, PRINCIPAL, SERVICES
from fleet_web.egress import EgressRefused
from fleet_web.views.common import API, json_response, list_query, page, scope

MISSION_STATES = ('queued', 'assigned', 'active', 'succeeded', 'failed', 'canceled')
MAX_IDEMPOTENCY_KEY = 256  # characters
CALLBACK_CHECK_S = 2.0  # s: how long a submission waits for the callback host's DNS


def scoped_key(principal: str, key: str) -> str:
    """Return the idempotency key the manager stores: the client's key scoped to its API key
    (one client's key never returns another client's mission)."""
    if not key:
        return ''
    digest = hashlib.sha256(f'{principal}\n{key}'.encode('utf-8')).hexdigest()
    return f'k1:{digest}'


async def check_callback(request: web.Request, url: str) -> None:
    """422 naming callback_url when its host is, or resolves to, an address the egress
    policy refuses (a host that does not resolve now is checked again at delivery)."""
    try:
        await request.app[SERVICES].egress.check_url(url, CALLBACK_CHECK_S)
    except EgressRefused as exc:
        raise validate.Unprocessable(f'callback_url is not allowed: {exc}',
                                     'callback_url') from None
    except (OSError, asyncio.TimeoutError, UnicodeError):
        pass


@scope('missions:write')
async def submit_mission(request: web.Request) -> web.Response:
    """Submit a mission: 201 when created, 200 with the original for a repeated key."""
    body = validate.mission_body(await validate.json_body(request))
    key = request.headers.get('Idempotency-Key', '')
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise validate.Unprocessable(
            f'Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters',
            'Idempotency-Key')
    if body.get('callback_url'):
        await check_callback(request, body['callback_url'])
    body['idempotency_key'] = scoped_key(request[PRINCIPAL].name, key)
    try:
        mission, duplicate = await request.app[BACKEND].submit_mission(body)
    except ConflictError:
        if not key:
            raise
        raise ConflictError('Idempotency-Key was already used for a different mission',
                            'Idempotency-Key') from None
    return json_response(mission, 200 if duplicate else 201,
                         {'Location': f'{API}/missions/{mission["id"]}'})


@scope('read')
async def list_missions(request: web.Request) -> web.Response:
    """A page of missions, newest first, filtered by state, robot and creation time."""
    limit, offset, state, since, until = list_query(request, MISSION_STATES)
    if validate.empty_range(since, until):
        return json_response(page([], 0, limit, offset))
    items, total = await request.app[BACKEND].list_missions(
        state, validate.query_text(request, 'robot_id'), since, until, offset, limit)
    full = redact.sees_secrets(request[PRINCIPAL])
    return json_response(page([redact.mission(m, full) for m in items], total, limit, offset))


@scope('read')
async def get_mission(request: web.Request) -> web.Response:
    """One mission, with ``interventions``: the events of its timeline that the manager
    flagged as a human intervention (an operator's pause, resume or return to dock, a safety
    stop), so that a mission an operator resumed says so."""
    mission, events = await request.app[BACKEND].get_mission(request.match_info['mission_id'])
    mission = {**mission, 'interventions': sum(
        1 for e in events if e.get('kind') == 'robot.event'
        and (e.get('payload') or {}).get('intervention') is True)}
    return json_response(redact.mission(mission, redact.sees_secrets(request[PRINCIPAL])))


@scope('read')
async def mission_events(request: web.Request) -> web.Response:
    """A mission's timeline: its events in order."""
    _, events = await request.app[BACKEND].get_mission(request.match_info['mission_id'])
    full = redact.sees_secrets(request[PRINCIPAL])
    return json_response({'items': [redact.event(e, full) for e in events],
                          'total': len(events)})


@scope('missions:write')
async def cancel_mission(request: web.Request) -> web.Response:
    """Cancel a mission, with an optional reason kept in its timeline."""
    body = await validate.json_body(request, required=False)
    validate.unknown_fields(body, ('reason',))
    reason = validate.text(body.get('reason', 'canceled over the API'), 'reason',
                           validate.MAX_REASON)
    mission = await request.app[BACKEND].cancel_mission(request.match_info['mission_id'],
                                                        reason)
    return json_response(redact.mission(mission, redact.sees_secrets(request[PRINCIPAL])))
