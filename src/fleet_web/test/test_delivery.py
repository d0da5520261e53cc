"""The delivery worker against real HTTP servers on 127.0.0.x: no SSRF (destinations checked
after DNS, no redirects, no response body kept), one queue per destination, 410 Gone,
Retry-After, retention, and every request verified with the ``standardwebhooks`` package."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import pathlib
import socket
import time
from types import SimpleNamespace
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from aiohttp import web
import pytest
import standardwebhooks
from test_webhooks import FakeClock, ev, run, wait_until

from fleet_web.delivery import DeliveryWorker, Retention
from fleet_web.egress import EgressPolicy, EgressRefused, client_session
from fleet_web.retry import RetryPolicy
from fleet_web.settings import mission_callbacks
from fleet_web.signing import new_secret
from fleet_web.store import DeliveryStatus, Store
from fleet_web.webhooks import Outbox, Subscription

pytestmark = pytest.mark.timeout(90)

K = new_secret()
SECRET_BODY = 'db_password=hunter2'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def can_bind(host: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, 0))
        except OSError:
            return False
    return True


class Server:
    """A real HTTP server on ``host`` (random port) recording requests to any path."""

    def __init__(self, host: str, handler: Handler | None = None) -> None:
        self.host = host
        self.handler = handler
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> 'Server':
        app = web.Application()
        app.router.add_route('*', '/{tail:.*}', self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    def url(self, path: str = 'hook', host: str | None = None) -> str:
        return f'http://{host or self.host}:{self.port}/{path}'

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read()))
        if self.handler is not None:
            return await self.handler(request)
        return web.Response(status=204)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def worker_for(tmp_path: pathlib.Path, subs: Iterable[Subscription],
                     policy: EgressPolicy, **kwargs: Any) -> AsyncIterator[SimpleNamespace]:
    store = Store(tmp_path / 'web.db')
    subs = tuple(subs)
    async with client_session(policy) as session:
        worker = DeliveryWorker(store, subs, session, policy=policy, poll_interval_s=30.0,
                                **kwargs)
        outbox = Outbox(store, subs, clock=kwargs.get('clock', time.time),
                        on_enqueued=worker.notify)
        await worker.start()
        try:
            yield SimpleNamespace(store=store, worker=worker, outbox=outbox)
        finally:
            await worker.stop()
            store.close()


def only(*networks: str) -> EgressPolicy:
    return EgressPolicy(tuple(ipaddress.ip_network(n) for n in networks))


def callback_event(event_id: int, url: str, state: str = 'succeeded') -> dict[str, Any]:
    return ev(event_id, mission_id=f'm{event_id}', state=state, client_ref='erp',
              callback_url=url)


@pytest.mark.skipif(not can_bind('127.0.0.2'), reason='127.0.0.2 is not usable here')
def test_ssrf_internal_services_are_never_reached_nor_read_back(tmp_path: pathlib.Path) -> None:
    """The issue's SSRF: a missions:write client aims callbacks at internal services."""
    async def scenario() -> None:
        async def leak(request: web.Request) -> web.Response:
            return web.Response(status=500, text=SECRET_BODY)
        internal = await Server('127.0.0.2', leak).start()
        redirector = await Server('127.0.0.1', lambda r: _redirect(internal.url('admin'))) \
            .start()
        callbacks = mission_callbacks({'secrets': [K], 'retry_schedule_s': []}, 'web.yaml', {})
        # web.yaml allows 127.0.0.1 (the receivers of this test), nothing else.
        async with worker_for(tmp_path, [callbacks], only('127.0.0.1/32')) as h:
            h.outbox.ingest([callback_event(1, internal.url('db')),
                             callback_event(2, f'http://localhost:{internal.port}/db'),
                             callback_event(3, redirector.url('cb'))])
            await wait_until(lambda: h.store.counts()['dead'] == 3, 'three dead letters')
            rows = {d.event_id: d for d in h.store.list_deliveries().items}
            assert rows[1].last_error.startswith('refused: 127.0.0.2 is a loopback address')
            # localhost resolves to 127.0.0.1 (allowed) or ::1 (refused): either the port is
            # closed on 127.0.0.1 or the name is refused; never the internal service.
            assert rows[3].last_status == 307 and rows[3].last_error == 'HTTP 307'
            for row in rows.values():
                assert SECRET_BODY not in (row.last_error or '')
                assert 'hunter2' not in str(row.to_dict())
        assert internal.requests == []  # not contacted, not even through the redirect
        assert len(redirector.requests) == 1
        await internal.close()
        await redirector.close()

    run(scenario())


