"""The site map: areas, aisles, docks and the occupancy grid, from the manager's fleet config."""

from __future__ import annotations

from aiohttp import web

from fleet_web.appkeys import BACKEND
from fleet_web.views.common import json_response, scope


@scope('read')
async def site_map(request: web.Request) -> web.Response:
    """The site map the manager was configured with (``fleet/site``, action ``map``)."""
    return json_response(await request.app[BACKEND].json_call('site', 'map', {}))
