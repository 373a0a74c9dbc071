"""Replay protection and deduplication for inbound requests.

Two defences, both on a :class:`SeenStore`:

- **Freshness**: schemes that sign a timestamp are refused outside a window (±5 minutes by
  default, :func:`check_timestamp`), so a captured request is useless after a few minutes.
- **Seen keys**: inside the window, the signature of each accepted request is remembered
  (:func:`remember`) for longer than the window, so the same bytes cannot be played twice.

The same store carries the idempotency keys of delivery reports, so an operator re-sending a DLR
(freshly signed) gets "duplicate" instead of a second state change.

The hub implements :class:`SeenStore` on Redis: ``add_if_new`` is ``SET key 1 NX EX ttl``,
``discard`` is ``DEL key``. :class:`MemorySeenStore` serves tests and the embedded runtime.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol

from .clock import Clock, utc_now
from .errors import REPLAYED_REQUEST, STALE_REQUEST, VerificationError

DEFAULT_WINDOW = 300


class SeenStore(Protocol):
    """Keys with an expiry; atomic across processes (the hub uses Redis)."""

    def add_if_new(self, key: str, ttl: int) -> bool:
        """Store ``key`` for ``ttl`` seconds; True if it was absent (or expired), else False."""
        ...

    def discard(self, key: str) -> None:
        """Forget ``key``, so a request whose processing failed can be retried."""
        ...


class MemorySeenStore:
    """A :class:`SeenStore` in a dict, with expiry by an injectable clock; one process only."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def add_if_new(self, key: str, ttl: int) -> bool:
        now = self._clock().timestamp()
        with self._lock:
            if len(self._expiry) > 10_000:
                self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            if self._expiry.get(key, 0.0) > now:
                return False
            self._expiry[key] = now + ttl
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return isinstance(key, str) and self._expiry.get(key, 0.0) > self._clock().timestamp()


def check_timestamp(timestamp: float, now: datetime, window: int = DEFAULT_WINDOW) -> None:
    """Raise ``stale_request`` unless ``timestamp`` (Unix seconds) is within ``window`` of now."""
    if abs(now.timestamp() - timestamp) > window:
        raise VerificationError("request timestamp outside the allowed window", code=STALE_REQUEST)


def remember(store: SeenStore, key: str, ttl: int) -> None:
    """Record ``key``; raise ``replayed_request`` if it was already seen within its ttl."""
    if not store.add_if_new(key, ttl):
        raise VerificationError("request already received", code=REPLAYED_REQUEST)


def replay_ttl(window: int) -> int:
    """How long to remember a signature: past both edges of the window, plus a margin."""
    return 2 * window + 60
