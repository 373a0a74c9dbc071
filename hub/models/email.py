"""Email to SMS: each account's authorised senders, address secret and SMTP credentials.

Secrets are never stored in clear. The address secret is kept twice: as a SHA-256 digest, the
only thing the receiver looks it up by (an index look-up of a digest tells an attacker nothing
about the secret, so the comparison stays constant-time where it matters), and encrypted with
:class:`hub.crypto.SecretBox`, because replies forwarded to a mailbox carry a reply address that
contains it. The SMTP password is only a werkzeug password hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow


class EmailConfig(Base):
    """One account's email-to-SMS settings; no row (or ``enabled`` false) means no email."""

    __tablename__ = "email_accounts"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    senders: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    smtp_username: Mapped[str | None] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    sender_id: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(16))
    truncate: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[bool] = mapped_column(default=False)
    forward_replies: Mapped[bool] = mapped_column(default=False)
    delivery_notices: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EmailNotice(Base):
    """A notice mailed for a reply or a final failure: recorded first, so it is sent once."""

    __tablename__ = "email_notices"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
