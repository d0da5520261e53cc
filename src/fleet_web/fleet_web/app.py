"""The HTTP API's factory: ``create_app(config, backend, services)`` builds the application.

The parts live by concern: settings (:mod:`fleet_web.settings`), the typed state keys
(:mod:`fleet_web.appkeys`), middlewares (:mod:`fleet_web.middlewares`), one views module
per resource (:mod:`fleet_web.views`) and the routes table (:mod:`fleet_web.routes`).
``WebConfig``, ``BridgeServices`` and ``load_services`` are re-exported here for callers.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from aiohttp import web

from fleet_web.appkeys import (
    BACKEND,
    CLOSING,
    CONFIG,
    PUMP,
    ROBOTS_PAGE,
    SERVICES,
    STREAMS,
    WORKER,
    RobotsPageCache,
)
from fleet_web.delivery import DeliveryWorker
from fleet_web.egress import client_session
from fleet_web.facts import BridgeFacts
from fleet_web.middlewares import MIDDLEWARES
from fleet_web.pump import EventPump
from fleet_web.ros_bridge import FleetBackend
from fleet_web.routes import ROUTES, setup_routes
from fleet_web.settings import BridgeServices, WebConfig, load_services
from fleet_web.webhooks import Outbox

__all__ = ['BridgeServices', 'ROUTES', 'WebConfig', 'create_app', 'load_services']

STOP_TIMEOUT_S = 5.0
"""How long shutdown waits for the event pump after cancelling it."""


async def _close_streams(app: web.Application) -> None:
    """On shutdown, end the open SSE streams at once (clients reconnect with their id)."""
    app[CLOSING].set()
    for task in app[STREAMS].copy():
        task.cancel()


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Run the webhook worker and the event pump for the app's lifetime; stop both cleanly."""
    services = app[SERVICES]
    session = client_session(services.egress)
    facts = BridgeFacts(app[BACKEND])
    worker = DeliveryWorker(
        services.store, services.subscriptions, session, policy=services.egress,
        retention=services.retention, health=services.health,
        on_outcome=lambda sub, outcome, _d: services.metrics.webhooks.labels(
            sub, outcome.value).inc(),
        on_disabled=lambda name, status, reason: facts.report(
            'webhook.subscription_disabled',
            {'subscription': name, 'status': status, 'reason': reason}))
    outbox = Outbox(services.store, services.subscriptions, on_enqueued=worker.notify)
    pump = EventPump(app[BACKEND], outbox, services.metrics, health=services.health)
    app[WORKER] = worker
    app[PUMP] = pump
    await worker.start()
    task = asyncio.create_task(pump.run(), name='event-pump')
    try:
        yield
    finally:
        pump.stop()
        task.cancel()
        # Bounded: shutdown must not hang on a task that ignored its cancellation.
        await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        await worker.stop()
        await facts.stop()
        await session.close()
        services.store.close()


def create_app(config: WebConfig, backend: FleetBackend,
               services: BridgeServices) -> web.Application:
    """Build the application: routes, middlewares (metrics, errors, auth) and the background
    webhook worker and event pump (started and stopped with the app)."""
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=MIDDLEWARES)
    app[CONFIG] = config
    app[BACKEND] = backend
    app[SERVICES] = services
    app[STREAMS] = set()
    app[ROBOTS_PAGE] = RobotsPageCache()
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_close_streams)
    setup_routes(app)
    app.cleanup_ctx.append(_background)
    return app
