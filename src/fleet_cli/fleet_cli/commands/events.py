"""``fleetctl events tail``: the last events of the log, then (``--follow``) live ones.

``--kind`` takes comma-separated kind patterns (exact kinds or globs with ``*``), checked and
matched by :mod:`fleet_common.events` exactly as the API does.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable

from fleet_cli.args import add_verb, non_negative
from fleet_cli.client import API, EXIT_OK, PROG, Client, ConnectionFailed, UsageError
from fleet_cli.output import Context, event_row
from fleet_common.events import PatternError, check_pattern, matches_any

STREAM_RETRY = 2.0
"""Seconds between reconnection attempts of ``events tail --follow``."""
TAIL_MAX_WINDOW = 20000
"""Events scanned back from the end of the log at most, by ``events tail`` without --after."""
TAIL_PAGE = 1000


class Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler to end ``--follow`` cleanly."""


class Filter:
    """Which events to print: kind patterns and a robot (as given, for the API's query)."""

    def __init__(self, kind: str | None, robot: str | None) -> None:
        self.kind = kind or None
        self.robot = robot or None
        try:
            self.patterns = [check_pattern(p) for p in (kind or '').split(',') if p]
        except PatternError as exc:
            raise UsageError(f'--kind: {exc}') from None

    def __call__(self, event: dict[str, Any]) -> bool:
        return (matches_any(self.patterns, str(event.get('kind', '')))
                and (not self.robot or event.get('robot_id') == self.robot))


def _page(client: Client, after: int, limit: int, where: Filter) -> tuple[list[Any], int]:
    """Return (the matching events of one page after ``after``, the cursor to go on from)."""
    page = client.get(f'{API}/events', after=after, limit=limit, kind=where.kind,
                      robot_id=where.robot)
    items = [e for e in page.get('items') or [] if where(e)]
    return items, int(page.get('next_after') or after)


def _recent_events(client: Client, where: Filter, count: int
                   ) -> tuple[list[dict[str, Any]], int]:
    """Return (the last ``count`` matching events, the log's last id), scanning back from
    the end of the log in growing windows (bounded by TAIL_MAX_WINDOW events)."""
    last_id = int(client.get(f'{API}/events', after=2**62, limit=1).get('last_id') or 0)
    window = max(count, 200)
    while True:
        start = max(0, last_id - window)
        found: list[dict[str, Any]] = []
        cursor = start
        while cursor < last_id:
            items, nxt = _page(client, cursor, TAIL_PAGE, where)
            found.extend(e for e in items if e['id'] <= last_id)
            if nxt <= cursor:
                break
            cursor = nxt
        if len(found) >= count or start == 0 or window >= TAIL_MAX_WINDOW:
            return found[-count:] if count else [], last_id
        window = min(window * 4, TAIL_MAX_WINDOW)


def _events_after(client: Client, after: int, where: Filter, count: int
                  ) -> tuple[list[dict[str, Any]], int]:
    """Return (up to ``count`` matching events after ``after``, the cursor reached)."""
    found: list[dict[str, Any]] = []
    cursor = after
    while len(found) < count:
        items, nxt = _page(client, cursor, min(TAIL_PAGE, count), where)
        found.extend(items)
        if nxt <= cursor:
            break
        cursor = nxt
    found = found[:count]
    return found, (found[-1]['id'] if found and len(found) == count else cursor)


class EventPrinter:
    """Prints events as aligned lines (or one JSON object a line with --json)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.widths = [6, 19, 18, 8]

    def __call__(self, event: dict[str, Any]) -> None:
        if self.ctx.raw:
            self.ctx.out.write(json.dumps(event, separators=(',', ':')) + '\n')
        else:
            row = [str(c) for c in event_row(event)]
            for i, w in enumerate(self.widths):
                self.widths[i] = max(w, len(row[i]))
            self.ctx.out.write('  '.join(c.ljust(w) for c, w in zip(row, self.widths))
                               + '  ' + row[-1] + '\n')
        self.ctx.out.flush()


def cmd_tail(ctx: Context, args: argparse.Namespace) -> int:
    """Print the last events (or those after --after); with --follow, then live ones."""
    where = Filter(args.kind, args.robot)
    if args.after is not None:
        events, cursor = _events_after(ctx.client, args.after, where, args.limit)
    else:
        events, cursor = _recent_events(ctx.client, where, args.limit)
    if ctx.raw and not args.follow:
        ctx.dump(events)
        return EXIT_OK
    printer = EventPrinter(ctx)
    for e in events:
        printer(e)
    if not args.follow:
        return EXIT_OK
    return follow(ctx, where, cursor, printer)


def follow(ctx: Context, where: Filter, cursor: int,
           printer: Callable[[dict[str, Any]], None]) -> int:
    """Print live events from the SSE stream until Ctrl-C or SIGTERM; reconnect with the
    last id seen when the stream drops (a first connection failure exits 3)."""
    def on_signal(signum: int, frame: Any) -> None:
        raise Stop()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        # Signal handlers can only be set there (tests call main in threads).
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    connected = False
    try:
        while True:
            try:
                for event in ctx.client.stream(f'{API}/events/stream', {'kind': where.kind},
                                               cursor):
                    connected = True
                    cursor = max(cursor, int(event.get('id') or 0))
                    if where(event):
                        printer(event)
            except ConnectionFailed:
                if not connected:
                    raise
            except (OSError, socket.timeout, ValueError):
                pass  # the stream dropped or stalled: reconnect from the cursor
            connected = True  # a stream that once opened is retried, not given up
            sys.stderr.write(f'{PROG}: event stream interrupted; reconnecting after '
                             f'event {cursor}\n')
            time.sleep(STREAM_RETRY)
    except (KeyboardInterrupt, Stop):
        return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(verbs: Any) -> None:
    """Add ``events tail``."""
    events = add_verb(verbs, 'events', 'read the event log')
    sub = events.add_subparsers(dest='action', metavar='ACTION', required=True)
    tail = add_verb(sub, 'tail', 'print recent events; --follow for live ones',
                    'Print the last events of the log (or those after --after); with '
                    '--follow keep printing live events until Ctrl-C or SIGTERM.')
    tail.add_argument('--kind', metavar='K',
                      help='only these kinds: comma-separated exact kinds or globs where * '
                           'matches anything (incident.*, *.opened)')
    tail.add_argument('--robot', metavar='R', help='only events of this robot')
    tail.add_argument('--after', type=non_negative, metavar='ID',
                      help='start after this event id instead of the end of the log')
    tail.add_argument('-n', '--limit', type=non_negative, default=20,
                      help='how many events to print first (default: %(default)s)')
    tail.add_argument('-f', '--follow', action='store_true',
                      help='then keep printing live events (SSE)')
    tail.set_defaults(func=cmd_tail)
