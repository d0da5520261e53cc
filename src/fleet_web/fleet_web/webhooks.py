"""Webhooks: subscriptions, payload formats, signing, backoff, the outbox and its worker.

Flow: the bridge reads the manager's event log from :meth:`Outbox.cursor` and hands each batch
to :meth:`Outbox.ingest`, which matches the events to the subscriptions and enqueues one
delivery per (subscription, event) together with the new cursor, in one transaction (see
:mod:`fleet_web.store`). :class:`DeliveryWorker` posts the deliveries: at least once, in event
order per subscription, one in flight per subscription, subscriptions in parallel, with
exponential backoff and full jitter between attempts and a dead letter after
``max_attempts``. Everything is in SQLite, so deliveries survive a restart or a SIGKILL.

Each request carries::

    Content-Type: application/json
    X-Fleet-Event-Id: <event id>
    X-Fleet-Delivery: <delivery id>          (stable across retries and restarts)
    X-Fleet-Attempt: <1-based attempt number>
    X-Fleet-Timestamp: <unix seconds>
    X-Fleet-Signature: sha256=<hex HMAC-SHA256 of f'{timestamp}.{body}' keyed by the secret>

(the signature only when the subscription has a secret). Receivers check it with
:func:`verify_signature` and de-duplicate by ``X-Fleet-Delivery`` or ``X-Fleet-Event-Id``.

This module never logs secrets or webhook URLs (a Slack URL is itself a credential).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import hashlib
import hmac
import json
import logging
import os
import pathlib
import random
import re
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol

import aiohttp

from fleet_common.config import ConfigReader, read_yaml
from fleet_common.events import PatternError, check_pattern, kind_matches
from fleet_web.store import Delivery, Store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = 'X-Fleet-Signature'
TIMESTAMP_HEADER = 'X-Fleet-Timestamp'
EVENT_ID_HEADER = 'X-Fleet-Event-Id'
DELIVERY_HEADER = 'X-Fleet-Delivery'
ATTEMPT_HEADER = 'X-Fleet-Attempt'
USER_AGENT = 'fleet_web-webhooks/0.1'

Clock = Callable[[], float]
"""Returns the current time as Unix seconds (``time.time`` in production)."""


# -- subscriptions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Subscription:
    """One webhook subscription.

    ``events`` are event-kind patterns, matched by :func:`fleet_common.events.kind_matches`:
    exact kinds or globs where ``*`` matches any run of characters (``mission.*``,
    ``*.opened``, ``*``); an empty tuple matches nothing. When ``client_ref`` is set, only
    events whose ``payload['client_ref']`` equals it match (in practice: that client's
    mission events).
    ``options`` holds format-specific settings (``routing_key`` for PagerDuty). ``url``,
    ``secret`` and ``options`` are left out of ``repr`` because they may be credentials.
    Times are in seconds.
    """

    name: str
    url: str = field(repr=False)
    events: tuple[str, ...] = ('*',)
    secret: str = field(default='', repr=False)
    format: str = 'json'
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0
    client_ref: str | None = None
    options: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    url_from_payload: str | None = None
    """When set, each event is POSTed to the http(s) URL in this payload key instead of
    ``url`` (the mission callback pattern); events without one do not match."""
    payload_states: tuple[str, ...] = ()
    """When set, only events whose ``payload['state']`` is one of these match."""

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Return True when the event's kind matches a pattern and the payload filters."""
        kind = str(event.get('kind', ''))
        if not any(kind_matches(pattern, kind) for pattern in self.events):
            return False
        payload = event.get('payload')
        if self.url_from_payload is not None:
            url = payload.get(self.url_from_payload) if isinstance(payload, Mapping) else None
            if not isinstance(url, str) or not url.startswith(('http://', 'https://')):
                return False
        if self.payload_states and (not isinstance(payload, Mapping)
                                    or payload.get('state') not in self.payload_states):
            return False
        if self.client_ref is not None:
            payload = event.get('payload')
            if not isinstance(payload, Mapping) or payload.get('client_ref') != self.client_ref:
                return False
        return True


# -- formats ---------------------------------------------------------------------------------

