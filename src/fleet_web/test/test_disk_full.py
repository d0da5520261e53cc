"""The bridge's store on a full disk: /health shows the degradation, nothing is lost, and
deliveries resume on their own once space is freed (no restart).

The store lives on a small tmpfs this test mounts (root only; skipped with the reason
elsewhere); it is filled with a file, never the real disk. The app runs over real sockets
against the in-memory backend of test_app, with a real webhook receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import subprocess
from typing import Any, Iterator

from aiohttp import web
import pytest
import standardwebhooks
from test_app import TOKENS, FakeBackend, run, serve
from test_webhooks import wait_until

from fleet_web.auth import hash_token
from fleet_web.signing import new_secret

pytestmark = pytest.mark.timeout(180)

K = new_secret()
SIZE = '4m'


@contextlib.contextmanager
def small_filesystem(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """Mount a tmpfs of SIZE at ``path`` (skip with the reason when that is not possible)."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a size-limited tmpfs needs root')
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={SIZE}', 'tmpfs', str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', str(path)], check=False)


def fill(path: pathlib.Path) -> None:
    """Write zeros to ``path`` until the filesystem is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b'\0' * size)
    finally:
        os.close(fd)


def test_disk_full_then_freed_resumes_without_restart(tmp_path: pathlib.Path) -> None:
    received: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        event = standardwebhooks.Webhook(K).verify(body, dict(request.headers))
        received.append(event['id'])
        return web.Response(status=204)

    async def scenario(mount: pathlib.Path) -> None:
        receiver = web.AppRunner(web.Application())
        receiver.app.router.add_post('/hook', hook)
        await receiver.setup()
        site = web.TCPSite(receiver, '127.0.0.1', 0)
        await site.start()
        port = receiver.addresses[0][1]
        web_yaml = tmp_path / 'web.yaml'
        web_yaml.write_text(json.dumps({
            'api_keys': [{'name': 'admin', 'token_sha256': hash_token(TOKENS['admin']),
                          'scopes': ['admin']}],
            'egress': {'allow': ['127.0.0.1/32']},
            'webhooks': [{'name': 'erp', 'url': f'http://127.0.0.1:{port}/hook',
                          'secrets': [K], 'retry_schedule_s': [0.2] * 50}]}))
        backend = FakeBackend()
        filler = mount / 'filler'
        async for s in serve(web_yaml, tmp_path, backend, state=mount / 'web.db'):
            backend.append('mission.state')
            await wait_until(lambda: received == [1], 'the first delivery', 20)
            fill(filler)
            for _ in range(200):  # enough rows to need new pages of the outbox
                backend.append('mission.state')
                backend.events[-1]['payload'] = {'note': 'x' * 200}

            async def health(served: Any = s) -> dict:
                status, body, _ = await served.req('GET', '/api/v1/health', token=None)
                assert status == 200
                return body
            degraded: list[dict] = []

            async def shows_degraded(seen: list[dict] = degraded) -> bool:
                body = await health()
                if body['status'] == 'degraded':
                    seen.append(body)
                return bool(seen)
            deadline = 30.0
            while not await shows_degraded():
                deadline -= 0.2
                assert deadline > 0, 'health never showed the full disk'
                await asyncio.sleep(0.2)
            body = degraded[0]
            assert 'full' in json.dumps(body), body
            assert body['storage']['status'] == 'degraded' or \
                body['webhooks']['pump']['status'] == 'degraded'
            status, metrics, _ = await s.req('GET', '/metrics', token=None)
            assert 'fleet_bridge_component_ok{component="storage"} 0.0' in metrics or \
                'fleet_bridge_component_ok{component="webhook_pump"} 0.0' in metrics
            filler.unlink()  # space is back; nothing restarts
            await wait_until(lambda: sorted(set(received)) == list(range(1, 202)),
                             'every event delivered after space came back', 60)
            final = await health()
            for _ in range(50):
                if final['status'] == 'ok':
                    break
                await asyncio.sleep(0.2)
                final = await health()
            assert final['status'] == 'ok', final
        await receiver.cleanup()

    with small_filesystem(tmp_path / 'small') as mount:
        run(scenario(mount))
