"""End to end: Standard Webhooks from the real bridge, verified with the ``standardwebhooks``
package: at least once across a SIGKILL and across a receiver outage, a secret rotated
mid-stream without a loss, a 410 that disables a subscription, dead letters visible and
retryable over the API, and signed mission callbacks.

Processes: manager, two simulated robots, the bridge; webhook receivers are aiohttp
servers on 127.0.0.1 inside the test (web.yaml's egress.allow names 127.0.0.1 only).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import threading
from typing import Any, Iterator

from aiohttp import web
import pytest

from fleet_testing import REPO, Proc, fleet_env, free_port, get_json, http, wait_for
from fleet_web.signing import new_secret

standardwebhooks = pytest.importorskip('standardwebhooks', reason='standardwebhooks is not '
                                       'installed (requirements/test.txt)')

TOKEN = 'webhook-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
SECRET = new_secret()
ROTATED = new_secret()
SHORT = [0.2, 0.4, 0.8, 1.6, 3.2] + [5.0] * 10
"""A short retry schedule (s): about 56 s from the first attempt to the last (the default
one reaches about three days: see test_webhooks)."""


class Receiver:
    """A webhook receiver in a background thread; verifies every request with the
    ``standardwebhooks`` package (with ``secret``), records events, can answer 500 or 410."""

    def __init__(self) -> None:
        self.port = free_port()
        self.fail = False
        self.status = 204  # the answer to a verified request
        self.secret = SECRET
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.attempts = 0
        self.callbacks: list[tuple[dict[str, Any], bool]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post('/hook', self._hook)
        app.router.add_post('/callback', self._callback)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, '127.0.0.1', self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def verify(self, request: web.Request, body: bytes, secret: str) -> bool:
        try:
            standardwebhooks.Webhook(secret).verify(body, dict(request.headers))
        except standardwebhooks.WebhookVerificationError:
            return False
        return True

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.lock:
            self.attempts += 1
            if self.fail:
                return web.Response(status=500, text='receiver down')
            if not self.verify(request, body, self.secret):
                self.bad_signatures += 1
                return web.Response(status=401)
            if self.status == 410:
                return web.Response(status=410)
            event = json.loads(body)
            event['_event_id_header'] = int(request.headers['X-Fleet-Event-Id'])
            event['_webhook_id'] = request.headers['webhook-id']
            self.received.append(event)
        return web.Response(status=self.status)

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = self.verify(request, body, SECRET)
        with self.lock:
            self.callbacks.append((json.loads(body), ok))
        return web.Response(status=200)

    def stop_listening(self) -> None:
        """Go away entirely (connections refused) until :meth:`listen` again."""
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)

    def listen(self) -> None:
        """Come back on the same port."""
        async def start() -> None:
            await self._runner.setup()
            await web.TCPSite(self._runner, '127.0.0.1', self.port).start()
        asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)

    def ids(self) -> set[int]:
        with self.lock:
            return {e['_event_id_header'] for e in self.received}

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Setup:
    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.all = Receiver()
        self.flaky = Receiver()
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}/api/v1'
        self.web_yaml = tmp / 'web.yaml'
        self.write_config([SECRET])
        env = fleet_env(FLEET_TOKEN=TOKEN)
        self.manager = Proc('manager', [
            '-m', 'fleet_manager.manager_node', '--ros-args',
            '-p', f'database:={tmp / "fleet.db"}', '-p', 'tick_period:=0.05',
            '-p', f'fleet_config:={REPO / "src" / "fleet_bringup" / "config" / "fleet.yaml"}'],
            tmp, env)
        self.robots = Proc('robots', ['-m', 'fleet_sim.fleet', 'robot1', 'robot2',
                                      '--report-rate', '5', '--speed', '6'], tmp, env)
        self.bridge = self.start_bridge('web1')

    def write_config(self, all_secrets: list[str]) -> None:
        """web.yaml with the ``all`` subscription signed by ``all_secrets``."""
        self.web_yaml.write_text(json.dumps({
            'rate_limit': {'per_second': 1000, 'burst': 1000},
            'egress': {'allow': ['127.0.0.1/32']},
            'mission_callbacks': {'secrets': [SECRET], 'retry_schedule_s': SHORT},
            'webhooks': [
                {'name': 'all', 'url': f'http://127.0.0.1:{self.all.port}/hook',
                 'format': 'json', 'events': ['*'], 'secrets': all_secrets,
                 'retry_schedule_s': SHORT},
                {'name': 'flaky', 'url': f'http://127.0.0.1:{self.flaky.port}/hook',
                 'format': 'json', 'events': ['mission.*'], 'secrets': [SECRET],
                 'retry_schedule_s': [0.05, 0.1]}]}))

    def restart_bridge(self, name: str) -> None:
        """Stop the bridge (SIGTERM) and start it again with the current web.yaml."""
        code = self.bridge.stop()
        assert code == 0, self.bridge.tail()
        self.bridge = self.start_bridge(name)
        wait_for(lambda: (self.get('/health') or {}).get('manager') == 'reachable'
                 and (self.get('/robots') or {}).get('total', 0) >= 2, timeout=30,
                 message='the bridge back, talking to the manager')

    def start_bridge(self, name: str) -> Proc:
        return Proc(name, ['-m', 'fleet_web.web_node', '--port', str(self.port),
                           '--state', str(self.tmp / 'web.db'), '--config',
                           str(self.web_yaml)], self.tmp, fleet_env(FLEET_TOKEN=TOKEN))

    def get(self, path: str) -> Any:
        return get_json(self.base + path, AUTH)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        status, data, _ = http('POST', self.base + path, body if body is not None else {},
                               AUTH)
        return status, data

    def log_ids(self) -> set[int]:
        ids, after = set(), 0
        while True:
            status, page, _ = http('GET', f'{self.base}/events?after={after}&limit=1000',
                                   headers=AUTH)
            assert status == 200, page
            if not page['items']:
                return ids
            ids |= {e['id'] for e in page['items']}
            after = page['next_after']

    def submit(self, x: float, y: float, ref: str) -> dict[str, Any]:
        status, mission = self.post('/missions', {'waypoints': [{'x': x, 'y': y}],
                                                  'client_ref': ref})
        assert status == 201, mission
        return mission


@pytest.fixture(scope='module')
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(tmp_path_factory.mktemp('webhooks'))
    try:
        wait_for(lambda: (s.get('/robots') or {}).get('items') and sum(
            r['connectivity'] == 'online' for r in s.get('/robots')['items']) >= 2,
            timeout=60, message='two robots online')
        yield s
    finally:
        # Stop everything first, then judge the exit codes, so one bad exit leaves no
        # process behind.
        codes = {p.name: p.stop() for p in (s.bridge, s.robots, s.manager)}
        s.all.close()
        s.flaky.close()
        assert all(code == 0 for code in codes.values()), \
            f'{codes}\n' + '\n'.join(p.output()[-2000:] for p in (s.bridge, s.robots,
                                                                      s.manager))


def test_signed_events_for_a_full_mission(setup: Setup) -> None:
    mission = setup.submit(6.0, 8.0, 'WMS-100')
    wait_for(lambda: (setup.get(f'/missions/{mission["id"]}') or {}).get('state') == 'succeeded',
             timeout=60, message='mission succeeded')

    def states() -> list[str]:
        with setup.all.lock:
            return [e['payload']['state'] for e in setup.all.received
                    if e['kind'] == 'mission.state'
                    and e['payload']['mission_id'] == mission['id']]
    wait_for(lambda: states() == ['queued', 'assigned', 'active', 'succeeded'], timeout=20,
             message=f'the mission\'s four states delivered (got {states()})')
    with setup.all.lock:
        delivered = [e for e in setup.all.received
                     if e['kind'] == 'mission.state'
                     and e['payload']['mission_id'] == mission['id']]
        assert setup.all.bad_signatures == 0
    assert all(e['payload']['client_ref'] == 'WMS-100' for e in delivered)
    ids = [e['id'] for e in delivered]
    assert ids == sorted(ids)  # in order per subscription


def test_bridge_sigkill_mid_stream_loses_nothing(setup: Setup) -> None:
    missions = [setup.submit(4.0 + i, 6.0, f'WMS-2{i:02d}') for i in range(4)]
    wait_for(lambda: len(setup.all.ids()) > 0, message='deliveries flowing')
    setup.bridge.kill()  # SIGKILL while events keep coming
    setup.bridge = setup.start_bridge('web2')
    wait_for(lambda: setup.get('/health') is not None, timeout=30, message='bridge back')
    for m in missions:
        wait_for(lambda m=m: (setup.get(f'/missions/{m["id"]}') or {}).get('state') ==
                 'succeeded',
                 timeout=90, message=f'mission {m["id"]} succeeded')
    expected = setup.log_ids()
    wait_for(lambda: expected <= setup.all.ids(), timeout=30,
             message=f'every event id delivered '
                     f'(missing {sorted(expected - setup.all.ids())[:10]})')
    assert setup.all.bad_signatures == 0


def test_dead_letters_visible_and_redelivered(setup: Setup) -> None:
    setup.flaky.fail = True
    mission = setup.submit(9.0, 7.0, 'WMS-300')
    wait_for(lambda: (setup.get(f'/missions/{mission["id"]}') or {}).get('state') == 'succeeded',
             timeout=60, message='mission succeeded')

    def dead() -> list[dict[str, Any]]:
        page = setup.get('/webhooks/deliveries?status=dead&subscription=flaky&limit=1000')
        return page['items'] if page else []
    wait_for(lambda: len([d for d in dead() if d['event_id'] in setup.log_ids()]) >= 4,
             timeout=30, message='dead letters after max attempts')
    dead_now = dead()
    assert all(d['attempts'] == 3 for d in dead_now), dead_now
    assert setup.flaky.attempts >= 3 * len(dead_now)
    setup.flaky.fail = False
    for d in dead_now:
        status, body = setup.post(f'/webhooks/deliveries/{d["id"]}/retry')
        assert status == 202, body
    wait_for(lambda: {d['event_id'] for d in dead_now} <= setup.flaky.ids(), timeout=30,
             message='retried deliveries redelivered')
    status, body = setup.post(f'/webhooks/deliveries/{dead_now[0]["id"]}/retry')
    assert status == 409, body  # no longer dead


def test_mission_callback_url_gets_the_outcome_with_client_ref(setup: Setup) -> None:
    status, mission = setup.post('/missions', {
        'waypoints': [{'x': 7.0, 'y': 9.0}], 'client_ref': 'WMS-CB-1',
        'callback_url': f'http://127.0.0.1:{setup.all.port}/callback'})
    assert status == 201, mission
    wait_for(lambda: any(c[0]['payload']['mission_id'] == mission['id']
                         for c in setup.all.callbacks), timeout=60,
             message='the mission callback')
    calls = [c for c in setup.all.callbacks if c[0]['payload']['mission_id'] == mission['id']]
    assert len(calls) == 1  # only the outcome, not every transition
    event, signed = calls[0]
    assert signed
    assert event['payload']['state'] == 'succeeded'
    assert event['payload']['client_ref'] == 'WMS-CB-1'


def all_pending() -> str:
    return '/webhooks/deliveries?subscription=all&status=pending&limit=1000'


def test_receiver_down_for_a_while_gets_every_event_once_back(setup: Setup) -> None:
    setup.all.stop_listening()
    try:
        missions = [setup.submit(5.0 + i, 7.0, f'WMS-5{i:02d}') for i in range(2)]
        for m in missions:
            wait_for(lambda m=m: (setup.get(f'/missions/{m["id"]}') or {}).get('state') ==
                     'succeeded', timeout=90, message=f'mission {m["id"]} succeeded')
        wait_for(lambda: any(d['attempts'] >= 4 and d['last_error'] == 'connection failed'
                             for d in (setup.get(all_pending()) or {}).get('items', [])),
                 timeout=30, message='several failed attempts while the receiver is down')
    finally:
        setup.all.listen()
    expected = setup.log_ids()
    wait_for(lambda: expected <= setup.all.ids(), timeout=60,
             message=f'every event delivered after the outage '
                     f'(missing {sorted(expected - setup.all.ids())[:10]})')
    dead = setup.get('/webhooks/deliveries?subscription=all&status=dead')
    assert dead['total'] == 0, dead
    assert setup.all.bad_signatures == 0


def test_secret_rotation_mid_stream_loses_nothing(setup: Setup) -> None:
    setup.write_config([SECRET, ROTATED])  # 1. sign with both
    setup.restart_bridge('web-rotate-1')
    first = setup.submit(6.0, 6.0, 'WMS-601')
    setup.all.secret = ROTATED  # 2. the receiver switches to the new secret
    second = setup.submit(7.0, 6.0, 'WMS-602')
    for m in (first, second):
        wait_for(lambda m=m: (setup.get(f'/missions/{m["id"]}') or {}).get('state') ==
                 'succeeded', timeout=90, message=f'mission {m["id"]} succeeded')
    setup.write_config([ROTATED])  # 3. the old secret goes
    setup.restart_bridge('web-rotate-2')
    third = setup.submit(8.0, 6.0, 'WMS-603')
    wait_for(lambda: (setup.get(f'/missions/{third["id"]}') or {}).get('state') ==
             'succeeded', timeout=90, message='the third mission succeeded')
    expected = setup.log_ids()
    wait_for(lambda: expected <= setup.all.ids(), timeout=60,
             message=f'every event delivered across the rotation '
                     f'(missing {sorted(expected - setup.all.ids())[:10]})')
    assert setup.all.bad_signatures == 0


def test_410_disables_the_subscription_until_enabled(setup: Setup) -> None:
    setup.all.status = 410
    mission = setup.submit(9.0, 8.0, 'WMS-700')

    def state() -> dict[str, Any]:
        subs = (setup.get('/webhooks/subscriptions') or {}).get('items', [])
        return next((s for s in subs if s['name'] == 'all'), {})
    wait_for(lambda: state().get('state') == 'disabled', timeout=60,
             message='the subscription disabled after a 410')
    assert 'all' in setup.get('/health')['webhooks']['disabled_subscriptions']
    # The fact reaches the event log (and so the audit trail and other subscriptions).
    logged = wait_for(lambda: (setup.get('/events?kind=webhook.*') or {}).get('items'),
                      timeout=30, message='webhook.subscription_disabled in the event log')
    assert logged[0]['kind'] == 'webhook.subscription_disabled'
    assert logged[0]['payload'] == {'subscription': 'all', 'status': 410,
                                    'reason': 'the receiver answered 410 Gone'}
    wait_for(lambda: (setup.get(f'/missions/{mission["id"]}') or {}).get('state') ==
             'succeeded', timeout=90, message='the mission succeeded')
    assert state()['pending'] >= 1  # kept, not attempted
    gone = {d['event_id'] for d in setup.get(all_pending())['items']}
    setup.all.status = 204
    status, body = setup.post('/webhooks/subscriptions/all/enable')
    assert status == 200 and body['state'] == 'enabled', body
    wait_for(lambda: gone <= setup.all.ids(), timeout=60,
             message='the deliveries kept while disabled are delivered once enabled')
    status, body = setup.post('/webhooks/subscriptions/all/enable')
    assert status == 409, body
