"""Outcomes and receipts recorded in several transactions (an alert came to wait for the write
turn): each transaction is complete, every message is charged, refunded and moved once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.base import SmsRequest
from hub import db, dispatching, ledger, pipeline, receipts
from hub.models import DeliveryReceipt, LedgerEntry, Message
from hub.receipts import Sent
from hub.services import Services
from sms_core.dispatch.types import DeliveryReport, SubmitOutcome
from tests.hub.conftest import UNIT_PRICE, make_account, seed_prices

NUMBERS = ["06 12 34 56 01", "06 12 34 56 02", "06 12 34 56 03", "+32 470 12 34 56",
           "+32 470 12 34 57"]


@pytest.fixture
def turns(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every slice boundary finds a priority writer waiting; slices of 2. Returns the sizes of
    the transactions, as they commit."""
    monkeypatch.setattr(db, "TURN_SLICE", 2)
    monkeypatch.setattr(db, "priority_waiting", lambda session: True)
    sizes: list[int] = []
    real = db.write_in_turns

    def counting(factory, items, step, finish=None, *, size=None):  # type: ignore[no-untyped-def]
        def finish_and_count(session, done):  # type: ignore[no-untyped-def]
            sizes.append(len(done))
            if finish is not None:
                finish(session, done)
        return real(factory, items, step, finish_and_count, size=size)

    monkeypatch.setattr(receipts, "write_in_turns", counting)
    return sizes


def _accepted(services: Services) -> tuple[str, list[str], dict[str, Decimal]]:
    seed_prices(services)
    account = make_account(services, allowed_countries=["BE"])
    results = pipeline.submit(services, account, [
        SmsRequest(account="", to=n, text="Votre colis arrive demain") for n in NUMBERS])
    ids = [r.message_id for r in results if r.message_id]
    assert len(ids) == 5
    with services.sessions() as session:
        costs = {k: v for k, v in session.execute(select(Message.id, Message.cost)
                                                  .where(Message.id.in_(ids)))}
    return account.id, ids, costs


def test_outcomes_recorded_in_turns_are_each_charged_or_refunded_once(
        services: Services, turns: list[int]) -> None:
    account_id, ids, costs = _accepted(services)
    pairs = [(Sent(i, account_id, costs[i], 0),
              SubmitOutcome(i, True, [f"op-{n}"], route="premium") if n != 2
              else SubmitOutcome(i, False, error_code="ESME_RINVDSTADR", permanent=True))
             for n, i in enumerate(ids)]
    receipts.record_outcomes(services, pairs)
    assert turns == [1, 1, 1]  # slices of 2, 2, 1: a transaction each
    with services.sessions() as session:
        status = {k: v for k, v in session.execute(select(Message.id, Message.status))}
        charged = session.execute(
            select(func.sum(LedgerEntry.count), func.count())
            .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "charge")).one()
        released = session.scalar(select(func.sum(LedgerEntry.count)).where(
            LedgerEntry.account_id == account_id, LedgerEntry.kind == "release"))
        balance = ledger.balance(session, account_id)
    assert [status[i] for i in ids] == ["submitted", "submitted", "failed", "submitted",
                                        "submitted"]
    assert tuple(charged) == (4, 3)  # four messages, charged by the three transactions
    assert released == 1
    assert balance == Decimal(100) - 4 * UNIT_PRICE


def test_receipts_recorded_in_turns_move_every_message_once(
        services: Services, turns: list[int]) -> None:
    account_id, ids, costs = _accepted(services)
    receipts.record_outcomes(services, [
        (Sent(i, account_id, costs[i], 0), SubmitOutcome(i, True, [f"op-{n}"], route="premium"))
        for n, i in enumerate(ids)])
    turns.clear()
    reports = [DeliveryReport(f"op-{n}", "delivered" if n != 1 else "undeliverable",
                              error="011" if n == 1 else None, raw=f"id:op-{n} stat:X",
                              route="premium")
               for n in range(5)] + [DeliveryReport("op-unknown", "delivered",
                                                    raw={"stat": "DELIVRD", "n": 1})]
    found = receipts.record_reports(services, reports)
    assert found == [*ids, None]
    assert turns == [1, 1, 1]
    with services.sessions() as session:
        status = {k: v for k, v in session.execute(select(Message.id, Message.status))}
        stored = {r.operator_id: r for r in session.scalars(select(DeliveryReceipt))}
    assert [status[i] for i in ids] == ["delivered", "undeliverable", "delivered", "delivered",
                                        "delivered"]
    assert len(stored) == 6
    assert stored["op-1"].raw == {"text": "id:op-1 stat:X"} and stored["op-1"].error == "011"
    assert stored["op-1"].message_id == ids[1] and stored["op-1"].route == "premium"
    assert stored["op-unknown"].raw == {"stat": "DELIVRD", "n": 1}
    assert stored["op-unknown"].message_id is None and stored["op-unknown"].route == ""
    assert all(r.received_at is not None for r in stored.values())


def test_a_dispatcher_stores_each_receipt_once_when_a_later_turn_fails(
        services: Services, turns: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The second of three transactions fails: the dispatcher records the receipts that were not
    stored one by one, and does not store those of the first transaction a second time."""
    account_id, ids, costs = _accepted(services)
    receipts.record_outcomes(services, [
        (Sent(i, account_id, costs[i], 0), SubmitOutcome(i, True, [f"op-{n}"], route="premium"))
        for n, i in enumerate(ids)])
    real, calls = receipts._store_reports, []

    def failing_once(session: Any, chunk: Any, now: Any) -> Any:
        calls.append(len(chunk))
        if len(calls) == 2:
            raise RuntimeError("lost the database")
        return real(session, chunk, now)

    monkeypatch.setattr(receipts, "_store_reports", failing_once)
    runtime = dispatching.DispatchRuntime(services, dispatching.default_driver(services.settings))
    try:
        runtime._record_group([DeliveryReport(f"op-{n}", "delivered") for n in range(5)])
    finally:  # never started: only its writer thread and its loop to close
        runtime._db.shutdown()
        runtime.loop.close()
    with services.sessions() as session:
        stored = list(session.scalars(select(DeliveryReceipt.operator_id)))
        status = {k: v for k, v in session.execute(select(Message.id, Message.status))}
    assert calls[:2] == [2, 2]  # a first transaction stored 2, the second failed
    assert sorted(stored) == [f"op-{n}" for n in range(5)]
    assert {status[i] for i in ids} == {"delivered"}
