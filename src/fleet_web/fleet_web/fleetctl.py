"""``fleetctl``: a small command line client of the fleet HTTP API, for operators and scripts.

Standard library only (urllib, argparse, json). Global options come before the verb::

    fleetctl [--url URL] [--token TOKEN] [--json] [--timeout S] VERB ...

    fleetctl robots                       # list (also: robots list, robots show ID)
    fleetctl missions submit --waypoint 3,4 --waypoint 10,2,1.57,5 --priority 2
    fleetctl missions list --state active
    fleetctl incidents ack INC-7 --note 'on my way'
    fleetctl events tail --kind 'incident.*' --follow

Exit codes: 0 success, 1 the API refused (its message is printed as ``fleetctl: <message>
(field: <field>)``), 2 usage error, 3 the API could not be reached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator, Sequence, TextIO

PROG = 'fleetctl'
DEFAULT_URL = 'http://127.0.0.1:8080'
API = '/api/v1'
EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3
#: Seconds without a byte (the server sends a keep-alive every 15 s) before reconnecting.
STREAM_READ_TIMEOUT = 45.0
#: Seconds between reconnection attempts of ``events tail --follow``.
STREAM_RETRY = 2.0
#: Bounds of the backwards scan ``events tail`` does without --after.
TAIL_MAX_WINDOW = 20000
TAIL_PAGE = 1000


# -- errors ------------------------------------------------------------------------------------
class CliError(Exception):
    """An error to print as ``fleetctl: <message>`` and exit with ``exit_code``."""

    exit_code = EXIT_API

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message + (f' (field: {self.field})' if self.field else '')


class ApiError(CliError):
    """The API answered with an error status and (usually) the JSON error shape."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 code: str = '') -> None:
        super().__init__(message, field)
        self.status = status
        self.code = code


class ConnectionFailed(CliError):
    """The API could not be reached."""

    exit_code = EXIT_CONNECTION


class UsageError(CliError):
    """A malformed argument that argparse could not catch."""

    exit_code = EXIT_USAGE


class Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler to end ``--follow`` cleanly."""


# -- the HTTP client ---------------------------------------------------------------------------
class Client:
    """Speaks the API: bearer auth, JSON bodies, the JSON error shape, SSE."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        self.base = url.rstrip('/')
        self.token = token or None
        self.timeout = timeout

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {'Accept': 'application/json', 'User-Agent': f'{PROG}/1'}
        if self.token:
            headers['Authorization'] = f'Bearer {self.token}'
        headers.update(extra or {})
        return headers

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        """Return the absolute URL of ``path`` with the non-empty ``query`` items."""
        q = {k: v for k, v in (query or {}).items() if v not in (None, '')}
        return self.base + path + (('?' + urllib.parse.urlencode(q)) if q else '')

    def _open(self, method: str, url: str, body: Any, headers: dict[str, str],
              timeout: float) -> Any:
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {**headers, 'Content-Type': 'application/json'}
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise self._api_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, 'reason', exc)
            raise ConnectionFailed(
                f'cannot reach the fleet API at {self.base}: {reason} '
                '(is the bridge running? check --url or FLEET_URL)') from None

    def _api_error(self, exc: urllib.error.HTTPError) -> ApiError:
        raw = exc.read()
        try:
            err = json.loads(raw)['error']
            error = ApiError(exc.code, str(err.get('message') or exc.reason),
                             err.get('field') or None, str(err.get('code') or ''))
        except (ValueError, KeyError, TypeError, AttributeError):
            error = ApiError(exc.code, f'HTTP {exc.code} {exc.reason}')
        if exc.code == 401 and not self.token:
            error.message += ' (no token given: use --token or set FLEET_TOKEN)'
        return error

    def request(self, method: str, path: str, query: dict[str, Any] | None = None,
                body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Make a request; return (status, parsed JSON). Raises ApiError, ConnectionFailed."""
        resp = self._open(method, self.url(path, query), body, self._headers(headers),
                          self.timeout)
        with resp:
            try:
                raw = resp.read()
            except (OSError, socket.timeout) as exc:
                raise ConnectionFailed(f'the fleet API at {self.base} stopped answering: '
                                       f'{exc}') from None
            status = resp.status
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise ApiError(status, f'the server answered {status} with something that is '
                           'not JSON (is --url the fleet API?)') from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request('GET', path, query)[1]

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.request('POST', path, body=body, headers=headers)[1]

    def stream(self, path: str, query: dict[str, Any],
               last_event_id: int | None) -> Iterator[dict[str, Any]]:
        """Yield the events of one SSE connection (parsed ``data:``) until it closes."""
        extra = {'Accept': 'text/event-stream'}
        if last_event_id is not None:
            extra['Last-Event-ID'] = str(last_event_id)
        resp = self._open('GET', self.url(path, query), None, self._headers(extra),
                          max(self.timeout, STREAM_READ_TIMEOUT))
        with resp:
            data: list[str] = []
            while True:
                line = resp.readline()
                if not line:
                    return
                text = line.decode('utf-8', 'replace').rstrip('\r\n')
                if text == '':
                    if data:
                        try:
                            yield json.loads('\n'.join(data))
                        except ValueError:
                            pass  # not an event of the log; skip it
                    data = []
                elif text.startswith('data:'):
                    data.append(text[5:].removeprefix(' '))


# -- output ------------------------------------------------------------------------------------
def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO,
          indent: str = '') -> None:
    """Print ``rows`` as a compact table aligned on ``headers`` (no trailing blanks)."""
    cells = [[str(h) for h in headers]] + [['' if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        out.write(indent + '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + '\n')


def fields(pairs: Sequence[tuple[str, Any]], out: TextIO) -> None:
    """Print ``label: value`` lines, labels aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        out.write(f'{(k + ":").ljust(width + 1)} {"-" if v in (None, "") else v}\n')


def parse_time(value: Any) -> dt.datetime | None:
    """Parse an API time (ISO-8601 or epoch seconds); None when absent or malformed."""
    if value in (None, ''):
        return None
    try:
        if isinstance(value, (int, float)):
            return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
        stamp = dt.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def ago(value: Any, now: dt.datetime | None = None) -> str:
    """Return '4s ago', '12m ago', '3h ago', '2d ago' for an API time ('-' when absent)."""
    stamp = parse_time(value)
    if stamp is None:
        return '-'
    seconds = max(0, int(((now or dt.datetime.now(dt.timezone.utc)) - stamp).total_seconds()))
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size:
            return f'{seconds // size}{unit} ago'
    return f'{seconds}s ago'


def clock(value: Any) -> str:
    """Return an API time as local 'YYYY-MM-DD HH:MM:SS' ('-' when absent)."""
    stamp = parse_time(value)
    return '-' if stamp is None else stamp.astimezone().strftime('%Y-%m-%d %H:%M:%S')


def percent(value: Any) -> str:
    return '-' if value is None else f'{round(float(value) * 100)}%'


def pose_text(pose: Any) -> str:
    if not isinstance(pose, dict):
        return '-'
    return f'{float(pose.get("x", 0)):.1f},{float(pose.get("y", 0)):.1f}'


def event_summary(event: dict[str, Any]) -> str:
    """One line describing an event-log entry by kind."""
    kind, p = event.get('kind', ''), event.get('payload') or {}
    if kind == 'robot.connectivity':
        reason = f' ({p["reason"]})' if p.get('reason') else ''
        return f'{p.get("from", "?")} -> {p.get("to", "?")}{reason}'
    if kind == 'mission.state':
        reason = f': {p["reason"]}' if p.get('reason') else ''
        return (f'{p.get("mission_id", "?")} {p.get("from") or "-"} -> {p.get("state", "?")}'
                f' (attempt {p.get("attempt", 0)}){reason}')
    if kind == 'robot.event':
        return f'[{p.get("severity", "")}] {p.get("type", "")}: {p.get("message", "")}'.strip()
    if kind.startswith('incident.'):
        return (f'{p.get("id", "?")} {p.get("severity", "")} {p.get("state", "")} '
                f'{p.get("title", "")}').strip()
    if kind == 'notification.sent':
        return (f'{p.get("target", "?")} via {p.get("channel", "?")}: '
                f'{p.get("message", "")}').strip()
    text = json.dumps(p, separators=(',', ':'), sort_keys=True)
    return text if len(text) <= 100 else text[:97] + '...'


def event_row(event: dict[str, Any]) -> list[Any]:
    return [event.get('id'), clock(event.get('time')), event.get('kind'),
            event.get('robot_id') or '-', event_summary(event)]


EVENT_HEADERS = ('ID', 'TIME', 'KIND', 'ROBOT', 'SUMMARY')


# -- verbs -------------------------------------------------------------------------------------
class Context:
    """What a verb gets: the client, the output stream and whether to print raw JSON."""

    def __init__(self, client: Client, raw: bool, out: TextIO) -> None:
        self.client = client
        self.raw = raw
        self.out = out

    def dump(self, data: Any) -> None:
        self.out.write(json.dumps(data, indent=2, sort_keys=True) + '\n')


def _seg(value: str) -> str:
    """Quote one path segment (ids come from users)."""
    return urllib.parse.quote(value, safe='')


def _footer(ctx: Context, page: dict[str, Any], noun: str) -> None:
    items, total = page.get('items') or [], page.get('total', 0)
    if total > len(items):
        ctx.out.write(f'({len(items)} of {total} {noun}; use --limit for more)\n')


def cmd_robots_list(ctx: Context, args: argparse.Namespace) -> int:
    page = ctx.client.get(f'{API}/robots', limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    items = page.get('items') or []
    table([[r.get('id'), r.get('connectivity'), r.get('mode'), percent(r.get('battery')),
            pose_text(r.get('pose')), r.get('software_version') or '-',
            r.get('current_mission_id') or '-', ago(r.get('last_seen')),
            'yes' if r.get('decommissioned') else '']
           for r in items],
          ('ID', 'CONN', 'MODE', 'BATTERY', 'POSE', 'VERSION', 'MISSION', 'LAST SEEN',
           'DECOMM'), ctx.out)
    online = sum(1 for r in items if r.get('connectivity') == 'online')
    ctx.out.write(f'{page.get("total", len(items))} robots, {online} online\n')
    return EXIT_OK


def cmd_robots_show(ctx: Context, args: argparse.Namespace) -> int:
    robot = ctx.client.get(f'{API}/robots/{_seg(args.id)}')
    if ctx.raw:
        ctx.dump(robot)
        return EXIT_OK
    pose = robot.get('pose') or {}
    fields([('id', robot.get('id')), ('connectivity', robot.get('connectivity')),
            ('mode', robot.get('mode')), ('battery', percent(robot.get('battery'))),
            ('pose', f'x={pose.get("x")} y={pose.get("y")} theta={pose.get("theta")}'),
            ('last seen', f'{clock(robot.get("last_seen"))} ({ago(robot.get("last_seen"))})'),
            ('software', robot.get('software_version')),
            ('capabilities', ', '.join(robot.get('capabilities') or [])),
            ('mission', robot.get('current_mission_id')),
            ('decommissioned', 'yes' if robot.get('decommissioned') else 'no')], ctx.out)
    return EXIT_OK


def parse_waypoint(text: str) -> dict[str, float]:
    """Parse ``X,Y[,THETA[,DWELL]]`` into a waypoint; UsageError when malformed."""
    parts = [p.strip() for p in text.split(',')]
    if not 2 <= len(parts) <= 4:
        raise UsageError(f'--waypoint {text!r}: expected X,Y[,THETA[,DWELL]]')
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f'--waypoint {text!r}: every part must be a number') from None
    if any(v != v or v in (float('inf'), float('-inf')) for v in values):
        raise UsageError(f'--waypoint {text!r}: numbers must be finite')
    if len(values) == 4 and values[3] < 0:
        raise UsageError(f'--waypoint {text!r}: DWELL must not be negative')
    return dict(zip(('x', 'y', 'theta', 'dwell'), values))


def _mission_fields(m: dict[str, Any], out: TextIO) -> None:
    fields([('id', m.get('id')), ('state', m.get('state')), ('robot', m.get('robot_id')),
            ('priority', m.get('priority')), ('attempts', m.get('attempts')),
            ('pinned robot', m.get('pinned_robot')),
            ('capabilities', ', '.join(m.get('capabilities') or [])),
            ('client ref', m.get('client_ref')), ('created', clock(m.get('created_at'))),
            ('updated', clock(m.get('updated_at'))), ('deadline', clock(m.get('deadline'))
                                                      if m.get('deadline') else None),
            ('failure', m.get('failure_reason'))], out)
    waypoints = m.get('waypoints') or []
    if waypoints:
        out.write('waypoints:\n')
        table([[i, w.get('x'), w.get('y'), w.get('theta', 0), w.get('dwell', 0)]
               for i, w in enumerate(waypoints, 1)], ('#', 'X', 'Y', 'THETA', 'DWELL'), out,
              indent='  ')


def cmd_missions_submit(ctx: Context, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {'waypoints': [parse_waypoint(w) for w in args.waypoint]}
    if args.priority is not None:
        body['priority'] = args.priority
    if args.capability:
        body['capabilities'] = args.capability
    if args.pin:
        body['pinned_robot'] = args.pin
    if args.client_ref:
        body['client_ref'] = args.client_ref
    headers = {'Idempotency-Key': args.idempotency_key} if args.idempotency_key else None
    status, mission = ctx.client.request('POST', f'{API}/missions', body=body, headers=headers)
    if ctx.raw:
        ctx.dump(mission)
        return EXIT_OK
    verb = 'already submitted (same Idempotency-Key)' if status == 200 else 'submitted'
    ctx.out.write(f'mission {mission.get("id")} {verb}: {mission.get("state")}\n')
    return EXIT_OK


def cmd_missions_list(ctx: Context, args: argparse.Namespace) -> int:
    page = ctx.client.get(f'{API}/missions', state=args.state, robot_id=args.robot,
                          limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[m.get('id'), m.get('state'), m.get('robot_id') or '-', m.get('priority'),
            len(m.get('waypoints') or []), m.get('attempts'), ago(m.get('created_at')),
            m.get('client_ref') or '-', m.get('failure_reason') or '']
           for m in page.get('items') or []],
          ('ID', 'STATE', 'ROBOT', 'PRIO', 'WPTS', 'TRIES', 'CREATED', 'REF', 'FAILURE'),
          ctx.out)
    _footer(ctx, page, 'missions')
    return EXIT_OK


def cmd_missions_show(ctx: Context, args: argparse.Namespace) -> int:
    mission = ctx.client.get(f'{API}/missions/{_seg(args.id)}')
    if ctx.raw:
        ctx.dump(mission)
        return EXIT_OK
    _mission_fields(mission, ctx.out)
    events = ctx.client.get(f'{API}/missions/{_seg(args.id)}/events').get('items') or []
    if events:
        ctx.out.write('timeline:\n')
        table([event_row(e) for e in events], EVENT_HEADERS, ctx.out, indent='  ')
    return EXIT_OK


def cmd_missions_cancel(ctx: Context, args: argparse.Namespace) -> int:
    body = {'reason': args.reason} if args.reason else None
    mission = ctx.client.post(f'{API}/missions/{_seg(args.id)}/cancel', body)
    if ctx.raw:
        ctx.dump(mission)
    else:
        ctx.out.write(f'mission {mission.get("id")}: {mission.get("state")}\n')
    return EXIT_OK


def _recurrence(inc: dict[str, Any]) -> str:
    rec = inc.get('recurrence')
    return str(rec.get('text') or '') if isinstance(rec, dict) else str(rec or '')


def cmd_incidents_list(ctx: Context, args: argparse.Namespace) -> int:
    page = ctx.client.get(f'{API}/incidents', state=args.state, robot_id=args.robot,
                          type=args.type, limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[i.get('id'), i.get('severity'), i.get('state'), i.get('type'),
            i.get('robot_id') or '-', i.get('area') or '-', i.get('count'),
            ago(i.get('opened_at')), i.get('title') or '']
           for i in page.get('items') or []],
          ('ID', 'SEV', 'STATE', 'TYPE', 'ROBOT', 'AREA', 'COUNT', 'OPENED', 'TITLE'),
          ctx.out)
    _footer(ctx, page, 'incidents')
    return EXIT_OK


