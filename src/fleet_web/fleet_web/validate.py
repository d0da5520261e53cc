"""Request parsing and validation for the API: clear errors that name the field.

Bodies are strict: UTF-8 only, at most ``max_json_depth`` levels of nesting, no lone
surrogate (``"\\ud800"``) and no NUL character in any string (a ROS string would silently
end there), numbers within the ranges the OpenAPI document declares. Nothing is ever
truncated or coerced silently: what cannot be kept as sent is refused, naming the field.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from aiohttp import web

from fleet_web import convert
from fleet_web.api_errors import BadRequest, RequestTimeout, Unprocessable
from fleet_web.appkeys import CONFIG

MISSION_FIELDS = {'waypoints', 'priority', 'capabilities', 'pinned_robot', 'client_ref',
                  'callback_url', 'deadline'}
WAYPOINT_FIELDS = {'x', 'y', 'theta', 'frame_id', 'dwell'}
MAX_PRIORITY = 1_000_000  # |priority|, as the manager allows
MAX_COORDINATE = 100_000.0  # m, |x| and |y|
MAX_THETA = 2 * math.pi * 1000  # rad
MAX_DWELL = 3600.0  # s
MAX_WAYPOINTS = 100
MAX_TEXT = 256  # characters of client_ref, pinned_robot, capabilities
MAX_URL = 2048  # characters of callback_url
MAX_REASON = 1000  # characters of a reason given with a change

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r'[\[\]{}]')
_INTEGER = re.compile(r'-?[0-9]+')


def json_depth(text: str) -> int:
    """Return how deeply the JSON text nests arrays and objects (strings skipped)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub('""', text)):
        if match.group() in '[{':
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_strings(value: Any, field: str = '') -> None:
    """Raise Unprocessable naming the field of the first string (or key) that holds a lone
    surrogate or a NUL character."""
    if isinstance(value, str):
        if '\x00' in value:
            raise Unprocessable(f'{field or "the body"} must not contain NUL characters',
                                field or None)
        try:
            value.encode('utf-8')
        except UnicodeEncodeError:
            raise Unprocessable(f'{field or "the body"} holds an unpaired surrogate '
                                '(not valid Unicode)', field or None) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f'{field}.{key}' if field else str(key)
            check_strings(key, path)
            check_strings(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_strings(item, f'{field}[{index}]')


async def read_body(request: web.Request) -> bytes:
    """Read the body within the configured time (408 otherwise; 413 when too large)."""
    try:
        return await asyncio.wait_for(request.read(), request.app[CONFIG].body_timeout_s)
    except asyncio.TimeoutError:
        raise RequestTimeout('the request body did not arrive in time') from None


async def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """Return the request's JSON object; 400 when malformed, not UTF-8, too deep or not an
    object, 422 naming the field of a string that cannot be kept as sent."""
    raw = await read_body(request)
    if not raw:
        if required:
            raise BadRequest('a JSON body is required')
        return {}
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise BadRequest(f'the body is not valid UTF-8 (byte {exc.start})') from None
    limit = request.app[CONFIG].max_json_depth
    if json_depth(text) > limit:
        raise BadRequest(f'the JSON body nests deeper than {limit} levels')
    try:
        # NaN and Infinity parse as floats so that field validation names the field.
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f'malformed JSON: {exc}') from None
    if not isinstance(data, dict):
        raise BadRequest('the body must be a JSON object')
    return data


