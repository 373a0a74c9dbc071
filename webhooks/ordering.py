"""Per-message ordering of callbacks, over a store the hub provides.

Callbacks that share a key (the hub uses ``f"{endpoint_id}:{message_id}"``) go out strictly in
the order they were queued: only the oldest pending one of a key (its *head*) may be sent, and
a later one waits while the head is retrying. Different keys never wait for each other.

When a head is delivered or dead-lettered it leaves the queue and the next one becomes the head,
due at once. Dead-lettering releases the key on purpose: one undeliverable event must not hold
back the rest of a message's story forever. Each callback's 24-hour horizon counts from the
moment it was queued, so callbacks stuck behind a failing head do not each get another full day:
when released past their horizon they get one attempt, then go to the dead letters too.

The logic is pure; persistence is the :class:`CallbackStore` protocol (the hub backs it with a
table; :class:`MemoryCallbackStore` is for tests and the embedded runtime). Two workers must not
deliver the same head at once: the hub serialises per key (one RQ job per key, or a row lock).
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from .clock import Clock, utc_now
from .delivery import DeliveryAttempt
from .retry import DEFAULT_POLICY, RetryPolicy, Rng

State = Literal["delivered", "retry", "dead"]


@dataclass(frozen=True, slots=True)
class QueuedCallback:
    """One event waiting to go to one endpoint."""

    key: str
    event_id: str
    seq: int
    enqueued_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :meth:`CallbackQueue.record` decided; on ``dead`` the hub writes a dead letter."""

    state: State
    item: QueuedCallback
    next_attempt_at: datetime | None = None


class CallbackStore(Protocol):
    """Persistence for :class:`CallbackQueue`. Implementations must be safe across processes
    for different keys; calls for one key are serialised by the hub."""

    def append(self, key: str, event_id: str, enqueued_at: datetime) -> QueuedCallback:
        """Insert a pending callback due at ``enqueued_at``; ``seq`` increases per insert."""
        ...

    def head(self, key: str) -> QueuedCallback | None:
        """The pending callback of ``key`` with the lowest ``seq``, or None."""
        ...

    def save(self, item: QueuedCallback) -> None:
        """Store new ``attempts``, ``next_attempt_at`` and ``last_error`` of an existing item."""
        ...

    def remove(self, item: QueuedCallback) -> None:
        """Drop a delivered or dead-lettered item."""
        ...

    def due_heads(self, now: datetime, limit: int) -> list[QueuedCallback]:
        """Heads (one per key at most) whose ``next_attempt_at <= now``, earliest first."""
        ...


class CallbackQueue:
    """Decides which callback may be sent next and what happens after each attempt."""

    def __init__(
        self,
        store: CallbackStore,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Clock = utc_now,
        rng: Rng | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self.rng: Rng = rng or random.Random()

    def push(self, key: str, event_id: str) -> QueuedCallback:
        """Queue an event for a key; it is due now if nothing is ahead of it."""
        return self.store.append(key, event_id, self.clock())

    def due(self, limit: int = 100) -> list[QueuedCallback]:
        """The callbacks to send now: due heads only, so order per key holds."""
        return self.store.due_heads(self.clock(), limit)

    def may_send(self, key: str, event_id: str) -> bool:
        """Whether ``event_id`` is its key's head and due; a job checks this before sending."""
        head = self.store.head(key)
        return (
            head is not None and head.event_id == event_id and head.next_attempt_at <= self.clock()
        )

    def record(self, item: QueuedCallback, attempt: DeliveryAttempt) -> Outcome:
        """Apply one attempt's result: remove when delivered, reschedule, or dead-letter."""
        done = replace(item, attempts=item.attempts + 1, last_error=attempt.error)
        if attempt.ok:
            self.store.remove(done)
            return Outcome("delivered", done)
        when = self._next(done, attempt) if attempt.retryable else None
        if when is None:
            self.store.remove(done)
            return Outcome("dead", done)
        done = replace(done, next_attempt_at=when)
        self.store.save(done)
        return Outcome("retry", done, when)

    def _next(self, item: QueuedCallback, attempt: DeliveryAttempt) -> datetime | None:
        not_before = None
        if attempt.retry_after is not None:
            not_before = attempt.at + _seconds(attempt.retry_after)
        return self.policy.next_attempt_at(
            item.attempts, item.enqueued_at, self.rng, now=attempt.at, not_before=not_before
        )


def process_due(
    queue: CallbackQueue,
    send: Callable[[QueuedCallback], DeliveryAttempt],
    *,
    limit: int = 100,
) -> list[Outcome]:
    """Send every due head once with ``send`` and record the results (one worker pass)."""
    return [queue.record(item, send(item)) for item in queue.due(limit)]


class MemoryCallbackStore:
    """A :class:`CallbackStore` in a dict, thread-safe; for tests and single-process use."""

    def __init__(self) -> None:
        self._items: dict[str, list[QueuedCallback]] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def append(self, key: str, event_id: str, enqueued_at: datetime) -> QueuedCallback:
        with self._lock:
            item = QueuedCallback(key, event_id, next(self._seq), enqueued_at, enqueued_at)
            self._items.setdefault(key, []).append(item)
            return item

    def head(self, key: str) -> QueuedCallback | None:
        with self._lock:
            items = self._items.get(key)
            return items[0] if items else None

    def save(self, item: QueuedCallback) -> None:
        with self._lock:
            items = self._items[item.key]
            index = next(i for i, old in enumerate(items) if old.seq == item.seq)
            items[index] = item

    def remove(self, item: QueuedCallback) -> None:
        with self._lock:
            items = [old for old in self._items.get(item.key, []) if old.seq != item.seq]
            if items:
                self._items[item.key] = items
            else:
                self._items.pop(item.key, None)

    def due_heads(self, now: datetime, limit: int) -> list[QueuedCallback]:
        with self._lock:
            heads = [items[0] for items in self._items.values() if items]
        due = sorted((h for h in heads if h.next_attempt_at <= now), key=_due_order)
        return due[:limit]

    def earliest_due(self) -> datetime | None:
        """When the next head falls due, or None when nothing is queued."""
        with self._lock:
            times = [items[0].next_attempt_at for items in self._items.values() if items]
        return min(times, default=None)

    def pending(self, key: str) -> list[QueuedCallback]:
        """Everything still queued for a key, head first (for inspection and tests)."""
        with self._lock:
            return list(self._items.get(key, []))


def _due_order(item: QueuedCallback) -> tuple[datetime, int]:
    return item.next_attempt_at, item.seq


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
