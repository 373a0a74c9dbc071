"""Outbound status callbacks: each account's endpoint, the event outbox, the per-message delivery
queue, the delivery log and the dead letters.

The outbox (``callback_events`` + ``callback_queue``) is written in the same transaction as the
status change it reports, so a committed change always has its event and a rolled-back one never
does. ``callback_queue.seq`` gives the order of events per key (``<account>:<message>``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow

SEQ = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER primary key."""


class CallbackEndpoint(Base):
    """An account's callback URL and signing secrets (encrypted with the hub's SecretBox).

    During a rotation ``previous_secret`` still signs until ``previous_until``, so receivers
    holding either secret accept every callback while they switch.
    """

    __tablename__ = "callback_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), unique=True)
    url: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]


class CallbackEvent(Base):
    """One event as it will be sent (``payload`` is the envelope); ``url`` is the message's own
    callback URL when it had one, else the account endpoint's URL is used at delivery time."""

    __tablename__ = "callback_events"
    __table_args__ = (Index("ix_callback_events_message_type", "message_id", "type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackQueueItem(Base):
    """A pending delivery; the lowest ``seq`` of a ``key`` is its head, the only one sent."""

    __tablename__ = "callback_queue"
    __table_args__ = (
        Index("ix_callback_queue_key_seq", "key", "seq"),
        Index("ix_callback_queue_next_attempt_at", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(ForeignKey("callback_events.id"), index=True)
    enqueued_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class CallbackAttempt(Base):
    """The delivery log: one row per HTTP attempt."""

    __tablename__ = "callback_attempts"
    __table_args__ = (Index("ix_callback_attempts_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("callback_events.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str | None] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int] = mapped_column(default=0)
    ok: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackDeadLetter(Base):
    """An event given up on (refused for good, or still failing after its 24 h horizon)."""

    __tablename__ = "callback_dead_letters"
    __table_args__ = (Index("ix_callback_dead_letters_account_dead", "account_id", "dead_at"),)

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("callback_events.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str | None] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    dead_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
