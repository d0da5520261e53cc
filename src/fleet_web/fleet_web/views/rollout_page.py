"""The rollout view of the dashboard: a static page (it asks the API with the dashboard's
token, kept in the browser tab)."""

from __future__ import annotations

from aiohttp import web

from fleet_web.views.common import scope
from fleet_web.views.dashboard import PAGE_HEADERS, STATIC_DIR


@scope(None)
async def rollouts_page(request: web.Request) -> web.FileResponse:
    """The rollout view: progress, gate results, operator actions, configuration drift."""
    return web.FileResponse(STATIC_DIR / 'rollouts.html', headers=PAGE_HEADERS)
