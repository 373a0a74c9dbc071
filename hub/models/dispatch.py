"""What comes back from operators: operator ids of every part, delivery receipts, replies (MO)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow


class MessagePart(Base):
    """The operator id of each part of a submitted message, so that a receipt for any part
    finds its message (``Message.operator_id`` holds the first part's id)."""

    __tablename__ = "message_parts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    seq: Mapped[int]
    operator_id: Mapped[str] = mapped_column(String(96), index=True)
    route: Mapped[str] = mapped_column(String(64), default="")


class DeliveryReceipt(Base):
    """A delivery report as received (raw text or fields kept for disputes and support)."""

    __tablename__ = "delivery_receipts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"), index=True)
    operator_id: Mapped[str] = mapped_column(String(96), index=True)
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(64), default="")
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMessage(Base):
    """A reply (MO). ``kind`` is ``stop``/``start`` when it changed the opt-out list."""

    __tablename__ = "inbound_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    sender: Mapped[str] = mapped_column(String(32), index=True)
    recipient: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str | None] = mapped_column(String(8))
    operator_id: Mapped[str | None] = mapped_column(String(96))
    route: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
