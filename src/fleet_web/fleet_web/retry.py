"""When a failed webhook delivery is tried again: the retry schedule and ``Retry-After``.

The default schedule follows the Standard Webhooks recommendation, stretched to about three
days, so a receiver that is down for a weekend afternoon loses nothing::

    5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h, 14 h, 14 h   (11 attempts, ~2.9 days)

Each delay is spread by +-10 % (jitter), so many failing deliveries do not retry in lockstep.
A receiver's ``Retry-After`` (seconds or an HTTP date) is honoured: the next attempt waits at
least that long (at most :data:`MAX_RETRY_AFTER_S`).
"""

from __future__ import annotations

from dataclasses import dataclass
import email.utils
import math
import random
from typing import Any

from fleet_common.config import ConfigError, ConfigReader

DEFAULT_SCHEDULE_S: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0,
                                         36000.0, 50400.0, 50400.0, 50400.0)
"""Seconds before attempt 2, 3, ... (the first attempt is immediate)."""

MAX_RETRY_AFTER_S = 86400.0
"""The longest ``Retry-After`` honoured (a longer one is cut to this)."""

SCHEDULE_KEYS = ('retry_schedule_s', 'max_attempts', 'backoff_base_s', 'backoff_max_s')
"""The config keys of a retry policy (a subscription's or ``mission_callbacks``')."""


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts; the delivery is dead after ``max_attempts`` attempts.

    ``delays_s[n - 1]`` is the delay after failed attempt ``n``. ``full_jitter`` draws each
    delay uniformly from ``[0, delay]`` (the exponential form); otherwise it is spread by
    ``+-jitter`` (a fraction).
    """

    delays_s: tuple[float, ...] = DEFAULT_SCHEDULE_S
    jitter: float = 0.1
    full_jitter: bool = False

    @property
    def max_attempts(self) -> int:
        """Attempts before the dead letter (the first one plus one per delay)."""
        return len(self.delays_s) + 1

    @property
    def total_s(self) -> float:
        """The nominal time from the first to the last attempt."""
        return sum(self.delays_s)

    @classmethod
    def exponential(cls, max_attempts: int, base_s: float, max_s: float) -> RetryPolicy:
        """Exponential backoff with full jitter: the delay after attempt ``n`` is drawn from
        ``[0, min(max_s, base_s * 2**(n-1))]``."""
        delays = tuple(min(max_s, base_s * 2.0 ** min(n, 1000)) for n in range(max_attempts - 1))
        return cls(delays, 0.0, True)

    def delay(self, attempt: int, rng: random.Random | None = None,
              retry_after_s: float | None = None) -> float | None:
        """Return the seconds to wait after failed attempt ``attempt`` (1-based), or None when
        it was the last one. ``retry_after_s`` (the receiver's ``Retry-After``) is a lower
        bound, capped at :data:`MAX_RETRY_AFTER_S`."""
        if attempt < 1:
            raise ValueError('attempt is 1-based')
        if attempt >= self.max_attempts:
            return None
        nominal = self.delays_s[attempt - 1]
        pick = (rng or random).uniform
        if self.full_jitter:
            wait = pick(0.0, nominal)
        else:
            wait = nominal * pick(1.0 - self.jitter, 1.0 + self.jitter)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, MAX_RETRY_AFTER_S))
        return wait


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP
    date, relative to Unix time ``now``), or None when absent or malformed."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def policy_from_config(r: ConfigReader, item: dict[str, Any], where: str) -> RetryPolicy:
    """Read a retry policy from a config mapping: ``retry_schedule_s`` (a list of delays in
    seconds), or the exponential form ``max_attempts`` / ``backoff_base_s`` /
    ``backoff_max_s``, or neither (the default schedule). ConfigError naming the key."""
    exponential = [key for key in SCHEDULE_KEYS[1:] if key in item]
    if 'retry_schedule_s' in item:
        if exponential:
            raise r.fail(f'{where}.{exponential[0]}',
                         'give retry_schedule_s or the exponential keys (max_attempts, '
                         'backoff_base_s, backoff_max_s), not both')
        raw = item['retry_schedule_s']
        if not isinstance(raw, list):
            raise r.fail(f'{where}.retry_schedule_s', 'must be a list of seconds')
        delays = tuple(r.number(value, f'{where}.retry_schedule_s[{i}]', minimum=0)
                       for i, value in enumerate(raw))
        return RetryPolicy(delays)
    if not exponential:
        return RetryPolicy()
    attempts = r.integer(item.get('max_attempts', 8), f'{where}.max_attempts', minimum=1)
    base = r.number(item.get('backoff_base_s', 1.0), f'{where}.backoff_base_s', above=0)
    maximum = r.number(item.get('backoff_max_s', 300.0), f'{where}.backoff_max_s', above=0)
    if maximum < base:
        raise r.fail(f'{where}.backoff_max_s', f'must be at least backoff_base_s ({base:g})')
    return RetryPolicy.exponential(attempts, base, maximum)


__all__ = ['ConfigError', 'DEFAULT_SCHEDULE_S', 'MAX_RETRY_AFTER_S', 'RetryPolicy',
           'SCHEDULE_KEYS', 'parse_retry_after', 'policy_from_config']
