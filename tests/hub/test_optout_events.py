"""Opt-outs changed through the API and by START replies reach the account's callbacks like
STOP replies do: ``optout.added`` and ``optout.removed``, written with the change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hub.db import transaction
from hub.models import CallbackEvent, CallbackQueueItem, Message, utcnow
from hub.replies import record_inbound
from hub.services import Services
from sms_core.dispatch.types import InboundSms
from tests.conftest import DB_PARAMS
from tests.hub.apiclient import auth, make_app, migrated_url, new_account, sessions

NUMBER = "+33612345678"


@pytest.fixture(scope="module", params=DB_PARAMS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Flask]:
    with migrated_url(request.param, tmp_path_factory.mktemp("db")) as url:
        yield make_app(url, tmp_path_factory.mktemp("data"), callback_allowlist="127.0.0.1",
                       callback_allow_http=True)


def listening_account(app: Flask) -> tuple[str, str]:
    account_id, key = new_account(app)
    response = app.test_client().put("/api/v1/callbacks", json={"url": "http://127.0.0.1:9/"},
                                     headers=auth(key))
    assert response.status_code == 200
    return account_id, key


def events(app: Flask, account_id: str) -> list[tuple[str, dict[str, Any]]]:
    with sessions(app)() as session:
        rows = session.scalars(select(CallbackEvent).where(CallbackEvent.account_id == account_id)
                               .order_by(CallbackEvent.created_at, CallbackEvent.id))
        found = [(row.type, row.payload["data"]) for row in rows]
        queued = {row.event_id for row in session.scalars(select(CallbackQueueItem))}
        ids = {row.id for row in session.scalars(
            select(CallbackEvent).where(CallbackEvent.account_id == account_id))}
        assert ids <= queued  # every event is queued for delivery
        return found


def test_api_changes_to_the_list_are_reported_once_each(app: Flask) -> None:
    account_id, key = listening_account(app)
    client = app.test_client()
    assert client.post("/api/v1/optouts", json={"number": "06 12 34 56 78"},
                       headers=auth(key)).status_code == 201
    assert client.post("/api/v1/optouts", json={"number": NUMBER},
                       headers=auth(key)).status_code == 200  # already there: no second event
    assert client.delete(f"/api/v1/optouts/{NUMBER}", headers=auth(key)).status_code == 204
    assert client.delete(f"/api/v1/optouts/{NUMBER}", headers=auth(key)).status_code == 404
    found = events(app, account_id)
    assert [(kind, data["number"], data["source"]) for kind, data in found] == [
        ("optout.added", NUMBER, "api"), ("optout.removed", NUMBER, "api")]
    assert all(data["account"] == account_id for _, data in found)


def test_an_account_without_callbacks_records_nothing(app: Flask) -> None:
    account_id, key = new_account(app)
    client = app.test_client()
    assert client.post("/api/v1/optouts", json={"number": NUMBER},
                       headers=auth(key)).status_code == 201
    assert client.delete(f"/api/v1/optouts/{NUMBER}", headers=auth(key)).status_code == 204
    assert events(app, account_id) == []


def test_a_start_reply_reports_the_removal(app: Flask) -> None:
    account_id, _ = listening_account(app)
    with transaction(sessions(app)) as session:
        session.add(Message(id=f"msg_{account_id}", account_id=account_id, to="+33698765432",
                            text="Hi", status="delivered", encoding="GSM-7", segments=1,
                            source="api"))
    services: Services = app.extensions["smshub"]
    record_inbound(services, InboundSms("+33698765432", "36000", "STOP", utcnow()))
    record_inbound(services, InboundSms("+33698765432", "36000", "START", utcnow()))
    kinds = [(kind, data.get("source")) for kind, data in events(app, account_id)
             if kind.startswith("optout.")]
    assert kinds == [("optout.added", "sms"), ("optout.removed", "sms")]
