"""The authorisation rule for one recipient of one email.

A ``From`` header, and even the envelope sender, are trivial to forge. An email is therefore
authorised only when both hold:

1. the envelope sender (``MAIL FROM``) is one of the account's authorised senders (an address or
   a whole ``*@domain``), and
2. the client proved it acts for that account: it authenticated with the account's SMTP
   credentials (``AUTH``), or the recipient address carries the account's secret
   (``<number>.<secret>@domain``).

All recipients of one email must resolve to the same account; when the client authenticated,
a secret in an address must be that account's own. Refusals are ``550 5.7.1`` replies given at
RCPT time, so nothing of an unauthorised email is ever read or submitted. Without AUTH or a
secret the reply does not say whether the sender is known, so it leaks nothing about accounts.
"""

from __future__ import annotations

from connectors.email.directory import AccountDirectory, constant_time_equal, sender_allowed
from connectors.email.settings import EmailAccount


class Refused(Exception):
    """An SMTP refusal; ``status`` is the full reply line (code, enhanced code, reason)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class UnknownSecret(Refused):
    """A secret that is nobody's: counted as a failed attempt, like a wrong password."""

    def __init__(self) -> None:
        super().__init__("550 5.7.1 Unknown address secret")


def authorise(
    directory: AccountDirectory,
    *,
    sender: str,
    secret: str | None,
    authenticated: EmailAccount | None,
    bound: EmailAccount | None,
    domain: str,
) -> EmailAccount:
    """The account a recipient is sent for, or :class:`Refused` with the reason."""
    account = _account(directory, secret, authenticated, domain)
    if not sender_allowed(account, sender):
        raise Refused(f"550 5.7.1 <{sender}> is not an authorised sender for this account")
    if bound is not None and bound.account != account.account:
        raise Refused("550 5.7.1 All recipients of one email must belong to the same account")
    return account


def _account(
    directory: AccountDirectory,
    secret: str | None,
    authenticated: EmailAccount | None,
    domain: str,
) -> EmailAccount:
    if authenticated is not None:
        if secret is not None and not constant_time_equal(secret, authenticated.secret or ""):
            raise Refused(
                "550 5.7.1 The address secret does not belong to the authenticated account"
            )
        return authenticated
    if secret is not None:
        account = directory.by_secret(secret)
        if account is None:
            raise UnknownSecret()
        return account
    raise Refused(
        "550 5.7.1 Authentication required: log in with SMTP AUTH or write to"
        f" <number>.<secret>@{domain}"
    )
