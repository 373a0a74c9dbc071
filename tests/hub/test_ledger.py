"""The credit store: reserve → settle | refund, packs, limits and alerts, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import ledger
from hub.db import make_sessionmaker, transaction
from hub.ids import new_id
from hub.models import Account, Balance, LedgerEntry, Pack
from sms_core.errors import BillingError

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
D = Decimal


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


def make_account(sessions: sessionmaker[Session], *, parent: str | None = None,
                 currency: str = "EUR", **settings: Any) -> str:
    with transaction(sessions) as s:
        account = Account(id=new_id("acc"), name="test", parent_id=parent, currency=currency,
                          settings=settings)
        s.add(account)
    return account.id


@pytest.fixture
def account(sessions: sessionmaker[Session]) -> str:
    return make_account(sessions)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with transaction(sessions) as s:
        yield s


def entries(session: Session, account_id: str) -> list[tuple[str, Decimal, Decimal]]:
    rows = session.execute(select(LedgerEntry).where(LedgerEntry.account_id == account_id)
                           .order_by(LedgerEntry.id)).scalars()
    return [(e.kind, e.amount, e.hold) for e in rows]


def test_reserve_settle_refund_move_credit_as_the_rules_say(
        session: Session, account: str) -> None:
    ledger.purchase(session, account, D("10"), reference="pack-1", now=T0)
    ledger.reserve(session, account, D("0.9"), reference="batch-1", count=20, now=T0)
    assert ledger.balance(session, account) == D("9.1")
    ledger.settle(session, account, D("0.855"), reference="batch-1", count=19, now=T0)
    ledger.refund(session, account, D("0.045"), reference="msg-1", reason="dispatch_failed")
    assert ledger.balance(session, account) == D("9.145")
    assert entries(session, account) == [
        ("purchase", D("10"), D(0)), ("reserve", D(0), D("0.9")),
        ("charge", D("-0.855"), D("-0.855")), ("release", D(0), D("-0.045")),
    ]
    assert ledger.verify(session, account)


def test_refund_beyond_what_is_held_credits_the_charge_back(
        session: Session, account: str) -> None:
    ledger.purchase(session, account, D("1"), reference="p", now=T0)
    ledger.settle(session, account, D("0.2"), reference="m", now=T0)
    ledger.refund(session, account, D("0.2"), reference="m", reason="route_down")
    assert ledger.balance(session, account) == D("1")
    assert entries(session, account)[-1] == ("refund", D("0.2"), D(0))


@pytest.mark.parametrize("reason", ["undeliverable", "delivery_failed", "", "DLR_EXPIRED"])
def test_operator_non_delivery_is_never_refunded(
        session: Session, account: str, reason: str) -> None:
    ledger.purchase(session, account, D("1"), reference="p", now=T0)
    ledger.reserve(session, account, D("0.5"), reference="m", now=T0)
    with pytest.raises(BillingError) as err:
        ledger.refund(session, account, D("0.5"), reference="m", reason=reason)
    assert err.value.code == "not_refundable"
    assert ledger.balance(session, account) == D("0.5")


def test_insufficient_credits_refuses_and_writes_nothing(session: Session, account: str) -> None:
    ledger.purchase(session, account, D("1"), reference="p", now=T0)
    with pytest.raises(BillingError) as err:
        ledger.reserve(session, account, D("1.000001"), reference="b", count=3, now=T0)
    assert err.value.code == "insufficient_credits"
    assert err.value.details["needed"] == "1.000001"
    assert [kind for kind, *_ in entries(session, account)] == ["purchase"]
    ledger.reserve(session, account, D("1"), reference="b", now=T0)
    assert ledger.balance(session, account) == 0


@pytest.mark.parametrize("amount", [D(0), D("-1"), 0.5, "abc", "1.0000001", None, "NaN"])
def test_bad_amounts_are_refused(session: Session, account: str, amount: Any) -> None:
    with pytest.raises(BillingError) as err:
        ledger.purchase(session, account, amount, reference="p", now=T0)
    assert err.value.code == "invalid_amount"
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_unknown_or_foreign_currency_is_refused(session: Session, account: str) -> None:
    with pytest.raises(BillingError) as err:
        ledger.purchase(session, account, D(5), reference="p", currency="XYZ")
    assert err.value.code == "unknown_currency"
    with pytest.raises(BillingError) as err:
        ledger.purchase(session, account, D(5), reference="p", currency="usd")
    assert err.value.code == "currency_mismatch"
    ledger.purchase(session, account, D(5), reference="p", currency="eur")
    assert ledger.balance(session, account) == 5


def test_sub_account_spends_the_parent_credits(sessions: sessionmaker[Session],
                                               account: str) -> None:
    child = make_account(sessions, parent=account)
    with transaction(sessions) as s:
        ledger.purchase(s, account, D(3), reference="p", now=T0)
        ledger.reserve(s, child, D(1), reference="b", now=T0)
        ledger.settle(s, child, D(1), reference="b", now=T0)
        assert ledger.balance(s, child) == ledger.balance(s, account) == D(2)
        spenders = s.scalars(select(LedgerEntry.spender_id).where(LedgerEntry.kind == "charge"))
        assert list(spenders) == [child]
        assert s.get(Balance, child) is None


def test_closed_account_cannot_be_charged(sessions: sessionmaker[Session], account: str) -> None:
    with transaction(sessions) as s:
        ledger.purchase(s, account, D(3), reference="p", now=T0)
        acc = s.get(Account, account)
        assert acc is not None
        acc.status = "closed"
    with transaction(sessions) as s:
        for call in (ledger.reserve, ledger.settle, ledger.purchase):
            with pytest.raises(BillingError) as err:
                call(s, account, D(1), reference="x")
            assert err.value.code == "account_closed"


def test_post_paid_account_goes_down_to_its_credit_limit(session: Session, account: str) -> None:
    ledger.set_credit_limit(session, account, D(100))
    ledger.purchase(session, account, D(5), reference="p", now=T0)
    assert ledger.spendable(session, account) == D(105)
    ledger.reserve(session, account, D(105), reference="b", count=2000, now=T0)
    ledger.settle(session, account, D(105), reference="b", count=2000, now=T0)
    assert ledger.balance(session, account) == D(-100)
    assert ledger.spendable(session, account) == 0
    with pytest.raises(BillingError):
        ledger.reserve(session, account, D("0.01"), reference="c", now=T0)
    pack = session.scalars(select(Pack)).one()
    assert pack.remaining == 0


def test_oldest_pack_pays_first(session: Session, account: str) -> None:
    old = ledger.purchase(session, account, D(2), reference="old", now=T0)
    new = ledger.purchase(session, account, D(5), reference="new", now=T0 + timedelta(days=3))
    ledger.settle(session, account, D(3), reference="m", now=T0 + timedelta(days=4))
    assert (old.remaining, new.remaining) == (D(0), D(4))


def test_packs_expire_after_twelve_months_except_what_is_held(
        session: Session, account: str) -> None:
    pack = ledger.purchase(session, account, D(10), reference="p", now=T0)
    assert pack.expires_at == datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    ledger.reserve(session, account, D(4), reference="b", now=T0 + timedelta(days=300))
    assert ledger.expire_packs(session, now=T0 + timedelta(days=364)) == 0
    assert ledger.expire_packs(session, now=T0 + timedelta(days=365)) == D(6)
    assert ledger.balance(session, account) == 0
    ledger.settle(session, account, D(4), reference="b", now=T0 + timedelta(days=366))
    assert pack.remaining == 0 and ledger.verify(session, account)
    assert ledger.expire_packs(session, now=T0 + timedelta(days=400)) == 0


def test_reserve_never_spends_dead_credit(session: Session, account: str) -> None:
    ledger.purchase(session, account, D(10), reference="p", now=T0)
    with pytest.raises(BillingError):
        ledger.reserve(session, account, D(1), reference="b", now=T0 + timedelta(days=366))
    assert ledger.balance(session, account) == 0
    assert entries(session, account)[-1] == ("expiry", D(-10), D(0))


def test_rolling_packs_are_renewed_by_each_send(session: Session, account: str) -> None:
    pack = ledger.purchase(session, account, D(10), reference="p", policy="rolling", now=T0)
    later = T0 + timedelta(days=300)
    ledger.settle(session, account, D(1), reference="m", now=later)
    session.refresh(pack)
    assert pack.expires_at == later + timedelta(days=365)
    assert ledger.expire_packs(session, now=T0 + timedelta(days=400)) == 0


def test_low_balance_notifies_once_per_crossing(session: Session, account: str) -> None:
    seen: list[tuple[str, Decimal]] = []
    hook = ledger.on_low_balance(lambda s, acc, avail, thr: seen.append((acc, avail)))
    try:
        ledger.purchase(session, account, D(10), reference="p", now=T0)
        ledger.set_low_balance_threshold(session, account, D(5))
        for _ in range(8):
            ledger.reserve(session, account, D(1), reference="b", now=T0)
        assert seen == [(account, D(4))]
        ledger.purchase(session, account, D(10), reference="p2", now=T0)
        ledger.reserve(session, account, D(9), reference="b", now=T0)
        assert seen == [(account, D(4)), (account, D(3))]
        assert session.get(Balance, account).low_alerted  # type: ignore[union-attr]
    finally:
        ledger._low_balance_hooks.remove(hook)


@pytest.mark.parametrize(("settings", "country", "allowed"), [
    ({}, "FR", True),
    ({}, "BE", False),
    ({"allowed_countries": ["be", "CH"]}, "BE", True),
    ({"allowed_countries": ["BE"]}, "DE", False),
    ({"allowed_countries": ["*"]}, "US", True),
    ({"region": "BE"}, "BE", True),
    ({"region": "BE"}, "FR", False),
])
def test_international_sending_needs_the_country_allowed(
        settings: dict[str, Any], country: str, allowed: bool) -> None:
    account = Account(id="acc_x", name="x", settings=settings)
    assert ledger.country_allowed(account, country) is allowed


def test_each_call_writes_one_row_whatever_the_batch_size(session: Session, account: str) -> None:
    ledger.purchase(session, account, D(1000), reference="p", now=T0)
    ledger.reserve(session, account, D("450"), reference="chunk", count=10_000, now=T0)
    ledger.settle(session, account, D("450"), reference="chunk", count=10_000, now=T0)
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 3


def test_a_purchase_repays_post_paid_debt_first(session: Session, account: str) -> None:
    ledger.set_credit_limit(session, account, D(50))
    ledger.settle(session, account, D(8), reference="m", now=T0)
    pack = ledger.purchase(session, account, D(10), reference="p", now=T0)
    assert (ledger.balance(session, account), pack.remaining) == (D(2), D(2))
    assert ledger.expire_packs(session, now=T0 + timedelta(days=400)) == D(2)
