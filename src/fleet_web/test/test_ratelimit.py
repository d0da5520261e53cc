"""Tests of fleet_web.ratelimit: token buckets with an injected clock, bounded memory."""

from __future__ import annotations

import pathlib

import pytest

from fleet_web.errors import ConfigError
from fleet_web.ratelimit import RateLimiter

pytestmark = pytest.mark.timeout(60)

WEB_YAML = (pathlib.Path(__file__).resolve().parents[3] / 'src' / 'fleet_bringup' / 'config'
            / 'web.yaml')


def test_burst_then_refusal_with_retry_after():
    limiter = RateLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.check('k', 100.0) for _ in range(3)] == [(True, 0.0)] * 3
    allowed, retry_after = limiter.check('k', 100.0)
    assert not allowed and retry_after == pytest.approx(0.5)
    # Halfway to the next token: still refused, and the refusal took nothing.
    allowed, retry_after = limiter.check('k', 100.25)
    assert not allowed and retry_after == pytest.approx(0.25)
    assert limiter.check('k', 100.5) == (True, 0.0)
    assert not limiter.check('k', 100.5)[0]


def test_refill_is_capped_at_burst():
    limiter = RateLimiter(rate_per_s=10.0, burst=2)
    limiter.check('k', 0.0)
    results = [limiter.check('k', 1000.0)[0] for _ in range(3)]
    assert results == [True, True, False]


def test_keys_are_independent():
    limiter = RateLimiter(rate_per_s=1.0, burst=1)
    assert limiter.check('a', 0.0)[0]
    assert not limiter.check('a', 0.0)[0]
    assert limiter.check('b', 0.0)[0]


def test_clock_going_backwards_adds_nothing():
    limiter = RateLimiter(rate_per_s=1.0, burst=1)
    assert limiter.check('k', 50.0)[0]
    allowed, retry_after = limiter.check('k', 10.0)
    assert not allowed and retry_after == pytest.approx(1.0)
    assert limiter.check('k', 51.0)[0]


def test_idle_buckets_are_evicted_without_changing_answers():
    limiter = RateLimiter(rate_per_s=1.0, burst=5)
    for i in range(100):
        limiter.check(f'key{i}', 0.0)
    assert len(limiter) == 100
    # After 4 s each bucket (4 tokens left + 4 refilled, capped at 5) is full again.
    limiter.check('fresh', 4.0)
    assert len(limiter) == 1
    assert [limiter.check('key0', 4.0)[0] for _ in range(6)] == [True] * 5 + [False]


def test_memory_is_bounded():
    limiter = RateLimiter(rate_per_s=0.001, burst=1, max_buckets=50)
    for i in range(1000):
        assert limiter.check(f'k{i}', float(i) / 1000)[0]
        assert len(limiter) <= 50
    # The most recent keys are still tracked.
    assert not limiter.check('k999', 1.0)[0]


def test_invalid_arguments():
    for rate, burst in ((0, 1), (-1, 1), (1, 0.5)):
        with pytest.raises(ValueError):
            RateLimiter(rate, burst)
    with pytest.raises(ValueError):
        RateLimiter(1, 1, max_buckets=0)


def test_from_config():
    limiter = RateLimiter.from_config({'per_second': 5, 'burst': 10}, file='f.yaml')
    assert (limiter.rate_per_s, limiter.burst) == (5.0, 10.0)
    default = RateLimiter.from_config(None, file='f.yaml')
    assert (default.rate_per_s, default.burst) == (10.0, 20.0)


def test_shipped_web_yaml_rate_limit():
    from fleet_web.webhooks import read_config_file
    section = read_config_file(WEB_YAML)['rate_limit']
    limiter = RateLimiter.from_config(section, file=str(WEB_YAML))
    assert limiter.rate_per_s > 0 and limiter.burst >= 1


@pytest.mark.parametrize('section,key', [
    ([1, 2], 'rate_limit'),
    ({'per_second': 0}, 'rate_limit.per_second'),
    ({'per_second': 'fast'}, 'rate_limit.per_second'),
    ({'burst': 0}, 'rate_limit.burst'),
    ({'burst': True}, 'rate_limit.burst'),
    ({'rps': 3}, 'rate_limit.rps'),
])
def test_config_errors_name_file_and_key(section, key):
    with pytest.raises(ConfigError) as caught:
        RateLimiter.from_config(section, file='config/web.yaml')
    assert (caught.value.file, caught.value.key) == ('config/web.yaml', key)
    assert str(caught.value).startswith(f'config/web.yaml: {key}: ')
