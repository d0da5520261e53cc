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
    def from_config(cls, section: Any, *, file: str, max_buckets: int = 10_000) -> RateLimiter:
        """Build from the ``rate_limit: {per_second, burst}`` section (None: the defaults,
        10/s and a burst of 20). Raises :class:`~fleet_common.config.ConfigError` naming the
        file and key."""
        r = ConfigReader(file)
        section = r.mapping(section, 'rate_limit')
        r.unknown_keys(section, ('per_second', 'burst'), 'rate_limit')
        per_second = r.number(section.get('per_second', DEFAULT_PER_SECOND),
                              'rate_limit.per_second', above=0)
        burst = r.number(section.get('burst', DEFAULT_BURST), 'rate_limit.burst', minimum=1)
        return cls(per_second, burst, max_buckets=max_buckets)
