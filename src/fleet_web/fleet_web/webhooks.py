"""Webhooks: subscriptions, payload formats, the outbox and the configuration.

Flow: the bridge reads the manager's event log from :meth:`Outbox.cursor` and hands each batch
to :meth:`Outbox.ingest`, which matches the events to the subscriptions and enqueues one
delivery per (subscription, event) together with the new cursor, in one transaction (see
:mod:`fleet_web.store`). :class:`fleet_web.delivery.DeliveryWorker` posts the deliveries: at
least once, in event order per queue (a subscription's destination; each mission callback
origin has its own), one in flight per queue, queues in parallel, on a retry schedule
(:mod:`fleet_web.retry`) with a dead letter at its end. Everything is in SQLite, so
deliveries survive a restart or a SIGKILL.

Requests follow Standard Webhooks 1.0 (:mod:`fleet_web.signing`)::

    Content-Type: application/json
    webhook-id: <subscription>_<event id>    (stable across retries and restarts)
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64> ...       (one per secret of the subscription)
    X-Fleet-Event-Id: <event id>
    X-Fleet-Attempt: <1-based attempt number>

Destinations are checked by :mod:`fleet_web.egress` (no loopback, private or metadata
addresses unless allowed). This module never logs secrets or webhook URLs (a Slack URL is
itself a credential).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import datetime as dt
import json
import os
import pathlib
import re
import time
from typing import Any, Callable, Iterable, Mapping, Protocol

from fleet_common.config import ConfigReader, read_yaml
from fleet_common.events import PatternError, check_pattern, kind_matches
from fleet_web import signing
from fleet_web.egress import origin
from fleet_web.retry import SCHEDULE_KEYS, RetryPolicy, policy_from_config
from fleet_web.store import Store

EVENT_ID_HEADER = 'X-Fleet-Event-Id'
ATTEMPT_HEADER = 'X-Fleet-Attempt'
USER_AGENT = 'fleet_web-webhooks/0.2'

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
    ``secrets`` are ``whsec_`` secrets; each request carries one signature per secret.
    ``options`` holds format-specific settings (``routing_key`` for PagerDuty). ``url``,
    ``secrets`` and ``options`` are left out of ``repr`` because they may be credentials.
    Times are in seconds.
    """

    name: str
    url: str = field(repr=False)
    events: tuple[str, ...] = ('*',)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    format: str = 'json'
    retry: RetryPolicy = RetryPolicy()
    timeout_s: float = 10.0
    client_ref: str | None = None
    options: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    url_from_payload: str | None = None
    """When set, each event is POSTed to the http(s) URL in this payload key instead of
    ``url`` (the mission callback pattern); events without one do not match, and each
    destination origin is a queue of its own."""
    payload_states: tuple[str, ...] = ()
    """When set, only events whose ``payload['state']`` is one of these match."""

    @property
    def max_attempts(self) -> int:
        """Attempts before the dead letter."""
        return self.retry.max_attempts

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The signing keys (the bytes of each secret)."""
        return tuple(signing.secret_key(secret) for secret in self.secrets)

    def target(self, event: Mapping[str, Any]) -> str | None:
        """Return the URL this event goes to, or None when it has none."""
        if self.url_from_payload is None:
            return self.url
        payload = event.get('payload')
        url = payload.get(self.url_from_payload) if isinstance(payload, Mapping) else None
        if not isinstance(url, str) or not url.startswith(('http://', 'https://')):
            return None
        return url

    def destination(self, event: Mapping[str, Any]) -> str | None:
        """Return the origin (``scheme://host:port``) naming the event's queue, or None."""
        url = self.target(event)
        if url is None:
            return None
        try:
            return origin(url)
        except ValueError:
            return None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Return True when the event's kind matches a pattern and the payload filters."""
        kind = str(event.get('kind', ''))
        if not any(kind_matches(pattern, kind) for pattern in self.events):
            return False
        payload = event.get('payload')
        if self.url_from_payload is not None and self.destination(event) is None:
            return False
        if self.payload_states and (not isinstance(payload, Mapping)
                                    or payload.get('state') not in self.payload_states):
            return False
        if self.client_ref is not None:
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
        text = f"Robot {robot or '?'} {action or 'event'}"
        before, after = _pick(payload, 'from'), _pick(payload, 'to')
        state = _pick(payload, 'state', 'connectivity', 'status', 'value', 'message')
        if after is not None:  # a transition (robot.connectivity): say from what to what
            text += f': {before if before is not None else "unknown"} \u2192 {after}'
            reason = _pick(payload, 'reason')
            if reason is not None:
                text += f' ({reason})'
        elif state is not None:
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


_TIME_KEY = re.compile(r'(^|_)(time|stamp|at|since|until|seen|deadline)$')
EPOCH_RANGE = (1e9, 1e11)
"""Numbers under a time-like key in this range are Unix times (2001 to 5138)."""


def human_time(value: Any) -> str | None:
    """``2026-01-05 09:00:07 UTC`` for Unix seconds or an ISO-8601 text; None otherwise."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not EPOCH_RANGE[0] <= value < EPOCH_RANGE[1]:
                return None
            when = dt.datetime.fromtimestamp(value, dt.timezone.utc)
        elif isinstance(value, str) and len(value) >= 19 and value[4] == '-':
            when = dt.datetime.fromisoformat(value.replace('Z', '+00:00'))
            when = when.astimezone(dt.timezone.utc) if when.tzinfo else when
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return when.strftime('%Y-%m-%d %H:%M:%S UTC')


def _field_text(key: str, value: Any) -> str:
    """A payload value as people read it: times in UTC, not epoch seconds."""
    if _TIME_KEY.search(key):
        readable = human_time(value)
        if readable is not None:
            return readable
    return _short(value)


def _shown(value: Any) -> bool:
    """Whether a payload field says something (no nulls, empty texts or lists)."""
    return value is not None and value != '' and value != [] and value != {}


class SlackFormat:
    """Slack incoming webhook: ``text`` (the summary, also the notification fallback) and
    Block Kit ``blocks``: a section with the summary (a connectivity change says from and to),
    a section with up to 10 payload fields (empty ones left out, times in UTC rather than
    epoch seconds), and a context line with the kind, event id and time. Text is escaped for
    mrkdwn and cut to Slack's limits (section text 3000, field 2000 characters)."""

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
        shown = [(str(k), v) for k, v in _payload(event).items() if _shown(v)]
        fields = [
            {'type': 'mrkdwn',
             'text': _clip(f'*{_slack_escape(key)}*\n{_slack_escape(_field_text(key, value))}',
                           2000)}
            for key, value in shown[:self.MAX_FIELDS]
        ]
        if fields:
            blocks.append({'type': 'section', 'fields': fields})
        when = human_time(event.get('time')) or str(event.get('time') or '')
        context = (f"{event.get('kind', '')} \u00b7 event {event.get('id')} \u00b7 "
                   f"{when} \u00b7 {subscription.name}")
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


# -- request headers -------------------------------------------------------------------------

def message_id(subscription: str, event_id: int) -> str:
    """Return the ``webhook-id`` of an event's delivery to a subscription (the same on every
    attempt and after restarts)."""
    return f'{subscription}_{event_id}'


def delivery_headers(subscription: Subscription, body: bytes, event_id: int, attempt: int,
                     now: float) -> dict[str, str]:
    """Return the request headers of one attempt: Standard Webhooks' three (signed with every
    secret of the subscription) and the event id and attempt number."""
    return {
        'Content-Type': 'application/json',
        'User-Agent': USER_AGENT,
        EVENT_ID_HEADER: str(event_id),
        ATTEMPT_HEADER: str(attempt),
        **signing.headers(subscription.keys, message_id(subscription.name, event_id),
                          int(now), body),
    }


# -- the outbox ------------------------------------------------------------------------------

class Outbox:
    """Turns batches of manager events into webhook deliveries.

    ``on_enqueued`` is called after a batch added deliveries (pass
    :meth:`fleet_web.delivery.DeliveryWorker.notify` to wake the worker). Subscriptions the
    store lists as disabled (their receiver answered 410 Gone) get no new deliveries.
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
        """Return the subscriptions the event goes to: none for an event of a silenced
        incident (its payload names the silences in ``silenced_by``; the manager records it,
        and the incident's timeline shows what was muted)."""
        payload = event.get('payload')
        if isinstance(payload, Mapping) and payload.get('silenced_by'):
            return []
        return [sub for sub in self.subscriptions if sub.matches(event)]

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Enqueue the deliveries of a batch of events and advance the cursor, atomically.

        Events at or below the cursor are skipped (already ingested), the rest are taken in
        id order; the cursor moves to the highest id even when no subscription matched. On
        any error nothing is stored and the cursor stays, so the batch can be read again.
        Raises ValueError for an event without an integer ``id``, sqlite3.Error when the
        store cannot take the batch. Returns the number of deliveries enqueued.
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
        disabled = self._store.disabled_subscriptions()
        entries = [(sub.name, event, sub.destination(event) or '') for event in fresh
                   for sub in self.match(event) if sub.name not in disabled]
        inserted = self._store.enqueue(entries, cursor=fresh[-1]['id'], now=self._clock())
        if inserted and self._on_enqueued is not None:
            self._on_enqueued()
        return inserted


# -- configuration ---------------------------------------------------------------------------

_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_COMMON_KEYS = (
    'name', 'url', 'events', 'secret', 'secret_env', 'secrets', 'format', 'timeout_s',
    'client_ref', *SCHEDULE_KEYS,
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


def read_secrets(r: ConfigReader, item: Mapping[str, Any], where: str,
                 env: Mapping[str, str]) -> tuple[str, ...]:
    """Return the signing secrets of a config entry: ``secret`` (one), ``secret_env`` (a
    variable holding one or more, separated by spaces) or ``secrets`` (a list: several at
    once, for rotation). Each must be a ``whsec_`` secret; ConfigError naming the key
    (never echoing a secret)."""
    given = [key for key in ('secret', 'secret_env', 'secrets') if key in item]
    if len(given) > 1:
        raise r.fail(f'{where}.{given[1]}', f'give one of secret, secret_env, secrets '
                     f'(not {" and ".join(given)})')
    if not given:
        return ()
    key = given[0]
    if key == 'secrets':
        raw = item['secrets']
        if not isinstance(raw, list) or not raw:
            raise r.fail(f'{where}.secrets', 'must be a non-empty list of whsec_ secrets')
        values = [(f'{where}.secrets[{i}]', value) for i, value in enumerate(raw)]
    else:
        text = _secret_or_env(r, item, 'secret', where, env) or ''
        values = [(f'{where}.{key}', value) for value in text.split()]
    out: list[str] = []
    for at, value in values:
        if not isinstance(value, str):
            raise r.fail(at, 'must be a whsec_ secret (a string)')
        try:
            signing.secret_key(value)
        except ValueError as exc:
            raise r.fail(at, str(exc)) from None
        out.append(value)
    return tuple(out)


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
    try:
        origin(url if isinstance(url, str) else '')
    except ValueError:
        raise r.fail(f'{where}.url', 'required: an http:// or https:// URL') from None
    events = _event_patterns(r, item, where)
    secrets = read_secrets(r, item, where, env)
    if fmt.requires_secret and not secrets:
        raise r.fail(f'{where}.secret',
                     f'format {fmt.name} needs a signing secret (secret_env, secret or '
                     f'secrets)')
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
    return Subscription(
        name=name, url=url, events=tuple(events), secrets=secrets, format=fmt.name,
        retry=policy_from_config(r, item, where),
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

# The ticket formats (Jira, ServiceNow) live in their own module and register themselves.
from fleet_web import ticket_formats  # noqa: E402,F401  (import for its registration)
