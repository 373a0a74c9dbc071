"""Issued monthly statements: a frozen snapshot and its hash, never changed once written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow
from sms_core.errors import BillingError


class Statement(Base):
    """The statement of one account for one month, as issued.

    ``document`` is the canonical JSON text and ``sha256`` its hash, so that anyone can check
    the snapshot against a recomputation from the ledger.
    """

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("account_id", "period", name="uq_statements_period"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    period: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3))
    document: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(Statement, "before_update")
def _refuse_update(_mapper: object, _conn: object, target: Statement) -> None:
    """Issued statements are immutable: a correction is a new ledger entry, never an edit."""
    raise BillingError(f"statement {target.period} of {target.account_id} is already issued",
                       code="statement_immutable")