def _print_incident(inc: dict[str, Any], out: TextIO) -> None:
    esc = inc.get('escalation') or {}
    context = inc.get('context') or {}
    fields([('id', inc.get('id')), ('title', inc.get('title')),
            ('severity', inc.get('severity')), ('state', inc.get('state')),
            ('type', inc.get('type')), ('robot', inc.get('robot_id')),
            ('mission', inc.get('mission_id')), ('area', inc.get('area')),
            ('pose', pose_text(inc.get('pose')) if inc.get('pose') else None),
            ('opened', f'{clock(inc.get("opened_at"))} ({ago(inc.get("opened_at"))})'),
            ('last seen', clock(inc.get('last_seen'))), ('count', inc.get('count')),
            ('recurrence', _recurrence(inc)),
            ('software', context.get('software_version')),
            ('escalation', f'level {esc.get("level", 0)}, repeat {esc.get("repeat", 0)}'
             if esc else None),
            ('bag', inc.get('bag_path'))], out)
    runbook = inc.get('runbook')
    if isinstance(runbook, dict) and runbook.get('steps'):
        out.write(f'runbook: {runbook.get("title", "")}\n')
        for n, step in enumerate(runbook['steps'], 1):
            out.write(f'  {n}. {step.get("text", "")}\n')
            if step.get('detail'):
                out.write(f'     {step["detail"]}\n')
    timeline = inc.get('timeline') or []
    if timeline:
        out.write('timeline:\n')
        table([[clock(e.get('time')), e.get('kind'), e.get('who') or '-', e.get('note') or '']
               for e in timeline], ('TIME', 'KIND', 'WHO', 'NOTE'), out, indent='  ')


