"""The bridge's own endpoints: health, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleet_web.api_errors import Unauthorized, Unavailable
from fleet_web.appkeys import BACKEND, CONFIG, SERVICES
from fleet_web.openapi import document
from fleet_web.views.common import json_response, scope

KPI_REFRESH_S = 30.0
"""KPIs read the event log: refresh them on a scrape at most this often."""


@scope(None)
async def health(request: web.Request) -> web.Response:
    """Liveness, and whether the manager answers."""
    try:
        robots = await request.app[BACKEND].list_robots()
        manager = 'reachable'
    except Unavailable:
        robots, manager = [], 'unreachable'
    return json_response({'status': 'ok', 'manager': manager, 'robots': len(robots),
                          'version': request.app[CONFIG].version})


@scope(None)  # public unless metrics_public is false: checked here
async def metrics(request: web.Request) -> web.Response:
    """The Prometheus exposition; the last known figures when the manager is away."""
    services = request.app[SERVICES]
    if not services.metrics_public:
        principal = services.keys.authenticate(request.headers.get('Authorization'))
        if principal is None or not principal.allows('read'):
            raise Unauthorized('a bearer token with the read scope is required')
    backend = request.app[BACKEND]
    try:
        services.metrics.set_robots(await backend.list_robots())
        if time.monotonic() - services.metrics.kpis_at >= KPI_REFRESH_S:
            services.metrics.kpis_at = time.monotonic()
            services.metrics.set_kpis(await backend.get_report('kpis'))
    except Unavailable:
        pass  # serve the last known figures
    return web.Response(body=generate_latest(services.metrics.registry),
                        headers={'Content-Type': CONTENT_TYPE_LATEST})


@scope(None)
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of the API."""
    return json_response(document(request.app[CONFIG].version))