class WebhookFormat(Protocol):
    """Renders an event into the JSON body a kind of receiver expects.

    ``option_keys`` are the subscription settings the format accepts (each may also be given
    as ``<key>_env``, naming an environment variable), ``required_options`` those it needs, and
    ``requires_secret`` whether a subscription using it must have a signing secret.
    """

    name: str
    option_keys: tuple[str, ...]
    required_options: tuple[str, ...]
    requires_secret: bool

    def render(self, event: Mapping[str, Any], subscription: Subscription) -> dict[str, Any]:
        """Return the request body (a JSON-serialisable dict) for the event."""
        ...


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = event.get('payload')
    return payload if isinstance(payload, Mapping) else {}


def _pick(payload: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = payload.get(key)
        if value not in (None, ''):
            return value
    return None


def summarize(event: Mapping[str, Any]) -> str:
    """Return a one-line, human-readable summary of an event (plain text)."""
    kind = str(event.get('kind') or 'event')
    robot = str(event.get('robot_id') or '')
    payload = _payload(event)
    family, _, action = kind.partition('.')
    action = action.replace('_', ' ')
    if family == 'incident':
        ident = _pick(payload, 'incident_id', 'id')
        text = f"Incident {ident} {action or 'updated'}" if ident else f'Incident {action}'
        severity = _pick(payload, 'severity')
        if severity is not None:
            text = f'[{severity}] {text}'
        title = _pick(payload, 'title', 'summary', 'message', 'description')
        if title is not None:
            text += f': {title}'
        if robot:
            text += f' (robot {robot})'
    elif family == 'mission':
        ident = _pick(payload, 'mission_id', 'id')
        state = _pick(payload, 'state', 'status')
        text = f'Mission {ident}' if ident is not None else 'Mission'
        text += f' is {state}' if state is not None else f" {action or 'updated'}"
        if robot:
            text += f' on robot {robot}'
        client_ref = _pick(payload, 'client_ref')
        if client_ref is not None:
            text += f' (ref {client_ref})'
    elif family == 'robot':
        state = _pick(payload, 'state', 'connectivity', 'status', 'value', 'message')
        text = f"Robot {robot or '?'} {action or 'event'}"
        if state is not None:
            text += f': {state}'
    else:
        text = kind + (f' for robot {robot}' if robot else '')
    return text


class JsonFormat:
    """Generic JSON: the event as it is, plus ``subscription`` (the subscription's name)."""

    name = 'json'
    option_keys: tuple[str, ...] = ()
    required_options: tuple[str, ...] = ()
    requires_secret = True

    def render(self, event: Mapping[str, Any], subscription: Subscription) -> dict[str, Any]:
        """Return ``{**event, 'subscription': name}``."""
        return {**event, 'subscription': subscription.name}


def _slack_escape(text: str) -> str:
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def _clip(text: str, limit: int) -> str:
    """Cut escaped text to ``limit`` characters without splitting an ``&...;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    amp = cut.rfind('&')
    if amp != -1 and ';' not in cut[amp:]:
        cut = cut[:amp]
    return cut + '\u2026'


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(',', ':'))
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


class SlackFormat:
    """Slack incoming webhook: ``text`` (the summary, also the notification fallback) and
    Block Kit ``blocks``: a section with the summary, a section with up to 10 payload fields,
    and a context line with the kind, event id and time. Text is escaped for mrkdwn and cut
    to Slack's limits (section text 3000, field 2000 characters)."""

    name = 'slack'
    option_keys: tuple[str, ...] = ()
    required_options: tuple[str, ...] = ()
    requires_secret = False
    MAX_FIELDS = 10

    def render(self, event: Mapping[str, Any], subscription: Subscription) -> dict[str, Any]:
        """Return ``{'text': str, 'blocks': [...]}``."""
        summary = _slack_escape(summarize(event))
        blocks: list[dict[str, Any]] = [
            {'type': 'section', 'text': {'type': 'mrkdwn', 'text': _clip(summary, 3000)}},
        ]
        fields = [
            {'type': 'mrkdwn',
             'text': _clip(f'*{_slack_escape(str(key))}*\n{_slack_escape(_short(value))}', 2000)}
            for key, value in list(_payload(event).items())[:self.MAX_FIELDS]
        ]
        if fields:
            blocks.append({'type': 'section', 'fields': fields})
        context = (f"{event.get('kind', '')} \u00b7 event {event.get('id')} \u00b7 "
                   f"{event.get('time', '')} \u00b7 {subscription.name}")
        blocks.append({'type': 'context', 'elements': [
            {'type': 'mrkdwn', 'text': _clip(_slack_escape(context), 3000)}]})
        return {'text': _clip(summary, 3000), 'blocks': blocks}


PAGERDUTY_SEVERITIES = {'SEV0': 'critical', 'SEV1': 'error', 'SEV2': 'warning', 'SEV3': 'info'}
"""Incident severity (``payload.severity``) -> PagerDuty severity."""

_PAGERDUTY_ACTIONS = {
    'acknowledged': 'acknowledge', 'acked': 'acknowledge',
    'resolved': 'resolve', 'closed': 'resolve',
}


class PagerDutyFormat:
    """PagerDuty Events API v2 (``POST https://events.pagerduty.com/v2/enqueue``).

    ``event_action``: ``incident.acknowledged``/``incident.acked`` -> acknowledge,
    ``incident.resolved``/``incident.closed`` -> resolve, any other event (``incident.opened``
    and the rest) -> trigger. ``dedup_key`` is ``fleet-incident-<incident_id>`` for incident
    events (so trigger/acknowledge/resolve act on one PagerDuty incident), else
    ``fleet-event-<event id>``. ``payload.severity`` maps SEV0..SEV3 to
    critical/error/warning/info (PagerDuty's own names pass through; anything else gives
    ``error`` for incidents and ``info`` otherwise). Needs the ``routing_key`` option.
    """

    name = 'pagerduty'
    option_keys: tuple[str, ...] = ('routing_key',)
    required_options: tuple[str, ...] = ('routing_key',)
    requires_secret = False

    def render(self, event: Mapping[str, Any], subscription: Subscription) -> dict[str, Any]:
        """Return a PagerDuty Events API v2 event."""
        kind = str(event.get('kind') or '')
        family, _, action = kind.partition('.')
        payload = _payload(event)
        incident_id = _pick(payload, 'incident_id', 'id') if family == 'incident' else None
        if family == 'incident':
            event_action = _PAGERDUTY_ACTIONS.get(action, 'trigger')
        else:
            event_action = 'trigger'
        dedup_key = (f'fleet-incident-{incident_id}' if incident_id is not None
                     else f"fleet-event-{event.get('id')}")
        raw_severity = str(payload.get('severity', '')).strip()
        severity = PAGERDUTY_SEVERITIES.get(raw_severity.upper())
        if severity is None:
            if raw_severity.lower() in PAGERDUTY_SEVERITIES.values():
                severity = raw_severity.lower()
            else:
                severity = 'error' if family == 'incident' else 'info'
        details = {'event_id': event.get('id'), 'kind': kind, **payload}
        body: dict[str, Any] = {
            'routing_key': subscription.options['routing_key'],
            'event_action': event_action,
            'dedup_key': dedup_key[:255],
            'client': 'fleet_web',
            'payload': {
                'summary': _short(summarize(event), 1024),
                'source': str(event.get('robot_id') or 'fleet'),
                'severity': severity,
                'timestamp': event.get('time'),
                'class': kind,
                'group': family,
                'custom_details': details,
            },
        }
        return body


FORMATS: dict[str, WebhookFormat] = {}
"""The format registry: name -> format. Add formats with :func:`register_format`."""


def register_format(fmt: WebhookFormat, *, replace: bool = False) -> None:
    """Register a format under ``fmt.name``; ValueError if taken (unless ``replace``)."""
    if fmt.name in FORMATS and not replace:
        raise ValueError(f'webhook format {fmt.name!r} is already registered')
    FORMATS[fmt.name] = fmt


def get_format(name: str) -> WebhookFormat:
    """Return the registered format; KeyError naming the known formats if there is none."""
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f'unknown webhook format {name!r} '
                       f"(known: {', '.join(sorted(FORMATS))})") from None


