"""Monthly statements from the ledger: computed on demand, frozen once the month is issued.

A month can be issued only after it ended; the issued snapshot (canonical JSON + SHA-256) is then
what the API and CLI return, and :func:`verify_statement` recomputes it from the ledger to prove
it was not altered. Entries that carry no country/route/source take them from the message whose
id is their reference, so per-message settlements are broken down even without dimensions.

The statement also lists the subscription fees due in the month (:mod:`hub.plans` writes them as
immutable lines; :func:`issue_statement` first makes sure every period that began in the month
was billed) and breaks usage down per (sub-)account. A snapshot is re-built in the document
version it was issued in, so statements issued before fees existed still verify.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import plans
from hub.models import Account, LedgerEntry, Message, Statement
from hub.models.subscription import SubscriptionFee
from sms_core import statements
from sms_core.errors import BillingError
from sms_core.statements import EntryView, FeeView

_TICK = timedelta(microseconds=1)


def _payer(session: Session, account: Account | str) -> Account:
    acting = account if isinstance(account, Account) else session.get(Account, account)
    if acting is None:
        raise BillingError(f"unknown account {account!r}", code="unknown_account")
    if acting.parent_id is None:
        return acting
    parent = session.get(Account, acting.parent_id)
    assert parent is not None
    return parent


def _entries(session: Session, account_id: str, start: datetime,
             end: datetime) -> list[EntryView]:
    rows = session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.count,
               func.coalesce(LedgerEntry.country, Message.country),
               func.coalesce(LedgerEntry.route, Message.route),
               func.coalesce(LedgerEntry.source, Message.source), LedgerEntry.spender_id)
        .outerjoin(Message, Message.id == LedgerEntry.reference)
        .where(LedgerEntry.account_id == account_id, LedgerEntry.created_at >= start,
               LedgerEntry.created_at < end)
        .order_by(LedgerEntry.id)
    )
    return [EntryView(kind, amount, count, country, route, source, spender)
            for kind, amount, count, country, route, source, spender in rows]


def _fees(session: Session, account_id: str, start: datetime, end: datetime) -> list[FeeView]:
    rows = session.scalars(
        select(SubscriptionFee)
        .where(SubscriptionFee.account_id == account_id, SubscriptionFee.created_at >= start,
               SubscriptionFee.created_at < end)
        .order_by(SubscriptionFee.created_at, SubscriptionFee.id))
    return [FeeView(f.kind, f.plan, f.cycle, f.amount, f.period_start, f.period_end)
            for f in rows]


def _opening(session: Session, account_id: str, start: datetime) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.account_id == account_id, LedgerEntry.created_at < start)
    )
    return Decimal(total or 0)


def compute_statement(session: Session, account: Account | str, period: str,
                      version: int = statements.VERSION) -> dict[str, Any]:
    """The statement of ``period`` (``YYYY-MM``, UTC months) recomputed from the ledger and the
    fee lines already written (a pure read: see :func:`bill_fees`)."""
    payer = _payer(session, account)
    start, end = statements.period_bounds(period)
    return statements.build(payer.id, payer.currency, period, _opening(session, payer.id, start),
                            _entries(session, payer.id, start, end),
                            _fees(session, payer.id, start, end), version=version)


def bill_fees(session: Session, account: Account | str, period: str,
              now: datetime | None = None) -> None:
    """Write the subscription fees due in ``period`` up to ``now`` (the whole month if over)."""
    payer = _payer(session, account)
    _, end = statements.period_bounds(period)
    plans.record_fees(session, payer, min(end - _TICK, now or datetime.now(UTC)))


def issue_statement(session: Session, account: Account | str, period: str,
                    now: datetime | None = None) -> Statement:
    """Freeze the statement of a finished month (idempotent: issuing twice returns the first)."""
    payer = _payer(session, account)
    found = _issued(session, payer.id, period)
    if found is not None:
        return found
    _, end = statements.period_bounds(period)
    if end > (now or datetime.now(UTC)):
        raise BillingError(f"{period} is not over yet", code="period_open")
    bill_fees(session, payer, period, now)
    document = compute_statement(session, payer, period)
    row = Statement(account_id=payer.id, period=period, currency=payer.currency,
                    document=statements.canonical(document), sha256=statements.digest(document),
                    issued_at=now or datetime.now(UTC))
    session.add(row)
    session.flush()
    return row


def _issued(session: Session, account_id: str, period: str) -> Statement | None:
    return session.scalar(select(Statement).where(Statement.account_id == account_id,
                                                  Statement.period == period))


def get_statement(session: Session, account: Account | str, period: str) -> dict[str, Any]:
    """The issued snapshot with its hash, or the live (still changing) statement of the month."""
    payer = _payer(session, account)
    row = _issued(session, payer.id, period)
    if row is None:
        bill_fees(session, payer, period)
        document = compute_statement(session, payer, period)
        return {**document, "issued": False, "sha256": statements.digest(document)}
    frozen: dict[str, Any] = json.loads(row.document)
    return {**frozen, "issued": True, "issued_at": row.issued_at.isoformat(),
            "sha256": row.sha256}


def verify_statement(session: Session, row: Statement) -> bool:
    """Whether the snapshot still matches its hash and a recomputation from the ledger."""
    stored = json.loads(row.document)
    version = stored.get("version", 1) if isinstance(stored, dict) else 1
    recomputed = statements.canonical(
        compute_statement(session, row.account_id, row.period, version=version))
    return (recomputed == row.document and statements.digest(stored) == row.sha256)


def statement_csv(document: dict[str, Any], part: str = "lines") -> str:
    """A statement document as CSV: its lines and fees, or (``accounts``) usage per account."""
    return statements.to_csv(document, part)
