"""Subscriptions: trial, calendar limits for the reminder connector, pro-rata upgrades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub import plans
from hub.db import make_sessionmaker, transaction
from hub.models import Account
from sms_core.errors import BillingError

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        s.add_all([Account(id="acc_a", name="a"), Account(id="acc_s", name="s", parent_id="acc_a"),
                   Account(id="acc_none", name="none")])
    return factory


@pytest.mark.parametrize(("plan", "count", "allowed"), [
    ("SOLO", 0, True), ("SOLO", 1, False), ("BUSINESS", 4, True), ("BUSINESS", 5, False),
    ("ENTERPRISE", 49, True), ("ENTERPRISE", 50, False),
])
def test_calendar_limit_follows_the_plan(sessions: sessionmaker[Session], plan: str,
                                         count: int, allowed: bool) -> None:
    with transaction(sessions) as s:
        plans.subscribe(s, "acc_a", plan, now=T0)
        assert plans.can_add_calendar(s, "acc_s", count) is allowed


def test_the_check_names_the_plan_needed(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        with pytest.raises(BillingError) as err:
            plans.check_can_add_calendar(s, "acc_none", 0)
        assert (err.value.code, err.value.details["needed"]) == ("plan_limit", "SOLO")
        plans.subscribe(s, "acc_a", "SOLO", now=T0)
        plans.check_can_add_calendar(s, "acc_a", 0)
        with pytest.raises(BillingError) as err:
            plans.check_can_add_calendar(s, "acc_a", 1)
        assert err.value.details == {"plan": "SOLO", "needed": "BUSINESS"}


def test_trial_then_pro_rata_upgrade(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        sub = plans.subscribe(s, "acc_a", "SOLO", "monthly", now=T0)
        assert sub.status == "trial" and sub.period_start == T0 + timedelta(days=30)
        assert plans.change_plan(s, "acc_a", "BUSINESS", now=T0 + timedelta(days=5)) == 0
        assert plans.change_plan(s, "acc_a", "SOLO", now=T0 + timedelta(days=6)) == 0
        halfway = sub.period_start + (sub.period_end - sub.period_start) / 2
        assert plans.change_plan(s, "acc_a", "ENTERPRISE", now=halfway) == Decimal("16.00")
        assert sub.pending == Decimal("16.00") and sub.plan == "ENTERPRISE"
        with pytest.raises(BillingError) as err:
            plans.subscribe(s, "acc_s", "SOLO")
        assert err.value.code == "already_subscribed"


def test_cancelled_subscription_allows_no_new_calendar(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        plans.subscribe(s, "acc_a", "BUSINESS", now=T0)
        plans.cancel(s, "acc_a")
        assert not plans.can_add_calendar(s, "acc_a", 0)
