"""The inbound blueprint: verification, replay, idempotency and problem responses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webhooks import signing
from webhooks.blueprint import create_inbound_blueprint
from webhooks.clock import ManualClock
from webhooks.inbound import RouteAuth
from webhooks.verifiers import sign_prestashop

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STD_SECRET = signing.generate_secret()
ROUTES = {
    "op": RouteAuth("hmac", secrets=("op-key",), id_field="id"),
    "presta": RouteAuth("prestashop", secrets=("presta-key",)),
    "basic": RouteAuth("basic", username="op", password="pw"),
    "graph": RouteAuth("graph", secrets=("client-state",)),
    "google": RouteAuth("google", secrets=("chan-token",), channel_id="chan-1"),
    "hubspot": RouteAuth(
        "hubspot", secrets=("hs-secret",), public_url="https://hub.example/in/hubspot/mo"
    ),
    "std": RouteAuth("standard", secrets=(STD_SECRET,)),
}


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, str]] = []
        self.fail = False

    def __call__(self, kind: str, route: str, payload: Any, key: str) -> str | None:
        if self.fail:
            raise RuntimeError("database down")
        self.calls.append((kind, route, payload, key))
        return f"in_{len(self.calls)}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def client(clock: ManualClock, sink: Sink) -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(create_inbound_blueprint(ROUTES.get, sink, clock=clock))
    return app.test_client()


def op_headers(body: bytes, ts: int, key: str = "op-key") -> dict[str, str]:
    sig = hmac.new(key.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Signature": f"sha256={sig}",
        "X-Timestamp": str(ts),
        "Content-Type": "application/json",
    }


DLR = json.dumps({"id": "op-77", "status": "DELIVRD", "message_id": "m1"}).encode()
TS = int(NOW.timestamp())


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["code"] == code and body["status"] == status
    assert body["type"] == f"urn:smshub:problem:{code}"
    assert body["title"] and body["detail"]


def test_a_signed_dlr_is_accepted_and_handed_to_the_sink(client: FlaskClient, sink: Sink) -> None:
    response = client.post("/routes/op/dlr", data=DLR, headers=op_headers(DLR, TS))
    assert response.status_code == 202
    assert response.get_json() == {"status": "accepted", "id": "in_1"}
    assert sink.calls == [("dlr", "op", json.loads(DLR), "op:dlr:id:op-77")]


def test_the_same_dlr_signed_again_is_a_duplicate(
    client: FlaskClient, sink: Sink, clock: ManualClock
) -> None:
    client.post("/routes/op/dlr", data=DLR, headers=op_headers(DLR, TS))
    clock.advance(seconds=30)
    again = client.post("/routes/op/dlr", data=DLR, headers=op_headers(DLR, TS + 30))
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "id": "op:dlr:id:op-77"}
    assert len(sink.calls) == 1


def test_a_replayed_request_is_refused(client: FlaskClient, sink: Sink) -> None:
    headers = op_headers(DLR, TS)
    assert client.post("/routes/op/dlr", data=DLR, headers=headers).status_code == 202
    assert_problem(
        client.post("/routes/op/dlr", data=DLR, headers=headers), 401, "replayed_request"
    )
    assert len(sink.calls) == 1


def test_forged_and_stale_requests_are_refused(
    client: FlaskClient, sink: Sink, clock: ManualClock
) -> None:
    forged = op_headers(DLR, TS, key="guess")
    assert_problem(
        client.post("/routes/op/dlr", data=DLR, headers=forged), 401, "signature_invalid"
    )
    assert_problem(client.post("/routes/op/dlr", data=DLR), 401, "signature_invalid")
    tampered = DLR.replace(b"DELIVRD", b"UNDELIV")
    response = client.post("/routes/op/dlr", data=tampered, headers=op_headers(DLR, TS))
    assert_problem(response, 401, "signature_invalid")
    stale = op_headers(DLR, TS - 600)
    assert_problem(client.post("/routes/op/dlr", data=DLR, headers=stale), 401, "stale_request")
    assert sink.calls == []


def test_unknown_routes_and_other_methods(client: FlaskClient, sink: Sink) -> None:
    assert_problem(client.post("/routes/nope/dlr", data=DLR), 404, "route_not_found")
    assert client.get("/routes/op/dlr").status_code == 405
    assert client.post("/routes/op/other", data=DLR).status_code == 404
    assert sink.calls == []


def test_mo_and_dlr_are_separate_kinds(client: FlaskClient, sink: Sink) -> None:
    client.post("/routes/op/dlr", data=DLR, headers=op_headers(DLR, TS))
    response = client.post("/routes/op/mo", data=DLR, headers=op_headers(DLR, TS + 1))
    assert response.status_code == 202
    assert [c[0] for c in sink.calls] == ["dlr", "mo"]


def test_basic_auth_form_dlr_is_idempotent_on_content(client: FlaskClient, sink: Sink) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(b"op:pw").decode()}
    form = {"msgid": "x1", "stat": "DELIVRD"}
    first = client.post("/routes/basic/dlr", data=form, headers=auth)
    second = client.post("/routes/basic/dlr", data=form, headers=auth)
    assert (first.status_code, second.status_code) == (202, 200)
    assert sink.calls[0][2] == form
    wrong = {"Authorization": "Basic " + base64.b64encode(b"op:nope").decode()}
    assert_problem(
        client.post("/routes/basic/dlr", data=form, headers=wrong), 401, "signature_invalid"
    )
    assert len(sink.calls) == 1


def test_prestashop_module_requests(client: FlaskClient, sink: Sink) -> None:
    body = b'{"order_id": 12, "state": "shipped"}'
    headers = {**sign_prestashop(body, "presta-key", TS), "Content-Type": "application/json"}
    assert client.post("/routes/presta/mo", data=body, headers=headers).status_code == 202
    bad = {**sign_prestashop(body, "wrong", TS), "Content-Type": "application/json"}
    assert_problem(
        client.post("/routes/presta/mo", data=body, headers=bad), 401, "signature_invalid"
    )
    assert sink.calls[0][2] == {"order_id": 12, "state": "shipped"}


def test_graph_validation_token_is_echoed_as_plain_text(client: FlaskClient, sink: Sink) -> None:
    response = client.post("/routes/graph/mo?validationToken=Validation%3A%20Testing%20%3Cb%3E")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "Validation: Testing <b>"
    assert sink.calls == []


def test_graph_notifications_need_the_client_state(client: FlaskClient, sink: Sink) -> None:
    good = {"value": [{"clientState": "client-state", "resource": "me/events/1"}]}
    assert client.post("/routes/graph/mo", json=good).status_code == 202
    bad = {"value": [{"clientState": "guess", "resource": "me/events/1"}]}
    assert_problem(client.post("/routes/graph/mo", json=bad), 401, "signature_invalid")
    assert len(sink.calls) == 1 and sink.calls[0][2] == good


def test_google_push_uses_the_message_number_for_idempotency(
    client: FlaskClient, sink: Sink
) -> None:
    headers = {
        "X-Goog-Channel-ID": "chan-1",
        "X-Goog-Channel-Token": "chan-token",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "7",
    }
    assert client.post("/routes/google/mo", headers=headers).status_code == 202
    assert client.post("/routes/google/mo", headers=headers).status_code == 200
    forged = {**headers, "X-Goog-Channel-Token": "guess", "X-Goog-Message-Number": "8"}
    assert_problem(client.post("/routes/google/mo", headers=forged), 401, "signature_invalid")
    assert sink.calls[0][3] == "google:mo:id:chan-1:7" and len(sink.calls) == 1


def test_hubspot_v3_through_the_public_url(client: FlaskClient, sink: Sink) -> None:
    body = '[{"eventId":1,"subscriptionType":"contact.creation"}]'
    millis = TS * 1000
    source = f"POSThttps://hub.example/in/hubspot/mo{body}{millis}".encode()
    signature = base64.b64encode(hmac.new(b"hs-secret", source, hashlib.sha256).digest()).decode()
    headers = {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": str(millis),
        "Content-Type": "application/json",
    }
    assert client.post("/routes/hubspot/mo", data=body, headers=headers).status_code == 202
    assert_problem(
        client.post("/routes/hubspot/mo", data=body, headers=headers), 401, "replayed_request"
    )


def test_standard_webhooks_retries_with_the_same_id_are_duplicates(
    client: FlaskClient, sink: Sink, clock: ManualClock
) -> None:
    body = b'{"type":"message.delivered"}'
    first = signing.sign("msg_1", body, STD_SECRET, clock=clock)
    assert client.post("/routes/std/dlr", data=body, headers=first).status_code == 202
    clock.advance(seconds=5)
    retry = signing.sign("msg_1", body, STD_SECRET, clock=clock)
    assert client.post("/routes/std/dlr", data=body, headers=retry).status_code == 200
    assert_problem(
        client.post("/routes/std/dlr", data=body, headers=retry), 401, "replayed_request"
    )
    assert len(sink.calls) == 1


def test_a_failing_sink_answers_503_and_the_retry_is_accepted(
    client: FlaskClient, sink: Sink
) -> None:
    headers = op_headers(DLR, TS)
    sink.fail = True
    assert_problem(client.post("/routes/op/dlr", data=DLR, headers=headers), 503, "unavailable")
    sink.fail = False
    assert client.post("/routes/op/dlr", data=DLR, headers=headers).status_code == 202
    assert len(sink.calls) == 1


def test_oversized_bodies_are_refused_before_verification(sink: Sink) -> None:
    app = Flask(__name__)
    app.register_blueprint(create_inbound_blueprint(ROUTES.get, sink, max_body=100))
    big = b"{" + b" " * 200 + b"}"
    response = app.test_client().post("/routes/op/dlr", data=big, headers=op_headers(big, TS))
    assert_problem(response, 413, "payload_too_large")
    assert sink.calls == []
