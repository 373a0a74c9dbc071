"""Recording what operators answered: submit outcomes, then delivery receipts (DLRs).

Billing decisions (RULES.md § Billing, documented here because the ledger follows them):

* accepted by the operator → ``submitted``, the reserved credits are **settled** (charged). A
  later ``undeliverable`` or ``expired`` receipt changes nothing: the message was sent.
* refused by the operator at submit time (a permanent error such as an invalid destination) →
  ``failed`` with the operator's code, **refunded**: the message never left the platform, so it
  was never "sent" in the sense of the terms (sent = accepted by the operator).
* a transient failure (route down, throttled past patience) leaves the message ``accepted`` for
  another attempt; after :data:`MAX_ATTEMPTS` it is ``failed`` (``operator_unavailable``) and
  refunded: the platform could not send.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub import ledger, states
from hub.db import transaction
from hub.models import DeliveryReceipt, Message, MessagePart, utcnow
from hub.services import Services
from sms_core.dispatch.types import DeliveryReport, SubmitOutcome

MAX_ATTEMPTS = 5
"""Dispatch attempts (transient failures) before a message is failed and refunded."""

REPORT_TARGETS = {
    "delivered": "delivered",
    "undeliverable": "undeliverable",
    "rejected": "undeliverable",
    "expired": "expired",
}
"""Final receipt states and the message state each leads to; others are only stored."""


@dataclass(frozen=True, slots=True)
class Sent:
    """What recording an outcome needs to know of its message (loaded with the batch)."""

    message_id: str
    account_id: str
    cost: Decimal
    attempts: int


def record_outcomes(services: Services, pairs: Sequence[tuple[Sent, SubmitOutcome]]) -> None:
    """Persist a group of submit outcomes in one transaction (states, parts, ledger)."""
    if not pairs:
        return
    now = utcnow()
    with transaction(services.sessions) as session:
        charged: dict[str, list[Sent]] = defaultdict(list)
        refunded: dict[str, list[Sent]] = defaultdict(list)
        for sent, outcome in pairs:
            if outcome.ok:
                if _submitted(session, sent, outcome, now):
                    charged[sent.account_id].append(sent)
            elif _failed(session, sent, outcome, now):
                refunded[sent.account_id].append(sent)
        _settle(session, charged)
        refund(session, refunded, "submit_failed")


def _submitted(session: Session, sent: Sent, outcome: SubmitOutcome, now: datetime) -> bool:
    first = outcome.operator_ids[0] if outcome.operator_ids else None
    moved = states.move(session, [sent.message_id], "submitted", only_from=["accepted"], at=now,
                        values={"operator_id": first, "route": outcome.route or None,
                                "attempts": sent.attempts + 1})
    if not moved:
        return False
    if len(outcome.operator_ids) > 1:
        session.add_all(
            MessagePart(message_id=sent.message_id, seq=seq, operator_id=op_id,
                        route=outcome.route)
            for seq, op_id in enumerate(outcome.operator_ids, start=1)
        )
    _apply_early_receipts(session, sent.message_id, outcome.operator_ids)
    return True


def _failed(session: Session, sent: Sent, outcome: SubmitOutcome, now: datetime) -> bool:
    attempts = sent.attempts + 1
    if not outcome.permanent and attempts < MAX_ATTEMPTS:
        session.execute(
            update(Message).where(Message.id == sent.message_id, Message.status == "accepted")
            .values(attempts=attempts, enqueued_at=now, detail=outcome.detail or None)
        )
        return False
    code = outcome.error_code or "operator_unavailable"
    return states.move(session, [sent.message_id], "failed", only_from=["accepted"], at=now,
                       values={"reason": code[:64], "detail": outcome.detail or None,
                               "attempts": attempts}) == 1


def _settle(session: Session, by_account: dict[str, list[Sent]]) -> None:
    for (account_id, dims), sent in _by_dimensions(session, by_account).items():
        amount = sum((s.cost for s in sent), Decimal(0))
        if amount > 0:
            ledger.settle(session, account_id, amount, reference=sent[0].message_id,
                          count=len(sent), **dims._asdict())


def refund(session: Session, by_account: dict[str, list[Sent]], reason: str) -> None:
    """Give back the cost of messages the platform could not send, one ledger call per account
    and statement line (country, route, source)."""
    for (account_id, dims), sent in _by_dimensions(session, by_account).items():
        amount = sum((s.cost for s in sent), Decimal(0))
        if amount > 0:
            ledger.refund(session, account_id, amount, reference=sent[0].message_id,
                          reason=reason, count=len(sent), **dims._asdict())


class Line(NamedTuple):
    """What a statement line is keyed by, besides the account."""

    country: str | None
    route: str | None
    source: str | None


def _by_dimensions(session: Session, by_account: dict[str, list[Sent]]
                   ) -> dict[tuple[str, Line], list[Sent]]:
    """Split each account's messages by statement line, read from their rows in one query, so
    that a batch to several countries is charged (and refunded) country by country."""
    ids = [s.message_id for sent in by_account.values() for s in sent]
    if not ids:
        return {}
    lines = {
        mid: Line(country, route, source)
        for mid, country, route, source in session.execute(
            select(Message.id, Message.country, Message.route, Message.source)
            .where(Message.id.in_(ids)))
    }
    grouped: dict[tuple[str, Line], list[Sent]] = defaultdict(list)
    for account_id, sent in by_account.items():
        for one in sent:
            grouped[(account_id, lines.get(one.message_id, Line(None, None, None)))].append(one)
    return grouped


def _apply_early_receipts(session: Session, message_id: str, operator_ids: Iterable[str]) -> None:
    """Receipts that arrived before their submit was recorded (an SMSC may send the DLR first)."""
    early = list(session.scalars(select(DeliveryReceipt).where(
        DeliveryReceipt.operator_id.in_(list(operator_ids)),
        DeliveryReceipt.message_id.is_(None),
    )))
    for receipt in early:
        receipt.message_id = message_id
        _apply_state(session, message_id, receipt.state, receipt.error)


def record_report(services: Services, report: DeliveryReport) -> str | None:
    """Store a receipt and move its message; returns the message id (None when unknown yet)."""
    return record_reports(services, [report])[0]


def record_reports(services: Services, reports: Sequence[DeliveryReport]) -> list[str | None]:
    """:func:`record_report` for a group of receipts in one transaction (the dispatcher
    collects what arrives within a few milliseconds); message ids in the order given."""
    if not reports:
        return []
    found: list[str | None] = []
    with transaction(services.sessions) as session:
        for report in reports:
            message_id = find_message(session, report.operator_id)
            session.add(DeliveryReceipt(
                message_id=message_id, operator_id=report.operator_id, state=report.state,
                error=(report.error or None) and str(report.error)[:64], route=report.route,
                raw=_raw(report.raw)))
            if message_id is not None:
                _apply_state(session, message_id, report.state, report.error)
            found.append(message_id)
    return found


def find_message(session: Session, operator_id: str) -> str | None:
    """The message an operator id belongs to (first part on the message, others in parts)."""
    found = session.scalar(select(Message.id).where(Message.operator_id == operator_id).limit(1))
    if found is None:
        found = session.scalar(
            select(MessagePart.message_id).where(MessagePart.operator_id == operator_id).limit(1))
    return found


def _apply_state(session: Session, message_id: str, state: str, error: str | None) -> None:
    target = REPORT_TARGETS.get(state)
    if target is None:
        return
    values: dict[str, Any] = {}
    if target != "delivered":
        values["reason"] = (error or state)[:64]
    states.move(session, [message_id], target, only_from=["submitted"], values=values)


def _raw(raw: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return {k: v if isinstance(v, str | int | float | bool) or v is None else str(v)
                for k, v in raw.items()}
    return {"text": raw}
