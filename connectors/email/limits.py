"""Rate limits: one token bucket per key (an envelope sender, an account).

A sender that loops (an auto-responder, a misconfigured script) must not turn a mailbox into
thousands of SMS: each email takes a token, tokens come back at a steady rate, and a sender
with an empty bucket is told to retry later with a temporary SMTP code. Buckets that have
refilled completely carry no information and are forgotten, so memory stays bounded by the
number of senders active in the last burst period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by string, safe to share between threads."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("a rate limit needs burst >= 1 and a positive rate")
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; 0.0 when allowed, else seconds until they would be available."""
        with self._lock:
            now = self._clock()
            bucket = self._refilled(key, now)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def wait(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available under ``key``, without taking any."""
        with self._lock:
            bucket = self._refilled(key, self._clock())
            return 0.0 if bucket.tokens >= cost else (cost - bucket.tokens) / self.rate

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
