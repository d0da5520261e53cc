"""The bridge's settings: how it serves (:class:`WebConfig`) and what it owns besides the ROS
backend (:class:`BridgeServices`), read from ``web.yaml`` by :func:`load_services`."""

from __future__ import annotations

from dataclasses import dataclass, field
import os
import sqlite3
from typing import Any, Mapping

from fleet_common.config import ConfigReader
from fleet_web import signing
from fleet_web.auth import KeyStore
from fleet_web.delivery import Retention
from fleet_web.egress import EgressPolicy
from fleet_web.errors import ConfigError
from fleet_web.metrics import Metrics
from fleet_web.ratelimit import RateLimiter
from fleet_web.retry import SCHEDULE_KEYS, policy_from_config
from fleet_web.status import BridgeHealth
from fleet_web.store import Store, StoreCorrupt
from fleet_web.tickets import SETTING as TICKET_SETTING
from fleet_web.tickets import StreamTickets, new_signing_key
from fleet_web.webhooks import Subscription, load_subscriptions, read_config_file, read_secrets

CONFIG_KEYS = ('api_keys', 'rate_limit', 'auth_failures', 'webhooks', 'metrics_public',
               'mission_callbacks', 'egress', 'outbox_retention', 'http')
"""The top-level keys web.yaml may have."""

CALLBACK_SECRET_SETTING = 'mission_callbacks.secret'
"""The store setting holding the callbacks' generated secret (when web.yaml gives none)."""

CALLBACKS = 'mission-callbacks'
"""The name of the built-in subscription that delivers mission outcomes to callback URLs."""


@dataclass(frozen=True)
class WebConfig:
    """How the bridge serves (units in comments)."""

    host: str = '127.0.0.1'
    port: int = 8080
    max_body_bytes: int = 256 * 1024  # bytes; larger bodies get 413
    page_limit: int = 100  # default page size of lists
    max_page_limit: int = 1000
    sse_heartbeat: float = 15.0  # s between SSE comments that keep proxies from closing
    idle_timeout_s: float = 15.0  # s a connection may sit without a complete request
    body_timeout_s: float = 10.0  # s a request body may take to arrive (then 408)
    max_json_depth: int = 32  # nesting levels of a JSON body (deeper: 400)
    version: str = '0.1.0'
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BridgeServices:
    """What the bridge owns besides the ROS backend: keys, limits, webhooks, metrics."""

    keys: KeyStore
    limiter: RateLimiter
    store: Store
    subscriptions: tuple[Subscription, ...]
    metrics: Metrics = field(default_factory=Metrics)
    metrics_public: bool = True
    auth_failures: RateLimiter = field(default_factory=lambda: RateLimiter(0.2, 20))
    """Failed authentications per client address (a refused address gets 429)."""
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    retention: Retention = field(default_factory=Retention)
    health: BridgeHealth = field(default_factory=BridgeHealth)
    http: dict[str, float] = field(default_factory=dict)
    """web.yaml's ``http`` section: overrides of WebConfig's timeouts and limits."""
    tickets: StreamTickets | None = None
    """Stream tickets (None: the event stream takes bearer tokens only)."""


def load_services(config_path: str, state_path: str,
                  env: dict[str, str] | None = None) -> BridgeServices:
    """Read the bridge's YAML config and open its state database.

    Raises fleet_web.errors.ConfigError naming the file and key for a bad config, and naming
    the state file and the cause when it cannot be opened or is damaged.
    """
    env = dict(os.environ) if env is None else env
    raw = read_config_file(config_path) if config_path else {}
    r = ConfigReader(config_path)
    for key in raw:
        if key not in CONFIG_KEYS:
            raise ConfigError(config_path, key,
                              f'unknown key (allowed: {", ".join(sorted(CONFIG_KEYS))})')
    keys = KeyStore.from_config(raw.get('api_keys'), file=config_path, env=env)
    limiter = RateLimiter.from_config(raw.get('rate_limit'), file=config_path)
    failures = RateLimiter.from_config(raw.get('auth_failures'), file=config_path,
                                       section_name='auth_failures', per_second=0.2,
                                       burst=20)
    egress = EgressPolicy.from_config(raw.get('egress'), file=config_path)
    subs = list(load_subscriptions(raw.get('webhooks'), file=config_path, env=env))
    public = raw.get('metrics_public', True)
    if not isinstance(public, bool):
        raise ConfigError(config_path, 'metrics_public', 'must be true or false')
    retention = _retention(r, raw.get('outbox_retention'))
    http = _http(r, raw.get('http'))
    store = open_store(state_path)
    try:
        subs.append(mission_callbacks(raw.get('mission_callbacks'), config_path, env, store))
        tickets = StreamTickets(bytes.fromhex(store.setting(TICKET_SETTING, new_signing_key)),
                                keys)
    except BaseException:
        store.close()
        raise
    return BridgeServices(keys, limiter, store, tuple(subs), Metrics(), public, failures,
                          egress, retention, BridgeHealth(), http, tickets)


