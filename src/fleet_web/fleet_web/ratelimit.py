"""Token-bucket rate limiting per principal (or any key), with an injected clock.

Each key has a bucket holding up to ``burst`` tokens, refilled at ``rate_per_s`` tokens per
second; a request takes one token or is refused with the time until one is available.
Memory is bounded: a bucket idle long enough to be full again is indistinguishable from a new
one and is dropped, and past ``max_buckets`` the least recently used buckets are dropped too
(those keys start again with a full bucket).
"""

from __future__ import annotations

import collections
from typing import Any

from fleet_common.config import ConfigReader

DEFAULT_PER_SECOND = 10.0
DEFAULT_BURST = 20.0


class RateLimiter:
    """A token bucket per key. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, rate_per_s: float, burst: float, *, max_buckets: int = 10_000) -> None:
        if not rate_per_s > 0:
            raise ValueError('rate_per_s must be > 0')
        if not burst >= 1:
            raise ValueError('burst must be >= 1')
        if max_buckets < 1:
            raise ValueError('max_buckets must be >= 1')
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self.max_buckets = max_buckets
        # key -> (tokens, time of the last check); least recently checked first.
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = (
            collections.OrderedDict())

    def __len__(self) -> int:
        """The number of buckets held in memory."""
        return len(self._buckets)

    def check(self, key: str, now: float) -> tuple[bool, float]:
        """Take a token from ``key``'s bucket at time ``now`` (seconds, any monotonic origin).

        Returns ``(True, 0.0)`` when allowed, else ``(False, retry_after_s)`` with the seconds
        until a token is available (a refused request takes nothing). A clock that goes
        backwards is treated as standing still.
        """
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            tokens, last = self.burst, now
        else:
            tokens, last = bucket
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate_per_s)
            last = max(last, now)
        if tokens >= 1.0:
            tokens -= 1.0
            result = (True, 0.0)
        else:
            result = (False, (1.0 - tokens) / self.rate_per_s)
        self._buckets[key] = (tokens, last)
        self._evict(now)
        return result

    def peek(self, key: str, now: float) -> tuple[bool, float]:
        """Return what :meth:`check` would answer, without taking a token."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return True, 0.0
        tokens, last = bucket
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate_per_s)
        if tokens >= 1.0:
            return True, 0.0
        return False, (1.0 - tokens) / self.rate_per_s

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            key, (tokens, last) = next(iter(buckets.items()))
            if now - last < (self.burst - tokens) / self.rate_per_s:
                break
            del buckets[key]
        while len(buckets) > self.max_buckets:
            buckets.popitem(last=False)

    @classmethod
    def from_config(cls, section: Any, *, file: str, max_buckets: int = 10_000,
                    section_name: str = 'rate_limit', per_second: float = DEFAULT_PER_SECOND,
                    burst: float = DEFAULT_BURST) -> RateLimiter:
        """Build from a ``{per_second, burst}`` section (None: the defaults given, 10/s and a
        burst of 20 unless told otherwise). ``section_name`` names the section in errors
        (``rate_limit``, ``auth_failures``). Raises
        :class:`~fleet_common.config.ConfigError` naming the file and key."""
        name = section_name
        r = ConfigReader(file)
        section = r.mapping(section, name)
        r.unknown_keys(section, ('per_second', 'burst'), name)
        rate = r.number(section.get('per_second', per_second), f'{name}.per_second', above=0)
        size = r.number(section.get('burst', burst), f'{name}.burst', minimum=1)
        return cls(rate, size, max_buckets=max_buckets)
