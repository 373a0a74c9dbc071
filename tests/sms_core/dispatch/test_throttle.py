"""The adaptive token bucket, on a fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from sms_core.dispatch.throttle import TokenBucket, backoff


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, burst=3, clock=clock)
    assert [bucket._take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket._take() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket._take() == 0.0


def test_slow_down_halves_then_recovers_linearly() -> None:
    clock = Clock()
    bucket = TokenBucket(100, burst=10, cooldown=1.0, recovery=10.0, min_rate=5, clock=clock)
    bucket.slow_down()
    assert bucket.rate == 50
    bucket.slow_down()
    assert bucket.rate == 25
    for _ in range(5):
        bucket.slow_down()
    assert bucket.rate == 5  # never below min_rate
    clock.now += 0.5
    bucket._refill(clock.now)
    assert bucket.rate == 5  # still cooling down
    clock.now += 1.0
    bucket._refill(clock.now)
    assert bucket.rate == pytest.approx(15)  # +10/s of nominal over 1 s
    clock.now += 20
    bucket._refill(clock.now)
    assert bucket.rate == 100


def test_unlimited_bucket_never_waits_until_throttled() -> None:
    bucket = TokenBucket(None)

    async def take_many() -> None:
        for _ in range(1000):
            await bucket.acquire()

    asyncio.run(asyncio.wait_for(take_many(), 1))
    bucket.slow_down()
    assert bucket.rate == 500


def test_real_rate_is_respected() -> None:
    async def measure() -> float:
        bucket = TokenBucket(200, burst=1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(bucket.acquire() for _ in range(41)))
        return loop.time() - start

    assert asyncio.run(measure()) >= 0.19


def test_backoff_grows_and_caps() -> None:
    delays = list(itertools.islice(backoff(1, 8, jitter=0), 6))
    assert delays == [1, 2, 4, 8, 8, 8]
