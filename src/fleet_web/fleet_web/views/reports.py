"""Reports the manager computes: SLO status and fleet KPIs."""

from __future__ import annotations

from aiohttp import web

from fleet_web.appkeys import BACKEND
from fleet_web.views.common import json_response, scope


@scope('read')
async def slos(request: web.Request) -> web.Response:
    """Every SLO: SLI, error budget, burn rates, alerts."""
    return json_response(await request.app[BACKEND].get_report('slos'))


@scope('read')
async def kpis(request: web.Request) -> web.Response:
    """The fleet KPIs."""
    return json_response(await request.app[BACKEND].get_report('kpis'))
