"""Appointment-reminder subscriptions: which plan an account pays for, and until when."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow
from hub.models.ledger import Micros


class Subscription(Base):
    """The paying account's plan (SOLO, BUSINESS, ENTERPRISE) and its current period.

    ``cycle`` is ``monthly`` or ``annual``; the first period starts when the 30-day trial ends.
    ``pending`` is the pro-rata of upgrades made during the period, added to the next invoice.
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