for _fmt in (JsonFormat(), SlackFormat(), PagerDutyFormat()):
    register_format(_fmt)


# -- signing ---------------------------------------------------------------------------------

def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """Return ``sha256=<hex HMAC-SHA256 of f'{timestamp}.{body}'>`` keyed by ``secret``."""
    raw = body.encode('utf-8') if isinstance(body, str) else body
    message = f'{timestamp}.'.encode('ascii') + raw
    digest = hmac.new(secret.encode('utf-8'), message, hashlib.sha256).hexdigest()
    return f'sha256={digest}'


def verify_signature(secret: str, timestamp: int | str | None, body: bytes | str,
                     header: str | None, now: float, tolerance_s: float = 300) -> bool:
    """Check a delivery's ``X-Fleet-Signature`` header (for receivers).

    ``timestamp`` is the ``X-Fleet-Timestamp`` header, ``body`` the raw request body and
    ``now`` the receiver's Unix time. True only when the secret is not empty, the timestamp
    is an integer within ``tolerance_s`` seconds of ``now`` (replay protection) and the
    signature matches (compared in constant time).
    """
    if not secret or header is None or timestamp is None:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    if abs(now - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body).encode('ascii')
    return hmac.compare_digest(expected, header.strip().encode('utf-8', 'replace'))


