"""When to try a failed callback again, and when to give up.

The schedule is anchored at the event's first attempt (``first_at``), not at the last failure,
so a late worker never stretches the horizon. Attempt ``n + 1`` (after ``n`` attempts) falls in
the window ``[first_at + S(n-1), first_at + S(n)]`` where ``S(k)`` is the sum of the first ``k``
steps of the schedule (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h, and 12 h again
after that). Inside its window the instant is drawn uniformly ("full jitter"), which spreads the
retries of an outage over time instead of stampeding the receiver when it comes back, while
keeping attempts in order. Nothing is scheduled after ``first_at + horizon`` (24 h): the last
window is clamped to it, and the next call returns None, which means dead letter.

A ``Retry-After`` from the receiver moves the next attempt later (``not_before``), but never
past the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200)
DEFAULT_HORIZON = timedelta(hours=24)


class Rng(Protocol):
    """What the policy needs of a random source (``random.Random`` fits)."""

    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A schedule of steps (seconds) and a horizon; the module docstring gives the rule."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    horizon: timedelta = DEFAULT_HORIZON

    def __post_init__(self) -> None:
        if not self.schedule or any(step <= 0 for step in self.schedule):
            raise ValueError("a retry schedule needs positive steps")

    def step(self, index: int) -> float:
        """The ``index``-th step (0-based); the last step repeats."""
        return self.schedule[min(index, len(self.schedule) - 1)]

    def window(self, attempts: int) -> tuple[float, float]:
        """Offsets in seconds from ``first_at`` between which attempt ``attempts + 1`` falls."""
        start = sum(self.step(i) for i in range(attempts - 1))
        return start, start + self.step(attempts - 1)

    def next_attempt_at(
        self,
        attempt: int,
        first_at: datetime,
        rng: Rng,
        *,
        now: datetime | None = None,
        not_before: datetime | None = None,
    ) -> datetime | None:
        """When to make attempt ``attempt + 1``; None once the horizon is spent (dead letter).

        ``attempt`` is how many attempts were already made (1 after the first failure). With
        ``now``, windows that are already over are skipped, so a callback that waited behind
        others is not retried in a burst to catch up with its schedule.
        """
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        limit = self.horizon.total_seconds()
        elapsed = max(0.0, (now - first_at).total_seconds()) if now is not None else 0.0
        low, high = self.window(attempt)
        while high <= elapsed and low < limit:
            attempt += 1
            low, high = self.window(attempt)
        if low >= limit or elapsed >= limit:
            return None
        offset = min(rng.uniform(max(low, elapsed), high), limit)
        when = first_at + timedelta(seconds=offset)
        if not_before is not None and not_before > when:
            when = min(not_before, first_at + self.horizon)
        return when


DEFAULT_POLICY = RetryPolicy()


def next_attempt_at(
    attempt: int,
    first_at: datetime,
    rng: Rng,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> datetime | None:
    """:meth:`RetryPolicy.next_attempt_at` of ``policy`` (the 24-hour default)."""
    return policy.next_attempt_at(attempt, first_at, rng, now=now, not_before=not_before)
