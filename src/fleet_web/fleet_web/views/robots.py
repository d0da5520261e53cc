"""Robots: the registry, service changes, operator commands and telemetry history."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from fleet_web import robots_snapshot, validate
from fleet_web.api_errors import BadRequest
from fleet_web.appkeys import BACKEND, PRINCIPAL, ROBOTS_PAGE
from fleet_web.views.common import json_response, page, page_window, scope

CONNECTIVITY = ('online', 'stale', 'offline')
COMMANDS = ('pause', 'resume', 'return_to_dock', 'cancel_mission')
MAX_REASON = 1000  # characters of a command's reason
MAX_OPERATOR = 100  # characters of the operator's name


def who_is(request: web.Request, body: dict[str, Any]) -> str:
    """Return who asks: a per-person key's person; else the ``operator`` the body names,
    with the API key it came through (``alice (key ops)``), or the key's name alone."""
    operator = validate.text(body.get('operator', ''), 'operator', MAX_OPERATOR)
    return request[PRINCIPAL].who(operator)
MAX_ID_CONTAINS = 64  # characters of GET /robots?id_contains=
MAX_TELEMETRY_SPAN = 7 * 24 * 3600.0  # s: the widest since..until of a telemetry query


@scope('read')
async def list_robots(request: web.Request) -> web.Response:
    """A page of the registry, optionally of one connectivity and of ids containing a text
    (``id_contains``, case-insensitive)."""
    limit, offset = page_window(request)
    connectivity = validate.query_choice(request, 'connectivity', CONNECTIVITY)
    id_contains = validate.query_text(request, 'id_contains', MAX_ID_CONTAINS)
    robots = await request.app[BACKEND].list_robots()
    memo = request.app[ROBOTS_PAGE]
    if memo.robots is not robots or memo.size != len(robots):
        memo.robots, memo.size, memo.bodies = robots, len(robots), {}
    key = (limit, offset, connectivity, id_contains)
    body = memo.bodies.get(key)
    if body is None:
        items, total = robots_snapshot.page(robots, offset, limit, connectivity, id_contains)
        body = json.dumps(page(items, total, limit, offset), separators=(',', ':')).encode()
        if len(memo.bodies) >= memo.max_pages:
            memo.bodies.clear()
        memo.bodies[key] = body
    return web.Response(body=body, content_type='application/json')


@scope('read')
async def get_robot(request: web.Request) -> web.Response:
    """One robot."""
    robots = await request.app[BACKEND].list_robots(request.match_info['robot_id'])
    return json_response(robots[0])


async def _set_service(request: web.Request, in_service: bool) -> web.Response:
    body = await validate.json_body(request, required=False)
    validate.unknown_fields(body, ('reassign_active', 'reason', 'operator'))
    reassign = body.get('reassign_active', False)
    if not isinstance(reassign, bool):
        raise validate.Unprocessable('reassign_active must be a boolean', 'reassign_active')
    reason = validate.text(body.get('reason', ''), 'reason', MAX_REASON)
    robot = await request.app[BACKEND].set_robot_service(
        request.match_info['robot_id'], in_service, reassign, reason,
        who=who_is(request, body))
    return json_response(robot)


@scope('admin')
async def decommission(request: web.Request) -> web.Response:
    """Take a robot out of service."""
    return await _set_service(request, False)


@scope('admin')
async def recommission(request: web.Request) -> web.Response:
    """Put a robot back in service."""
    return await _set_service(request, True)


@scope('incidents:write')
async def robot_command(request: web.Request) -> web.Response:
    """Send a robot a command through the manager; 202 with the command's id."""
    body = await validate.json_body(request)
    validate.unknown_fields(body, ('command', 'args', 'reason', 'operator'))
    command = body.get('command')
    if command not in COMMANDS:
        raise validate.Unprocessable(f'command must be one of {", ".join(COMMANDS)}',
                                     'command')
    args = body.get('args', {})
    if not isinstance(args, dict):
        raise validate.Unprocessable('args must be an object', 'args')
    reason = validate.text(body.get('reason', ''), 'reason', MAX_REASON)
    robot_id = request.match_info['robot_id']
    command_id = await request.app[BACKEND].robot_command(
        robot_id, command, args, who_is(request, body), reason)
    return json_response({'robot_id': robot_id, 'command': command, 'accepted': True,
                          'command_id': command_id}, 202)


@scope('read')
async def robot_telemetry(request: web.Request) -> web.Response:
    """A robot's downsampled telemetry between ``since`` and ``until``, every ``step`` s."""
    since, until = validate.query_range(request, MAX_TELEMETRY_SPAN)
    robot_id = request.match_info['robot_id']
    if validate.empty_range(since, until):
        return json_response({'robot_id': robot_id, 'items': []})
    raw_step = request.query.get('step', '0')
    try:
        step = float(raw_step)
        if not 0 <= step <= 86400 or step != step:
            raise ValueError
        if 0 < step < 1e-6:  # below float32's resolution for the manager: as stored
            step = 0.0
    except ValueError:
        raise BadRequest('step must be a number of seconds between 0 and 86400',
                         'step') from None
    items = await request.app[BACKEND].get_telemetry(robot_id, since, until, step)
    return json_response({'robot_id': robot_id, 'items': items})