def cmd_incidents_show(ctx: Context, args: argparse.Namespace) -> int:
    inc = ctx.client.get(f'{API}/incidents/{_seg(args.id)}')
    if ctx.raw:
        ctx.dump(inc)
    else:
        _print_incident(inc, ctx.out)
    return EXIT_OK


def _incident_action(ctx: Context, incident_id: str, action: str, note: str) -> int:
    inc = ctx.client.post(f'{API}/incidents/{_seg(incident_id)}/{action}', {'note': note})
    if ctx.raw:
        ctx.dump(inc)
    else:
        ctx.out.write(f'incident {inc.get("id", incident_id)}: {inc.get("state")}\n')
    return EXIT_OK


def cmd_incidents_ack(ctx: Context, args: argparse.Namespace) -> int:
    return _incident_action(ctx, args.id, 'ack', args.note or '')


def cmd_incidents_resolve(ctx: Context, args: argparse.Namespace) -> int:
    if not args.note.strip():
        raise UsageError('--note must not be empty: say what was done')
    return _incident_action(ctx, args.id, 'resolve', args.note)


def _recent_events(client: Client, kind: str | None, robot: str | None,
                   count: int) -> tuple[list[dict[str, Any]], int]:
    """Return (the last ``count`` matching events, the log's last id), scanning back from
    the end of the log in growing windows (bounded by TAIL_MAX_WINDOW events)."""
    last_id = int(client.get(f'{API}/events', after=2**62, limit=1).get('last_id') or 0)
    window = max(count, 200)
    while True:
        start = max(0, last_id - window)
        found: list[dict[str, Any]] = []
        cursor = start
        while cursor < last_id:
            page = client.get(f'{API}/events', after=cursor, limit=TAIL_PAGE, kind=kind,
                              robot_id=robot)
            found.extend(e for e in page.get('items') or [] if e['id'] <= last_id)
            nxt = int(page.get('next_after') or cursor)
            if nxt <= cursor:
                break
            cursor = nxt
        if len(found) >= count or start == 0 or window >= TAIL_MAX_WINDOW:
            return found[-count:] if count else [], last_id
        window = min(window * 4, TAIL_MAX_WINDOW)


