"""Connector events reach the user: a calendar connection losing its grant is stored for the
account, listed by the API, shown on the status page and called back as
``connector.needs_reauth`` through the callbacks outbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.base import ConnectorEvent
from connectors.calendar.models import Connection
from hub import connector_events, registry
from hub.accounts import create_user
from hub.db import transaction
from hub.models import Account, CallbackEvent, CallbackQueueItem
from hub.models.connector import ConnectorEventRow
from hub.services import Services
from sms_core.errors import ConnectorAuthError
from tests.conftest import DB_PARAMS
from tests.hub.apiclient import auth, make_app, migrated_url, new_account, sessions


@pytest.fixture(scope="module", params=DB_PARAMS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Flask]:
    with migrated_url(request.param, tmp_path_factory.mktemp("db")) as url:
        built = make_app(url, tmp_path_factory.mktemp("data"), callback_allowlist="127.0.0.1",
                         callback_allow_http=True)
        yield built
        registry.forget(services_of(built))


def services_of(app: Flask) -> Services:
    found: Services = app.extensions["smshub"]
    return found


def lose_grant(app: Flask, account_id: str, connection_id: str) -> None:
    """The real calendar connector's path when a provider answers invalid_grant."""
    connector = registry.calendar(services_of(app))
    connection = Connection(connection_id, account_id, "google", user="dr@example.com")
    connector.store.save_connection(connection)
    connector._lose_auth(connection, ConnectorAuthError("token revoked", code="invalid_grant"))


def test_a_lost_grant_is_stored_listed_and_called_back(app: Flask) -> None:
    account_id, key = new_account(app)
    client = app.test_client()
    assert client.put("/api/v1/callbacks", json={"url": "http://127.0.0.1:9/"},
                      headers=auth(key)).status_code == 200
    lose_grant(app, account_id, f"calc_{account_id}")

    listed = client.get("/api/v1/connectors/events", headers=auth(key))
    assert listed.status_code == 200 and listed.json is not None
    [found] = listed.json["data"]
    assert (found["connector"], found["kind"]) == ("calendar", "needs_reauth")
    assert found["data"]["connection_id"] == f"calc_{account_id}"
    assert found["data"]["code"] == "invalid_grant"
    assert "authorised again" in found["message"]
    assert listed.json["next_cursor"] is None

    with sessions(app)() as session:
        [event] = session.scalars(select(CallbackEvent).where(
            CallbackEvent.account_id == account_id,
            CallbackEvent.type == "connector.needs_reauth")).all()
        assert event.payload["data"]["id"] == found["id"]
        assert event.payload["data"]["connection_id"] == f"calc_{account_id}"
        queued = session.scalars(select(CallbackQueueItem.event_id)).all()
        assert event.id in queued


def test_without_a_callback_url_the_event_is_still_stored(app: Flask) -> None:
    account_id, key = new_account(app)
    lose_grant(app, account_id, f"calc_{account_id}")
    listed = app.test_client().get("/api/v1/connectors/events", headers=auth(key)).json
    assert listed is not None and [e["kind"] for e in listed["data"]] == ["needs_reauth"]
    with sessions(app)() as session:
        assert session.scalars(select(CallbackEvent).where(
            CallbackEvent.account_id == account_id)).all() == []


def test_events_are_paged_newest_first_and_private_to_their_account(app: Flask) -> None:
    account_id, key = new_account(app)
    _, other_key = new_account(app, "Other")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    emit = connector_events.sink(services_of(app))
    for minute in range(5):
        emit(ConnectorEvent("outlook_calendar", account_id, "disconnected",
                            start + timedelta(minutes=minute),
                            {"provider": "microsoft", "n": minute}))
    client = app.test_client()
    first = client.get("/api/v1/connectors/events?limit=2", headers=auth(key)).json
    assert first is not None
    seen = [e["data"]["n"] for e in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/connectors/events?limit=2&cursor={cursor}",
                          headers=auth(key)).json
        assert page is not None
        seen += [e["data"]["n"] for e in page["data"]]
        cursor = page["next_cursor"]
    assert seen == [4, 3, 2, 1, 0]
    theirs = client.get("/api/v1/connectors/events", headers=auth(other_key)).json
    assert theirs == {"data": [], "next_cursor": None}
    bad = client.get("/api/v1/connectors/events?limit=0", headers=auth(key))
    assert bad.status_code == 422


def test_an_event_for_an_unknown_account_is_dropped(app: Flask) -> None:
    connector_events.sink(services_of(app))(ConnectorEvent(
        "google_calendar", "acc_gone", "needs_reauth", datetime.now(UTC), {}))
    with sessions(app)() as session:
        assert session.scalars(select(ConnectorEventRow).where(
            ConnectorEventRow.account_id == "acc_gone")).all() == []


def _login(client: FlaskClient, email: str) -> None:
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    response = client.post("/login", data={"email": email, "password": "a long password",
                                           "csrf": found.group(1)})
    assert response.status_code == 302


def test_the_status_page_shows_the_connection_needing_consent(app: Flask) -> None:
    account_id, _ = new_account(app)
    with transaction(sessions(app)) as session:
        account = session.get(Account, account_id)
        assert account is not None
        create_user(session, account, f"{account_id}@example.org", "a long password")
    client = app.test_client()
    _login(client, f"{account_id}@example.org")
    assert "Connectors" not in client.get("/").get_data(as_text=True)
    lose_grant(app, account_id, f"calc_{account_id}")
    page = client.get("/").get_data(as_text=True)
    assert "Connectors" in page and "<strong>calendar</strong>" in page
    assert "Google Calendar connection needs to be authorised again" in page
