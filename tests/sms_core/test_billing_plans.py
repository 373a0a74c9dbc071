"""Plan arithmetic: which plan covers how many calendars, and the pro-rata of an upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sms_core import plans
from sms_core.errors import BillingError

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(("calendars", "code"), [
    (1, "SOLO"), (2, "BUSINESS"), (5, "BUSINESS"), (6, "ENTERPRISE"), (50, "ENTERPRISE"),
])
def test_smallest_plan_covering(calendars: int, code: str) -> None:
    assert plans.plan_for(calendars).code == code


def test_nothing_covers_fifty_one_calendars() -> None:
    with pytest.raises(BillingError) as err:
        plans.plan_for(51)
    assert err.value.code == "plan_limit"


@pytest.mark.parametrize(("old", "new", "cycle", "day", "expected"), [
    ("SOLO", "BUSINESS", "monthly", 1, "12.00"),        # whole period left
    ("SOLO", "BUSINESS", "monthly", 16, "6.19"),        # 16 of 31 days left: 12 × 16/31
    ("SOLO", "ENTERPRISE", "annual", 1, "305.00"),
    ("BUSINESS", "SOLO", "monthly", 10, "0.00"),        # downgrade: no refund
    ("SOLO", "SOLO", "monthly", 10, "0.00"),
])
def test_prorata(old: str, new: str, cycle: str, day: int, expected: str) -> None:
    end = END if cycle == "monthly" else datetime(2027, 3, 1, tzinfo=UTC)
    now = START.replace(day=day)
    got = plans.prorata(plans.plan(old), plans.plan(new), cycle, START, end, now)
    assert got == Decimal(expected)


def test_prorata_after_the_period_is_nothing() -> None:
    solo, business = plans.plan("solo"), plans.plan("business")
    assert plans.prorata(solo, business, "monthly", START, END, END) == 0


@pytest.mark.parametrize(("call", "arg", "code"), [
    (plans.plan, "GOLD", "unknown_plan"), (plans.cycle_name, "weekly", "unknown_cycle"),
])
def test_unknown_names(call: object, arg: str, code: str) -> None:
    with pytest.raises(BillingError) as err:
        call(arg)  # type: ignore[operator]
    assert err.value.code == code


def test_periods() -> None:
    assert plans.period_end(START, "monthly") == END
    assert plans.period_end(START, "annual") == datetime(2027, 3, 1, tzinfo=UTC)