def _events_after(client: Client, after: int, kind: str | None, robot: str | None,
                  count: int) -> tuple[list[dict[str, Any]], int]:
    """Return (up to ``count`` matching events after ``after``, the cursor reached)."""
    found: list[dict[str, Any]] = []
    cursor = after
    while len(found) < count:
        page = client.get(f'{API}/events', after=cursor, limit=min(TAIL_PAGE, count),
                          kind=kind, robot_id=robot)
        found.extend(page.get('items') or [])
        nxt = int(page.get('next_after') or cursor)
        if nxt <= cursor:
            break
        cursor = nxt
    found = found[:count]
    return found, (found[-1]['id'] if found and len(found) == count else cursor)


def cmd_events_tail(ctx: Context, args: argparse.Namespace) -> int:
    client = ctx.client
    if args.after is not None:
        events, cursor = _events_after(client, args.after, args.kind, args.robot, args.limit)
    else:
        events, cursor = _recent_events(client, args.kind, args.robot, args.limit)
    if ctx.raw and not args.follow:
        ctx.dump(events)
        return EXIT_OK
    printer = EventPrinter(ctx)
    for e in events:
        printer(e)
    if not args.follow:
        return EXIT_OK
    return follow(ctx, args, cursor, printer)


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


def follow(ctx: Context, args: argparse.Namespace, cursor: int,
           printer: Callable[[dict[str, Any]], None]) -> int:
    """Print live events from the SSE stream until Ctrl-C or SIGTERM; reconnect with the
    last id seen when the stream drops (a first connection failure exits 3)."""
    def on_signal(signum: int, frame: Any) -> None:
        raise Stop()

    previous: dict[signal.Signals, Any] = {}
    if _main_thread():  # signal handlers can only be set there (tests call main in threads)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    connected = False
    try:
        while True:
            try:
                for event in ctx.client.stream(f'{API}/events/stream', {'kind': args.kind},
                                               cursor):
                    connected = True
                    cursor = max(cursor, int(event.get('id') or 0))
                    if not args.robot or event.get('robot_id') == args.robot:
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


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# -- the parser --------------------------------------------------------------------------------
def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'not an integer: {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}, got {value}')
        return value
    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a number: {text!r}') from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError('must be between 0 and 3600 seconds')
    return value


