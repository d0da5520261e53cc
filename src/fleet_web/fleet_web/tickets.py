"""Stream tickets: short-lived credentials for the event stream that can go in a URL.

A browser's ``EventSource`` cannot send an ``Authorization`` header. A client with a bearer
token therefore asks ``POST /api/v1/events/stream-ticket`` for a ticket and opens
``GET /api/v1/events/stream?ticket=<ticket>``. A ticket:

* is valid for :data:`TICKET_TTL_S` seconds after it was issued, for connections *opened*
  in that time (an open stream is not cut when its ticket expires);
* is valid for the event stream only: any other route refuses it (401);
* acts for the API key that asked for it, with that key's scopes as they are when the
  stream opens (a key removed from ``web.yaml`` takes its tickets with it);
* may be used again within its lifetime, so that the browser's own reconnection (same URL,
  ``Last-Event-ID``) works, also across a restart of the bridge: tickets are not stored
  but signed (HMAC-SHA256) with a key the bridge generates once and keeps in its state file.

Tickets are never logged (the bridge keeps no access log, and no message names a ticket).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from fleet_web.auth import KeyStore, Principal

TICKET_TTL_S = 60
"""Seconds a stream ticket stays valid for opening a stream."""
SCOPE = 'events/stream'
"""What a ticket is for (signed into it): the event stream only."""
SETTING = 'stream_ticket_key'
"""The name of the signing key among the bridge's generated settings."""


class TicketError(ValueError):
    """A ticket was refused; the message says why (expired, malformed, unknown key)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


class StreamTickets:
    """Issue and check stream tickets, signed with ``key`` (bytes, kept by the bridge)."""

    def __init__(self, key: bytes, keys: KeyStore, ttl_s: float = TICKET_TTL_S) -> None:
        self._key = key
        self._keys = keys
        self.ttl_s = ttl_s

    def _mac(self, name: str, expires: int) -> str:
        message = f'{SCOPE}\n{name}\n{expires}'.encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:20])

    def issue(self, principal: Principal, now: float | None = None) -> tuple[str, int]:
        """Return (ticket, expiry in Unix seconds) for ``principal``."""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        name = _b64(principal.name.encode())
        return f'{name}.{expires}.{self._mac(principal.name, expires)}', expires

    def check(self, ticket: str, now: float | None = None) -> Principal:
        """Return the principal a ticket acts for; :class:`TicketError` saying why not."""
        parts = ticket.split('.')
        try:
            if len(parts) != 3:
                raise ValueError
            name, expires = _unb64(parts[0]).decode('utf-8'), int(parts[1])
        except (ValueError, UnicodeDecodeError):
            raise TicketError('malformed stream ticket') from None
        if not hmac.compare_digest(parts[2], self._mac(name, expires)):
            raise TicketError('unknown stream ticket (not issued by this bridge)')
        if (time.time() if now is None else now) >= expires:
            raise TicketError('the stream ticket has expired: POST '
                              '/api/v1/events/stream-ticket for a new one')
        principal = self._keys.principal(name)
        if principal is None:
            raise TicketError('the API key of this stream ticket no longer exists')
        return principal


def new_signing_key() -> str:
    """A fresh signing key, hex (stored once in the bridge's state file)."""
    return secrets.token_hex(32)
