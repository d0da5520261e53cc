"""The operator dashboard: a static page and its scripts (it asks for the token itself)."""

from __future__ import annotations

import pathlib

from aiohttp import web

from fleet_web.api_errors import NotFoundError
from fleet_web.views.common import scope

STATIC_DIR = pathlib.Path(__file__).resolve().parent.parent / 'static'
STATIC_TYPES = {'.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
                '.svg': 'image/svg+xml', '.png': 'image/png'}
PAGE_HEADERS = {
    'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache',
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer'}


@scope(None)
async def dashboard(request: web.Request) -> web.FileResponse:
    """The operator dashboard page."""
    return web.FileResponse(STATIC_DIR / 'index.html', headers=PAGE_HEADERS)


@scope(None)
async def static_file(request: web.Request) -> web.FileResponse:
    """The dashboard's scripts and styles (one directory, known types only)."""
    name = request.match_info['name']
    path = STATIC_DIR / name
    if name.startswith('.') or path.suffix not in STATIC_TYPES or not path.is_file():
        raise NotFoundError('no such file')
    return web.FileResponse(path, headers={'Content-Type': STATIC_TYPES[path.suffix],
                                           'Cache-Control': 'no-cache',
                                           'X-Content-Type-Options': 'nosniff'})
