"""Appointment reminders: calendar connections, calendars, rules, reminders and skipped events.

These tables back :class:`hub.calendars.store.DatabaseStore`, the hub's implementation of the
calendar connector's store protocol. Everything secret is stored encrypted with
:class:`hub.crypto.SecretBox`: the token document of a connection, the pending authorisation
(it holds the PKCE verifier) and the secret of a calendar's push channel. Push channels are
columns of their calendar because a calendar has at most one channel (Google) or subscription
(Graph) at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow


class CalendarConnection(Base):
    """One OAuth grant of an account to a Google or Microsoft user."""

    __tablename__ = "calendar_connections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    user: Mapped[str] = mapped_column(String(320), default="")
    tokens: Mapped[str | None] = mapped_column(Text)
    """The encrypted token document; None once the grant is lost or the user disconnected."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CalendarAuthorization(Base):
    """An OAuth flow waiting for its callback; expires after a few minutes."""

    __tablename__ = "calendar_authorizations"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    flow: Mapped[str] = mapped_column(Text)
    """The encrypted flow (account, provider, PKCE verifier)."""
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CalendarRow(Base):
    """A calendar of a connection, with its sync state and push channel."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("connection_id", "provider_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("calendar_connections.id"))
    provider_id: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(500), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    selected: Mapped[bool] = mapped_column(default=False)
    sync_state: Mapped[str | None] = mapped_column(Text)
    window_end: Mapped[datetime | None]
    push_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    push_resource: Mapped[str | None] = mapped_column(String(255))
    push_secret: Mapped[str | None] = mapped_column(Text)
    """Encrypted channel token (Google) or clientState (Graph)."""
    push_expires: Mapped[datetime | None]


class CalendarRule(Base):
    """When and what to send for the events of one calendar."""

    __tablename__ = "calendar_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"), index=True)
    offset_seconds: Mapped[int]
    template: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16), default="alert")
    locale: Mapped[str] = mapped_column(String(16), default="fr")
    region: Mapped[str] = mapped_column(String(2), default="FR")
    window_start: Mapped[str | None] = mapped_column(String(8))
    """Local ``HH:MM`` start of the sending window, None for any time."""
    window_end: Mapped[str | None] = mapped_column(String(8))
    all_numbers: Mapped[bool] = mapped_column(default=True)
    send_late: Mapped[bool] = mapped_column(default=False)
    change_template: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarReminder(Base):
    """One SMS submitted (or refused) for an (event, rule, occurrence start, recipient)."""

    __tablename__ = "calendar_reminders"
    __table_args__ = (
        Index("ix_calendar_reminders_event", "calendar_id", "event_id"),
        Index("ix_calendar_reminders_status", "calendar_id", "status"),
    )

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"))
    event_id: Mapped[str] = mapped_column(String(512))
    rule_id: Mapped[str] = mapped_column(String(40))
    start: Mapped[datetime]
    send_at: Mapped[datetime]
    to: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    message_id: Mapped[str | None] = mapped_column(String(40), index=True)
    reason: Mapped[str | None] = mapped_column(Text)


class CalendarSkip(Base):
    """Why an event gets no SMS (for one rule, or for every rule when ``rule_id`` is empty)."""

    __tablename__ = "calendar_skips"

    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True, default="")
    reason: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    start: Mapped[datetime | None]
