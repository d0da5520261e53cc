"""Webhooks: the bridge's own outbox (dead letters included), retries, and the state of each
subscription (a receiver that answered 410 Gone disables its subscription)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fleet_web import redact, validate
from fleet_web.api_errors import ConflictError, NotFoundError
from fleet_web.appkeys import PRINCIPAL, SERVICES, WORKER
from fleet_web.egress import origin
from fleet_web.settings import BridgeServices
from fleet_web.store import DeliveryStatus
from fleet_web.views.common import json_response, page, page_window, scope

STATUSES = tuple(s.value for s in DeliveryStatus)
MAX_DELIVERY_ID = 2**62


@scope('read')
async def list_deliveries(request: web.Request) -> web.Response:
    """A page of deliveries, newest first, filtered by status and subscription."""
    limit, offset = page_window(request)
    status = validate.query_choice(request, 'status', STATUSES) or None
    found = request.app[SERVICES].store.list_deliveries(
        status=DeliveryStatus(status) if status else None,
        subscription=validate.query_text(request, 'subscription', 64) or None, limit=limit,
        offset=offset)
    full = redact.sees_secrets(request[PRINCIPAL])
    items = [{**d.to_dict(), 'event': redact.event(d.event, full)} for d in found.items]
    return json_response(page(items, found.total, limit, offset))


@scope('admin')
async def retry_delivery(request: web.Request) -> web.Response:
    """Make a dead delivery pending again and wake the worker; 202 with the delivery."""
    raw = request.match_info['delivery_id']
    delivery_id = int(raw) if raw.isascii() and raw.isdigit() else -1
    if not 0 < delivery_id <= MAX_DELIVERY_ID:
        raise NotFoundError('no such delivery')
    delivery = request.app[SERVICES].store.retry_dead(delivery_id, time.time())
    request.app[WORKER].notify()
    return json_response(delivery.to_dict(), 202)


def _subscription(services: BridgeServices, name: str,
                  disabled: dict[str, tuple[float, str]]) -> dict[str, Any]:
    sub = next((s for s in services.subscriptions if s.name == name), None)
    if sub is None:
        raise NotFoundError(f'no subscription {name!r}')
    counts = services.store.counts(name)
    since, reason = disabled.get(name, (None, None))
    return {'name': sub.name, 'format': sub.format, 'events': list(sub.events),
            'destination': (None if sub.url_from_payload else origin(sub.url)),
            'state': 'disabled' if name in disabled else 'enabled',
            'disabled_at': since, 'reason': reason, 'max_attempts': sub.max_attempts,
            'pending': counts['pending'], 'dead': counts['dead']}


@scope('read')
async def list_subscriptions(request: web.Request) -> web.Response:
    """Every subscription with its state and its pending and dead deliveries."""
    services = request.app[SERVICES]
    disabled = services.store.disabled_subscriptions()
    items = [_subscription(services, s.name, disabled) for s in services.subscriptions]
    return json_response({'items': items, 'total': len(items)})


@scope('admin')
async def enable_subscription(request: web.Request) -> web.Response:
    """Enable a subscription its receiver disabled (410); 409 when it is not disabled."""
    services = request.app[SERVICES]
    name = request.match_info['name']
    _subscription(services, name, {})  # 404 for an unknown name
    if not services.store.enable_subscription(name):
        raise ConflictError(f'subscription {name!r} is not disabled')
    request.app[WORKER].notify()
    return json_response(_subscription(services, name, services.store.disabled_subscriptions()))