def delivery_headers(subscription: Subscription, body: bytes, event_id: int,
                     delivery_id: int, attempt: int, now: float) -> dict[str, str]:
    """Return the request headers of one attempt (signed when the subscription has a secret)."""
    timestamp = int(now)
    headers = {
        'Content-Type': 'application/json',
        'User-Agent': USER_AGENT,
        EVENT_ID_HEADER: str(event_id),
        DELIVERY_HEADER: str(delivery_id),
        ATTEMPT_HEADER: str(attempt),
        TIMESTAMP_HEADER: str(timestamp),
    }
    if subscription.secret:
        headers[SIGNATURE_HEADER] = sign(subscription.secret, timestamp, body)
    return headers


# -- backoff ---------------------------------------------------------------------------------

def backoff_delay(attempt: int, base_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """Return the delay in seconds before the retry that follows failed attempt ``attempt``.

    Exponential backoff with full jitter:
    ``random.uniform(0, min(max_s, base_s * 2 ** (attempt - 1)))``, so the ceiling doubles
    per failure (base, 2*base, 4*base, ...) up to ``max_s`` and the delay is spread evenly
    below it, which keeps many failing subscriptions from retrying in lockstep. ``rng`` is
    injectable for deterministic tests (default: the ``random`` module's generator).
    """
    if attempt < 1:
        raise ValueError('attempt is 1-based')
    ceiling = min(max_s, base_s * 2.0 ** min(attempt - 1, 1000))
    return (rng or random).uniform(0.0, ceiling)


# -- the outbox ------------------------------------------------------------------------------

class Outbox:
    """Turns batches of manager events into webhook deliveries.

    ``on_enqueued`` is called after a batch added deliveries (pass
    :meth:`DeliveryWorker.notify` to wake the worker).
    """

    def __init__(self, store: Store, subscriptions: Iterable[Subscription], *,
                 clock: Clock = time.time,
                 on_enqueued: Callable[[], None] | None = None) -> None:
        self._store = store
        self.subscriptions = tuple(subscriptions)
        self._clock = clock
        self._on_enqueued = on_enqueued

    def cursor(self) -> int:
        """Return the id of the last event already ingested (0 before any): read from here."""
        return self._store.cursor()

    def match(self, event: Mapping[str, Any]) -> list[Subscription]:
        """Return the subscriptions the event goes to."""
        return [sub for sub in self.subscriptions if sub.matches(event)]

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Enqueue the deliveries of a batch of events and advance the cursor, atomically.

        Events at or below the cursor are skipped (already ingested), the rest are taken in
        id order; the cursor moves to the highest id even when no subscription matched. On
        any error nothing is stored and the cursor stays, so the batch can be read again.
        Raises ValueError for an event without an integer ``id``. Returns the number of
        deliveries enqueued.
        """
        batch = list(events)
        for event in batch:
            event_id = event.get('id') if isinstance(event, Mapping) else None
            if not isinstance(event_id, int) or isinstance(event_id, bool):
                raise ValueError(f'event without an integer id: {event_id!r}')
        cursor = self._store.cursor()
        fresh = sorted((e for e in batch if e['id'] > cursor), key=lambda e: e['id'])
        if not fresh:
            return 0
        entries = [(sub.name, event) for event in fresh for sub in self.match(event)]
        inserted = self._store.enqueue(entries, cursor=fresh[-1]['id'], now=self._clock())
        if inserted and self._on_enqueued is not None:
            self._on_enqueued()
        return inserted


# -- the worker ------------------------------------------------------------------------------

class DeliveryOutcome(str, enum.Enum):
    """What one delivery attempt led to (the ``outcome`` label of the metrics)."""

    DELIVERED = 'delivered'
    """The receiver answered 2xx."""

    RETRY = 'retry'
    """The attempt failed (non-2xx, timeout, connection error); a retry is scheduled."""

    DEAD = 'dead'
    """The attempt failed and was the last allowed (or the event cannot be rendered): the
    delivery is dead-lettered."""


OutcomeCallback = Callable[[str, DeliveryOutcome, float], None]
"""Called as ``(subscription name, outcome, attempt duration in seconds)``; must not raise."""


class DeliveryWorker:
    """Posts pending deliveries from the store (asyncio).

    Loop: take each configured subscription's due head (see :meth:`Store.claim_due`) unless
    that subscription already has a delivery in flight, post each in its own task, and sleep
    until the next delivery is due, :meth:`notify` is called, or ``poll_interval_s`` passes.
    An attempt: POST with the subscription's ``timeout_s``; 2xx -> delivered; any other status,
    a timeout or a connection error -> retry after :func:`backoff_delay`, or dead letter
    when it was attempt ``max_attempts``. A delivery interrupted by :meth:`stop` or a crash is
    attempted again later (at-least-once).

    Metrics: ``outcomes[(subscription, outcome value)]`` counts attempts by outcome;
    ``on_outcome`` (optional) is called for each, e.g. to feed a prometheus Counter.
    ``clock`` gives Unix seconds (due times, signature timestamps); ``rng`` the jitter.
    """

    def __init__(self, store: Store, subscriptions: Iterable[Subscription],
                 session: aiohttp.ClientSession, *, clock: Clock = time.time,
                 rng: random.Random | None = None, poll_interval_s: float = 5.0,
                 stop_timeout_s: float = 5.0,
                 on_outcome: OutcomeCallback | None = None) -> None:
        self._store = store
        self._subscriptions = {sub.name: sub for sub in subscriptions}
        self._session = session
        self._clock = clock
        self._rng = rng or random.Random()
        self._poll_interval_s = poll_interval_s
        self._stop_timeout_s = stop_timeout_s
        self._on_outcome = on_outcome
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (while the loop task lives)."""
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> frozenset[str]:
        """Names of the subscriptions with a delivery being attempted now."""
        return frozenset(self._in_flight)

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

    async def _run(self) -> None:
        names = self._subscriptions.keys()
        while not self._stopping:
            self._wake.clear()
            now = self._clock()
            timeout = self._poll_interval_s
            try:
                for delivery in self._store.claim_due(
                        now, subscriptions=names, exclude=self._in_flight.keys()):
                    self._spawn(delivery)
                next_due = self._store.next_due_at(
                    subscriptions=names, exclude=self._in_flight.keys())
            except sqlite3.Error:
                log.exception('webhook worker: cannot read the outbox')
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
        name = delivery.subscription
        task = asyncio.create_task(self._deliver(self._subscriptions[name], delivery),
                                   name=f'webhook-delivery-{delivery.id}')
        self._in_flight[name] = task
        task.add_done_callback(lambda done: self._delivery_done(name, done))

    def _delivery_done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._in_flight.get(name) is task:
            del self._in_flight[name]
        if not task.cancelled() and task.exception() is not None:
            log.error('webhook worker: delivery task of %s failed', name,
                      exc_info=task.exception())
        self._wake.set()

    def _record(self, name: str, outcome: DeliveryOutcome, started: float) -> None:
        self.outcomes[(name, outcome.value)] += 1
        if self._on_outcome is not None:
            self._on_outcome(name, outcome, time.monotonic() - started)

    async def _deliver(self, sub: Subscription, delivery: Delivery) -> None:
        try:
            await self._attempt(sub, delivery)
        except sqlite3.Error:
            # The result could not be stored: the delivery stays pending. Pause (still "in
            # flight") so a broken database does not turn into a hot loop against the receiver.
            log.exception('webhook worker: cannot record delivery %d of %s',
                          delivery.id, sub.name)
            await asyncio.sleep(self._poll_interval_s)

    async def _attempt(self, sub: Subscription, delivery: Delivery) -> None:
        started = time.monotonic()
        attempt = delivery.attempts + 1
        try:
            rendered = get_format(sub.format).render(delivery.event, sub)
            body = json.dumps(rendered, separators=(',', ':'), ensure_ascii=False).encode()
        except (KeyError, TypeError, ValueError) as exc:
            self._store.dead_letter(delivery.id, self._clock(),
                                    f'cannot render as {sub.format}: {exc}')
            self._record(sub.name, DeliveryOutcome.DEAD, started)
            return
        headers = delivery_headers(sub, body, delivery.event_id, delivery.id, attempt,
                                   self._clock())
        status: int | None = None
        error: str | None = None
        url = sub.url
        if sub.url_from_payload is not None:
            url = str(delivery.event.get('payload', {}).get(sub.url_from_payload) or sub.url)
        try:
            async with self._session.post(
                    url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=sub.timeout_s)) as response:
                status = response.status
                if not 200 <= status < 300:
                    text = (await response.content.read(300)).decode('utf-8', 'replace')
                    error = f'HTTP {status}: {text}'.strip()
        except asyncio.TimeoutError:
            error = f'timed out after {sub.timeout_s:g} s'
        except aiohttp.ClientError as exc:
            error = f'{type(exc).__name__}: {exc}'.replace(url, '<url>')
        now = self._clock()
        if error is None:
            self._store.mark_delivered(delivery.id, now, status)
            self._record(sub.name, DeliveryOutcome.DELIVERED, started)
        elif attempt >= sub.max_attempts:
            self._store.dead_letter(delivery.id, now, error, status)
            log.warning('webhook %s: delivery %d (event %d) dead after %d attempts: %s',
                        sub.name, delivery.id, delivery.event_id, attempt, error)
            self._record(sub.name, DeliveryOutcome.DEAD, started)
        else:
            delay = backoff_delay(attempt, sub.backoff_base_s, sub.backoff_max_s, self._rng)
            self._store.schedule_retry(delivery.id, now, now + delay, error, status)
            log.info('webhook %s: delivery %d attempt %d failed (%s); retry in %.1f s',
                     sub.name, delivery.id, attempt, error, delay)
            self._record(sub.name, DeliveryOutcome.RETRY, started)


