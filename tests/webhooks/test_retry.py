"""The retry schedule: windows, jitter bounds, the 24-hour horizon, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from webhooks.retry import DEFAULT_POLICY, RetryPolicy, next_attempt_at

FIRST = datetime(2024, 5, 1, tzinfo=UTC)


class Fixed:
    """An rng that always picks the same fraction of the window."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def test_the_upper_edges_follow_the_schedule() -> None:
    top = Fixed(1.0)
    offsets = []
    attempt = 1
    while (when := next_attempt_at(attempt, FIRST, top)) is not None:
        offsets.append((when - FIRST).total_seconds())
        attempt += 1
    assert offsets == [5, 35, 155, 755, 2555, 6155, 16955, 38555, 81755, 86400]


def test_full_jitter_stays_inside_each_window_and_in_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        previous = FIRST
        attempt = 1
        while (when := next_attempt_at(attempt, FIRST, rng)) is not None:
            low, high = DEFAULT_POLICY.window(attempt)
            offset = (when - FIRST).total_seconds()
            assert low <= offset <= min(high, 86400)
            assert when >= previous
            previous, attempt = when, attempt + 1
        assert attempt == 11


def test_nothing_is_scheduled_past_the_horizon() -> None:
    assert next_attempt_at(11, FIRST, Fixed(0.0)) is None
    short = RetryPolicy(schedule=(1, 2), horizon=timedelta(seconds=5))
    assert short.next_attempt_at(3, FIRST, Fixed(1.0)) == FIRST + timedelta(seconds=5)
    assert short.next_attempt_at(4, FIRST, Fixed(0.0)) is None


def test_windows_already_over_are_skipped() -> None:
    late = FIRST + timedelta(hours=2)
    when = next_attempt_at(1, FIRST, Fixed(0.0), now=late)
    assert when == late
    assert next_attempt_at(1, FIRST, Fixed(0.0), now=FIRST + timedelta(hours=25)) is None


def test_retry_after_pushes_later_but_not_past_the_horizon() -> None:
    asked = FIRST + timedelta(minutes=10)
    assert next_attempt_at(1, FIRST, Fixed(0.5), not_before=asked) == asked
    far = FIRST + timedelta(days=3)
    assert next_attempt_at(1, FIRST, Fixed(0.5), not_before=far) == FIRST + timedelta(hours=24)


def test_bad_policies_and_attempts_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(schedule=())
    with pytest.raises(ValueError):
        next_attempt_at(0, FIRST, Fixed(0.5))
