"""What the hub owes its connectors and what they told it.

``connector_status_queue`` is the connectors' outbox: a status change of a message that a
connector submitted (its ``source`` is in the registry) adds a row in the transaction of the
move; a job hands it to the connector's ``handle_status`` later, at least once, and deletes it.
``connector_events`` keeps what connectors noticed about an account (a calendar connection that
needs a new consent...), for the API, the status page and the customer's callbacks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow
from hub.models.callbacks import SEQ


class ConnectorStatusItem(Base):
    """One status change a connector has still to hear about; the lowest ``seq`` of a message
    is its head, handed over first, so a connector hears a message's moves in order."""

    __tablename__ = "connector_status_queue"
    __table_args__ = (
        Index("ix_connector_status_queue_message_seq", "message_id", "seq"),
        Index("ix_connector_status_queue_next_attempt_at", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class ConnectorEventRow(Base):
    """A :class:`connectors.base.ConnectorEvent` as stored for its account."""

    __tablename__ = "connector_events"
    __table_args__ = (Index("ix_connector_events_account_at", "account_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    connector: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
