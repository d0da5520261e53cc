"""How fleetctl prints: aligned tables, ``label: value`` blocks, times, events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Sequence, TextIO

from fleet_cli.client import Client
from fleet_common.naming import natural_key as natural_key  # re-exported for the verbs

EVENT_HEADERS = ('ID', 'TIME', 'KIND', 'ROBOT', 'SUMMARY')


class Context:
    """What a verb gets: the client, the output stream and whether to print raw JSON."""

    def __init__(self, client: Client, raw: bool, out: TextIO) -> None:
        self.client = client
        self.raw = raw
        self.out = out

    def dump(self, data: Any) -> None:
        """Print ``data`` as indented JSON with sorted keys."""
        self.out.write(json.dumps(data, indent=2, sort_keys=True) + '\n')


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO,
          indent: str = '') -> None:
    """Print ``rows`` as a compact table aligned on ``headers`` (no trailing blanks)."""
    cells = [[str(h) for h in headers]] + [['' if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        out.write(indent + '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + '\n')


def fields(pairs: Sequence[tuple[str, Any]], out: TextIO) -> None:
    """Print ``label: value`` lines, labels aligned; an absent value prints as ``-``."""
    width = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        out.write(f'{(k + ":").ljust(width + 1)} {"-" if v in (None, "") else v}\n')


def footer(ctx: Context, page: dict[str, Any], noun: str) -> None:
    """Say how many of the matching items a page left out."""
    items, total = page.get('items') or [], page.get('total', 0)
    if total > len(items):
        ctx.out.write(f'({len(items)} of {total} {noun}; use --limit for more)\n')


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
    """Return a 0..1 ratio as a whole percentage ('-' when absent)."""
    return '-' if value is None else f'{round(float(value) * 100)}%'


def pose_text(pose: Any) -> str:
    """Return a pose as 'x,y' with one decimal ('-' when absent)."""
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
    """Return an event as a row under :data:`EVENT_HEADERS`."""
    return [event.get('id'), clock(event.get('time')), event.get('kind'),
            event.get('robot_id') or '-', event_summary(event)]
