"""Secrets at rest: OAuth tokens, webhook secrets, SMTP passwords are stored encrypted.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key derived by HKDF from the
deployment's ``secret_key``, so one setting protects everything and rotating it is possible:
:class:`SecretBox` accepts older secret keys for decryption (``previous``) and always encrypts
with the current one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sms_core.errors import HubError

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
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted with the configured secret key"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored token under the current key."""
        return self._box.rotate(token.encode("ascii")).decode("ascii")
