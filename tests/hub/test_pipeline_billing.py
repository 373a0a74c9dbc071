"""What the pipeline and the receipts write to the ledger: post-paid credit, per-country lines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import SmsRequest
from hub import ledger, pipeline, receipts
from hub.db import transaction
from hub.models import LedgerEntry, Message
from hub.receipts import Sent
from hub.services import Services
from hub.statements import compute_statement
from sms_core.dispatch.types import SubmitOutcome
from tests.hub.conftest import UNIT_PRICE, make_account, seed_prices

FRENCH = ["06 12 34 56 01", "06 12 34 56 02", "06 12 34 56 03"]
BELGIAN = ["+32 470 12 34 56", "+32 470 12 34 57"]


def sms(to: str, **kw: object) -> SmsRequest:
    return SmsRequest(account="", to=to, text="Votre colis arrive demain", **kw)  # type: ignore[arg-type]


def test_a_post_paid_account_at_zero_sends_within_its_credit_limit(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_prices(services)
    post_paid = make_account(services, credits=None)
    with transaction(services.sessions) as session:
        ledger.set_credit_limit(session, post_paid.id, UNIT_PRICE * 3)
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 2)
    numbers = [f"06 12 00 00 0{i}" for i in range(5)]
    results = pipeline.submit(services, post_paid, [sms(n) for n in numbers])
    assert [r.status for r in results] == ["accepted"] * 3 + ["refused"] * 2
    assert {r.code for r in results[3:]} == {"insufficient_credits"}
    with services.sessions() as session:
        assert ledger.balance(session, post_paid.id) == -UNIT_PRICE * 3
        assert ledger.spendable(session, post_paid.id) == 0


def test_a_post_paid_account_trims_a_single_chunk_to_its_limit(services: Services) -> None:
    seed_prices(services)
    post_paid = make_account(services, credits=None)
    with transaction(services.sessions) as session:
        ledger.set_credit_limit(session, post_paid.id, UNIT_PRICE * 2)
    results = pipeline.submit(services, post_paid, [sms(n) for n in FRENCH])
    assert [r.status for r in results] == ["accepted", "accepted", "refused"]


def _submit_and_record(services: Services, outcome_ok: bool) -> tuple[str, list[str]]:
    seed_prices(services)
    account = make_account(services, allowed_countries=["BE"])
    results = pipeline.submit(services, account, [sms(n) for n in FRENCH + BELGIAN])
    ids = [r.message_id for r in results if r.message_id]
    assert len(ids) == 5 and all(r.status == "accepted" for r in results)
    with services.sessions() as session:
        costs = {mid: cost for mid, cost in session.execute(
            select(Message.id, Message.cost).where(Message.id.in_(ids)))}
    pairs = [(Sent(i, account.id, costs[i], 0),
              SubmitOutcome(i, True, [f"op-{n}"], route="premium") if outcome_ok
              else SubmitOutcome(i, False, error_code="ESME_RINVDSTADR", permanent=True))
             for n, i in enumerate(ids)]
    receipts.record_outcomes(services, pairs)
    return account.id, ids


def _entries(session: Session, account_id: str, kind: str,
             third: Any) -> list[tuple[Any, ...]]:
    query = (select(LedgerEntry.country, LedgerEntry.count, third)
             .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == kind)
             .order_by(LedgerEntry.country))
    return [tuple(row) for row in session.execute(query)]


def test_a_batch_to_two_countries_is_charged_country_by_country(services: Services) -> None:
    account_id, _ = _submit_and_record(services, outcome_ok=True)
    period = datetime.now(UTC).strftime("%Y-%m")
    with services.sessions() as session:
        doc = compute_statement(session, account_id, period)
        charges = _entries(session, account_id, "charge", LedgerEntry.source)
    assert charges == [("BE", 2, "api"), ("FR", 3, "api")]
    lines = {(line["country"], line["route"], line["source"]): line for line in doc["lines"]}
    assert set(lines) == {("BE", "premium", "api"), ("FR", "premium", "api")}
    assert lines[("BE", "premium", "api")]["messages"] == 2
    assert Decimal(lines[("BE", "premium", "api")]["amount"]) == UNIT_PRICE * 2
    assert lines[("FR", "premium", "api")]["messages"] == 3
    assert Decimal(lines[("FR", "premium", "api")]["amount"]) == UNIT_PRICE * 3


def test_a_failed_batch_to_two_countries_is_refunded_country_by_country(
        services: Services) -> None:
    account_id, _ = _submit_and_record(services, outcome_ok=False)
    with services.sessions() as session:
        releases = _entries(session, account_id, "release", LedgerEntry.hold)
        assert ledger.balance(session, account_id) == Decimal(100)
    assert [(c, n) for c, n, _ in releases] == [("BE", 2), ("FR", 3)]
    assert [-hold for _, _, hold in releases] == [UNIT_PRICE * 2, UNIT_PRICE * 3]
