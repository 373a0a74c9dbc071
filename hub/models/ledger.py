"""The credit ledger: append-only entries, the balance row they sum to, and prepaid packs.

Amounts are stored as integer micro-units (:class:`Micros`): SQLite has no decimal type and
would otherwise keep them as floats, and integer sums are exact on every backend.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow

SCALE = 10**6


class Micros(TypeDecorator[Decimal]):
    """A Decimal amount with six decimal places, stored as a BIGINT count of micro-units."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * SCALE
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than 6 decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / SCALE).quantize(Decimal("0.000001"))


class Balance(Base):
    """The paying account's running totals, updated in the same transaction as each entry.

    ``balance`` is the sum of every entry's ``amount``; ``held`` the sum of every ``hold``
    (credit reserved for accepted, not yet submitted messages). What may still be spent is
    ``balance - held``, down to ``-credit_limit`` (zero for prepaid, the agreed limit for
    post-paid accounts). Writers lock this row first, so it also serialises each account's
    ledger. ``low_alerted`` records that the low-balance notification for the current crossing
    of ``low_threshold`` was sent.
    """

    __tablename__ = "balances"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    held: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    credit_limit: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    low_threshold: Mapped[Decimal | None] = mapped_column(Micros)
    low_alerted: Mapped[bool] = mapped_column(default=False)
    entries: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


class LedgerEntry(Base):
    """One movement of credit; never updated or deleted.

    ``amount`` is the effect on the balance, ``hold`` the effect on the reserved credit:
    purchase (+amount), reserve (+hold), charge (−amount, −hold), release (−hold),
    refund (+amount: credit given back), expiry (−amount), adjustment (±amount).
    ``account_id`` is the paying account; ``spender_id`` the (sub-)account that sent.
    ``country``/``route``/``source`` let statements break consumption down.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    spender_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    hold: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    count: Mapped[int] = mapped_column(default=1)
    reference: Mapped[str] = mapped_column(String(96), index=True)
    reason: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    route: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(32))
    pack_id: Mapped[int | None] = mapped_column(ForeignKey("packs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pack(Base):
    """Credits bought at once, spent oldest first and expiring unspent (RULES.md § Billing).

    ``policy`` is ``fixed`` (12 months from purchase) or ``rolling`` (365 days renewed by each
    purchase or send); ``remaining`` is what is left of ``amount``.
    """

    __tablename__ = "packs"
    __table_args__ = (Index("ix_packs_account_purchased", "account_id", "purchased_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(Micros)
    remaining: Mapped[Decimal] = mapped_column(Micros)
    policy: Mapped[str] = mapped_column(String(8), default="fixed")
    reference: Mapped[str] = mapped_column(String(96))
    purchased_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class BillingNotice(Base):
    """An email the billing owes a customer (today: the low-balance alert), as an outbox row.

    Written in the transaction that crossed the threshold, so a rolled-back crossing leaves no
    notice and a committed one always has it; :mod:`hub.notifications` sends it afterwards and
    sets ``sent_at``. ``payload`` holds the recipients (``to``) and what the email says.
    """

    __tablename__ = "billing_notices"
    __table_args__ = (Index("ix_billing_notices_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