# -- configuration ---------------------------------------------------------------------------

_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_COMMON_KEYS = (
    'name', 'url', 'events', 'secret', 'secret_env', 'format', 'max_attempts',
    'backoff_base_s', 'backoff_max_s', 'timeout_s', 'client_ref',
)


def read_config_file(path: str | pathlib.Path) -> dict[str, Any]:
    """Read the bridge's YAML config file (``config/web.yaml``) as a dict.

    An empty file gives ``{}``. Raises :class:`~fleet_common.config.ConfigError` (naming the
    file, and the line for a YAML error) when it cannot be read, is not valid YAML, or is not
    a mapping at the top.
    """
    return ConfigReader(path).root(read_yaml(path), allow_empty=True)


def _secret_or_env(r: ConfigReader, item: Mapping[str, Any], key: str, where: str,
                   env: Mapping[str, str]) -> str | None:
    """Return ``item[key]``, or the environment variable named by ``item[key + '_env']``."""
    env_key = f'{key}_env'
    if key in item and env_key in item:
        raise r.fail(f'{where}.{env_key}', f'give {key} or {env_key}, not both')
    if env_key in item:
        var = item[env_key]
        if not isinstance(var, str) or not var:
            raise r.fail(f'{where}.{env_key}', 'must name an environment variable')
        value = env.get(var, '')
        if not value:
            raise r.fail(f'{where}.{env_key}', f'environment variable {var} is not set or empty')
        return value
    if key in item:
        value = item[key]
        if not isinstance(value, str) or not value:
            raise r.fail(f'{where}.{key}', 'must be a non-empty string')
        return value
    return None


