"""Request parsing and validation for the API: clear errors that name the field."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from fleet_web import convert
from fleet_web.api_errors import BadRequest, Unprocessable

MISSION_FIELDS = {'waypoints', 'priority', 'capabilities', 'pinned_robot', 'client_ref',
                  'callback_url', 'deadline'}
WAYPOINT_FIELDS = {'x', 'y', 'theta', 'frame_id', 'dwell'}


async def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """Return the request's JSON object; 400 when malformed, NaN or not an object."""
    raw = await request.read()
    if not raw:
        if required:
            raise BadRequest('a JSON body is required')
        return {}
    try:
        # NaN and Infinity parse as floats so that field validation names the field.
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f'malformed JSON: {exc}') from None
    if not isinstance(data, dict):
        raise BadRequest('the body must be a JSON object')
    return data


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unprocessable(f'{field} must be a number', field)
    if not math.isfinite(value):
        raise Unprocessable(f'{field} must be finite', field)
    return float(value)


def _string(value: Any, field: str, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise Unprocessable(f'{field} must be a string', field)
    if len(value) > max_len:
        raise Unprocessable(f'{field} must be at most {max_len} characters', field)
    return value


def _unknown(data: dict[str, Any], allowed: set[str], prefix: str = '') -> None:
    for key in data:
        if key not in allowed:
            field = f'{prefix}{key}'
            raise Unprocessable(f'unknown field {field!r}', field)


def mission_body(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a mission submission's types and shape; the manager checks feasibility."""
    _unknown(data, MISSION_FIELDS)
    if 'waypoints' not in data:
        raise Unprocessable('waypoints is required', 'waypoints')
    wps = data['waypoints']
    if not isinstance(wps, list):
        raise Unprocessable('waypoints must be a list', 'waypoints')
    if not wps:
        raise Unprocessable('at least one waypoint is required', 'waypoints')
    out_wps = []
    for i, w in enumerate(wps):
        f = f'waypoints[{i}]'
        if not isinstance(w, dict):
            raise Unprocessable(f'{f} must be an object', f)
        _unknown(w, WAYPOINT_FIELDS, f'{f}.')
        for k in ('x', 'y'):
            if k not in w:
                raise Unprocessable(f'{f}.{k} is required', f'{f}.{k}')
        wp = {'x': _number(w['x'], f'{f}.x'), 'y': _number(w['y'], f'{f}.y'),
              'theta': _number(w.get('theta', 0.0), f'{f}.theta'),
              'dwell': _number(w.get('dwell', 0.0), f'{f}.dwell')}
        if 'frame_id' in w:
            wp['frame_id'] = _string(w['frame_id'], f'{f}.frame_id', 64)
        out_wps.append(wp)
    out: dict[str, Any] = {'waypoints': out_wps}
    if 'priority' in data:
        p = data['priority']
        if isinstance(p, bool) or not isinstance(p, int):
            raise Unprocessable('priority must be an integer', 'priority')
        out['priority'] = p
    if 'capabilities' in data:
        caps = data['capabilities']
        if not isinstance(caps, list):
            raise Unprocessable('capabilities must be a list of strings', 'capabilities')
        out['capabilities'] = [_string(c, f'capabilities[{i}]', 64) for i, c in enumerate(caps)]
    for k in ('pinned_robot', 'client_ref', 'callback_url'):
        if data.get(k) is not None:
            out[k] = _string(data[k], k, 2048 if k == 'callback_url' else 256)
    if data.get('deadline') is not None:
        text = _string(data['deadline'], 'deadline', 64)
        out['deadline_epoch'] = parse_time(text, 'deadline', Unprocessable)
    return out


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """Return an integer query parameter within [lo, hi]; 400 naming it otherwise."""
    raw = request.query.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f'{name} must be an integer', name) from None
    if not lo <= value <= hi:
        raise BadRequest(f'{name} must be between {lo} and {hi}', name)
    return value


EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = 4102444800.0  # 2100-01-01T00:00:00Z


def parse_time(text: str, name: str, error: type = BadRequest) -> float:
    """Parse an ISO-8601 time between 1970 and 2100 into epoch seconds; ``error`` names it."""
    try:
        value = convert.epoch_from_iso(text)
    except (ValueError, OverflowError):
        raise error(f'{name} must be an ISO-8601 time', name) from None
    if not EARLIEST <= value < LATEST:
        raise error(f'{name} must be between 1970 and 2100', name)
    return value


def query_time(request: web.Request, name: str) -> float | None:
    """Return an ISO-8601 query parameter as epoch seconds, or None when absent."""
    raw = request.query.get(name)
    if not raw:
        return None
    return parse_time(raw, name)


def query_range(request: web.Request, max_span: float | None = None
                ) -> tuple[float | None, float | None]:
    """Return (since, until); 400 naming ``until`` when reversed or wider than ``max_span``."""
    since, until = query_time(request, 'since'), query_time(request, 'until')
    if since is not None and until is not None:
        if until < since:
            raise BadRequest('until must not be before since', 'until')
        if max_span is not None and until - since > max_span:
            raise BadRequest(f'the range may span at most {max_span:g} s', 'until')
    return since, until
