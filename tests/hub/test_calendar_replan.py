"""Calendar reminders refused for lack of credits go again once the account can pay: a
purchase (or the periodic sync, for credit added any other way) forgets them and makes the next
sync list every event again, which submits them under their own key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.calendar.connector import CalendarConnector
from connectors.calendar.models import (
    Calendar,
    CalendarEvent,
    Connection,
    EventBatch,
    Reminder,
    ReminderRule,
)
from hub import ledger, registry
from hub.calendars import replan
from hub.db import transaction
from hub.models import Account, Message
from hub.services import Services
from tests.hub.conftest import make_account, seed_prices

NUMBER = "+33612345678"


@pytest.fixture
def account(services: Services) -> Account:
    seed_prices(services)
    return make_account(services, credits=None)


@pytest.fixture
def connector(services: Services, account: Account) -> Iterator[CalendarConnector]:
    found = registry.calendar(services)
    found.store.save_connection(Connection("calc_1", account.id, "google", user="dr@example.com"))
    found.store.save_calendar(Calendar("cal_1", "calc_1", "dr@example.com", "Cabinet",
                                       selected=True, sync_state="token-1"))
    found.store.save_rule(ReminderRule("crule_1", "cal_1", timedelta(hours=24),
                                       "Rendez-vous {{ start }}"))
    yield found
    registry.forget(services)


START = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def event() -> CalendarEvent:
    start = START
    return CalendarEvent("ev1", "cal_1", "Consultation", f"Patient {NUMBER}",
                         start=start, end=start + timedelta(hours=1))


def sync(connector: CalendarConnector, *events: CalendarEvent) -> None:
    connection = connector.store.get_connection("calc_1")
    calendar = connector.store.get_calendar("cal_1")
    assert connection is not None and calendar is not None
    connector.reminders.apply(connection, calendar, EventBatch(list(events), full=True))


def buy(services: Services, account: Account, amount: str = "10") -> None:
    with transaction(services.sessions) as session:
        ledger.purchase(session, account.id, Decimal(amount), reference="pack")


def test_a_purchase_brings_back_a_reminder_refused_for_credits(
        services: Services, account: Account, connector: CalendarConnector) -> None:
    sync(connector, event())
    [refused] = connector.store.reminders_for_event("cal_1", "ev1")
    assert refused.status == "refused" and refused.reason is not None
    assert refused.reason.startswith("insufficient_credits")
    sync(connector, event())  # without credits nothing changes
    assert [r.status for r in connector.store.reminders_for_event("cal_1", "ev1")] == ["refused"]

    buy(services, account)
    assert connector.store.reminders_for_event("cal_1", "ev1") == []
    calendar = connector.store.get_calendar("cal_1")
    assert calendar is not None and calendar.sync_state is None  # the next sync lists all

    sync(connector, event())
    [again] = connector.store.reminders_for_event("cal_1", "ev1")
    assert (again.key, again.status) == (refused.key, "scheduled")
    with services.sessions() as session:
        message = session.get(Message, again.message_id)
        assert message is not None and message.status == "scheduled"
        assert message.idempotency_key == refused.key


def test_only_future_reminders_refused_for_credits_are_forgotten(
        services: Services, account: Account, connector: CalendarConnector) -> None:
    now = datetime.now(UTC)

    def reminder(key: str, status: str, reason: str | None, send_in: timedelta) -> None:
        connector.store.save_reminder(Reminder(key, "cal_1", key, "crule_1", now + send_in * 2,
                                               now + send_in, NUMBER, status,  # type: ignore[arg-type]
                                               reason=reason))

    reminder("future", "refused", "insufficient_credits: 0 EUR", timedelta(hours=5))
    reminder("past", "refused", "insufficient_credits: 0 EUR", -timedelta(hours=1))
    reminder("opted", "refused", "opted_out", timedelta(hours=5))
    reminder("fine", "scheduled", None, timedelta(hours=5))
    with transaction(services.sessions) as session:
        assert replan.reopen(session, [account.id]) == {"cal_1"}
    left = {r.key for e in ("future", "past", "opted", "fine")
            for r in connector.store.reminders_for_event("cal_1", e)}
    assert left == {"past", "opted", "fine"}


def test_the_periodic_pass_reopens_only_accounts_that_can_pay(
        services: Services, account: Account, connector: CalendarConnector) -> None:
    sync(connector, event())
    assert replan.reopen_payable(services) == set()  # no credit: left refused
    assert len(connector.store.reminders_for_event("cal_1", "ev1")) == 1
    with transaction(services.sessions) as session:
        ledger.adjust(session, account.id, Decimal(5), reference="goodwill", reason="goodwill")
    assert replan.reopen_payable(services) == {"cal_1"}
    assert connector.store.reminders_for_event("cal_1", "ev1") == []


def test_a_parent_s_purchase_reopens_its_sub_accounts(services: Services) -> None:
    seed_prices(services)
    parent = make_account(services, credits=None)
    with transaction(services.sessions) as session:
        child = Account(id="acc_child_replan", name="Child", currency="EUR",
                        parent_id=parent.id, settings={})
        session.add(child)
    connector = registry.calendar(services)
    try:
        connector.store.save_connection(Connection("calc_2", child.id, "google", user="c"))
        connector.store.save_calendar(Calendar("cal_2", "calc_2", "c", "C", selected=True))
        start = datetime.now(UTC) + timedelta(days=2)
        connector.store.save_reminder(Reminder("k", "cal_2", "e", "r", start,
                                               start - timedelta(hours=1), NUMBER, "refused",
                                               reason="insufficient_credits"))
        buy(services, parent)
        with services.sessions() as session:
            assert session.scalars(select(Message)).all() == []
        assert connector.store.reminders_for_event("cal_2", "e") == []
    finally:
        registry.forget(services)
