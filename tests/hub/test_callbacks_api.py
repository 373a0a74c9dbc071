"""The callbacks API: endpoint URL checked against SSRF, secret shown once and rotated, delivery
log and dead letters; a message sent through the API reaches a loopback receiver, in order and
verifiable with nothing but the secret the API showed."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub import receipts
from hub.callbacks.delivery import Deliverer
from hub.models import Message
from hub.receipts import Sent
from hub.services import Services
from sms_core.dispatch.types import DeliveryReport, SubmitOutcome
from tests.conftest import DB_PARAMS
from tests.hub.apiclient import auth, make_app, migrated_url, new_account, seed_prices
from tests.webhooks.conftest import Receiver, status
from tests.webhooks.conftest import receiver as receiver  # the loopback receiver fixture
from webhooks import parse_event, verify


@pytest.fixture(scope="module", params=DB_PARAMS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Flask]:
    with migrated_url(request.param, tmp_path_factory.mktemp("db")) as url:
        built = make_app(url, tmp_path_factory.mktemp("data"), callback_allowlist="127.0.0.1",
                         callback_allow_http=True)
        seed_prices(built)
        yield built


@pytest.fixture
def key(app: Flask) -> str:
    return new_account(app, credits=Decimal(10))[1]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def deliverer(app: Flask) -> Iterator[Deliverer]:
    found = Deliverer(services_of(app), timeout=2.0)
    yield found
    assert found.http is not None
    found.http.close()


def services_of(app: Flask) -> Services:
    found: Services = app.extensions["smshub"]
    return found


def register(client: FlaskClient, key: str, url: str) -> str:
    response = client.put("/api/v1/callbacks", json={"url": url}, headers=auth(key))
    assert response.status_code == 200, response.json
    assert response.json is not None
    secret: str = response.json["secret"]
    return secret


def deliver_story(app: Flask, client: FlaskClient, key: str, operator_id: str) -> str:
    """POST a message, then the operator accepts it and reports it delivered."""
    response = client.post("/api/v1/messages", json={"to": "+33612345678", "text": "Hi"},
                           headers=auth(key))
    assert response.status_code == 201, response.json
    assert response.json is not None
    message_id: str = response.json["id"]
    services = services_of(app)
    with services.sessions() as session:
        account_id = session.get(Message, message_id).account_id  # type: ignore[union-attr]
    sent = Sent(message_id, account_id, Decimal("0.05"), 0)
    receipts.record_outcomes(services, [(sent, SubmitOutcome(message_id, True, [operator_id]))])
    receipts.record_report(services, DeliveryReport(operator_id, "delivered"))
    return message_id


def test_a_message_sent_through_the_api_calls_back_in_order(
        app: Flask, client: FlaskClient, key: str, receiver: Receiver,
        deliverer: Deliverer) -> None:
    secret = register(client, key, receiver.url())
    message_id = deliver_story(app, client, key, "api-op-1")
    deliverer.run()
    mine = [r for r in receiver.requests if parse_event(r.body).data["message_id"] == message_id]
    assert [parse_event(r.body).type for r in mine] == [
        "message.accepted", "message.submitted", "message.delivered"]
    for request in mine:
        verify(request.headers, request.body, secret)
    log = client.get(f"/api/v1/callbacks/attempts?message_id={message_id}", headers=auth(key))
    assert log.status_code == 200 and log.json is not None
    assert [(a["event_type"], a["status_code"], a["ok"]) for a in log.json["data"]] == [
        ("message.delivered", 200, True), ("message.submitted", 200, True),
        ("message.accepted", 200, True)]
    assert all(a["latency_ms"] >= 0 and a["attempt"] == 1 for a in log.json["data"])


def test_the_secret_is_shown_once_and_rotation_shows_the_new_one(
        client: FlaskClient, key: str, receiver: Receiver) -> None:
    first = register(client, key, receiver.url())
    again = client.put("/api/v1/callbacks", json={"url": receiver.url("/v2")}, headers=auth(key))
    assert again.json is not None and "secret" not in again.json
    shown = client.get("/api/v1/callbacks", headers=auth(key)).json
    assert shown == {"url": receiver.url("/v2"), "previous_secret_valid_until": None,
                     "rotated_at": None, "created_at": shown["created_at"]}  # type: ignore[index]
    rotated = client.post("/api/v1/callbacks/secret", headers=auth(key))
    assert rotated.status_code == 201 and rotated.json is not None
    assert rotated.json["secret"].startswith("whsec_") and rotated.json["secret"] != first
    assert rotated.json["previous_secret_valid_until"] is not None


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://[::1]/hook",
                                 "http://169.254.169.254/latest", "ftp://example.org/x"])
def test_unsafe_urls_are_refused_at_registration(
        tmp_path: Path, database_url: str, url: str) -> None:
    strict = make_app(database_url, tmp_path, callback_allow_http=True)
    _, key = new_account(strict)
    response = strict.test_client().put("/api/v1/callbacks", json={"url": url},
                                        headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None and response.json["code"] == "callback_url_refused"
    assert response.headers["Content-Type"] == "application/problem+json"


def test_dead_letters_are_listed_and_replayed(
        app: Flask, client: FlaskClient, key: str, receiver: Receiver,
        deliverer: Deliverer) -> None:
    register(client, key, receiver.url())
    receiver.respond(status(410))  # gone: refused for good, dead at once
    response = client.post("/api/v1/messages", json={"to": "+33612345670", "text": "Hi"},
                           headers=auth(key))
    assert response.json is not None
    deliverer.run()
    letters = client.get("/api/v1/callbacks/dead-letters", headers=auth(key)).json
    assert letters is not None
    [letter] = letters["data"]
    assert (letter["event_type"], letter["last_error"], letter["replayed_at"]) == (
        "message.accepted", "http_410", None)
    receiver.respond(status(204))
    before = len(receiver.requests)
    replayed = client.post(f"/api/v1/callbacks/dead-letters/{letter['id']}/replay",
                           headers=auth(key))
    assert replayed.status_code == 202 and replayed.json is not None
    assert replayed.json["replayed_at"] is not None
    deliverer.run()
    assert [parse_event(r.body).id for r in receiver.requests[before:]] == [letter["event_id"]]


def test_someone_elses_dead_letter_is_not_found(app: Flask, client: FlaskClient) -> None:
    _, key = new_account(app)
    response = client.post("/api/v1/callbacks/dead-letters/999999/replay", headers=auth(key))
    assert response.status_code == 404


def test_paging_parameters_are_checked(client: FlaskClient, key: str) -> None:
    for query in ("limit=0", "limit=x", "cursor=abc"):
        response = client.get(f"/api/v1/callbacks/attempts?{query}", headers=auth(key))
        assert response.status_code == 422, query
