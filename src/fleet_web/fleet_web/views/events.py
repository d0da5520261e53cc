"""The event log: pages after a cursor, the live Server-Sent Events stream and its tickets.

The stream's events are unnamed SSE messages (``id:`` and ``data:`` lines, no ``event:``
line), so a browser's ``EventSource.onmessage`` receives every one; the kind is in the data
(``{"id", "kind", ...}``) like everywhere else. A stream opened without ``Last-Event-ID``
and without ``after`` starts from now: the events logged after it opened.

Both the page and the stream take ``kind``: comma-separated kind patterns (exact kinds or
globs with ``*``, such as ``incident.*`` or ``*.opened``), matched by
:mod:`fleet_common.events` as everywhere else.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from fleet_common.events import PatternError, check_pattern, matches_any
from fleet_web import redact, validate
from fleet_web.api_errors import BadRequest, Unavailable
from fleet_web.appkeys import BACKEND, CLOSING, CONFIG, PRINCIPAL, SERVICES, STREAMS
from fleet_web.convert import iso_from_epoch
from fleet_web.ros_bridge import EventFeed, FleetBackend
from fleet_web.views.common import json_response, scope

CATCH_UP_BATCH = 500  # events per get_events call while a stream catches up


def kind_patterns(request: web.Request) -> list[str]:
    """Return the ``kind`` query's patterns (empty: every kind); 400 naming ``kind``."""
    raw = request.query.get('kind', '')
    try:
        return [check_pattern(p) for p in raw.split(',') if p]
    except PatternError as exc:
        raise BadRequest(str(exc), 'kind') from None


@scope('read')
async def list_events(request: web.Request) -> web.Response:
    """Events after ``after`` (oldest first) of the given kinds and robot.

    The patterns go to the manager unchanged, which filters the log; ``next_after`` is the
    cursor to ask from next, ``last_id`` the newest id in the log.
    """
    cfg = request.app[CONFIG]
    after = validate.query_int(request, 'after', 0, 0, 2**62)
    limit = validate.query_int(request, 'limit', cfg.page_limit, 1, cfg.max_page_limit)
    events, last_id = await request.app[BACKEND].get_events(
        after, limit, kind_patterns(request), validate.query_text(request, 'robot_id'))
    next_after = events[-1]['id'] if events else after
    full = redact.sees_secrets(request[PRINCIPAL])
    return json_response({'items': [redact.event(e, full) for e in events], 'last_id': last_id,
                          'next_after': next_after})


MAX_CURSOR = 2**62


async def _cursor(request: web.Request) -> int:
    """The id to stream after: ``Last-Event-ID``, else ``after``, else the newest id now."""
    header = request.headers.get('Last-Event-ID')
    field = 'Last-Event-ID' if header else 'after'
    raw = header or request.query.get('after')
    if raw is None or raw == '':
        _, last_id = await request.app[BACKEND].get_events(0, 1, [])
        return int(last_id)
    try:
        cursor = int(raw) if raw.isascii() else -1
    except ValueError:
        cursor = -1
    if not 0 <= cursor <= MAX_CURSOR:
        raise BadRequest(f'{field} must be an integer between 0 and {MAX_CURSOR}', field)
    return cursor


class _Stream:
    """One SSE connection: sends each event after the cursor once, in id order, filling
    gaps (a lagging feed, a lost live message) from the log."""

    def __init__(self, resp: web.StreamResponse, backend: FleetBackend, cursor: int,
                 patterns: list[str], full: bool) -> None:
        self.resp = resp
        self.backend = backend
        self.cursor = cursor
        self.patterns = patterns
        self.full = full

    async def send(self, event: dict[str, Any]) -> None:
        if event['id'] <= self.cursor:
            return
        self.cursor = event['id']
        if matches_any(self.patterns, event['kind']):
            data = json.dumps(redact.event(event, self.full), separators=(',', ':'))
            await self.resp.write(f'id: {event["id"]}\ndata: {data}\n\n'.encode())

    async def catch_up(self) -> None:
        # Unfiltered, so that the cursor moves past every event and a live event of another
        # kind is not mistaken for a gap.
        while True:
            events, last_id = await self.backend.get_events(self.cursor, CATCH_UP_BATCH, [])
            for e in events:
                await self.send(e)
            if not events or self.cursor >= last_id:
                return

    async def run(self, feed: EventFeed, closing: asyncio.Event, heartbeat: float) -> None:
        await self.resp.write(b'retry: 2000\n\n')
        await self.catch_up()
        while not closing.is_set():
            try:
                event = await asyncio.wait_for(feed.queue.get(), heartbeat)
            except asyncio.TimeoutError:
                await self.resp.write(b': keep-alive\n\n')
                continue
            if feed.overflowed or event['id'] > self.cursor + 1:
                # Fell behind or missed a live message: fill the gap from the log.
                feed.overflowed = False
                await self.catch_up()
            await self.send(event)


def accepts_ticket(handler: Any) -> Any:
    """Mark a view as one that a stream ticket (``?ticket=``) may open."""
    handler.accepts_ticket = True
    return handler


@scope('read')
async def stream_ticket(request: web.Request) -> web.Response:
    """Issue a stream ticket for the caller's API key (see :mod:`fleet_web.tickets`)."""
    tickets = request.app[SERVICES].tickets
    if tickets is None:
        raise Unavailable('stream tickets are not available on this bridge')
    ticket, expires = tickets.issue(request[PRINCIPAL])
    return json_response({'ticket': ticket, 'expires_at': iso_from_epoch(expires),
                          'expires_in': tickets.ttl_s,
                          'url': f'/api/v1/events/stream?ticket={ticket}'}, 201)


@accepts_ticket
@scope('read')
async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events from the event log; resumes after ``Last-Event-ID`` or ``after``,
    and starts from now without either. Authenticates with a bearer token or ``?ticket=``.

    The stream ends when the manager goes away or the app shuts down; the client
    reconnects with the last id it saw.
    """
    patterns = kind_patterns(request)
    cursor = await _cursor(request)
    backend = request.app[BACKEND]
    feed = backend.subscribe()  # subscribe first, so nothing falls between catch-up and live
    task = asyncio.current_task()
    if task is not None:
        request.app[STREAMS].add(task)
    resp = web.StreamResponse(headers={'Content-Type': 'text/event-stream',
                                       'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'})
    try:
        await resp.prepare(request)
        await _Stream(resp, backend, cursor, patterns,
                      redact.sees_secrets(request[PRINCIPAL])).run(
            feed, request.app[CLOSING], request.app[CONFIG].sse_heartbeat)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    except Unavailable:
        pass  # the manager went away: end the stream; the client reconnects with its id
    finally:
        backend.unsubscribe(feed)
        if task is not None:
            request.app[STREAMS].discard(task)
    return resp
