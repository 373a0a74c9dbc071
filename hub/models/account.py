"""Accounts (and sub-accounts), their users and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.models.base import Base, utcnow


class Account(Base):
    """A customer. A sub-account (``parent_id`` set) spends its parent's credits.

    ``settings`` holds per-account choices: ``default_sender``, ``transliterate`` (bool),
    ``max_parts`` (1–10), ``allowed_countries`` (ISO codes besides the home country),
    ``callback_url``, ``region`` (default region for national numbers), ``timezone``.
    """

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(16), default="active")
    is_admin: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    parent: Mapped[Account | None] = relationship(remote_side=[id])

    @property
    def billing_account_id(self) -> str:
        """The account whose credits pay: the parent for a sub-account."""
        return self.parent_id or self.id


class User(Base):
    """A person who logs into the dashboard (email + hashed password)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key: only a hash is stored; ``prefix`` lets a user recognise the key in lists.

    ``ip_mode`` is ``off``, ``strict`` (other addresses refused) or ``trusted`` (other addresses
    held for manual validation); ``ip_allow`` lists addresses or networks.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    ip_mode: Mapped[str] = mapped_column(String(8), default="off")
    ip_allow: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
