"""Bad input is always a clean 4xx naming the field, auth failures are limited per address,
idempotency keys are scoped per API key, slow clients time out, read tokens see no secrets,
and /health tells the manager's state and the bridge's own parts.

The app runs over real sockets against the in-memory backend of test_app (the FleetBackend
Protocol); requests the aiohttp client refuses to send (non-UTF-8 headers, a dribbled
request) go over a raw socket.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sqlite3
import time
from typing import Any

import pytest
from test_app import TOKENS, FakeBackend, run, serve

from fleet_web.app import load_services
from fleet_web.auth import hash_token
from fleet_web.errors import ConfigError

pytestmark = pytest.mark.timeout(120)

MISSION = {'waypoints': [{'x': 1.0, 'y': 2.0}]}


@pytest.fixture
def web_yaml(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / 'web.yaml'
    path.write_text(json.dumps({
        'api_keys': [
            {'name': 'admin', 'token_sha256': hash_token(TOKENS['admin']), 'scopes': ['admin']},
            {'name': 'reader', 'token_sha256': hash_token(TOKENS['reader']), 'scopes': ['read']},
            {'name': 'wms', 'token_sha256': hash_token(TOKENS['wms']),
             'scopes': ['read', 'missions:write']},
            {'name': 'ops', 'token_sha256': hash_token(TOKENS['ops']),
             'scopes': ['read', 'missions:write']}],
        'rate_limit': {'per_second': 1000, 'burst': 1000},
        'auth_failures': {'per_second': 0.1, 'burst': 5},
        # 198.51.100.0/24 is a documentation range: stored in missions, never contacted.
        'egress': {'allow': ['127.0.0.1/32', '198.51.100.0/24']}}))
    return path


async def raw_request(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, Any, str]:
    """Send raw bytes as one HTTP/1.1 request; return (status, JSON body or text, head)."""
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b'\r\n\r\n'), timeout)
        length = [int(line.split(b':', 1)[1]) for line in head.split(b'\r\n')
                  if line.lower().startswith(b'content-length:')]
        body = await asyncio.wait_for(reader.readexactly(length[0] if length else 0), timeout)
    finally:
        writer.close()
    status = int(head.split(b' ', 2)[1])
    try:
        return status, json.loads(body), head.decode('latin-1')
    except ValueError:
        return status, body.decode('latin-1'), head.decode('latin-1')


def port_of(base: str) -> int:
    return int(base.rsplit(':', 1)[1])


def assert_error(status: int, body: Any, expected: int, field: str | None) -> None:
    """The one JSON error shape, with the field named."""
    assert status == expected, body
    assert set(body) == {'error'} and set(body['error']) == {'code', 'message', 'field'}, body
    assert body['error']['field'] == field, body


def test_bodies_that_cannot_be_kept_as_sent_are_4xx_naming_the_field(
        web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, max_body_bytes=1 << 20):
            backend = s.backend
            deep = ('[' * 100_000) + (']' * 100_000)
            cases: list[tuple[bytes, int, str | None]] = [
                (f'{{"waypoints": {deep}}}'.encode(), 400, None),  # RecursionError before
                (b'{"waypoints": [{"x": 1, "y": 2}], "client_ref": "\\ud800"}', 422,
                 'client_ref'),
                (b'{"waypoints": [{"x": 1, "y": 2}], "client_ref": "a\\u0000b"}', 422,
                 'client_ref'),
                (b'{"waypoints": [{"x": 1, "y": 2}], "capabilities": ["ok", "\\udfff"]}', 422,
                 'capabilities[1]'),
                (b'{"waypoints": [{"x": 1, "y": 2}], "priority": 1099511627776}', 422,
                 'priority'),
                (b'{"waypoints": [{"x": 1, "y": 2, "dwell": 1e39}]}', 422, 'waypoints[0].dwell'),
                (b'{"waypoints": [{"x": 1, "y": 2, "dwell": -1}]}', 422, 'waypoints[0].dwell'),
                (b'{"waypoints": [{"x": 1e300, "y": 2}]}', 422, 'waypoints[0].x'),
                (b'{"waypoints": [{"x": 1, "y": 2}], "client_ref": "caf\xe9"}', 400, None),
                ('{"waypoints": [{"x": 1, "y": 2}]}'.encode('utf-16'), 400, None),
                (b'{"waypoints": [{"x": 1, "y": 2}], "priority": ' + b'9' * 5000 + b'}', 400,
                 None),
            ]
            for data, expected, field in cases:
                status, body, _ = await s.req('POST', '/api/v1/missions', data=data, headers={
                    'Content-Type': 'application/json'})
                assert_error(status, body, expected, field)
            assert backend.submitted == []  # nothing reached the fleet
            status, body, _ = await s.req('POST', '/api/v1/missions', json={
                **MISSION, 'priority': 1_000_000, 'client_ref': 'caf\u00e9 \U0001f916'})
            assert status == 201 and backend.submitted[-1]['priority'] == 1_000_000
            assert backend.submitted[-1]['client_ref'] == 'caf\u00e9 \U0001f916'
    run(check())


def test_bad_headers_paths_and_queries_are_400_naming_them(web_yaml: pathlib.Path,
                                                           tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            port = port_of(s.base)
            token = TOKENS['admin'].encode()
            body = json.dumps(MISSION).encode()
            for name, value, path, method in (
                    (b'Idempotency-Key', b'k\xff\xfe', b'/api/v1/missions', b'POST'),
                    (b'Last-Event-ID', b'1\xff', b'/api/v1/events/stream', b'GET'),
                    (b'Authorization', b'Bearer \xff\xfe', b'/api/v1/robots', b'GET')):
                lines = [method + b' ' + path + b' HTTP/1.1', b'Host: x',
                         name + b': ' + value, b'Content-Type: application/json',
                         b'Content-Length: ' + str(len(body)).encode(), b'Connection: close']
                if name != b'Authorization':
                    lines.append(b'Authorization: Bearer ' + token)
                request = b'\r\n'.join(lines) + b'\r\n\r\n' + body
                status, answer, _ = await raw_request(port, request)
                assert_error(status, answer, 400, name.decode())
            for target, field in ((b'/api/v1/missions?robot_id=%FF', 'robot_id'),
                                  (b'/api/v1/missions?robot_id=a%00b', 'robot_id'),
                                  (b'/api/v1/missions/a%FFb', 'path'),
                                  (b'/api/v1/robots/r%00', 'path')):
                status, answer, _ = await raw_request(port, b'GET ' + target + b' HTTP/1.1\r\n'
                                                      b'Host: x\r\nAuthorization: Bearer ' +
                                                      token + b'\r\nConnection: close\r\n\r\n')
                assert_error(status, answer, 400, field)
            status, answer, head = await raw_request(port, b'TRACE /api/v1/missions HTTP/1.1\r\n'
                                                     b'Host: x\r\nConnection: close\r\n\r\n')
            assert_error(status, answer, 405, None)
            allow = [line for line in head.split('\r\n') if line.lower().startswith('allow:')]
            assert allow and {'GET', 'POST'} <= set(allow[0].split(':', 1)[1].strip().split(','))
            status, answer, _ = await s.req('GET', '/api/v1/events?after=99999999999999999999')
            assert_error(status, answer, 400, 'after')
            status, answer, _ = await s.req('POST', '/api/v1/webhooks/deliveries/'
                                            '99999999999999999999999/retry')
            assert_error(status, answer, 404, None)
    run(check())


def test_failed_logins_are_rate_limited_per_address(web_yaml: pathlib.Path,
                                                    tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            codes = []
            for i in range(8):
                status, _, headers = await s.req('GET', '/api/v1/robots', token=None, headers={
                    'Authorization': f'Bearer guess-{i}'})
                codes.append(status)
            assert codes == [401] * 5 + [429] * 3
            status, body, headers = await s.req('GET', '/api/v1/robots', token='admin')
            assert status == 429 and body['error']['code'] == 'rate_limited'
            assert int(headers['Retry-After']) >= 1  # even a right token waits: it is guessing
            status, _, _ = await s.req('GET', '/api/v1/health', token=None)
            assert status == 200  # public routes stay open
    run(check())


def test_idempotency_keys_are_scoped_per_api_key(web_yaml: pathlib.Path,
                                                 tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            key = {'Idempotency-Key': 'order-42'}
            status, first, _ = await s.req('POST', '/api/v1/missions', token='wms',
                                           json=MISSION, headers=key)
            assert status == 201
            status, other, _ = await s.req('POST', '/api/v1/missions', token='ops',
                                           json=MISSION, headers=key)
            assert status == 201 and other['id'] != first['id']  # not wms's mission
            status, again, _ = await s.req('POST', '/api/v1/missions', token='wms',
                                           json=MISSION, headers=key)
            assert status == 200 and again['id'] == first['id']
            stored = {b['idempotency_key'] for b in s.backend.submitted}
            assert len(stored) == 2 and not any('order-42' in k for k in stored)
            long_key = {'Idempotency-Key': 'k' * 257}
            status, body, _ = await s.req('POST', '/api/v1/missions', token='wms',
                                          json=MISSION, headers=long_key)
            assert_error(status, body, 422, 'Idempotency-Key')
    run(check())


def test_idle_and_slow_connections_time_out(web_yaml: pathlib.Path,
                                            tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path, idle_timeout_s=0.5, body_timeout_s=0.5):
            port = port_of(s.base)
            # Slowloris: headers dribbled one byte at a time, never finished.
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            started = time.monotonic()
            closed_after = None
            for byte in b'GET /api/v1/robots HTTP/1.1\r\nHost: x\r\nX-Slow: ' + b'a' * 200:
                writer.write(bytes([byte]))
                try:
                    await writer.drain()
                except ConnectionError:
                    closed_after = time.monotonic() - started
                    break
                if reader.at_eof():
                    closed_after = time.monotonic() - started
                    break
                try:
                    if await asyncio.wait_for(reader.read(1), 0.05) == b'':
                        closed_after = time.monotonic() - started
                        break
                except asyncio.TimeoutError:
                    pass
            writer.close()
            assert closed_after is not None and closed_after < 5.0, closed_after
            # A body that stops arriving: 408 once body_timeout_s has passed.
            head = (b'POST /api/v1/missions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' +
                    TOKENS['admin'].encode() + b'\r\nContent-Type: application/json\r\n'
                    b'Content-Length: 100\r\nConnection: close\r\n\r\n{"waypoints":')
            status, body, _ = await raw_request(port, head, timeout=10)
            assert_error(status, body, 408, None)
            # An idle keep-alive connection is closed too.
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 5.0) == b''
            assert time.monotonic() - started < 5.0
            writer.close()
    run(check())


def test_read_tokens_do_not_see_secrets_in_callback_urls(web_yaml: pathlib.Path,
                                                         tmp_path: pathlib.Path) -> None:
    # An allowed documentation address: stored, never contacted (no mission event here).
    url = 'https://erp:pw@198.51.100.7:8443/hooks/cb?token=abc'
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            status, mission, _ = await s.req('POST', '/api/v1/missions', token='wms',
                                             json={**MISSION, 'callback_url': url})
            assert status == 201
            for who, expected in (('reader', 'https://198.51.100.7:8443/\u2026'),
                                  ('wms', 'https://198.51.100.7:8443/\u2026'),
                                  ('admin', url)):
                status, got, _ = await s.req('GET', f'/api/v1/missions/{mission["id"]}',
                                             token=who)
                assert status == 200 and got['callback_url'] == expected, who
                status, page, _ = await s.req('GET', '/api/v1/missions', token=who)
                assert page['items'][0]['callback_url'] == expected
            s.backend.append('mission.state', live=False)
            s.backend.events[-1]['payload'] = {'mission_id': mission['id'], 'state': 'queued',
                                               'callback_url': url}
            status, page, _ = await s.req('GET', '/api/v1/events', token='reader')
            assert 'pw' not in json.dumps(page) and 'token=abc' not in json.dumps(page)
            status, page, _ = await s.req('GET', '/api/v1/events', token='admin')
            assert page['items'][-1]['payload']['callback_url'] == url
    run(check())


def test_callback_urls_to_internal_addresses_are_refused_at_submission(
        web_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            for url in ('http://127.0.0.2:5432/', 'http://[::1]:80/', 'http://169.254.169.254/',
                        'http://10.1.2.3/x', 'http://0.0.0.0:22/', 'http://[::ffff:127.0.0.3]/',
                        'ftp://198.51.100.7/', 'http://192.0.2.1/', 'http://user@/'):
                status, body, _ = await s.req('POST', '/api/v1/missions', token='wms',
                                              json={**MISSION, 'callback_url': url})
                assert_error(status, body, 422, 'callback_url')
            status, _, _ = await s.req('POST', '/api/v1/missions', token='wms', json={
                **MISSION, 'callback_url': 'http://127.0.0.1:9/allowed-by-web-yaml'})
            assert status == 201
    run(check())


def test_health_tells_inactive_from_unreachable(web_yaml: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        backend = FakeBackend()
        async for s in serve(web_yaml, tmp_path, backend):
            for state, manager in (('active', 'reachable'), ('inactive', 'inactive'),
                                   ('unconfigured', 'inactive'),
                                   ('unreachable', 'unreachable')):
                backend.state = state
                status, body, _ = await s.req('GET', '/api/v1/health', token=None)
                assert status == 200
                assert (body['manager'], body['manager_state']) == (manager, state)
                # The robot count is the active manager's; otherwise nobody knows it.
                expected = len(await backend.list_robots()) if state == 'active' else None
                assert body['robots'] == expected, (state, body['robots'])
                assert body['status'] == 'ok' and body['storage'] == {'status': 'ok'}
                assert body['webhooks']['pump'] == {'status': 'ok'}
    run(check())


def test_a_damaged_state_file_is_named_with_its_cause(web_yaml: pathlib.Path,
                                                      tmp_path: pathlib.Path) -> None:
    state = tmp_path / 'web.db'
    load_services(str(web_yaml), str(state), env={}).store.close()
    conn = sqlite3.connect(state)
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()
    data = bytearray(state.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    data[page:2 * page] = b'\xa5' * page  # the first table's root page
    state.write_bytes(bytes(data))
    with pytest.raises(ConfigError) as caught:
        load_services(str(web_yaml), str(state), env={})
    assert caught.value.file == str(state)
    assert 'damaged' in str(caught.value) and caught.value.reason.strip() != ''
    state.write_bytes(b'not a database at all' * 100)
    with pytest.raises(ConfigError, match='damaged|not a database'):
        load_services(str(web_yaml), str(state), env={})


def test_malformed_http_is_a_400_logged_without_a_traceback(
        web_yaml: pathlib.Path, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    async def check() -> None:
        async for s in serve(web_yaml, tmp_path):
            status, _, _ = await raw_request(port_of(s.base), b'GET /api/v1/health HTTP/1.1\r\n'
                                             b'Host: x\r\nX-Probe: \x00\r\n\r\n')
            assert status == 400
    with caplog.at_level('DEBUG', logger='aiohttp.server'):
        run(check())
    records = [r for r in caplog.records if r.name == 'aiohttp.server']
    assert records and all(r.exc_info is None and r.levelname == 'WARNING' for r in records)
    assert 'Invalid header value char' in records[0].getMessage()