def _event_patterns(r: ConfigReader, item: Mapping[str, Any], where: str) -> list[str]:
    """Return the subscription's ``events``: a non-empty list of valid kind patterns."""
    events = item.get('events', ['*'])
    if not isinstance(events, list) or not events:
        raise r.fail(f'{where}.events', 'must be a non-empty list of event kinds (e.g. mission.*)')
    for index, pattern in enumerate(events):
        if not isinstance(pattern, str):
            raise r.fail(f'{where}.events[{index}]',
                         f'must be a kind pattern (a string), got {pattern!r}')
        try:
            check_pattern(pattern)
        except PatternError as exc:
            raise r.fail(f'{where}.events[{index}]', str(exc)) from None
    return events


def _subscription_format(r: ConfigReader, item: Mapping[str, Any],
                         where: str) -> WebhookFormat:
    """Return the entry's format, after rejecting keys that neither it nor every format
    takes."""
    fmt_name = item.get('format', 'json')
    if not isinstance(fmt_name, str) or fmt_name not in FORMATS:
        raise r.fail(f'{where}.format',
                     f"unknown format {fmt_name!r} (known: {', '.join(sorted(FORMATS))})")
    fmt = FORMATS[fmt_name]
    allowed = set(_COMMON_KEYS)
    for option in fmt.option_keys:
        allowed.update((option, f'{option}_env'))
    for key in item:
        if key not in allowed:
            raise r.fail(f'{where}.{key}', f"unknown key for format {fmt_name} "
                         f"(allowed: {', '.join(sorted(allowed))})")
    return fmt


