"""Who may send: the directory of accounts the hub injects, and the sender-matching rule.

The receiver never reads the hub's database. It asks an :class:`AccountDirectory` three
questions (an account by id, by address secret, by SMTP credentials) and decides itself
whether an envelope sender is among the account's authorised senders. The hub implements the
protocol over its models; :class:`InMemoryDirectory` serves tests and development.

The directory's methods are called from worker threads, never from the SMTP event loop, except
:meth:`AccountDirectory.authenticate` which aiosmtpd calls synchronously during ``AUTH``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from connectors.email.settings import EmailAccount


@runtime_checkable
class AccountDirectory(Protocol):
    """The hub's view of email-to-SMS accounts."""

    def get(self, account: str) -> EmailAccount | None:
        """The account with this id, or None if it does not exist or disabled email to SMS."""

    def by_secret(self, secret: str) -> EmailAccount | None:
        """The account whose address secret this is (compared in constant time), or None."""

    def authenticate(self, username: str, password: str) -> EmailAccount | None:
        """The account these SMTP AUTH credentials belong to, or None when they are wrong."""


def normalize_address(address: str) -> str:
    """Lower-case an address for comparison; the local part is case-insensitive in practice."""
    return address.strip().strip("<>").lower()


def sender_allowed(account: EmailAccount, address: str) -> bool:
    """Whether ``address`` is one of the account's senders, directly or by ``*@domain``."""
    address = normalize_address(address)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return False
    for pattern in account.senders:
        pattern = normalize_address(pattern)
        if pattern.startswith("*@"):
            if domain == pattern[2:]:
                return True
        elif constant_time_equal(pattern, address):
            return True
    return False


def constant_time_equal(left: str, right: str) -> bool:
    """Constant-time equality that also accepts non-ASCII text."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**12, r=8, p=1)


@dataclass(frozen=True, slots=True)
class _Credential:
    account: str
    salt: bytes
    digest: bytes


class InMemoryDirectory:
    """A thread-safe directory held in memory; passwords are kept only as scrypt digests."""

    def __init__(self, accounts: Iterable[EmailAccount] = ()) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, EmailAccount] = {}
        self._credentials: dict[str, _Credential] = {}
        for account in accounts:
            self.add(account)

    def add(
        self, account: EmailAccount, *, username: str | None = None, password: str | None = None
    ) -> None:
        """Add or replace an account, with SMTP credentials when both are given."""
        with self._lock:
            self._accounts[account.account] = account
            if username is not None and password is not None:
                salt = os.urandom(16)
                self._credentials[username.lower()] = _Credential(
                    account.account, salt, _hash_password(password, salt)
                )

    def get(self, account: str) -> EmailAccount | None:
        with self._lock:
            return self._accounts.get(account)

    def by_secret(self, secret: str) -> EmailAccount | None:
        with self._lock:
            accounts = list(self._accounts.values())
        found = None
        for account in accounts:
            if account.secret and constant_time_equal(account.secret, secret):
                found = account
        return found

    def authenticate(self, username: str, password: str) -> EmailAccount | None:
        with self._lock:
            credential = self._credentials.get(username.lower())
        if credential is None:
            _hash_password(password, b"\0" * 16)  # same cost whether the user exists or not
            return None
        if not hmac.compare_digest(_hash_password(password, credential.salt), credential.digest):
            return None
        return self.get(credential.account)
