"""The HTTP client of the fleet API: bearer auth, JSON bodies, the JSON error shape, SSE.

Errors come out as :class:`CliError` subclasses, each with the exit code fleetctl ends with:
0 success, 1 the API refused (:class:`ApiError`), 2 usage error (:class:`UsageError`),
3 the API could not be reached (:class:`ConnectionFailed`).
"""

from __future__ import annotations

import json
import socket
from typing import Any, Iterator
import urllib.error
import urllib.parse
import urllib.request

PROG = 'fleetctl'
DEFAULT_URL = 'http://127.0.0.1:8080'
API = '/api/v1'
EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3
STREAM_READ_TIMEOUT = 45.0
"""Seconds without a byte (the server sends a keep-alive every 15 s) before reconnecting."""


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


def segment(value: str) -> str:
    """Quote one path segment (ids come from users)."""
    return urllib.parse.quote(value, safe='')


class Client:
    """Speaks the API at ``url`` with an optional bearer ``token``; every call waits at most
    ``timeout`` seconds for an answer."""

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
        if isinstance(body, bytes):  # a document sent as it is (its type in ``headers``)
            data = body
        elif body is not None:
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
        """GET ``path`` with ``query``; return the parsed JSON."""
        return self.request('GET', path, query)[1]

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """POST ``body`` as JSON to ``path``; return the parsed JSON."""
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
