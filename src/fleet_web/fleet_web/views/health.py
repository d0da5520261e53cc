"""The bridge's own endpoints: health, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Sequence
import sqlite3
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleet_web.api_errors import Unauthorized, Unavailable
from fleet_web.appkeys import BACKEND, CONFIG, SERVICES
from fleet_web.openapi import document
from fleet_web.settings import BridgeServices
from fleet_web.status import storage_reason
from fleet_web.views.common import json_response, scope

KPI_REFRESH_S = 30.0
"""KPIs read the event log: refresh them on a scrape at most this often."""
STORAGE_PROBE_S = 2.0
"""The store is probed with a committed write at most this often (``/health`` is public)."""

MANAGER_STATES = {'active': 'reachable', 'unreachable': 'unreachable'}
"""Lifecycle state -> ``manager`` of /health; any other state (inactive, unconfigured,
finalized, transitioning) is ``inactive``: the manager answers but does not serve."""


def probe_storage(services: BridgeServices) -> None:
    """Commit a heartbeat row (throttled) and record the outcome in the storage health."""
    now = time.time()
    if now - services.metrics.storage_probed_at < STORAGE_PROBE_S:
        return
    services.metrics.storage_probed_at = now
    try:
        services.store.heartbeat(now)
    except sqlite3.Error as exc:
        services.health.storage.fail(storage_reason(exc), now)
    else:
        services.health.storage.ok()


def bridge_status(services: BridgeServices) -> dict[str, Any]:
    """The bridge's own parts: storage, the webhook pump and worker, disabled subscriptions."""
    probe_storage(services)
    health = services.health
    try:
        disabled = sorted(services.store.disabled_subscriptions())
    except sqlite3.Error:
        disabled = []
    return {'storage': health.storage.to_dict(),
            'webhooks': {'pump': health.pump.to_dict(), 'worker': health.worker.to_dict(),
                         'disabled_subscriptions': disabled}}


@scope(None)
async def health(request: web.Request) -> web.Response:
    """Liveness; whether the manager is active, inactive or unreachable; the bridge's own
    storage and webhook pump (``status`` is ``degraded`` while one of them is)."""
    backend = request.app[BACKEND]
    state = await backend.manager_state()
    robots: Sequence[Any] | None = None  # unknown unless an active manager says
    if state == 'active':
        try:
            robots = await backend.list_robots()
        except Unavailable:
            pass  # unknown, like an inactive manager's
    services = request.app[SERVICES]
    parts = bridge_status(services)
    return json_response({'status': 'ok' if services.health.healthy else 'degraded',
                          'manager': MANAGER_STATES.get(state, 'inactive'),
                          'manager_state': state,
                          'robots': len(robots) if robots is not None else None,
                          'version': request.app[CONFIG].version, **parts})


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
    probe_storage(services)
    try:
        disabled = services.store.disabled_subscriptions()
    except sqlite3.Error:
        disabled = {}
    services.metrics.set_bridge_health(services.health, [s.name for s in services.subscriptions],
                                       disabled)
    return web.Response(body=generate_latest(services.metrics.registry),
                        headers={'Content-Type': CONTENT_TYPE_LATEST})


@scope(None)
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of the API."""
    return json_response(document(request.app[CONFIG].version))
