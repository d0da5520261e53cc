"""Incidents: lists, one incident with its context, acknowledge and resolve."""

from __future__ import annotations

from aiohttp import web

from fleet_web import validate
from fleet_web.appkeys import BACKEND, PRINCIPAL
from fleet_web.views.common import json_response, list_query, page, scope

INCIDENT_STATES = ('triggered', 'acknowledged', 'resolved')
MAX_NOTE = 4000  # characters
MAX_WHO = 128  # characters


@scope('read')
async def list_incidents(request: web.Request) -> web.Response:
    """A page of incidents, newest first, filtered by state, robot, type and time."""
    limit, offset, state, since, until = list_query(request, INCIDENT_STATES)
    if validate.empty_range(since, until):
        return json_response(page([], 0, limit, offset))
    items, total = await request.app[BACKEND].list_incidents(
        state, validate.query_text(request, 'robot_id'), validate.query_text(request, 'type'),
        since, until, offset, limit)
    return json_response(page(items, total, limit, offset))


@scope('read')
async def get_incident(request: web.Request) -> web.Response:
    """One incident with its context, runbook and timeline."""
    return json_response(await request.app[BACKEND].get_incident(
        request.match_info['incident_id']))


async def _incident_action(request: web.Request, action: str) -> web.Response:
    body = await validate.json_body(request, required=False)
    validate.unknown_fields(body, ('note', 'who'))
    note = validate.text(body.get('note', ''), 'note', MAX_NOTE)
    # A per-person key names its person; with a shared key, the name the operator gives.
    who = request[PRINCIPAL].who(validate.text(body.get('who') or '', 'who', MAX_WHO))
    return json_response(await request.app[BACKEND].incident_action(
        action, request.match_info['incident_id'], who, note))


@scope('incidents:write')
async def ack_incident(request: web.Request) -> web.Response:
    """Acknowledge an incident (stops its escalation)."""
    return await _incident_action(request, 'ack')


@scope('incidents:write')
async def resolve_incident(request: web.Request) -> web.Response:
    """Resolve an incident."""
    return await _incident_action(request, 'resolve')
