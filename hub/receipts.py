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
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from hub import ledger, states
from hub.db import insert_many, one_of, write_in_turns
from hub.models import DeliveryReceipt, Message, MessagePart, utcnow
from hub.services import Services
from sms_core.dispatch.types import DeliveryReport, SubmitOutcome

MAX_ATTEMPTS = 5
"""Dispatch attempts (transient failures) before a message is failed and refunded."""

_RECEIPTS = cast(Table, DeliveryReceipt.__table__)
"""Receipts are inserted through the table (:func:`hub.db.insert_many`: one executemany, no
per-row work by SQLAlchemy)."""

REPORT_TARGETS = {
    "delivered": "delivered",
    "undeliverable": "undeliverable",
    "rejected": "undeliverable",
    "expired": "expired",
}
"""Final receipt states and the message state each leads to; others are only stored."""


class Line(NamedTuple):
    """What a statement line is keyed by, besides the account."""

    country: str | None
    route: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class Sent:
    """What recording an outcome needs to know of its message (loaded with the batch)."""

    message_id: str
    account_id: str
    cost: Decimal
    attempts: int
    sender: str | None = None
    """The sender the message was submitted with (its own, or the dispatcher's default): recorded
    on the message, so that the API reports the sender actually used."""
    line: Line | None = None
    """The statement line the message is charged on, when loaded with the batch (otherwise it
    is read from the message when charging)."""


def record_outcomes(services: Services, pairs: Sequence[tuple[Sent, SubmitOutcome]]) -> None:
    """Persist a group of submit outcomes (states, parts, ledger) with a constant number of
    statements per slice rather than per message: in one transaction, unless an alert comes to
    wait for the write turn (:func:`hub.db.write_in_turns`); each transaction charges and refunds
    what it recorded."""
    if not pairs:
        return
    now = utcnow()
    sent_by_id = {sent.message_id: sent for sent, _ in pairs}

    def step(session: Session, chunk: Sequence[tuple[Sent, SubmitOutcome]]
             ) -> tuple[list[str], list[str]]:
        ok = [(sent, outcome) for sent, outcome in chunk if outcome.ok]
        return (_submitted(session, ok, now),
                _failed(session, [(s, o) for s, o in chunk if not o.ok], now))

    def finish(session: Session, done: list[tuple[list[str], list[str]]]) -> None:
        _settle(session, _group(sent_by_id, [i for charged, _ in done for i in charged]))
        refund(session, _group(sent_by_id, [i for _, failed in done for i in failed]),
               "submit_failed")

    write_in_turns(services.sessions, pairs, step, finish)


def _group(sent_by_id: dict[str, Sent], ids: Iterable[str]) -> dict[str, list[Sent]]:
    by_account: dict[str, list[Sent]] = defaultdict(list)
    for message_id in ids:
        sent = sent_by_id[message_id]
        by_account[sent.account_id].append(sent)
    return by_account


def _submitted(session: Session, ok: Sequence[tuple[Sent, SubmitOutcome]],
               now: datetime) -> list[str]:
    # the message keeps the route quality it was priced at (its statement line); the name of
    # the dispatch route that carried it goes to its parts and receipts
    rows = [{"id": sent.message_id,
             "operator_id": outcome.operator_ids[0] if outcome.operator_ids else None,
             "attempts": sent.attempts + 1,
             **({"sender": sent.sender} if sent.sender else {})}
            for sent, outcome in ok]
    moved = set(states.move_each(session, rows, "submitted", only_from=["accepted"], at=now))
    parts = [{"message_id": sent.message_id, "seq": seq, "operator_id": op_id,
              "route": outcome.route}
             for sent, outcome in ok if sent.message_id in moved and len(outcome.operator_ids) > 1
             for seq, op_id in enumerate(outcome.operator_ids, start=1)]
    if parts:
        session.execute(insert(MessagePart), parts)
    _apply_early_receipts(session, {op_id: sent.message_id for sent, outcome in ok
                                    if sent.message_id in moved
                                    for op_id in outcome.operator_ids})
    return [sent.message_id for sent, _ in ok if sent.message_id in moved]


def _failed(session: Session, failed: Sequence[tuple[Sent, SubmitOutcome]],
            now: datetime) -> list[str]:
    """Transient failures stay ``accepted`` for another attempt; permanent ones (or the last
    attempt) become ``failed`` with the operator's code. Returns the ids that failed."""
    retry = [{"b_id": sent.message_id, "attempts": sent.attempts + 1,
              "detail": outcome.detail or None}
             for sent, outcome in failed
             if not outcome.permanent and sent.attempts + 1 < MAX_ATTEMPTS]
    if retry:
        session.execute(
            update(Message).where(Message.id == bindparam("b_id"), Message.status == "accepted")
            .values(attempts=bindparam("attempts"), enqueued_at=now,
                    detail=bindparam("detail"))
            .execution_options(synchronize_session=False),
            retry)
    retried = {row["b_id"] for row in retry}
    rows = [{"id": sent.message_id,
             "reason": (outcome.error_code or "operator_unavailable")[:64],
             "detail": outcome.detail or None, "attempts": sent.attempts + 1}
            for sent, outcome in failed if sent.message_id not in retried]
    return states.move_each(session, rows, "failed", only_from=["accepted"], at=now)


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


