"""API key authentication for views: ``Authorization: Bearer <key>``.

``@require_api_key`` authenticates before the view runs and keeps the account for
:func:`current_account`. The authentication has its own short transaction, committed even when
it refuses, because a ``trusted`` key records the refused address for approval.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

from flask import g, request
from sqlalchemy.orm import Session

from hub.accounts import AuthError, ForbiddenError, NotFoundError, authenticate
from hub.api.context import services
from hub.db import reading
from hub.models import Account
from sms_core.errors import HubError

P = ParamSpec("P")
R = TypeVar("R")


def bearer_key() -> str:
    """The key of the ``Authorization`` header, or AuthError."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError("send the API key as 'Authorization: Bearer <key>'", code="missing_key")
    return key.strip()


def _authenticate() -> Account:
    """Check the key in a read-only session; only when authentication has something to record
    (the key's last use, a pending address) is it done again in a short write transaction."""
    key = bearer_key()
    with reading(services().sessions) as session:
        try:
            account = authenticate(session, key, request.remote_addr)
        except HubError:
            if not session.dirty:
                raise
        else:
            if not session.dirty:
                return account
    with services().sessions() as session:
        try:
            account = authenticate(session, key, request.remote_addr)
        except HubError:
            session.commit()
            raise
        session.commit()
    return account


def require_api_key(view: Callable[P, R]) -> Callable[P, R]:
    """Run ``view`` only for a valid key used from an allowed address."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.smshub_account = _authenticate()
        return view(*args, **kwargs)

    return wrapper


def current_account() -> Account:
    """The account authenticated for this request (a detached, read-only snapshot)."""
    account: Account | None = g.get("smshub_account")
    if account is None:
        raise AuthError("this view needs an API key", code="missing_key")
    return account


class Owned(Protocol):
    account_id: Any


RowT = TypeVar("RowT", bound=Owned)


def owned(session: Session, model: type[RowT], ident: object, what: str) -> RowT:
    """The ``model`` row ``ident`` if it belongs to the current account; 404 otherwise (another
    account's row is answered exactly like a missing one)."""
    row = session.get(model, ident)
    if row is None or row.account_id != current_account().id:
        raise NotFoundError(f"no {what} {ident}")
    return row


def require_admin() -> Account:
    """The current account if it is an administrator, else ForbiddenError."""
    account = current_account()
    if not account.is_admin:
        raise ForbiddenError("this needs an administrator's API key", code="admin_only")
    return account
