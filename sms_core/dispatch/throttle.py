"""Rate control for operator routes: an adaptive token bucket and reconnect backoff.

Operators sell a throughput (RULES.md: 20,000 SMS/h standard, 50,000 SMS/h premium) and answer
ESME_RTHROTTLED / ESME_RMSGQFUL or HTTP 429 when it is exceeded. Hammering on makes it worse, so
the bucket halves its rate at each such answer and climbs back linearly once they stop: a
route settles just under what the operator really accepts instead of oscillating.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator


class TokenBucket:
    """``rate`` messages per second with bursts of ``burst``; ``rate=None`` means unlimited.

    ``slow_down()`` halves the current rate (never below ``min_rate``). After ``cooldown``
    seconds without another ``slow_down()`` the rate climbs back to nominal linearly over
    ``recovery`` seconds. Waiters are served in arrival order.
    """

    def __init__(
        self,
        rate: float | None,
        burst: int = 1,
        *,
        min_rate: float = 1.0,
        cooldown: float = 1.0,
        recovery: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("a route rate must be positive (or None for unlimited)")
        self.nominal = rate
        self.rate = rate
        self.burst = max(1, burst)
        self.min_rate = min(min_rate, rate) if rate else min_rate
        self.cooldown = cooldown
        self.recovery = recovery
        self.slowdowns = 0
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._slowed_at = float("-inf")
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one message may be sent."""
        if self.nominal is None and self.slowdowns == 0:
            return
        async with self._lock:
            while (wait := self._take()) > 0:
                await asyncio.sleep(wait)

    def slow_down(self) -> None:
        """The peer said "too fast": halve the rate and drop any saved-up burst."""
        now = self._clock()
        self._refill(now)
        current = self.rate if self.rate is not None else self._observed_ceiling()
        self.rate = max(self.min_rate, current / 2)
        self._tokens = min(self._tokens, 0.0)
        self._slowed_at = now
        self.slowdowns += 1

    def _observed_ceiling(self) -> float:
        """An unlimited route that gets throttled starts slowing down from a sane figure."""
        self.nominal = 1000.0
        return self.nominal

    def _take(self) -> float:
        """Take a token and return 0, or return how long to wait for one."""
        now = self._clock()
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        rate = self.rate or 1.0
        return (1 - self._tokens) / rate

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._recover(now, elapsed)
        if self.rate is not None:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)

    def _recover(self, now: float, elapsed: float) -> None:
        if self.rate is None or self.nominal is None or self.rate >= self.nominal:
            return
        if now - self._slowed_at < self.cooldown:
            return
        step = self.nominal * elapsed / self.recovery if self.recovery > 0 else self.nominal
        self.rate = min(self.nominal, self.rate + step)


def backoff(
    initial: float, maximum: float, factor: float = 2.0, jitter: float = 0.1
) -> Iterator[float]:
    """Exponential delays ``initial, initial*factor, ...`` capped at ``maximum``, with jitter.

    The jitter keeps many dispatchers that lost the same SMSC from reconnecting in lockstep.
    """
    delay = initial
    while True:
        yield delay * (1 + random.uniform(-jitter, jitter))
        delay = min(maximum, delay * factor)
