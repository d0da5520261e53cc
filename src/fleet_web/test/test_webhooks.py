"""Tests of fleet_web.webhooks against a real aiohttp receiver on 127.0.0.1 and a real SQLite
file: signing, backoff, dead letters, per-subscription order, crash recovery (incl. SIGKILL),
ingest atomicity, formats and config loading."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
import ipaddress
import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace
from typing import Any, AsyncIterator, Callable, Iterable

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
import pytest
import standardwebhooks

from fleet_web.delivery import DeliveryOutcome, DeliveryWorker
from fleet_web.egress import EgressPolicy
from fleet_web.errors import ConfigError
from fleet_web.retry import RetryPolicy
from fleet_web.signing import new_secret, secret_key, sign, verify
from fleet_web.store import DeliveryStatus, Store
from fleet_web.webhooks import (
    FORMATS,
    Outbox,
    Subscription,
    get_format,
    load_subscriptions,
    load_subscriptions_file,
    message_id,
    read_config_file,
    summarize,
)

pytestmark = pytest.mark.timeout(90)

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]
WEB_YAML = PACKAGE_ROOT.parent / 'fleet_bringup' / 'config' / 'web.yaml'
T0 = 1_700_000_000.0
HANG = -1  # a scripted "status" meaning: never answer (until the receiver closes)
K = new_secret()  # the signing secret of the tests' subscriptions
LOCAL = EgressPolicy(allow=(ipaddress.ip_network('127.0.0.1/32'),))
"""The receivers listen on 127.0.0.1: the only address these tests allow."""


def signed_by(got: 'Received', secret: str = K, now: float | None = None) -> bool:
    """True when a received request verifies (Standard Webhooks) with ``secret``."""
    return verify([secret], got.headers, got.body, time.time() if now is None else now)


# -- helpers ---------------------------------------------------------------------------------

class FakeClock:
    """An injectable clock (Unix seconds) that only moves when told."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Received:
    """One request the receiver got."""

    hook: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> int:
        return int(self.headers['X-Fleet-Event-Id'])


