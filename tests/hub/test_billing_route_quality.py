"""Statements and the ledger name the route quality a message was priced at (standard, premium,
alert), never the name of the dispatch route that carried it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from connectors.base import SmsRequest
from hub import pipeline, receipts
from hub.models import LedgerEntry, Message
from hub.receipts import Sent
from hub.services import Services
from hub.statements import compute_statement
from sms_core.dispatch.types import SubmitOutcome
from tests.hub.conftest import UNIT_PRICE, make_account, seed_prices


@pytest.mark.parametrize("quality", ["standard", "premium"])
def test_charges_and_statement_lines_carry_the_priced_quality(services: Services,
                                                              quality: str) -> None:
    seed_prices(services)
    account = make_account(services, route=quality)
    results = pipeline.submit(services, account, [
        SmsRequest(account="", to=to, text="Votre rendez-vous demain 9h")  # type: ignore[arg-type]
        for to in ("06 12 34 56 01", "06 12 34 56 02", "06 12 34 56 03")])
    ids = [r.message_id for r in results if r.message_id]
    assert len(ids) == 3
    # dispatched on a route called "default" (the name in the route table, not a quality)
    pairs = [(Sent(ids[0], account.id, UNIT_PRICE, 0),
              SubmitOutcome(ids[0], True, ["op-1"], route="default", billed_as=quality)),
             (Sent(ids[1], account.id, UNIT_PRICE, 0),
              SubmitOutcome(ids[1], True, ["op-2"], route="default", billed_as=quality)),
             (Sent(ids[2], account.id, UNIT_PRICE, 0),
              SubmitOutcome(ids[2], False, error_code="ESME_RINVDSTADR", permanent=True,
                            route="default"))]
    receipts.record_outcomes(services, pairs)
    with services.sessions() as session:
        entries = session.execute(
            select(LedgerEntry.kind, LedgerEntry.route, LedgerEntry.count)
            .where(LedgerEntry.account_id == account.id, LedgerEntry.kind != "purchase")
            .order_by(LedgerEntry.id)).all()
        doc = compute_statement(session, account.id, datetime.now(UTC).strftime("%Y-%m"))
        routes = set(session.scalars(select(Message.route).where(Message.id.in_(ids))))
    assert {kind for kind, _, _ in entries} >= {"reserve", "charge", "release"}
    assert {route for kind, route, _ in entries if kind != "reserve"} == {quality}
    assert [(k, c) for k, r, c in entries if k == "charge"] == [("charge", 2)]
    assert [(line["route"], line["messages"]) for line in doc["lines"]] == [(quality, 2)]
    assert routes == {quality}
