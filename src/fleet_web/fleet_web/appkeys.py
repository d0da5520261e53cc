"""The typed keys of the application's and the requests' state.

They live apart from :mod:`fleet_web.app` so that views and middlewares can import them
without importing the factory that imports them (aiohttp's ``web.AppKey`` idiom).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fleet_web.auth import Principal
from fleet_web.delivery import DeliveryWorker
from fleet_web.pump import EventPump
from fleet_web.ros_bridge import FleetBackend
from fleet_web.settings import BridgeServices, WebConfig


@dataclass
class RobotsPageCache:
    """The serialised ``GET /robots`` pages of the current registry snapshot.

    The backend hands out the same snapshot object until the next one arrives, so a page
    built from it can be served again as long as ``robots`` is that object: ``bodies`` maps
    a query (limit, offset, connectivity) to its body, and is emptied when the snapshot
    changes or holds ``max_pages`` queries.
    """

    robots: Sequence[dict[str, Any]] | None = None
    size: int = -1
    bodies: dict[tuple[int, int, str, str], bytes] = field(default_factory=dict)
    max_pages: int = 32


CONFIG = web.AppKey('config', WebConfig)
"""How the app serves."""
BACKEND = web.AppKey('backend', FleetBackend)
"""The fleet (the manager over ROS, or a fake in tests)."""
SERVICES = web.AppKey('services', BridgeServices)
"""Keys, rate limits, the webhook store and subscriptions, metrics."""
WORKER = web.AppKey('worker', DeliveryWorker)
"""The webhook delivery worker (set while the app runs)."""
PUMP = web.AppKey('pump', EventPump)
"""The event pump feeding the webhook outbox and the metrics (set while the app runs)."""
STREAMS = web.AppKey('streams', set[asyncio.Task[Any]])
"""The tasks serving open SSE streams, cancelled on shutdown."""
CLOSING = web.AppKey('closing', asyncio.Event)
"""Set when the app shuts down: SSE streams end."""
ROBOTS_PAGE = web.AppKey('robots_page', RobotsPageCache)
"""The memo of the last robots page."""

PRINCIPAL = web.RequestKey('principal', Principal)
"""The authenticated API key of a request (set by the auth middleware)."""