def open_store(state_path: str) -> Store:
    """Open (creating) the bridge's state database; ConfigError naming it and the cause."""
    try:
        if os.path.dirname(state_path):
            os.makedirs(os.path.dirname(state_path), exist_ok=True)
        return Store(state_path)
    except StoreCorrupt as exc:
        raise ConfigError(state_path, '', f'the bridge state database is damaged '
                          f'({exc.detail}); move it aside to start with an empty webhook '
                          f'outbox') from None
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        raise ConfigError(state_path, '', f'cannot open the bridge state: '
                          f'{exc or type(exc).__name__}') from None


def _retention(r: ConfigReader, section: Any) -> Retention:
    """Read ``outbox_retention: {delivered_days, dead_days}`` (days, > 0)."""
    section = r.mapping(section, 'outbox_retention')
    r.unknown_keys(section, ('delivered_days', 'dead_days'), 'outbox_retention')
    default = Retention()
    days = {}
    for key, value in (('delivered_days', default.delivered_s), ('dead_days', default.dead_s)):
        given = section.get(key)
        days[key] = (value if given is None
                     else r.number(given, f'outbox_retention.{key}', above=0) * 86400.0)
    return Retention(days['delivered_days'], days['dead_days'])


HTTP_KEYS = {'idle_timeout_s': 0.0, 'body_timeout_s': 0.0, 'max_json_depth': 1.0}
"""web.yaml ``http`` keys and the value each must exceed."""


def _http(r: ConfigReader, section: Any) -> dict[str, float]:
    """Read ``http: {idle_timeout_s, body_timeout_s, max_json_depth}``."""
    section = r.mapping(section, 'http')
    r.unknown_keys(section, tuple(HTTP_KEYS), 'http')
    return {key: r.number(value, f'http.{key}', above=HTTP_KEYS[key])
            for key, value in section.items()}


def web_config(services: BridgeServices, **overrides: Any) -> WebConfig:
    """Return the WebConfig with web.yaml's ``http`` values and ``overrides`` applied."""
    values: dict[str, Any] = dict(services.http)
    if 'max_json_depth' in values:
        values['max_json_depth'] = int(values['max_json_depth'])
    values.update(overrides)
    return WebConfig(**values)


def mission_callbacks(section: Any, file: str, env: Mapping[str, str],
                      store: Store | None = None) -> Subscription:
    """Return the built-in subscription that delivers a mission's end (succeeded, failed,
    canceled) to the ``callback_url`` it was submitted with.

    Deliveries are always signed (Standard Webhooks): with ``mission_callbacks.secret`` /
    ``secret_env`` / ``secrets`` when given, else with a secret the bridge generates once and
    keeps in its store (``python -m fleet_web.settings callback-secret --state FILE`` prints
    it). The retry policy takes the keys of a webhook's. Raises ConfigError naming
    ``mission_callbacks.<key>``.
    """
    r = ConfigReader(file)
    section = r.mapping(section, 'mission_callbacks')
    allowed = ('secret', 'secret_env', 'secrets', 'timeout_s', *SCHEDULE_KEYS)
    r.unknown_keys(section, allowed, 'mission_callbacks')
    secrets = read_secrets(r, section, 'mission_callbacks', env)
    if not secrets and store is not None:
        secrets = (store.setting(CALLBACK_SECRET_SETTING, signing.new_secret),)
    return Subscription(name=CALLBACKS, url='http://127.0.0.1/', events=('mission.state',),
                        secrets=secrets, format='json',
                        retry=policy_from_config(r, section, 'mission_callbacks'),
                        timeout_s=r.number(section.get('timeout_s', 10.0),
                                           'mission_callbacks.timeout_s', above=0),
                        url_from_payload='callback_url',
                        payload_states=('succeeded', 'failed', 'canceled'))


def main(argv: list[str] | None = None) -> int:
    """``python -m fleet_web.settings callback-secret --state FILE``: print the secret the
    bridge signs mission callbacks with when web.yaml gives none."""
    import argparse
    parser = argparse.ArgumentParser(prog='python -m fleet_web.settings',
                                     description='Settings kept in the bridge state file.')
    commands = parser.add_subparsers(dest='command', required=True)
    show = commands.add_parser('callback-secret',
                               help='print the generated mission-callback secret')
    show.add_argument('--state', default='fleet_web.db', help='the bridge state file')
    args = parser.parse_args(argv)
    try:
        store = open_store(args.state)
    except ConfigError as exc:
        print(f'error: {exc}')
        return 2
    with store:
        print(store.setting(CALLBACK_SECRET_SETTING, signing.new_secret))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