def _subscription(r: ConfigReader, item: Any, where: str,
                  env: Mapping[str, str]) -> Subscription:
    """Build one ``webhooks`` entry; ConfigError naming its key otherwise."""
    item = r.mapping(item, where, required=True)
    name = item.get('name')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise r.fail(f'{where}.name', 'required: letters, digits, "_", "." or "-" (at most 64)')
    fmt = _subscription_format(r, item, where)
    url = item.get('url')
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ('http', 'https') or not parsed.hostname:
        raise r.fail(f'{where}.url', 'required: an http:// or https:// URL')
    events = _event_patterns(r, item, where)
    secret = _secret_or_env(r, item, 'secret', where, env) or ''
    if fmt.requires_secret and not secret:
        raise r.fail(f'{where}.secret',
                     f'format {fmt.name} needs a signing secret (secret_env or secret)')
    options: dict[str, str] = {}
    for option in fmt.option_keys:
        value = _secret_or_env(r, item, option, where, env)
        if value is not None:
            options[option] = value
    for option in fmt.required_options:
        if option not in options:
            raise r.fail(f'{where}.{option}',
                         f'required by format {fmt.name} ({option} or {option}_env)')
    client_ref = item.get('client_ref')
    if client_ref is not None and (not isinstance(client_ref, str) or not client_ref):
        raise r.fail(f'{where}.client_ref', 'must be a non-empty string')
    base = r.number(item.get('backoff_base_s', 1.0), f'{where}.backoff_base_s', above=0)
    maximum = r.number(item.get('backoff_max_s', 300.0), f'{where}.backoff_max_s', above=0)
    if maximum < base:
        raise r.fail(f'{where}.backoff_max_s', f'must be at least backoff_base_s ({base:g})')
    return Subscription(
        name=name, url=url, events=tuple(events), secret=secret, format=fmt.name,
        max_attempts=r.integer(item.get('max_attempts', 8), f'{where}.max_attempts',
                               minimum=1),
        backoff_base_s=base, backoff_max_s=maximum,
        timeout_s=r.number(item.get('timeout_s', 10.0), f'{where}.timeout_s', above=0),
        client_ref=client_ref, options=options,
    )


def load_subscriptions(section: Any, *, file: str,
                       env: Mapping[str, str] | None = None) -> tuple[Subscription, ...]:
    """Build the subscriptions from the ``webhooks:`` section of the config file.

    ``section`` is the parsed list (None or missing: no subscriptions); ``file`` names the
    file in errors; ``env`` (default ``os.environ``) resolves ``secret_env`` and
    ``<option>_env`` keys. Raises :class:`~fleet_common.config.ConfigError` with a key like
    ``webhooks[1].url``.
    """
    env = os.environ if env is None else env
    r = ConfigReader(file)
    subscriptions: list[Subscription] = []
    for index, item in enumerate(r.seq(section, 'webhooks')):
        subscription = _subscription(r, item, f'webhooks[{index}]', env)
        if any(s.name == subscription.name for s in subscriptions):
            raise r.fail(f'webhooks[{index}].name',
                         f'duplicate subscription name {subscription.name!r}')
        subscriptions.append(subscription)
    return tuple(subscriptions)


def load_subscriptions_file(path: str | pathlib.Path,
                            env: Mapping[str, str] | None = None) -> tuple[Subscription, ...]:
    """Read ``path`` and return the subscriptions of its ``webhooks:`` section."""
    data = read_config_file(path)
    return load_subscriptions(data.get('webhooks'), file=str(path), env=env)
