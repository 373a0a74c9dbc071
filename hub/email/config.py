"""Managing an account's email-to-SMS settings: senders, flags, address secret, SMTP login.

Used by the REST API and the CLI; the receiver only ever reads (:mod:`hub.email.directory`).
Every change is validated here, so a bad sender pattern or sender id can never reach the
receiver, and secrets are returned in clear exactly once, by the call that creates them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import InvalidSettingError, validated_sender
from hub.crypto import SecretBox
from hub.email.directory import hash_password, new_secret, secret_digest
from hub.models import Account, EmailConfig

MAX_SENDERS = 200
"""Authorised senders per account: whole domains cover large teams."""

MIN_PASSWORD = 12
"""Characters of an SMTP password at least (it is typed into mail clients, not remembered)."""

_ADDRESS = re.compile(r"[^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DOMAIN_PATTERN = re.compile(r"\*@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{2,199}")

FLAGS = ("enabled", "truncate", "summary", "forward_replies", "delivery_notices")
"""Boolean settings, changed as they are given."""


def get_config(session: Session, account: Account) -> EmailConfig:
    """The account's row, created (enabled, no senders yet) on first use."""
    row = session.get(EmailConfig, account.id)
    if row is None:
        row = EmailConfig(account_id=account.id, enabled=True, senders=[], truncate=False,
                          summary=False, forward_replies=False, delivery_notices=False)
        session.add(row)
        session.flush()
    return row


def update_config(session: Session, account: Account, patch: Mapping[str, Any]) -> EmailConfig:
    """Apply ``patch`` (keys of :func:`config_to_dict` except the read-only ones)."""
    row = get_config(session, account)
    region = str((account.settings or {}).get("region") or "FR")
    for name, value in patch.items():
        if name == "senders":
            row.senders = validate_senders(value)
        elif name == "sender_id":
            row.sender_id = validated_sender(value, region, "sender_id")
        elif name == "category":
            row.category = _category(value)
        elif name in FLAGS:
            if not isinstance(value, bool):
                raise InvalidSettingError(f"{name} is true or false", field=name)
            setattr(row, name, value)
        else:
            raise InvalidSettingError(f"unknown email setting {name!r}", field=name)
    session.flush()
    return row


def validate_senders(value: Any) -> list[str]:
    """Addresses (``alice@example.com``) or whole domains (``*@example.com``), lower-cased."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSettingError("senders is a list of addresses", field="senders")
    senders = sorted({v.strip().lower() for v in value if v.strip()})
    if len(senders) > MAX_SENDERS:
        raise InvalidSettingError(f"at most {MAX_SENDERS} senders", field="senders")
    for sender in senders:
        if not (_ADDRESS.fullmatch(sender) or _DOMAIN_PATTERN.fullmatch(sender)):
            raise InvalidSettingError(
                f"{sender!r} is neither an address nor *@domain", field="senders")
    return senders


def _category(value: Any) -> str | None:
    if value not in (None, "alert", "marketing"):
        raise InvalidSettingError("category is alert, marketing or null", field="category")
    return str(value) if value is not None else None


def rotate_secret(session: Session, account: Account, box: SecretBox) -> str:
    """Give the account a new address secret (the old one stops working) and return it."""
    row = get_config(session, account)
    secret = new_secret()
    row.secret_hash = secret_digest(secret)
    row.secret_encrypted = box.encrypt(secret)
    session.flush()
    return secret


def set_credentials(session: Session, account: Account, username: str, password: str,
                    ) -> EmailConfig:
    """Set the SMTP AUTH login of the account; the username is unique across the hub."""
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InvalidSettingError("username is 3-200 letters, digits or . _ @ + -",
                                  field="username")
    if len(password) < MIN_PASSWORD:
        raise InvalidSettingError(f"password has at least {MIN_PASSWORD} characters",
                                  field="password")
    taken = session.scalar(select(EmailConfig.account_id).where(
        EmailConfig.smtp_username == name, EmailConfig.account_id != account.id))
    if taken is not None:
        raise InvalidSettingError("this username is already in use", code="username_taken",
                                  field="username")
    row = get_config(session, account)
    row.smtp_username = name
    row.password_hash = hash_password(password)
    session.flush()
    return row


def config_to_dict(row: EmailConfig, domain: str) -> dict[str, Any]:
    """The public shape: no secret, no password hash, only whether they are set."""
    return {
        "enabled": row.enabled,
        "senders": list(row.senders or []),
        "sender_id": row.sender_id,
        "category": row.category,
        "truncate": row.truncate,
        "summary": row.summary,
        "forward_replies": row.forward_replies,
        "delivery_notices": row.delivery_notices,
        "domain": domain,
        "has_secret": row.secret_hash is not None,
        "smtp_username": row.smtp_username,
        "has_password": row.password_hash is not None,
    }
