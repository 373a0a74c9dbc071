"""Appointment-reminder subscriptions: which plan an account pays for, and until when."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow
from hub.models.ledger import Micros
from sms_core.errors import BillingError


class Subscription(Base):
    """The paying account's plan (SOLO, BUSINESS, ENTERPRISE) and its current period.

    ``cycle`` is ``monthly`` or ``annual``; the first period starts when the 30-day trial ends.
    ``pending`` is the pro-rata of upgrades made during the current period; each is also a
    ``prorata`` :class:`SubscriptionFee` line, invoiced on the month's statement.
    """

    __tablename__ = "subscriptions"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    plan: Mapped[str] = mapped_column(String(16))
    cycle: Mapped[str] = mapped_column(String(8), default="monthly")
    status: Mapped[str] = mapped_column(String(12), default="trial")
    trial_ends_at: Mapped[datetime]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    pending: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubscriptionFee(Base):
    """One fee line of a subscription, as invoiced: never updated or deleted.

    ``kind`` is ``period`` (the plan's fee for [``period_start``, ``period_end``), due when the
    period starts, after the trial) or ``prorata`` (the rest of the period after an upgrade).
    ``created_at`` is when the fee became due and decides the statement it appears on. Fees are
    invoiced on the monthly statement, never taken from the SMS credits.
    """

    __tablename__ = "subscription_fees"
    __table_args__ = (
        UniqueConstraint("account_id", "reference", name="uq_subscription_fees_ref"),
        Index("ix_subscription_fees_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(8))
    plan: Mapped[str] = mapped_column(String(16))
    cycle: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    amount: Mapped[Decimal] = mapped_column(Micros)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    reference: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(SubscriptionFee, "before_update")
def _refuse_update(_mapper: object, _conn: object, target: SubscriptionFee) -> None:
    """An invoiced fee is part of issued statements: a correction is a ledger adjustment."""
    raise BillingError(f"fee {target.reference} of {target.account_id} is already invoiced",
                       code="fee_immutable")
