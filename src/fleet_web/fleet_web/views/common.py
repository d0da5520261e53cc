"""What every view shares: the scope marker, JSON responses, pages and list queries."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from fleet_web import validate
from fleet_web.appkeys import CONFIG

API = '/api/v1'
"""The prefix of every API route."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def scope(name: str | None) -> Callable[[Handler], Handler]:
    """Mark a view with the API-key scope it needs (None: public).

    The auth middleware reads the mark; a view without one needs ``admin``.
    """
    def mark(handler: Handler) -> Handler:
        handler.scope = name  # type: ignore[attr-defined]
        return handler
    return mark


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    """Return ``data`` as compact JSON."""
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda d: json.dumps(d, separators=(',', ':')))


def page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    """Return the one page shape of every list: items, total, limit, offset."""
    return {'items': items, 'total': total, 'limit': limit, 'offset': offset}


def page_window(request: web.Request) -> tuple[int, int]:
    """Parse ``limit`` and ``offset`` within the configured bounds; 400 naming the field."""
    cfg = request.app[CONFIG]
    limit = validate.query_int(request, 'limit', cfg.page_limit, 1, cfg.max_page_limit)
    offset = validate.query_int(request, 'offset', 0, 0, 10**9)
    return limit, offset


def list_query(request: web.Request, states: tuple[str, ...]
               ) -> tuple[int, int, str, float | None, float | None]:
    """Parse a list's query: (limit, offset, state, since, until); 400 naming the field."""
    limit, offset = page_window(request)
    state = validate.query_choice(request, 'state', states)
    since, until = validate.query_range(request)
    return limit, offset, state, since, until
