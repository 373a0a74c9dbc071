"""The status page: sign in with email + password (a session cookie), then the account, its
balance and its last messages. Forms carry a per-session CSRF token."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from hub import connector_events, ledger
from hub.accounts import check_login
from hub.api.context import unit_of_work
from hub.models import Account, Message, User
from hub.pipeline import message_to_dict

blueprint = Blueprint("web", __name__, template_folder="templates")

LAST_MESSAGES = 20
LAST_CONNECTOR_EVENTS = 10


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def _check_csrf() -> None:
    sent, expected = request.form.get("csrf", ""), str(session.get("csrf", ""))
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, "the form expired; reload the page")


def _dashboard(user_id: str) -> dict[str, Any] | None:
    with unit_of_work() as db:
        user = db.get(User, user_id)
        account = db.get(Account, user.account_id) if user else None
        if user is None or account is None:
            return None
        recent = db.scalars(select(Message).where(Message.account_id == account.id)
                            .order_by(Message.id.desc()).limit(LAST_MESSAGES))
        events = connector_events.latest(db, account.id, LAST_CONNECTOR_EVENTS)
        return {"user": user, "account": account,
                "balance": format(ledger.balance(db, account).normalize(), "f"),
                "messages": [message_to_dict(m) for m in recent],
                "connector_events": [connector_events.event_to_dict(e) for e in events]}


@blueprint.get("/")
def status_page() -> ResponseReturnValue:
    user_id = session.get("user_id")
    data = _dashboard(str(user_id)) if user_id else None
    if data is None:
        session.pop("user_id", None)
        return render_template("login.html", csrf=csrf_token(), error=None)
    return render_template("status.html", csrf=csrf_token(), **data)


@blueprint.post("/login")
def login() -> ResponseReturnValue:
    _check_csrf()
    with unit_of_work() as db:
        user = check_login(db, request.form.get("email", ""), request.form.get("password", ""))
    if user is None:
        return render_template("login.html", csrf=csrf_token(),
                               error="Unknown email or wrong password."), 401
    session.clear()
    session["user_id"] = user.id
    return redirect(url_for("web.status_page"))


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    _check_csrf()
    session.clear()
    return redirect(url_for("web.status_page"))