def _number(value: Any, field: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unprocessable(f'{field} must be a number', field)
    try:
        number = float(value)
    except OverflowError:
        raise Unprocessable(f'{field} must be between {lo:g} and {hi:g}', field) from None
    if not math.isfinite(number):
        raise Unprocessable(f'{field} must be finite', field)
    if not lo <= number <= hi:
        raise Unprocessable(f'{field} must be between {lo:g} and {hi:g}', field)
    return number


def text(value: Any, field: str, max_len: int = 256) -> str:
    """Return a string field that can be kept as sent (at most ``max_len`` characters, no NUL,
    no lone surrogate); 422 naming the field otherwise."""
    if not isinstance(value, str):
        raise Unprocessable(f'{field} must be a string', field)
    if len(value) > max_len:
        raise Unprocessable(f'{field} must be at most {max_len} characters', field)
    check_strings(value, field)
    return value


_string = text


def unknown_fields(data: dict[str, Any], allowed: set[str] | tuple[str, ...],
                   prefix: str = '') -> None:
    """422 naming the first field of ``data`` not in ``allowed``."""
    for key in data:
        if key not in allowed:
            field = f'{prefix}{key}'
            raise Unprocessable(f'unknown field {field!r}', field)


_unknown = unknown_fields


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
    if len(wps) > MAX_WAYPOINTS:
        raise Unprocessable(f'at most {MAX_WAYPOINTS} waypoints', 'waypoints')
    out_wps = []
    for i, w in enumerate(wps):
        f = f'waypoints[{i}]'
        if not isinstance(w, dict):
            raise Unprocessable(f'{f} must be an object', f)
        _unknown(w, WAYPOINT_FIELDS, f'{f}.')
        for k in ('x', 'y'):
            if k not in w:
                raise Unprocessable(f'{f}.{k} is required', f'{f}.{k}')
        wp: dict[str, Any] = {
            'x': _number(w['x'], f'{f}.x', -MAX_COORDINATE, MAX_COORDINATE),
            'y': _number(w['y'], f'{f}.y', -MAX_COORDINATE, MAX_COORDINATE),
            'theta': _number(w.get('theta', 0.0), f'{f}.theta', -MAX_THETA, MAX_THETA),
            'dwell': _number(w.get('dwell', 0.0), f'{f}.dwell', 0.0, MAX_DWELL)}
        if 'frame_id' in w:
            wp['frame_id'] = _string(w['frame_id'], f'{f}.frame_id', 64)
        out_wps.append(wp)
    out: dict[str, Any] = {'waypoints': out_wps}
    if 'priority' in data:
        p = data['priority']
        if isinstance(p, bool) or not isinstance(p, int):
            raise Unprocessable('priority must be an integer', 'priority')
        if not -MAX_PRIORITY <= p <= MAX_PRIORITY:
            raise Unprocessable(f'priority must be between {-MAX_PRIORITY} and '
                                f'{MAX_PRIORITY}', 'priority')
        out['priority'] = p
    if 'capabilities' in data:
        caps = data['capabilities']
        if not isinstance(caps, list):
            raise Unprocessable('capabilities must be a list of strings', 'capabilities')
        if len(caps) > MAX_WAYPOINTS:
            raise Unprocessable(f'at most {MAX_WAYPOINTS} capabilities', 'capabilities')
        out['capabilities'] = [_string(c, f'capabilities[{i}]', 64) for i, c in enumerate(caps)]
    for k in ('pinned_robot', 'client_ref', 'callback_url'):
        if data.get(k) is not None:
            out[k] = _string(data[k], k, MAX_URL if k == 'callback_url' else MAX_TEXT)
    if data.get('deadline') is not None:
        text = _string(data['deadline'], 'deadline', 64)
        out['deadline_epoch'] = parse_time(text, 'deadline', Unprocessable)
    return out


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """Return an integer query parameter within [lo, hi] (absent: ``default``); 400 naming it
    otherwise (an empty value too)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or len(raw) > 20:
        raise BadRequest(f'{name} must be an integer', name)
    value = int(raw)
    if not lo <= value <= hi:
        raise BadRequest(f'{name} must be between {lo} and {hi}', name)
    return value


def query_text(request: web.Request, name: str, max_len: int = MAX_TEXT) -> str:
    """Return a free-text query parameter ('' when absent); 400 naming it when longer than
    ``max_len`` characters (NUL and bad UTF-8 are refused before, by the middleware)."""
    raw = request.query.get(name, '')
    if len(raw) > max_len:
        raise BadRequest(f'{name} must be at most {max_len} characters', name)
    return raw


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    """Return an enumerated query parameter ('' when absent); 400 naming it otherwise (an
    empty value too)."""
    raw = request.query.get(name)
    if raw is None:
        return ''
    if raw not in choices:
        raise BadRequest(f'{name} must be one of {", ".join(choices)}', name)
    return raw


EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = 4102444800.0  # 2100-01-01T00:00:00Z
QUERY_LATEST = float(2**31 - 1)  # the last second a ROS time filter holds


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
    """Return an ISO-8601 query parameter as epoch seconds (None when absent; 400 naming it
    when empty or malformed). Any valid time is taken: one before 1970 filters like 1970,
    one after 2038 like 2038 (no fleet data lies outside)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = convert.epoch_from_iso(raw)
    except (ValueError, OverflowError):
        raise BadRequest(f'{name} must be an ISO-8601 date-time', name) from None
    return min(max(value, EARLIEST), QUERY_LATEST)


def query_range(request: web.Request, max_span: float | None = None
                ) -> tuple[float | None, float | None]:
    """Return (since, until); 422 naming ``until`` when wider than ``max_span``. A reversed
    range is returned as it is (see :func:`empty_range`)."""
    since, until = query_time(request, 'since'), query_time(request, 'until')
    if since is not None and until is not None and max_span is not None \
            and until - since > max_span:
        raise Unprocessable(f'the range may span at most {max_span:g} s', 'until')
    return since, until


def empty_range(since: float | None, until: float | None) -> bool:
    """True when ``until`` lies before ``since``: nothing can be in the range."""
    return since is not None and until is not None and until < since
