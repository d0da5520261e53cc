"""Webhook deliveries: the bridge's own outbox (dead letters included) and retries."""

from __future__ import annotations

import time

from aiohttp import web

from fleet_web.api_errors import BadRequest, NotFoundError
from fleet_web.appkeys import SERVICES, WORKER
from fleet_web.store import DeliveryStatus
from fleet_web.views.common import json_response, page, page_window, scope

STATUSES = tuple(s.value for s in DeliveryStatus)


@scope('read')
async def list_deliveries(request: web.Request) -> web.Response:
    """A page of deliveries, newest first, filtered by status and subscription."""
    limit, offset = page_window(request)
    status = request.query.get('status') or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f'status must be one of {", ".join(STATUSES)}', 'status')
    found = request.app[SERVICES].store.list_deliveries(
        status=DeliveryStatus(status) if status else None,
        subscription=request.query.get('subscription') or None, limit=limit, offset=offset)
    return json_response(page([d.to_dict() for d in found.items], found.total, limit, offset))


@scope('admin')
async def retry_delivery(request: web.Request) -> web.Response:
    """Make a dead delivery pending again and wake the worker; 202 with the delivery."""
    try:
        delivery_id = int(request.match_info['delivery_id'])
    except ValueError:
        raise NotFoundError('no such delivery') from None
    delivery = request.app[SERVICES].store.retry_dead(delivery_id, time.time())
    request.app[WORKER].notify()
    return json_response(delivery.to_dict(), 202)
