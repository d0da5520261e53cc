"""The bridge's settings: how it serves (:class:`WebConfig`) and what it owns besides the ROS
backend (:class:`BridgeServices`), read from ``web.yaml`` by :func:`load_services`."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Mapping

from fleet_web.auth import KeyStore
from fleet_web.errors import ConfigError
from fleet_web.metrics import Metrics
from fleet_web.ratelimit import RateLimiter
from fleet_web.store import Store
from fleet_web.webhooks import Subscription, load_subscriptions, read_config_file

CONFIG_KEYS = ('api_keys', 'rate_limit', 'webhooks', 'metrics_public', 'mission_callbacks')
"""The top-level keys web.yaml may have."""

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


def load_services(config_path: str, state_path: str,
                  env: dict[str, str] | None = None) -> BridgeServices:
    """Read the bridge's YAML config and open its state database.

    Raises fleet_web.errors.ConfigError naming the file and key for a bad config.
    """
    raw = read_config_file(config_path) if config_path else {}
    for key in raw:
        if key not in CONFIG_KEYS:
            raise ConfigError(config_path, key,
                              f'unknown key (allowed: {", ".join(sorted(CONFIG_KEYS))})')
    keys = KeyStore.from_config(raw.get('api_keys'), file=config_path, env=env)
    limiter = RateLimiter.from_config(raw.get('rate_limit'), file=config_path)
    subs = list(load_subscriptions(raw.get('webhooks'), file=config_path, env=env))
    subs.append(mission_callbacks(raw.get('mission_callbacks'), config_path,
                                  os.environ if env is None else env))
    public = raw.get('metrics_public', True)
    if not isinstance(public, bool):
        raise ConfigError(config_path, 'metrics_public', 'must be true or false')
    try:
        if os.path.dirname(state_path):
            os.makedirs(os.path.dirname(state_path), exist_ok=True)
        store = Store(state_path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(state_path, '', f'cannot open the bridge state: {exc}') from None
    return BridgeServices(keys, limiter, store, tuple(subs), Metrics(), public)


def mission_callbacks(section: Any, file: str, env: Mapping[str, str]) -> Subscription:
    """Return the built-in subscription that delivers a mission's end (succeeded, failed,
    canceled) to the ``callback_url`` it was submitted with.

    Deliveries are signed with ``mission_callbacks.secret`` (or the variable named by
    ``secret_env``) when set. Raises ConfigError naming ``mission_callbacks.<key>``.
    """
    section = section or {}
    if not isinstance(section, dict):
        raise ConfigError(file, 'mission_callbacks', 'must be a mapping')
    allowed = {'secret', 'secret_env', 'max_attempts', 'backoff_base_s', 'backoff_max_s'}
    for key in section:
        if key not in allowed:
            raise ConfigError(file, f'mission_callbacks.{key}', 'unknown key '
                              f'(allowed: {", ".join(sorted(allowed))})')
    secret = section.get('secret', '')
    if 'secret_env' in section:
        secret = env.get(str(section['secret_env']), '')
        if not secret:
            raise ConfigError(file, 'mission_callbacks.secret_env',
                              f'{section["secret_env"]} is not set')
    numbers = {}
    for key, default in (('max_attempts', 8), ('backoff_base_s', 1.0), ('backoff_max_s', 300.0)):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(file, f'mission_callbacks.{key}', 'must be a positive number')
        numbers[key] = value
    return Subscription(name=CALLBACKS, url='http://127.0.0.1/', events=('mission.state',),
                        secret=str(secret), format='json',
                        max_attempts=int(numbers['max_attempts']),
                        backoff_base_s=float(numbers['backoff_base_s']),
                        backoff_max_s=float(numbers['backoff_max_s']),
                        url_from_payload='callback_url',
                        payload_states=('succeeded', 'failed', 'canceled'))