async def _redirect(location: str) -> web.Response:
    return web.Response(status=307, headers={'Location': location})


def test_hostnames_are_checked_after_resolution(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        server = await Server('127.0.0.1').start()
        sub = Subscription('erp', server.url('hook', host='localhost'), secrets=(K,),
                           retry=RetryPolicy(()))
        async with worker_for(tmp_path, [sub], EgressPolicy()) as h:  # nothing allowed
            h.outbox.ingest([ev(1)])
            await wait_until(lambda: h.store.counts()['dead'] == 1, 'the refusal')
            [row] = h.store.list_deliveries().items
            assert row.last_error.startswith('refused: ') and 'loopback' in row.last_error
        assert server.requests == []
        policy = EgressPolicy()
        with pytest.raises(EgressRefused):
            await policy.check_url(server.url('x', host='localhost'))
        for url in ('http://169.254.169.254/latest/meta-data', 'http://[fd00:ec2::254]/',
                    'http://100.64.0.1/', 'http://[::ffff:10.0.0.1]/', 'http://224.0.0.1/',
                    'http://2130706433/'):
            with pytest.raises((EgressRefused, OSError)):
                await policy.check_url(url)
        with pytest.raises(EgressRefused):  # a decimal IP resolves to 127.0.0.1
            await policy.check_url('http://2130706433/')
        await server.close()

    run(scenario())


def test_error_texts_are_a_status_line_without_the_body(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        async def fail(request: web.Request) -> web.Response:
            return web.Response(status=500, text=SECRET_BODY)
        server = await Server('127.0.0.1', fail).start()
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            closed = s.getsockname()[1]
        subs = [Subscription('a', server.url(), secrets=(K,), retry=RetryPolicy(())),
                Subscription('b', f'http://127.0.0.1:{closed}/x', secrets=(K,),
                             retry=RetryPolicy(()))]
        async with worker_for(tmp_path, subs, only('127.0.0.1/32')) as h:
            h.outbox.ingest([ev(1)])
            await wait_until(lambda: h.store.counts()['dead'] == 2, 'two dead letters')
            errors = {d.subscription: d.last_error for d in h.store.list_deliveries().items}
        assert errors == {'a': 'HTTP 500', 'b': 'connection failed'}
        await server.close()

    run(scenario())


def test_one_black_hole_callback_delays_no_other_destination(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def hang(request: web.Request) -> web.Response:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(release.wait(), 30)
            return web.Response(status=503)
        hole = await Server('127.0.0.1', hang).start()
        good = await Server('127.0.0.1').start()
        callbacks = mission_callbacks({'secrets': [K], 'timeout_s': 20,
                                       'retry_schedule_s': [60]}, 'web.yaml', {})
        async with worker_for(tmp_path, [callbacks], only('127.0.0.1/32')) as h:
            h.outbox.ingest([callback_event(1, hole.url('cb')),
                             callback_event(2, hole.url('cb')),
                             callback_event(3, good.url('cb')),
                             callback_event(4, good.url('cb'))])
            started = time.monotonic()
            await wait_until(lambda: len(good.requests) == 2, 'the good receiver', 5.0)
            assert time.monotonic() - started < 3.0
            assert len(hole.requests) == 1  # its own queue waits behind its first delivery
            queues = {d.destination for d in h.store.list_deliveries().items}
            assert queues == {f'http://127.0.0.1:{hole.port}', f'http://127.0.0.1:{good.port}'}
            for headers, body in good.requests:  # signed by default, Standard Webhooks
                assert standardwebhooks.Webhook(K).verify(body, headers)['kind'] == \
                    'mission.state'
            release.set()
        await hole.close()
        await good.close()

    run(scenario())


def test_410_disables_the_subscription_and_enabling_loses_nothing(
        tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        answers = [410]

        async def gone_once(request: web.Request) -> web.Response:
            return web.Response(status=answers.pop() if answers else 200)
        server = await Server('127.0.0.1', gone_once).start()
        sub = Subscription('erp', server.url(), secrets=(K,))
        async with worker_for(tmp_path, [sub], only('127.0.0.1/32')) as h:
            h.outbox.ingest([ev(1), ev(2)])
            await wait_until(lambda: 'erp' in h.store.disabled_subscriptions(), 'disabled')
            assert h.worker.outcomes[('erp', 'gone')] == 1
            h.outbox.ingest([ev(3)])  # not enqueued while disabled
            assert [d.event_id for d in h.store.list_deliveries().items] == [2, 1]
            assert h.store.counts()['pending'] == 2 and len(server.requests) == 1
            assert h.store.enable_subscription('erp')
            h.worker.notify()
            await wait_until(lambda: h.store.counts()['delivered'] == 2, 'delivered after')
        ids = [int(headers['X-Fleet-Event-Id']) for headers, _ in server.requests]
        assert ids == [1, 1, 2]  # the 410'd event again, then the next, in order
        await server.close()

    run(scenario())


def test_retry_after_is_honoured(tmp_path: pathlib.Path) -> None:
    clock = FakeClock()

    async def scenario() -> None:
        async def busy(request: web.Request) -> web.Response:
            return web.Response(status=503, headers={'Retry-After': '600'})
        server = await Server('127.0.0.1', busy).start()
        sub = Subscription('erp', server.url(), secrets=(K,))
        async with worker_for(tmp_path, [sub], only('127.0.0.1/32'), clock=clock) as h:
            h.outbox.ingest([ev(1)])
            await wait_until(lambda: h.store.list_deliveries().items[0].attempts == 1,
                             'the first attempt')
            [row] = h.store.list_deliveries().items
            assert row.status is DeliveryStatus.PENDING and row.last_error == 'HTTP 503'
            assert row.next_attempt_at - clock.now >= 600  # not the schedule's 5 s
        await server.close()

    run(scenario())


def test_delivered_rows_are_pruned_after_the_retention(tmp_path: pathlib.Path) -> None:
    clock = FakeClock()

    async def scenario() -> None:
        server = await Server('127.0.0.1').start()
        dead_end = Subscription('dead', 'http://127.0.0.1:9/', secrets=(K,),
                                retry=RetryPolicy(()))
        sub = Subscription('erp', server.url(), secrets=(K,))
        keep = Retention(delivered_s=3600.0, dead_s=7200.0, every_s=0.0)
        async with worker_for(tmp_path, [sub, dead_end], only('127.0.0.1/32'), clock=clock,
                              retention=keep) as h:
            h.outbox.ingest([ev(1), ev(2)])
            await wait_until(lambda: h.store.counts() == {'pending': 0, 'delivered': 2,
                                                          'dead': 2}, 'two of each')
            clock.advance(3601)
            h.worker.notify()
            await wait_until(lambda: h.store.counts()['delivered'] == 0, 'delivered pruned')
            assert h.store.counts()['dead'] == 2  # kept longer
            clock.advance(3600)
            h.worker.notify()
            await wait_until(lambda: h.store.counts()['dead'] == 0, 'dead pruned')
        await server.close()

    run(scenario())
