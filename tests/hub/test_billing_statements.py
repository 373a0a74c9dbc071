"""Monthly statements: breakdown, CSV, immutability once issued, exact reproduction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hub import ledger
from hub.db import make_sessionmaker, transaction
from hub.models import Account, LedgerEntry, Message
from hub.statements import (
    compute_statement,
    get_statement,
    issue_statement,
    statement_csv,
    verify_statement,
)
from sms_core.errors import BillingError

D = Decimal
MARCH = datetime(2026, 3, 10, tzinfo=UTC)
APRIL = datetime(2026, 4, 2, tzinfo=UTC)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        s.add_all([Account(id="acc_p", name="post-paid"),
                   Account(id="acc_c", name="child", parent_id="acc_p")])
        s.flush()
        s.add(Message(id="msg_1", account_id="acc_c", to="+32470000000", country="BE",
                      route="premium", source="hubspot", status="submitted"))
        ledger.set_credit_limit(s, "acc_p", D(500))
        ledger.purchase(s, "acc_p", D(10), reference="pack", now=datetime(2026, 2, 1, tzinfo=UTC))
        _march(s)
        ledger.settle(s, "acc_p", D(1), reference="april", country="FR", route="standard",
                      source="api", now=APRIL)
    return factory


def _march(s: Session) -> None:
    dims = {"country": "FR", "route": "standard", "source": "api"}
    ledger.reserve(s, "acc_p", D("4.5"), reference="b1", count=100, now=MARCH)
    ledger.settle(s, "acc_p", D("4.455"), reference="b1", count=99, now=MARCH, **dims)
    ledger.refund(s, "acc_p", D("0.045"), reference="m9", reason="route_down", now=MARCH, **dims)
    ledger.settle(s, "acc_c", D("0.13"), reference="msg_1", count=2, now=MARCH)
    ledger.settle(s, "acc_p", D("12"), reference="b2", count=150, now=MARCH,
                  country="FR", route="premium", source="calendar")


def test_march_statement_breaks_consumption_down(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        doc = compute_statement(s, "acc_c", "2026-03")
    assert doc["account_id"] == "acc_p" and doc["currency"] == "EUR"
    assert doc["lines"] == [
        {"country": "BE", "route": "premium", "source": "hubspot", "messages": 2,
         "amount": "0.130000"},
        {"country": "FR", "route": "premium", "source": "calendar", "messages": 150,
         "amount": "12.000000"},
        {"country": "FR", "route": "standard", "source": "api", "messages": 99,
         "amount": "4.455000"},
    ]
    assert doc["totals"] == {"messages": 251, "amount": "16.585000"}
    assert (doc["opening_balance"], doc["closing_balance"]) == ("10.000000", "-6.585000")
    assert statement_csv(doc).splitlines()[-1] == "total,,,251,16.585000"


def test_an_open_month_cannot_be_issued(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(BillingError) as err, transaction(sessions) as s:
        issue_statement(s, "acc_p", "2026-03", now=datetime(2026, 3, 31, 23, tzinfo=UTC))
    assert err.value.code == "period_open"


@pytest.mark.parametrize("period", ["2026-13", "2026-3", "march", ""])
def test_bad_periods_are_refused(sessions: sessionmaker[Session], period: str) -> None:
    with pytest.raises(BillingError) as err, transaction(sessions) as s:
        compute_statement(s, "acc_p", period)
    assert err.value.code == "invalid_period"


def test_issued_statement_is_frozen_and_reproducible(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        row = issue_statement(s, "acc_p", "2026-03", now=APRIL)
        assert issue_statement(s, "acc_p", "2026-03", now=APRIL).id == row.id
        assert json.loads(row.document) == compute_statement(s, "acc_p", "2026-03")
        assert verify_statement(s, row)
    with transaction(sessions) as s:
        ledger.settle(s, "acc_p", D(3), reference="later", now=APRIL)
        shown = get_statement(s, "acc_p", "2026-03")
        assert shown["issued"] and shown["sha256"] == row.sha256
        assert shown["totals"]["amount"] == "16.585000"
    with pytest.raises(BillingError) as err, transaction(sessions) as s:
        stored = issue_statement(s, "acc_p", "2026-03", now=APRIL)
        stored.document = stored.document.replace("16.585", "1.585")
        s.flush()
    assert err.value.code == "statement_immutable"


def test_a_backdated_entry_is_caught_by_verification(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        row = issue_statement(s, "acc_p", "2026-03", now=APRIL)
        s.add(LedgerEntry(account_id="acc_p", kind="charge", amount=D(-1), hold=D(0),
                          reference="forged", created_at=MARCH))
        s.flush()
        assert not verify_statement(s, row)


def test_live_statement_of_the_current_month(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        doc = get_statement(s, "acc_p", "2026-04")
    assert doc["issued"] is False
    assert doc["totals"] == {"messages": 1, "amount": "1.000000"}


def test_subscription_fees_are_invoiced_on_the_statement(sessions: sessionmaker[Session]) -> None:
    from hub import plans
    from hub.models import Statement
    from hub.models.subscription import SubscriptionFee
    from sms_core import statements as docs

    with transaction(sessions) as s:  # trial 20 Jan → 19 Feb, then periods from the 19th
        plans.subscribe(s, "acc_c", "SOLO", "monthly", now=datetime(2026, 1, 20, tzinfo=UTC))
        upgrade_at = datetime(2026, 3, 29, tzinfo=UTC)  # 21 of the period's 31 days left
        assert plans.change_plan(s, "acc_p", "BUSINESS", now=upgrade_at) == D("8.13")
        old = Statement(account_id="acc_p", period="2026-02", currency="EUR",
                        document=docs.canonical(compute_statement(s, "acc_p", "2026-02", 1)),
                        sha256=docs.digest(compute_statement(s, "acc_p", "2026-02", 1)))
        s.add(old)
        row = issue_statement(s, "acc_p", "2026-03", now=APRIL)
        doc = json.loads(row.document)
        assert doc["fees"] == [
            {"kind": "period", "plan": "SOLO", "cycle": "monthly", "amount": "7.990000",
             "period_start": "2026-03-19T00:00:00+00:00",
             "period_end": "2026-04-19T00:00:00+00:00"},
            {"kind": "prorata", "plan": "BUSINESS", "cycle": "monthly", "amount": "8.130000",
             "period_start": "2026-03-29T00:00:00+00:00",
             "period_end": "2026-04-19T00:00:00+00:00"},
        ]
        assert doc["subtotals"] == {"usage": "16.585000", "fees": "16.120000"}
        assert doc["totals"] == {"messages": 251, "amount": "32.705000"}
        assert doc["closing_balance"] == "-6.585000"  # invoiced, not taken from the credits
        assert doc["by_account"] == [
            {"account_id": "acc_c", "messages": 2, "amount": "0.130000"},
            {"account_id": "acc_p", "messages": 249, "amount": "16.455000"},
        ]
        text = statement_csv(doc).splitlines()
        assert text[-3:] == ["fee,period,SOLO monthly 2026-03-19/2026-04-19,,7.990000",
                             "fee,prorata,BUSINESS monthly 2026-03-29/2026-04-19,,8.130000",
                             "total,,,251,32.705000"]
        assert statement_csv(doc, "accounts").splitlines() == [
            "account_id,messages,amount", "acc_c,2,0.130000", "acc_p,249,16.455000",
            "total,251,16.585000"]
        feb = issue_statement(s, "acc_p", "2026-02", now=APRIL)
        assert feb.id == old.id and verify_statement(s, feb)  # issued before fees: version 1
        assert compute_statement(s, "acc_p", "2026-02")["fees"][0]["amount"] == "7.990000"
        assert verify_statement(s, row)
        assert issue_statement(s, "acc_p", "2026-04", now=datetime(2026, 5, 1, tzinfo=UTC)
                               ).document.count('"plan":"BUSINESS"') == 1  # 19 Apr, new plan
    with pytest.raises(BillingError) as err, transaction(sessions) as s:
        s.scalars(select(SubscriptionFee)).first().amount = D(1)  # type: ignore[union-attr]
        s.flush()
    assert err.value.code == "fee_immutable"
    with transaction(sessions) as s:  # a fee slipped into an issued month is caught
        s.add(SubscriptionFee(account_id="acc_p", kind="period", plan="SOLO", cycle="monthly",
                              amount=D(1), period_start=MARCH, period_end=APRIL,
                              reference="forged", created_at=MARCH))
        s.flush()
        assert not verify_statement(s, row)
