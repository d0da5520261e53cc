"""What a token may see: callback URLs are shown in full only to ``admin`` keys.

A mission's ``callback_url`` may carry a credential (``https://user:pass@host/...``, a token in
the path or the query). Everyone else sees only its origin, ``https://host:port/…``, in
missions, mission timelines, the event log, the SSE stream and webhook deliveries.
"""

from __future__ import annotations

from typing import Any, Mapping
import urllib.parse

from fleet_web.auth import Principal

ELLIPSIS = '\u2026'
REDACTED = f'<redacted>{ELLIPSIS}'


def sees_secrets(principal: Principal | None) -> bool:
    """Return True when the caller may see callback URLs in full (admin keys)."""
    return principal is not None and principal.allows('admin')


def redact_url(url: Any) -> Any:
    """Return ``scheme://host[:port]/…`` of a URL (anything but a string as it is)."""
    if not isinstance(url, str) or not url:
        return url
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return REDACTED
    if not parts.hostname:
        return REDACTED
    host = parts.hostname if ':' not in parts.hostname else f'[{parts.hostname}]'
    netloc = host if port is None else f'{host}:{port}'
    rest = parts.path not in ('', '/') or parts.query or parts.fragment
    return f'{parts.scheme}://{netloc}/' + (ELLIPSIS if rest else '')


def mission(data: Mapping[str, Any], full: bool) -> Any:
    """Return a mission as the caller may see it."""
    if full or not data.get('callback_url'):
        return data
    return {**data, 'callback_url': redact_url(data['callback_url'])}


def event(data: Mapping[str, Any], full: bool) -> Any:
    """Return an event-log entry as the caller may see it."""
    payload = data.get('payload')
    if full or not isinstance(payload, Mapping) or not payload.get('callback_url'):
        return data
    return {**data, 'payload': {**payload, 'callback_url': redact_url(payload['callback_url'])}}