def _by_dimensions(session: Session, by_account: dict[str, list[Sent]]
                   ) -> dict[tuple[str, Line], list[Sent]]:
    """Split each account's messages by statement line (known from the batch, or read from
    their rows in one query), so that a batch to several countries is charged (and refunded)
    country by country."""
    ids = [s.message_id for sent in by_account.values() for s in sent if s.line is None]
    if not any(by_account.values()):
        return {}
    lines = {} if not ids else {
        mid: Line(country, route, source)
        for mid, country, route, source in session.execute(
            select(Message.id, Message.country, Message.route, Message.source)
            .where(one_of(session, Message.id, ids)))
    }
    grouped: dict[tuple[str, Line], list[Sent]] = defaultdict(list)
    for account_id, sent in by_account.items():
        for one in sent:
            line = one.line or lines.get(one.message_id, Line(None, None, None))
            grouped[(account_id, line)].append(one)
    return grouped


def _apply_early_receipts(session: Session, owners: dict[str, str]) -> None:
    """Receipts that arrived before their submit was recorded (an SMSC may send the DLR first);
    ``owners`` maps operator ids to the messages just recorded as submitted."""
    if not owners:
        return
    early = list(session.scalars(select(DeliveryReceipt).where(
        one_of(session, DeliveryReceipt.operator_id, owners),
        DeliveryReceipt.message_id.is_(None),
    )))
    for receipt in early:
        receipt.message_id = owners[receipt.operator_id]
    _apply_states(session, [(r.message_id, r.state, r.error) for r in early if r.message_id])


def record_report(services: Services, report: DeliveryReport) -> str | None:
    """Store a receipt and move its message; returns the message id (None when unknown yet)."""
    return record_reports(services, [report])[0]


def record_reports(services: Services, reports: Sequence[DeliveryReport]) -> list[str | None]:
    """:func:`record_report` for a group of receipts (the dispatcher collects what arrives
    within a few milliseconds), in one transaction unless an alert comes to wait for the write
    turn (:func:`hub.db.write_in_turns`); message ids in the order given."""
    if not reports:
        return []
    now = utcnow()
    written = write_in_turns(services.sessions, reports,
                             lambda session, chunk: _store_reports(session, chunk, now))
    return [message_id for found in written for message_id in found]


def _store_reports(session: Session, reports: Sequence[DeliveryReport],
                   now: datetime) -> list[str | None]:
    owners = find_messages(session, [report.operator_id for report in reports])
    found = [owners.get(report.operator_id) for report in reports]
    insert_many(session, _RECEIPTS, [
        {"message_id": message_id, "operator_id": report.operator_id, "state": report.state,
         "error": (report.error or None) and str(report.error)[:64],
         "route": report.route or "", "raw": _raw(report.raw), "received_at": now}
        for report, message_id in zip(reports, found, strict=True)])
    _apply_states(session, [(message_id, report.state, report.error)
                            for report, message_id in zip(reports, found, strict=True)
                            if message_id is not None])
    return found


def find_message(session: Session, operator_id: str) -> str | None:
    """The message an operator id belongs to (first part on the message, others in parts)."""
    return find_messages(session, [operator_id]).get(operator_id)


def find_messages(session: Session, operator_ids: Sequence[str]) -> dict[str, str]:
    """Operator id → message id for the ids known (two queries for any number of ids)."""
    wanted = list(dict.fromkeys(operator_ids))
    found = dict(session.execute(
        select(Message.operator_id, Message.id)
        .where(one_of(session, Message.operator_id, wanted))).all())
    missing = [op_id for op_id in wanted if op_id not in found]
    if missing:
        for op_id, message_id in session.execute(
                select(MessagePart.operator_id, MessagePart.message_id)
                .where(one_of(session, MessagePart.operator_id, missing))):
            found.setdefault(op_id, message_id)
    return {str(k): str(v) for k, v in found.items()}


def _apply_states(session: Session, changes: Sequence[tuple[str, str, str | None]]) -> None:
    """Move messages by receipt state: one batched move per target state. A message with
    several final receipts (one per part) takes the first one's state."""
    by_target: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for message_id, state, error in changes:
        target = REPORT_TARGETS.get(state)
        if target is None or any(message_id in rows for rows in by_target.values()):
            continue
        row: dict[str, Any] = {"id": message_id}
        if target != "delivered":
            row["reason"] = (error or state)[:64]
        by_target[target][message_id] = row
    for target, rows in by_target.items():
        states.move_each(session, list(rows.values()), target, only_from=["submitted"])


def _raw(raw: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return {k: v if isinstance(v, str | int | float | bool) or v is None else str(v)
                for k, v in raw.items()}
    return {"text": raw}
