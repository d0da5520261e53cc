"""The webhook delivery worker: posts the outbox's pending deliveries (asyncio).

One queue per (subscription, destination) (see :mod:`fleet_web.store`): at most one delivery
in flight per queue, queues in parallel (up to ``max_in_flight``), so one slow or dead
receiver delays no one else. An attempt:

* the destination is checked by the egress policy (:mod:`fleet_web.egress`); a refused one is
  dead-lettered at once (``refused: ...``), without a request;
* POST with the subscription's ``timeout_s``, redirects not followed;
* 2xx: delivered;
* 410 Gone: the receiver asks to stop. A configured subscription is disabled (its pending
  deliveries stay; no new ones are enqueued until it is enabled again); a mission callback's
  delivery is dead-lettered (the other callbacks go on);
* anything else (a status, a timeout, a connection error): retried on the subscription's
  :class:`~fleet_web.retry.RetryPolicy`, at least ``Retry-After`` later when the receiver
  sent one; dead-lettered after the last attempt.

Only a short status line is ever kept of a failure (``HTTP 503``, ``timed out after 10 s``,
``connection failed``): never a response body, never a URL. Storage errors never stop the
worker: they mark :attr:`BridgeHealth.worker` degraded and it tries again. Delivered rows older
than the retention are pruned.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
import enum
import json
import logging
import random
import sqlite3
import time
from typing import Callable, Iterable, Mapping

import aiohttp

from fleet_web.egress import EgressPolicy, EgressRefused
from fleet_web.retry import parse_retry_after
from fleet_web.status import BridgeHealth, storage_reason
from fleet_web.store import Delivery, QueueKey, Store
from fleet_web.webhooks import Clock, Subscription, delivery_headers, get_format

log = logging.getLogger('fleet_web.webhooks')


class DeliveryOutcome(str, enum.Enum):
    """What one delivery attempt led to (the ``outcome`` label of the metrics)."""

    DELIVERED = 'delivered'
    """The receiver answered 2xx."""

    RETRY = 'retry'
    """The attempt failed (non-2xx, timeout, connection error); a retry is scheduled."""

    DEAD = 'dead'
    """The attempt failed and was the last allowed, the event cannot be rendered, the
    destination is refused, or a callback receiver answered 410: the delivery is
    dead-lettered."""

    GONE = 'gone'
    """The receiver of a configured subscription answered 410 Gone: the subscription is
    disabled."""


OutcomeCallback = Callable[[str, DeliveryOutcome, float], None]
"""Called as ``(subscription name, outcome, attempt duration in seconds)``; must not raise."""


@dataclass(frozen=True)
class Retention:
    """How long finished deliveries are kept (seconds; None: forever)."""

    delivered_s: float | None = 7 * 86400.0
    dead_s: float | None = 30 * 86400.0
    every_s: float = 3600.0
    """How often the outbox is pruned."""


@dataclass(frozen=True)
class Attempt:
    """What came of one POST: ``status`` (None without an answer), a short ``error`` (None
    on 2xx) and the seconds the receiver asked to wait (``Retry-After``)."""

    status: int | None
    error: str | None
    retry_after_s: float | None = None


async def post(session: aiohttp.ClientSession, url: str, body: bytes,
               headers: Mapping[str, str], timeout_s: float, now: float) -> Attempt:
    """POST once, following no redirect; return what came of it (never raises for a failed
    request; the response body is not read)."""
    try:
        async with session.post(url, data=body, headers=dict(headers), allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            status = response.status
            if 200 <= status < 300:
                return Attempt(status, None)
            retry_after = parse_retry_after(response.headers.get('Retry-After'), now)
            return Attempt(status, f'HTTP {status}', retry_after)
    except asyncio.TimeoutError:
        return Attempt(None, f'timed out after {timeout_s:g} s')
    except aiohttp.ClientConnectorDNSError:
        return Attempt(None, 'connection failed: the host does not resolve')
    except aiohttp.ClientSSLError:
        return Attempt(None, 'connection failed: TLS error')
    except aiohttp.ClientError:
        return Attempt(None, 'connection failed')


class DeliveryWorker:
    """Posts pending deliveries from the store (see the module docstring).

    Loop: take each queue's due head (see :meth:`Store.claim_due`) unless that queue already
    has a delivery in flight, post each in its own task, and sleep until the next delivery is
    due, :meth:`notify` is called, or ``poll_interval_s`` passes. A delivery interrupted by
    :meth:`stop` or a crash is attempted again later (at-least-once).

    Metrics: ``outcomes[(subscription, outcome value)]`` counts attempts by outcome;
    ``on_outcome`` (optional) is called for each. ``clock`` gives Unix seconds (due times,
    signature timestamps); ``rng`` the jitter.
    """

    def __init__(self, store: Store, subscriptions: Iterable[Subscription],
                 session: aiohttp.ClientSession, *, policy: EgressPolicy | None = None,
                 clock: Clock = time.time, rng: random.Random | None = None,
                 poll_interval_s: float = 5.0, stop_timeout_s: float = 5.0,
                 max_in_flight: int = 64, retention: Retention | None = None,
                 health: BridgeHealth | None = None,
                 on_outcome: OutcomeCallback | None = None,
                 on_disabled: Callable[[str, int, str], None] | None = None) -> None:
        self._store = store
        self._subscriptions = {sub.name: sub for sub in subscriptions}
        self._session = session
        self._policy = policy or EgressPolicy()
        self._clock = clock
        self._rng = rng or random.Random()
        self._poll_interval_s = poll_interval_s
        self._stop_timeout_s = stop_timeout_s
        self._max_in_flight = max_in_flight
        self._retention = retention or Retention()
        self.health = health or BridgeHealth()
        self._on_outcome = on_outcome
        self._on_disabled = on_disabled
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[QueueKey, asyncio.Task[None]] = {}
        self._stopping = False
        self._pruned_at = float('-inf')

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (while the loop task lives)."""
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> frozenset[str]:
        """Names of the subscriptions with a delivery being attempted now."""
        return frozenset(name for name, _ in self._in_flight)

    async def start(self) -> None:
        """Start the loop task on the running event loop (no-op when already running)."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name='webhook-delivery-loop')

    async def stop(self) -> None:
        """Cancel the loop and the deliveries in flight and wait for them (bounded by
        ``stop_timeout_s``). Interrupted deliveries stay pending."""
        self._stopping = True
        tasks = [task for task in (self._task, *self._in_flight.values()) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                       timeout=self._stop_timeout_s)
            except asyncio.TimeoutError:
                log.warning('webhook worker: tasks still running %.1f s after cancel',
                            self._stop_timeout_s)
        self._task = None
        self._in_flight.clear()

    def notify(self) -> None:
        """Wake the loop now (new deliveries were enqueued). Safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop closed meanwhile: nothing to wake
                pass

    def _active_names(self) -> set[str]:
        disabled = self._store.disabled_subscriptions()
        return {name for name in self._subscriptions if name not in disabled}

    def _schedule(self, now: float) -> float | None:
        """Spawn every due head; return when the next one is due (None: none pending)."""
        names = self._active_names()
        room = self._max_in_flight - len(self._in_flight)
        for delivery in self._store.claim_due(now, subscriptions=names,
                                              exclude=self._in_flight.keys())[:max(room, 0)]:
            self._spawn(delivery)
        if len(self._in_flight) >= self._max_in_flight:
            return None  # woken when one finishes
        return self._store.next_due_at(subscriptions=names, exclude=self._in_flight.keys())

    def _prune(self, now: float) -> None:
        keep = self._retention
        if now - self._pruned_at < keep.every_s:
            return
        self._pruned_at = now
        removed = self._store.prune(
            delivered_before=None if keep.delivered_s is None else now - keep.delivered_s,
            dead_before=None if keep.dead_s is None else now - keep.dead_s)
        if removed:
            log.info('webhook outbox: pruned %d finished deliveries', removed)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            now = self._clock()
            timeout = self._poll_interval_s
            try:
                next_due = self._schedule(now)
                self._prune(now)
                self.health.worker.ok()
            except sqlite3.Error as exc:
                self.health.worker.fail(f'cannot read the outbox: {storage_reason(exc)}', now)
                next_due = None
            if next_due is not None:
                timeout = min(timeout, max(next_due - now, 0.01))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the event is set, and stop() would hang.
            try:
                if hasattr(asyncio, 'timeout'):  # Python >= 3.11
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                else:  # Python 3.10 (ROS 2 Humble): its wait_for does not have that race
                    await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _spawn(self, delivery: Delivery) -> None:
        queue = delivery.queue
        task = asyncio.create_task(self._deliver(self._subscriptions[delivery.subscription],
                                                 delivery),
                                   name=f'webhook-delivery-{delivery.id}')
        self._in_flight[queue] = task
        task.add_done_callback(lambda done: self._delivery_done(queue, done))

    def _delivery_done(self, queue: QueueKey, task: asyncio.Task[None]) -> None:
        if self._in_flight.get(queue) is task:
            del self._in_flight[queue]
        if not task.cancelled() and task.exception() is not None:
            log.error('webhook worker: delivery task of %s failed', queue[0],
                      exc_info=task.exception())
        self._wake.set()

    def _record(self, name: str, outcome: DeliveryOutcome, started: float) -> None:
        self.outcomes[(name, outcome.value)] += 1
        if self._on_outcome is not None:
            self._on_outcome(name, outcome, time.monotonic() - started)

    async def _deliver(self, sub: Subscription, delivery: Delivery) -> None:
        try:
            await self._attempt(sub, delivery)
            self.health.storage.ok()
        except sqlite3.Error as exc:
            # The result could not be stored: the delivery stays pending (and is attempted
            # again: at-least-once). Pause (still "in flight") so a broken database does not
            # turn into a hot loop against the receiver.
            self.health.storage.fail(storage_reason(exc), self._clock())
            log.warning('webhook worker: cannot record delivery %d of %s: %s', delivery.id,
                        sub.name, storage_reason(exc))
            await asyncio.sleep(self._poll_interval_s)

    async def _attempt(self, sub: Subscription, delivery: Delivery) -> None:
        started = time.monotonic()
        attempt = delivery.attempts + 1
        try:
            rendered = get_format(sub.format).render(delivery.event, sub)
            body = json.dumps(rendered, separators=(',', ':'), ensure_ascii=False).encode()
        except (KeyError, TypeError, ValueError) as exc:
            self._store.dead_letter(delivery.id, self._clock(),
                                    f'cannot render as {sub.format}: {type(exc).__name__}')
            self._record(sub.name, DeliveryOutcome.DEAD, started)
            return
        url = sub.target(delivery.event) or sub.url
        try:
            await self._policy.check_url(url)
        except EgressRefused as exc:
            self._finish_refused(sub, delivery, f'refused: {exc}', started)
            return
        except (OSError, asyncio.TimeoutError):
            pass  # DNS trouble: the request reports it as a failed attempt
        headers = delivery_headers(sub, body, delivery.event_id, attempt, self._clock())
        try:
            result = await post(self._session, url, body, headers, sub.timeout_s,
                                self._clock())
        except EgressRefused as exc:  # the connector's resolver refused (DNS changed)
            self._finish_refused(sub, delivery, f'refused: {exc}', started)
            return
        self._finish(sub, delivery, attempt, result, started)

    def _finish_refused(self, sub: Subscription, delivery: Delivery, error: str,
                        started: float) -> None:
        self._store.dead_letter(delivery.id, self._clock(), error)
        log.warning('webhook %s: delivery %d (event %d) refused by the egress policy: %s',
                    sub.name, delivery.id, delivery.event_id, error)
        self._record(sub.name, DeliveryOutcome.DEAD, started)

    def _finish(self, sub: Subscription, delivery: Delivery, attempt: int, result: Attempt,
                started: float) -> None:
        now = self._clock()
        if result.error is None:
            self._store.mark_delivered(delivery.id, now, result.status)
            self._record(sub.name, DeliveryOutcome.DELIVERED, started)
            return
        if result.status == 410 and sub.url_from_payload is None:
            self._store.schedule_retry(delivery.id, now, now, 'HTTP 410: subscription '
                                       'disabled by the receiver', 410)
            self._store.disable_subscription(sub.name, now, 'the receiver answered 410 Gone')
            if self._on_disabled is not None:
                self._on_disabled(sub.name, 410, 'the receiver answered 410 Gone')
            log.warning('webhook %s: the receiver answered 410 Gone: subscription disabled '
                        '(enable it again with POST /api/v1/webhooks/subscriptions/%s/enable)',
                        sub.name, sub.name)
            self._record(sub.name, DeliveryOutcome.GONE, started)
            return
        delay = None if result.status == 410 else sub.retry.delay(attempt, self._rng,
                                                                 result.retry_after_s)
        if delay is None:
            self._store.dead_letter(delivery.id, now, result.error, result.status)
            log.warning('webhook %s: delivery %d (event %d) dead after %d attempts: %s',
                        sub.name, delivery.id, delivery.event_id, attempt, result.error)
            self._record(sub.name, DeliveryOutcome.DEAD, started)
            return
        self._store.schedule_retry(delivery.id, now, now + delay, result.error, result.status)
        log.info('webhook %s: delivery %d attempt %d failed (%s); retry in %.1f s',
                 sub.name, delivery.id, attempt, result.error, delay)
        self._record(sub.name, DeliveryOutcome.RETRY, started)