MISSION_STATES = ('queued', 'assigned', 'active', 'succeeded', 'failed', 'canceled')
INCIDENT_STATES = ('triggered', 'acknowledged', 'resolved')


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of fleetctl (verbs as nested sub-commands)."""
    p = argparse.ArgumentParser(
        prog=PROG, description='Command line client of the fleet operations HTTP API.',
        epilog='Exit codes: 0 ok, 1 the API refused, 2 usage error, 3 API unreachable.')
    p.add_argument('--url', default=os.environ.get('FLEET_URL') or DEFAULT_URL,
                   help='base URL of the fleet API (default: $FLEET_URL or %(default)s)')
    p.add_argument('--token', default=os.environ.get('FLEET_TOKEN') or None,
                   help='API bearer token (default: $FLEET_TOKEN)')
    p.add_argument('--json', action='store_true', help='print the raw JSON answers')
    p.add_argument('--timeout', type=_seconds, default=10.0,
                   help='seconds to wait for each answer (default: %(default)s)')
    verbs = p.add_subparsers(dest='verb', metavar='VERB', required=True)

    robots = verbs.add_parser('robots', help='the robot registry',
                              description='List robots or show one.')
    robots.set_defaults(func=cmd_robots_list, limit=1000)
    rsub = robots.add_subparsers(dest='action', metavar='ACTION')
    r_list = rsub.add_parser('list', help='list robots (the default)',
                             description='List robots: connectivity, mode, battery, pose.')
    r_list.add_argument('--limit', type=_positive, default=1000, help='at most this many')
    r_list.set_defaults(func=cmd_robots_list)
    r_show = rsub.add_parser('show', help='show one robot', description='Show one robot.')
    r_show.add_argument('id', help='robot id')
    r_show.set_defaults(func=cmd_robots_show)

    missions = verbs.add_parser('missions', help='submit, list, show, cancel missions',
                                description='Submit, list, show and cancel missions.')
    msub = missions.add_subparsers(dest='action', metavar='ACTION', required=True)
    m_submit = msub.add_parser(
        'submit', help='submit a mission', description='Submit a mission; prints its id.')
    m_submit.add_argument('--waypoint', action='append', required=True,
                          metavar='X,Y[,THETA[,DWELL]]',
                          help='a waypoint in metres (theta in rad, dwell in s); repeat '
                               'for more, in order')
    m_submit.add_argument('--priority', type=int, help='higher runs first (default 0)')
    m_submit.add_argument('--capability', action='append', metavar='C',
                          help='a capability the robot needs; repeat for more')
    m_submit.add_argument('--pin', metavar='ROBOT', help='run it on this robot only')
    m_submit.add_argument('--client-ref', metavar='REF', help='your reference for it')
    m_submit.add_argument('--idempotency-key', metavar='K',
                          help='resubmitting with the same key returns the same mission')
    m_submit.set_defaults(func=cmd_missions_submit)
    m_list = msub.add_parser('list', help='list missions, newest first',
                             description='List missions, newest first.')
    m_list.add_argument('--state', choices=MISSION_STATES, help='only in this state')
    m_list.add_argument('--robot', metavar='R', help='only of this robot')
    m_list.add_argument('--limit', type=_positive, default=50,
                        help='at most this many (default: %(default)s)')
    m_list.set_defaults(func=cmd_missions_list)
    m_show = msub.add_parser('show', help='show a mission and its timeline',
                             description='Show a mission and its timeline.')
    m_show.add_argument('id', help='mission id')
    m_show.set_defaults(func=cmd_missions_show)
    m_cancel = msub.add_parser('cancel', help='cancel a mission',
                               description='Cancel a mission.')
    m_cancel.add_argument('id', help='mission id')
    m_cancel.add_argument('--reason', metavar='R', help='why (kept in its timeline)')
    m_cancel.set_defaults(func=cmd_missions_cancel)

    incidents = verbs.add_parser('incidents', help='list, show, acknowledge, resolve incidents',
                                 description='List, show, acknowledge and resolve incidents.')
    isub = incidents.add_subparsers(dest='action', metavar='ACTION', required=True)
    i_list = isub.add_parser('list', help='list incidents, newest first',
                             description='List incidents, newest first.')
    i_list.add_argument('--state', choices=INCIDENT_STATES, help='only in this state')
    i_list.add_argument('--robot', metavar='R', help='only of this robot')
    i_list.add_argument('--type', metavar='T', help='only of this type, e.g. robot_stuck')
    i_list.add_argument('--limit', type=_positive, default=50,
                        help='at most this many (default: %(default)s)')
    i_list.set_defaults(func=cmd_incidents_list)
    i_show = isub.add_parser('show', help='show an incident: context, runbook, timeline',
                             description='Show an incident: context, runbook, timeline.')
    i_show.add_argument('id', help='incident id')
    i_show.set_defaults(func=cmd_incidents_show)
    i_ack = isub.add_parser('ack', help='acknowledge an incident (stops escalation)',
                            description='Acknowledge an incident: you are on it.')
    i_ack.add_argument('id', help='incident id')
    i_ack.add_argument('--note', metavar='N', default='', help='a note for the timeline')
    i_ack.set_defaults(func=cmd_incidents_ack)
    i_res = isub.add_parser('resolve', help='resolve an incident',
                            description='Resolve an incident, saying what was done.')
    i_res.add_argument('id', help='incident id')
    i_res.add_argument('--note', metavar='N', required=True, help='what was done (required)')
    i_res.set_defaults(func=cmd_incidents_resolve)

    events = verbs.add_parser('events', help='read the event log',
                              description='Read the event log.')
    esub = events.add_subparsers(dest='action', metavar='ACTION', required=True)
    e_tail = esub.add_parser(
        'tail', help='print recent events; --follow for live ones',
        description='Print the last events of the log (or those after --after); with '
                    '--follow keep printing live events until Ctrl-C or SIGTERM.')
    e_tail.add_argument('--kind', metavar='K',
                        help='only these kinds: comma-separated, prefix.* wildcards')
    e_tail.add_argument('--robot', metavar='R', help='only events of this robot')
    e_tail.add_argument('--after', type=_non_negative, metavar='ID',
                        help='start after this event id instead of the end of the log')
    e_tail.add_argument('-n', '--limit', type=_non_negative, default=20,
                        help='how many events to print first (default: %(default)s)')
    e_tail.add_argument('-f', '--follow', action='store_true',
                        help='then keep printing live events (SSE)')
    e_tail.set_defaults(func=cmd_events_tail)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run fleetctl with ``argv`` (default: sys.argv[1:]); return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    ctx = Context(Client(args.url, args.token, args.timeout), args.json, out)
    try:
        return int(args.func(ctx, args))
    except CliError as exc:
        err.write(f'{PROG}: {exc}\n')
        return exc.exit_code
    except KeyboardInterrupt:
        err.write(f'{PROG}: interrupted\n')
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `fleetctl events tail | head`): quietly stop.
        try:
            sys.stdout = open(os.devnull, 'w')
        except OSError:
            pass
        return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
