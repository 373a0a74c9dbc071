"""After any sequence of ledger operations the balance row is the sum of the entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub import ledger
from hub.db import make_sessionmaker, transaction
from hub.ids import new_id
from hub.models import Account, Balance, Pack
from sms_core.errors import BillingError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
amounts = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(50), places=6)
operations = st.lists(st.one_of(
    st.tuples(st.just("purchase"), amounts, st.sampled_from(["fixed", "rolling"])),
    st.tuples(st.just("reserve"), amounts, st.none()),
    st.tuples(st.just("settle"), amounts, st.none()),
    st.tuples(st.just("refund"), amounts, st.sampled_from(["route_down", "undeliverable"])),
    st.tuples(st.just("adjust"), st.decimals(min_value=-20, max_value=20, places=2), st.none()),
    st.tuples(st.just("limit"), st.sampled_from([Decimal(0), Decimal(30)]), st.none()),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=200), st.none()),
), max_size=15)


def _apply(session: Session, account: Account, op: str, value: Decimal | int,
           extra: str | None, now: datetime) -> datetime:
    if op == "wait":
        now += timedelta(days=int(value))
        ledger.expire_packs(session, now=now)
    elif op == "purchase":
        ledger.purchase(session, account, Decimal(value), reference="p", policy=str(extra),
                        now=now)
    elif op in ("reserve", "settle"):
        getattr(ledger, op)(session, account, value, reference="m", now=now)
    elif op == "refund":
        ledger.refund(session, account, Decimal(value), reference="m", reason=str(extra), now=now)
    elif op == "adjust":
        ledger.adjust(session, account, Decimal(value), reference="a", reason="fix", now=now)
    else:
        ledger.set_credit_limit(session, account, Decimal(value))
    return now


def _check_invariants(session: Session, account: Account) -> None:
    assert ledger.verify(session, account)
    bal = session.get(Balance, account.id)
    if bal is None:
        return
    assert bal.available >= -bal.credit_limit or bal.credit_limit == 0
    packs = session.scalars(select(Pack).where(Pack.account_id == account.id)).all()
    assert all(0 <= p.remaining <= p.amount for p in packs)
    assert sum((p.remaining for p in packs), Decimal(0)) <= max(bal.balance, Decimal(0))


def test_ledger_sums_to_the_balance_after_any_operations(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)

    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=operations)
    def run(ops: list[tuple[str, Decimal | int, str | None]]) -> None:
        with transaction(sessions) as session:
            account = Account(id=new_id("acc"), name="h")
            session.add(account)
            session.flush()
            now = T0
            for op, value, extra in ops:
                try:
                    with session.begin_nested():
                        now = _apply(session, account, op, value, extra, now)
                except BillingError:
                    pass
                _check_invariants(session, account)

    run()