class Receiver:
    """A real HTTP server on 127.0.0.1 (random port): POST /<hook> is recorded and answered
    with the hook's next scripted status (then its default, 200 unless set)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, collections.deque[int]] = collections.defaultdict(
            collections.deque)
        self.defaults: dict[str, int] = {}
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post('/{hook}', self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, hook: str) -> str:
        return f'http://127.0.0.1:{self.port}/{hook}'

    def got(self, hook: str) -> list[Received]:
        return [r for r in self.requests if r.hook == hook]

    def event_ids(self, hook: str) -> list[int]:
        return [r.event_id for r in self.got(hook)]

    async def _handle(self, request: web.Request) -> web.Response:
        hook = request.match_info['hook']
        self.requests.append(Received(hook, dict(request.headers), await request.read()))
        script = self.scripts[hook]
        status = script.popleft() if script else self.defaults.get(hook, 200)
        if status == HANG:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._release.wait(), timeout=30)
            status = 503
        return web.Response(status=status, text='ok' if status < 300 else 'receiver says no')


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        await asyncio.sleep(0.005)


def run(coro: Any) -> Any:
    """Run a test scenario with an overall deadline."""
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout=60)
    return asyncio.run(bounded())


def ev(event_id: int, kind: str = 'mission.state', robot_id: str = 'r1',
       **payload: Any) -> dict[str, Any]:
    return {'id': event_id, 'time': f'2024-01-01T00:00:{event_id % 60:02d}Z', 'kind': kind,
            'robot_id': robot_id, 'payload': payload}


@contextlib.asynccontextmanager
async def harness(tmp_path: pathlib.Path,
                  make_subs: Callable[[Receiver], Iterable[Subscription]], *,
                  clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                  store: Store | None = None, receiver: Receiver | None = None,
                  **worker_kwargs: Any) -> AsyncIterator[SimpleNamespace]:
    """A receiver, a store file, a running worker and an outbox that wakes it.

    The worker polls only every 30 s, so the tests show that it is woken by events."""
    own_receiver = receiver is None
    if receiver is None:
        receiver = Receiver()
        await receiver.start()
    store = store or Store(tmp_path / 'web.db')
    subs = tuple(make_subs(receiver))
    async with aiohttp.ClientSession() as session:
        worker_kwargs.setdefault('policy', LOCAL)
        worker = DeliveryWorker(store, subs, session, clock=clock, rng=rng,
                                poll_interval_s=30.0, **worker_kwargs)
        outbox = Outbox(store, subs, clock=clock, on_enqueued=worker.notify)
        await worker.start()
        try:
            yield SimpleNamespace(receiver=receiver, store=store, worker=worker,
                                  outbox=outbox, subs=subs)
        finally:
            started = time.monotonic()
            await worker.stop()
            stop_s = time.monotonic() - started
            store.close()
            if own_receiver:
                await receiver.close()
        assert stop_s < 2.0, f'worker.stop() took {stop_s:.1f} s'


# -- delivery --------------------------------------------------------------------------------

def test_signed_delivery_verifies(tmp_path):
    registry = CollectorRegistry()
    metric = Counter('webhook_deliveries', 'attempts by outcome', ['subscription', 'outcome'],
                     registry=registry)

    def feed(name: str, outcome: DeliveryOutcome, duration_s: float) -> None:
        assert duration_s >= 0
        metric.labels(name, outcome.value).inc()

    async def scenario() -> None:
        async with harness(tmp_path, lambda r: [Subscription(
                'erp', r.url('erp'), events=('mission.*',), secrets=(K,))],
                on_outcome=feed) as h:
            event = ev(1, state='completed', mission_id='m-1')
            # Ingest from another thread, as the ROS side would: notify() is thread-safe.
            added = await asyncio.to_thread(
                h.outbox.ingest, [event, ev(2, kind='robot.connectivity', state='lost')])
            assert added == 1
            assert h.outbox.cursor() == 2
            await wait_until(lambda: h.store.counts()['delivered'] == 1, 'the delivery')
            [got] = h.receiver.got('erp')
            headers = got.headers
            assert signed_by(got)
            assert not signed_by(got, new_secret())
            assert standardwebhooks.Webhook(K).verify(got.body, headers) == got.json
            assert got.json == {**event, 'subscription': 'erp'}
            delivery = h.store.list_deliveries().items[0]
            assert headers['X-Fleet-Event-Id'] == '1'
            assert headers['webhook-id'] == message_id('erp', 1) == 'erp_1'
            assert delivery.destination == f'http://127.0.0.1:{h.receiver.port}'
            assert headers['X-Fleet-Attempt'] == '1'
            assert headers['Content-Type'] == 'application/json'
            assert delivery.status is DeliveryStatus.DELIVERED and delivery.last_status == 200
            assert h.worker.outcomes == {('erp', 'delivered'): 1}

    run(scenario())
    assert registry.get_sample_value(
        'webhook_deliveries_total', {'subscription': 'erp', 'outcome': 'delivered'}) == 1


def test_failing_receiver_backs_off_then_dead_letters(tmp_path):
    clock = FakeClock()
    base, cap, attempts = 2.0, 3.0, 4
    expected_rng = random.Random(42)

    async def scenario() -> None:
        async with harness(tmp_path, lambda r: [Subscription(
                'flaky', r.url('flaky'), secrets=(K,),
                retry=RetryPolicy.exponential(attempts, base, cap))],
                clock=clock, rng=random.Random(42)) as h:
            h.receiver.defaults['flaky'] = 500
            h.outbox.ingest([ev(1)])
            [delivery] = h.store.list_deliveries().items
            for attempt in range(1, attempts + 1):
                await wait_until(
                    lambda attempt=attempt: (len(h.receiver.got('flaky')) == attempt
                             and h.store.get(delivery.id).attempts == attempt),
                    f'attempt {attempt}')
                row = h.store.get(delivery.id)
                assert row.last_status == 500 and row.last_error.startswith('HTTP 500')
                if attempt == attempts:
                    assert row.status is DeliveryStatus.DEAD
                    break
                assert row.status is DeliveryStatus.PENDING
                delay = row.next_attempt_at - clock.now
                ceiling = min(cap, base * 2 ** (attempt - 1))
                assert 0 <= delay <= ceiling
                assert delay == pytest.approx(expected_rng.uniform(0, ceiling))
                # Not due yet: nothing is handed out before the backoff has passed.
                assert h.store.claim_due(clock.now) == []
                clock.advance(delay + 0.001)
                h.worker.notify()
            dead = h.store.list_deliveries(status='dead')
            assert dead.total == 1 and dead.items[0].id == delivery.id
            assert h.store.counts() == {'pending': 0, 'delivered': 0, 'dead': 1}
            got = h.receiver.got('flaky')
            assert [r.headers['X-Fleet-Attempt'] for r in got] == ['1', '2', '3', '4']
            assert {r.headers['webhook-id'] for r in got} == {'flaky_1'}
            assert h.worker.outcomes == {('flaky', 'retry'): 3, ('flaky', 'dead'): 1}

    run(scenario())


def test_retrying_a_dead_delivery_redelivers_it(tmp_path):
    clock = FakeClock()

    async def scenario() -> None:
        async with harness(tmp_path, lambda r: [Subscription(
                'hook', r.url('hook'), secrets=(K,),
                retry=RetryPolicy.exponential(1, 1.0, 300.0))], clock=clock) as h:
            h.receiver.scripts['hook'].append(500)
            h.outbox.ingest([ev(1), ev(2)])
            # Event 1 dies after its only attempt; event 2 is no longer blocked by it.
            await wait_until(lambda: h.store.counts() == {
                'pending': 0, 'delivered': 1, 'dead': 1}, 'a dead and a delivered delivery')
            [dead] = h.store.list_deliveries(status='dead').items
            assert dead.event_id == 1
            h.store.retry_dead(dead.id, clock.now)
            h.worker.notify()
            await wait_until(lambda: h.store.get(dead.id).status is DeliveryStatus.DELIVERED,
                             'the redelivery')
            assert h.receiver.event_ids('hook') == [1, 2, 1]
            last = h.receiver.got('hook')[-1]
            assert last.headers['webhook-id'] == 'hook_1'
            assert signed_by(last, now=clock.now)

    run(scenario())


def test_per_subscription_order_holds_when_first_delivery_fails(tmp_path):
    clock = FakeClock()

    async def scenario() -> None:
        def subs(r: Receiver) -> list[Subscription]:
            return [Subscription('a', r.url('a'), secrets=(K,),
                                 retry=RetryPolicy.exponential(8, 5.0, 5.0)),
                    Subscription('b', r.url('b'), secrets=(K,))]

        async with harness(tmp_path, subs, clock=clock, rng=random.Random(1)) as h:
            h.receiver.scripts['a'].append(500)
            h.outbox.ingest([ev(1), ev(2), ev(3)])
            # 'b' gets everything while 'a' is held back by its failed first event.
            await wait_until(lambda: h.store.counts('b')['delivered'] == 3, "b's deliveries")
            await wait_until(lambda: h.worker.outcomes[('a', 'retry')] == 1, "a's failure")
            assert h.receiver.event_ids('a') == [1]
            assert h.store.claim_due(clock.now, subscriptions={'a'}) == []
            clock.advance(5.001)
            h.worker.notify()
            await wait_until(lambda: h.store.counts('a')['delivered'] == 3, "a's deliveries")
            assert h.receiver.event_ids('a') == [1, 1, 2, 3]
            assert h.receiver.event_ids('b') == [1, 2, 3]

    run(scenario())


def test_timeout_and_connection_errors_are_failures(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(('127.0.0.1', 0))
        closed_port = probe.getsockname()[1]

    async def scenario() -> None:
        def subs(r: Receiver) -> list[Subscription]:
            return [Subscription('slow', r.url('slow'), secrets=(K,),
                                 timeout_s=0.2, retry=RetryPolicy.exponential(1, 1.0, 300.0)),
                    Subscription('gone', f'http://127.0.0.1:{closed_port}/secret-path',
                                 secrets=(K,), retry=RetryPolicy.exponential(2, 0.01, 0.01))]

        async with harness(tmp_path, subs) as h:
            h.receiver.scripts['slow'].append(HANG)
            h.outbox.ingest([ev(1)])
            await wait_until(lambda: h.store.counts()['dead'] == 2, 'two dead letters')
            slow = h.store.list_deliveries(subscription='slow').items[0]
            assert 'timed out' in slow.last_error and slow.last_status is None
            gone = h.store.list_deliveries(subscription='gone').items[0]
            assert gone.attempts == 2 and 'secret-path' not in gone.last_error
            assert h.worker.outcomes[('gone', 'retry')] == 1

    run(scenario())


def test_stop_cancels_in_flight_delivery_which_stays_pending(tmp_path):
    async def scenario() -> None:
        async with harness(tmp_path, lambda r: [Subscription(
                'hook', r.url('hook'), secrets=(K,), timeout_s=30)]) as h:
            h.receiver.scripts['hook'].append(HANG)
            h.outbox.ingest([ev(1)])
            await wait_until(lambda: h.worker.in_flight == {'hook'}
                             and len(h.receiver.got('hook')) == 1, 'the request in flight')
            started = time.monotonic()
            await h.worker.stop()
            assert time.monotonic() - started < 2
            assert not h.worker.running and h.worker.in_flight == frozenset()
            row = h.store.list_deliveries().items[0]
            assert row.status is DeliveryStatus.PENDING and row.attempts == 0

    run(scenario())


# -- crashes ---------------------------------------------------------------------------------

def test_restart_between_ingest_and_delivery_loses_nothing(tmp_path):
    async def scenario() -> None:
        receiver = Receiver()
        await receiver.start()
        try:
            subs = [Subscription('hook', receiver.url('hook'), secrets=(K,))]
            first = Store(tmp_path / 'web.db')
            assert Outbox(first, subs).ingest([ev(1), ev(2)]) == 2
            before = [(message_id('hook', d.event_id), d.event_id)
                      for d in first.list_deliveries().items]
            first.close()  # the bridge stops before any delivery

            reopened = Store(tmp_path / 'web.db')
            assert reopened.cursor() == 2
            async with harness(tmp_path, lambda r: subs, store=reopened,
                               receiver=receiver) as h:
                assert h.outbox.ingest([ev(1), ev(2)]) == 0  # the log re-read: no duplicates
                h.worker.notify()
                await wait_until(lambda: h.store.counts()['delivered'] == 2, 'redelivery')
                got = receiver.got('hook')
                assert [(r.headers['webhook-id'], r.event_id) for r in got] == (
                    sorted(before))
        finally:
            await receiver.close()

    run(scenario())


CHILD = textwrap.dedent('''
    import asyncio, sys
    import aiohttp
    import ipaddress
    from fleet_web.delivery import DeliveryWorker
    from fleet_web.egress import EgressPolicy
    from fleet_web.signing import new_secret
    from fleet_web.store import Store
    from fleet_web.webhooks import Outbox, Subscription

    async def main(db, url):
        store = Store(db)
        sub = Subscription('hook', url, secrets=(new_secret(),), timeout_s=60)
        local = EgressPolicy(allow=(ipaddress.ip_network('127.0.0.1/32'),))
        async with aiohttp.ClientSession() as session:
            worker = DeliveryWorker(store, [sub], session, policy=local)
            await worker.start()
            events = [{'id': i, 'time': '2024-01-01T00:00:00Z', 'kind': 'mission.state',
                       'robot_id': 'r1', 'payload': {'n': i}} for i in (1, 2, 3)]
            Outbox(store, [sub], on_enqueued=worker.notify).ingest(events)
            print('ingested', flush=True)
            await asyncio.wait_for(asyncio.Event().wait(), timeout=120)  # until killed

    asyncio.run(main(sys.argv[1], sys.argv[2]))
''')


def test_sigkill_during_delivery_redelivers_same_event(tmp_path):
    script = tmp_path / 'child.py'
    script.write_text(CHILD)
    db = tmp_path / 'web.db'

    async def scenario() -> None:
        receiver = Receiver()
        await receiver.start()
        receiver.scripts['hook'].append(HANG)  # the child's first request never returns
        # This package's sources first; the rest of the path finds fleet_common.
        env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
            [str(PACKAGE_ROOT), *filter(None, [os.environ.get('PYTHONPATH')])])}
        child = subprocess.Popen([sys.executable, str(script), str(db), receiver.url('hook')],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            await wait_until(lambda: len(receiver.got('hook')) == 1 or child.poll() is not None,
                             "the child's first request", timeout=30)
            assert child.poll() is None, child.stderr.read().decode()
            child.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(child.wait, 10) == -signal.SIGKILL
            [first] = receiver.got('hook')
            assert first.event_id == 1

            store = Store(db)
            assert store.cursor() == 3
            assert store.counts() == {'pending': 3, 'delivered': 0, 'dead': 0}
            subs = [Subscription('hook', receiver.url('hook'), secrets=(K,))]
            async with harness(tmp_path, lambda r: subs, store=store, receiver=receiver) as h:
                await wait_until(lambda: h.store.counts()['delivered'] == 3, 'redelivery')
            got = receiver.got('hook')
            assert [r.event_id for r in got] == [1, 1, 2, 3]
            assert got[1].headers['webhook-id'] == first.headers['webhook-id']
            assert got[1].body == first.body
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
            child.stdout.close()
            child.stderr.close()
            await receiver.close()

    run(scenario())


def test_ingest_and_cursor_are_atomic(tmp_path):
    store = Store(tmp_path / 'web.db')
    try:
        subs = [Subscription('a', 'http://127.0.0.1:9/a', secrets=(K,)),
                Subscription('b', 'http://127.0.0.1:9/b', secrets=(K,), events=('mission.*',))]
        outbox = Outbox(store, subs, clock=FakeClock())
        # Event 2 cannot be stored: the rows of event 1 were already written in the same
        # transaction when it fails, and must be rolled back with the cursor.
        batch = [ev(1), ev(2, unserialisable=object()), ev(3)]
        with pytest.raises(TypeError):
            outbox.ingest(batch)
        assert outbox.cursor() == 0
        assert store.list_deliveries().total == 0
        with pytest.raises(ValueError):
            outbox.ingest([ev(1), {'kind': 'mission.state'}])
        assert outbox.cursor() == 0 and store.list_deliveries().total == 0

        assert outbox.ingest([ev(3), ev(1), ev(2, kind='robot.connectivity')]) == 5
        assert outbox.cursor() == 3
        assert [d.event_id for d in store.list_deliveries(subscription='a',
                                                          newest_first=False).items] == [1, 2, 3]
        # An unmatched batch still moves the cursor.
        assert outbox.ingest([ev(4, kind='other.thing')]) == 1  # only 'a' (all kinds)
        assert outbox.cursor() == 4
    finally:
        store.close()


# -- matching, formats, signing, backoff -----------------------------------------------------

def test_subscription_matching():
    sub = Subscription('s', 'http://x/', events=('mission.*', 'robot.connectivity'))
    assert sub.matches(ev(1, kind='mission.state'))
    assert sub.matches(ev(1, kind='robot.connectivity'))
    assert not sub.matches(ev(1, kind='robot.battery'))
    assert not sub.matches(ev(1, kind='missionX'))
    assert Subscription('s', 'http://x/').matches(ev(1, kind='anything'))
    assert not Subscription('s', 'http://x/', events=('a?c',)).matches(ev(1, kind='abc'))
    opened = Subscription('s', 'http://x/', events=('*.opened',))
    assert opened.matches(ev(1, kind='incident.opened'))
    assert not opened.matches(ev(1, kind='incident.openedx'))
    assert not Subscription('s', 'http://x/', events=()).matches(ev(1, kind='mission.state'))
    ref = Subscription('s', 'http://x/', events=('mission.*',), client_ref='erp-7')
    assert ref.matches(ev(1, client_ref='erp-7'))
    assert not ref.matches(ev(1, client_ref='erp-8'))
    assert not ref.matches(ev(1))
    assert K not in repr(Subscription('s', 'http://x/hidden', secrets=(K,)))
    assert 'hidden' not in repr(Subscription('s', 'http://x/hidden'))


def test_json_format_is_the_event_plus_subscription():
    sub = Subscription('erp', 'http://x/', secrets=(K,))
    event = ev(5, state='completed')
    assert get_format('json').render(event, sub) == {**event, 'subscription': 'erp'}
    with pytest.raises(KeyError, match='known'):
        get_format('nope')


def test_slack_format_shape():
    sub = Subscription('ops', 'https://hooks.slack.com/services/x', format='slack')
    payload = {f'key{i}': i for i in range(15)}
    payload.update(title='Robot <r1> & friends', long='x' * 5000)
    body = FORMATS['slack'].render(
        ev(7, kind='incident.opened', incident_id='INC-1', severity='SEV1', **payload), sub)
    assert set(body) == {'text', 'blocks'}
    assert isinstance(body['text'], str) and body['text']
    assert '&lt;r1&gt; &amp; friends' in body['text'] and '<r1>' not in body['text']
    assert 'INC-1' in body['text'] and 'SEV1' in body['text']
    json.dumps(body)
    assert 1 <= len(body['blocks']) <= 50
    for block in body['blocks']:
        assert block['type'] in {'section', 'context'}
        if block['type'] == 'section':
            assert 'text' in block or 'fields' in block
            if 'text' in block:
                assert block['text']['type'] == 'mrkdwn'
                assert 0 < len(block['text']['text']) <= 3000
            for field in block.get('fields', []):
                assert field['type'] == 'mrkdwn' and 0 < len(field['text']) <= 2000
            assert len(block.get('fields', [])) <= 10
        else:
            assert block['elements'] and all(
                e['type'] == 'mrkdwn' and len(e['text']) <= 3000 for e in block['elements'])
    # An event with no payload renders without a fields section.
    plain = FORMATS['slack'].render(ev(8, kind='robot.connectivity'), sub)
    assert all('fields' not in b for b in plain['blocks'])


def test_slack_connectivity_says_from_and_to_with_human_times_and_no_nulls():
    sub = Subscription('ops', 'https://hooks.slack.com/services/x', format='slack')
    event = {'id': 42, 'time': '2026-01-05T09:00:07.250Z', 'kind': 'robot.connectivity',
             'robot_id': 'robot1',
             'payload': {'from': 'online', 'to': 'offline', 'reason': 'no status for 10 s',
                         'last_seen': 1767603597.5, 'mission_id': None, 'note': ''}}
    body = FORMATS['slack'].render(event, sub)
    assert body['text'] == ('Robot robot1 connectivity: online \u2192 offline '
                            '(no status for 10 s)')
    text = json.dumps(body, ensure_ascii=False)
    assert 'null' not in text and 'None' not in text and 'mission_id' not in text
    (fields,) = [b['fields'] for b in body['blocks'] if 'fields' in b]
    shown = {f['text'].split('\n')[0].strip('*'): f['text'].split('\n')[1] for f in fields}
    assert shown == {'from': 'online', 'to': 'offline', 'reason': 'no status for 10 s',
                     'last_seen': '2026-01-05 08:59:57 UTC'}
    context = body['blocks'][-1]['elements'][0]['text']
    assert '2026-01-05 09:00:07 UTC' in context and 'T09:00' not in context
    assert '1767603597' not in text


@pytest.mark.parametrize('kind,action', [
    ('incident.opened', 'trigger'), ('incident.acknowledged', 'acknowledge'),
    ('incident.resolved', 'resolve'), ('incident.escalated', 'trigger'),
])
@pytest.mark.parametrize('severity,expected', [
    ('SEV0', 'critical'), ('SEV1', 'error'), ('sev2', 'warning'), ('SEV3', 'info'),
    ('bogus', 'error'),
])
def test_pagerduty_format_shape(kind, action, severity, expected):
    sub = Subscription('pd', 'https://events.pagerduty.com/v2/enqueue', format='pagerduty',
                       options={'routing_key': 'R' * 32})
    event = ev(9, kind=kind, robot_id='r7', incident_id='INC-3', severity=severity,
               title='x' * 2000)
    body = FORMATS['pagerduty'].render(event, sub)
    json.dumps(body)
    assert body['routing_key'] == 'R' * 32
    assert body['event_action'] == action
    assert body['dedup_key'] == 'fleet-incident-INC-3'
    payload = body['payload']
    assert {'summary', 'source', 'severity', 'timestamp'} <= set(payload)
    assert 0 < len(payload['summary']) <= 1024
    assert payload['source'] == 'r7'
    assert payload['severity'] == expected
    assert payload['severity'] in {'critical', 'error', 'warning', 'info'}
    assert payload['timestamp'] == event['time']


def test_pagerduty_non_incident_event():
    sub = Subscription('pd', 'https://x/', format='pagerduty', options={'routing_key': 'k'})
    body = FORMATS['pagerduty'].render(ev(11, kind='robot.connectivity', robot_id=''), sub)
    assert body['event_action'] == 'trigger'
    assert body['dedup_key'] == 'fleet-event-11'
    assert body['payload']['severity'] == 'info' and body['payload']['source'] == 'fleet'


def test_summaries_are_readable():
    assert summarize(ev(1, kind='mission.state', mission_id='m1', state='completed',
                        client_ref='po-9')) == 'Mission m1 is completed on robot r1 (ref po-9)'
    assert summarize(ev(2, kind='robot.connectivity', state='lost')) == (
        'Robot r1 connectivity: lost')
    assert summarize(ev(3, kind='incident.opened', incident_id='I1', severity='SEV2',
                        title='stuck')) == '[SEV2] Incident I1 opened: stuck (robot r1)'


def test_verify_rejects_tampering_replays_and_future_timestamps():
    body = b'{"id":1}'
    key = K
    good = {'webhook-id': 'a_1', 'webhook-timestamp': str(int(T0)),
            'webhook-signature': sign(secret_key(key), 'a_1', int(T0), body)}
    assert verify([key], good, body, now=T0 + 299)
    assert verify([new_secret(), key], good, body, now=T0)  # any of several secrets
    assert not verify([key], good, b'{"id":2}', now=T0)
    assert not verify([key], {**good, 'webhook-id': 'a_2'}, body, now=T0)  # id is signed
    assert not verify([key], {**good, 'webhook-timestamp': str(int(T0) + 1)}, body, now=T0 + 1)
    assert not verify([key], good, body, now=T0 + 301)  # too old
    assert not verify([key], good, body, now=T0 - 6)  # more than 5 s in the future
    assert verify([key], good, body, now=T0 - 4)
    assert not verify([key], {**good, 'webhook-timestamp': 'soon'}, body, now=T0)
    assert not verify([key], {k: v for k, v in good.items() if k != 'webhook-signature'},
                      body, now=T0)
    assert not verify([key], {**good, 'webhook-signature': 'v1,\u00e9'}, body, now=T0)


def test_retry_policy_default_reaches_about_three_days_and_honours_retry_after():
    policy = RetryPolicy()
    assert 2.5 * 86400 <= policy.total_s <= 3.5 * 86400
    assert policy.max_attempts == 11
    rng = random.Random(3)
    for attempt in range(1, policy.max_attempts):
        nominal = policy.delays_s[attempt - 1]
        assert 0.9 * nominal <= policy.delay(attempt, rng) <= 1.1 * nominal
    assert policy.delay(policy.max_attempts, rng) is None
    assert policy.delay(1, rng, retry_after_s=120.0) == 120.0  # longer than 5 s: honoured
    assert policy.delay(1, rng, retry_after_s=10 ** 9) == 86400.0  # capped
    with pytest.raises(ValueError):
        policy.delay(0)


def test_backoff_jitter_stays_within_bounds():
    rng = random.Random(7)
    policy = RetryPolicy.exponential(100, 0.5, 60.0)
    for attempt in range(1, 12):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.5 * ceiling  # spread over the range, not stuck at 0
    assert 0 <= RetryPolicy.exponential(20_000, 1.0, 30.0).delay(10_000, rng) <= 30.0


def test_shipped_web_yaml_has_no_active_webhooks():
    assert read_config_file(WEB_YAML)['webhooks'] == []
    assert load_subscriptions_file(WEB_YAML, env={}) == ()


def test_load_subscriptions_from_yaml(tmp_path):
    path = tmp_path / 'web.yaml'
    path.write_text(textwrap.dedent('''
        webhooks:
          - name: erp
            url: https://erp.example.com/hook
            secret_env: ERP_SECRET
            events: [mission.*]
            client_ref: erp
            max_attempts: 3
            backoff_base_s: 0.5
            backoff_max_s: 30
          - name: pd
            format: pagerduty
            url: https://events.pagerduty.com/v2/enqueue
            routing_key_env: PD_KEY
          - name: chat
            format: slack
            url: https://hooks.slack.com/services/T/B/X
            timeout_s: 3
          - name: rotating
            url: https://erp.example.com/other
            secret_env: ROTATING
            retry_schedule_s: [1, 2]
    '''))
    old, new = new_secret(), new_secret()
    erp, pd, chat, rotating = load_subscriptions_file(
        path, env={'ERP_SECRET': K, 'PD_KEY': 'rk', 'ROTATING': f'{old} {new}'})
    assert erp == Subscription('erp', 'https://erp.example.com/hook', events=('mission.*',),
                               secrets=(K,), client_ref='erp',
                               retry=RetryPolicy.exponential(3, 0.5, 30.0))
    assert pd.options == {'routing_key': 'rk'} and pd.max_attempts == 11 and pd.secrets == ()
    assert pd.retry == RetryPolicy()  # the default schedule (about three days)
    assert chat.format == 'slack' and chat.timeout_s == 3.0 and chat.events == ('*',)
    assert rotating.secrets == (old, new)
    assert rotating.retry.delays_s == (1.0, 2.0) and rotating.max_attempts == 3


@pytest.mark.parametrize('item,key,words', [
    ({'url': 'https://x/', 'secret': K}, 'webhooks[0].name', 'required'),
    ({'name': 'a', 'secret': K}, 'webhooks[0].url', 'URL'),
    ({'name': 'a', 'url': 'ftp://x/', 'secret': K}, 'webhooks[0].url', 'URL'),
    ({'name': 'a', 'url': 'https://x/'}, 'webhooks[0].secret', 'secret'),
    ({'name': 'a', 'url': 'https://x/', 'secret_env': 'UNSET'}, 'webhooks[0].secret_env',
     'UNSET'),
    ({'name': 'a', 'url': 'https://x/', 'format': 'teams'}, 'webhooks[0].format', 'teams'),
    ({'name': 'a', 'url': 'https://x/', 'format': 'pagerduty'}, 'webhooks[0].routing_key',
     'required'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'retries': 3}, 'webhooks[0].retries',
     'unknown key'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'max_attempts': 0},
     'webhooks[0].max_attempts', 'at least 1'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'backoff_base_s': 'fast'},
     'webhooks[0].backoff_base_s', 'number'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'backoff_base_s': 10,
      'backoff_max_s': 5}, 'webhooks[0].backoff_max_s', 'backoff_base_s'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'events': []}, 'webhooks[0].events',
     'list'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'events': ['mission.*', 'incident.[ab]']},
     'webhooks[0].events[1]', 'kind pattern'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'events': ['mission.*', 7]},
     'webhooks[0].events[1]', 'a string'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'events': 'mission.*'},
     'webhooks[0].events', 'list'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'secret_env': 'X'},
     'webhooks[0].secret_env', 'not secret and secret_env'),
    ({'name': 'a', 'url': 'https://x/', 'secret': 's3cret'}, 'webhooks[0].secret', 'whsec_'),
    ({'name': 'a', 'url': 'https://x/', 'secret': 'whsec_!!'}, 'webhooks[0].secret', 'base64'),
    ({'name': 'a', 'url': 'https://x/', 'secret': 'whsec_AAAA'}, 'webhooks[0].secret',
     '16 to 64 bytes'),
    ({'name': 'a', 'url': 'https://x/', 'secrets': [K, 'plain']}, 'webhooks[0].secrets[1]',
     'whsec_'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'retry_schedule_s': [1, -1]},
     'webhooks[0].retry_schedule_s[1]', 'at least 0'),
    ({'name': 'a', 'url': 'https://x/', 'secret': K, 'retry_schedule_s': [1],
      'max_attempts': 3}, 'webhooks[0].max_attempts', 'not both'),
])
def test_subscription_config_errors_name_file_and_key(item, key, words):
    with pytest.raises(ConfigError) as caught:
        load_subscriptions([item], file='conf/web.yaml', env={})
    error = caught.value
    assert error.file == 'conf/web.yaml' and error.key == key
    assert str(error).startswith(f'conf/web.yaml: {key}: ')
    assert words in str(error)


def test_config_file_errors(tmp_path):
    sub = {'name': 'a', 'url': 'https://x/', 'secret': K}
    with pytest.raises(ConfigError, match=r'webhooks\[1\].name: duplicate'):
        load_subscriptions([sub, sub], file='f.yaml')
    with pytest.raises(ConfigError, match='webhooks: must be a list'):
        load_subscriptions({'a': 1}, file='f.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('webhooks: [unclosed\n')
    with pytest.raises(ConfigError) as caught:
        read_config_file(bad)
    assert caught.value.file == str(bad) and 'invalid YAML' in str(caught.value)
    with pytest.raises(ConfigError, match='cannot read'):
        read_config_file(tmp_path / 'missing.yaml')


@pytest.mark.parametrize('data, where, words', [
    (b'webhooks: []\nrate_limit: {burst: 5}\n# caf\xe9\n', 'line 3, column 6',
     'cannot read: not valid UTF-8'),
    (b'webhooks: [unclosed\n', 'line 2, column 1', 'invalid YAML'),
    (b'webhooks: []\nwebhooks: []\n', 'line 2, column 1', "duplicate key 'webhooks'"),
])
def test_web_yaml_read_errors_name_the_file_and_where(tmp_path, data, where, words):
    path = tmp_path / 'web.yaml'
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    assert (caught.value.file, caught.value.key) == (str(path), where)
    assert str(caught.value).startswith(f'{path}: {where}: ') and words in str(caught.value)
    path.write_text('- a\n- b\n', encoding='utf-8')
    with pytest.raises(ConfigError, match='must be a mapping, got list'):
        read_config_file(path)
    path.write_text('', encoding='utf-8')
    assert read_config_file(path) == {}
