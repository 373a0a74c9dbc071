"""The receiver's :class:`~connectors.email.AccountDirectory` over the hub's database.

Every look-up reads the database afresh (one primary-key or unique-index query), so a sender
removed, a secret rotated or an account closed takes effect on the next SMTP command, in every
process, without a cache to invalidate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from connectors.base import Category
from connectors.email import EmailAccount
from hub.crypto import SecretBox
from hub.models import Account, EmailConfig

SECRET_BYTES = 24
"""Random bytes of an address secret (32 URL-safe characters): not guessable, short enough."""

_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
"""Checked against when the username is unknown, so that both cases cost the same time."""


def secret_digest(secret: str) -> str:
    """The SHA-256 digest an address secret is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh address secret (letters, digits, ``-`` and ``_``: valid in a local part)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_password(password: str) -> str:
    return generate_password_hash(password)


class DatabaseDirectory:
    """Accounts, secrets and SMTP credentials as stored in ``email_accounts``."""

    def __init__(self, sessions: sessionmaker[Session], box: SecretBox,
                 default_max_parts: int = 3) -> None:
        self.sessions = sessions
        self.box = box
        self.default_max_parts = default_max_parts

    def get(self, account: str) -> EmailAccount | None:
        with self.sessions() as session:
            return self._load(session, session.get(EmailConfig, account))

    def by_secret(self, secret: str) -> EmailAccount | None:
        digest = secret_digest(secret)
        with self.sessions() as session:
            row = session.scalar(select(EmailConfig).where(EmailConfig.secret_hash == digest))
            if row is None or not hmac.compare_digest(row.secret_hash or "", digest):
                return None
            return self._load(session, row)

    def authenticate(self, username: str, password: str) -> EmailAccount | None:
        with self.sessions() as session:
            row = session.scalar(select(EmailConfig).where(
                EmailConfig.smtp_username == username.strip().lower()))
            stored = row.password_hash if row is not None else None
            if not check_password_hash(stored or _DUMMY_HASH, password) or stored is None:
                return None
            return self._load(session, row)

    def _load(self, session: Session, row: EmailConfig | None) -> EmailAccount | None:
        """The receiver's view of a row; None when email is off or the account is not active."""
        if row is None or not row.enabled:
            return None
        account = session.get(Account, row.account_id)
        if account is None or account.status != "active":
            return None
        return to_email_account(row, account, self._secret(row), self.default_max_parts)

    def _secret(self, row: EmailConfig) -> str | None:
        return self.box.decrypt(row.secret_encrypted) if row.secret_encrypted else None


def to_email_account(row: EmailConfig, account: Account, secret: str | None,
                     default_max_parts: int = 3) -> EmailAccount:
    """Merge the email row with the account-wide settings (region, sender, transliteration)."""
    options: dict[str, Any] = dict(account.settings or {})
    return EmailAccount(
        account=account.id,
        senders=tuple(row.senders or ()),
        secret=secret,
        sender_id=row.sender_id or options.get("default_sender") or None,
        category=cast(Category | None, row.category),
        region=options.get("region") or None,
        transliterate=bool(options.get("transliterate", False)),
        max_parts=int(options.get("max_parts") or default_max_parts),
        truncate=row.truncate,
        summary=row.summary,
        forward_replies=row.forward_replies,
        delivery_notices=row.delivery_notices,
    )
