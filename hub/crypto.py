"""Secrets at rest: OAuth tokens, webhook secrets, SMTP passwords are stored encrypted.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key derived by HKDF from the
deployment's ``secret_key``, so one setting protects everything and rotating it is possible:
:class:`SecretBox` accepts older secret keys for decryption (``previous``) and always encrypts
with the current one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sms_core.errors import HubError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.config import Settings

_INFO = b"smshub secrets at rest v1"


class SecretDecryptionError(HubError):
    code = "secret_undecryptable"
    status = 500


def _fernet(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("secret_key is empty: call hub.config.ensure_secret_key first")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(raw))


class SecretBox:
    """Encrypts text with the current key; decrypts with the current or any previous key."""

    def __init__(self, secret_key: str, previous: Iterable[str] = ()) -> None:
        self._box = MultiFernet([_fernet(secret_key), *(_fernet(k) for k in previous)])

    def encrypt(self, plaintext: str) -> str:
        return self._box.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._box.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise _undecryptable() from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored token under the current key."""
        try:
            return self._box.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError) as exc:
            raise _undecryptable() from exc


def _undecryptable() -> SecretDecryptionError:
    return SecretDecryptionError(
        "a stored secret cannot be decrypted with the configured secret key (set "
        "SMSHUB_PREVIOUS_SECRET_KEYS to the former key)")


def secret_box(settings: Settings) -> SecretBox:
    """The deployment's box: ``secret_key``, plus ``previous_secret_keys`` for decryption."""
    return SecretBox(settings.secret_key, settings.items("previous_secret_keys"))


ENCRYPTED_COLUMNS = (
    ("callback_endpoints", "id", ("secret", "previous_secret")),
    ("calendar_connections", "id", ("tokens",)),
    ("calendar_authorizations", "state", ("flow",)),
    ("calendars", "id", ("push_secret",)),
    ("email_accounts", "account_id", ("secret_encrypted",)),
)
"""Every column holding a SecretBox token: (table, key column, encrypted columns)."""


def reencrypt_all(session: Session, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the box's current key (after a key change, so the
    former keys can be dropped); returns how many values were rewritten."""
    from sqlalchemy import text

    rewritten = 0
    for table, key, columns in ENCRYPTED_COLUMNS:
        for column in columns:
            rows = session.execute(text(
                f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
            for row_key, token in rows:
                session.execute(
                    text(f"UPDATE {table} SET {column} = :token WHERE {key} = :key"),
                    {"token": box.rotate(token), "key": row_key})
                rewritten += 1
    return rewritten
