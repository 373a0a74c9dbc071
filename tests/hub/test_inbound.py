"""Inbound DLRs and replies from an HTTP operator: signed requests move messages through an RQ
job; forged, stale and replayed ones are refused with 401 and change nothing; the same report
twice moves a message once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select

from connectors.base import SmsRequest
from hub import inbound, pipeline, receipts
from hub.app import create_app
from hub.callbacks import jobs
from hub.config import Settings
from hub.crypto import SecretBox
from hub.db import transaction
from hub.models import (
    CallbackEndpoint,
    CallbackEvent,
    DeliveryReceipt,
    Message,
    OptOut,
)
from hub.receipts import Sent
from hub.services import Services
from sms_core.dispatch.types import SubmitOutcome
from tests.hub.conftest import make_account, seed_prices

SECRET = "route-secret"
NUMBER = "+33612345678"
ROUTES = {"acme": {"scheme": "hmac", "secrets": [SECRET], "id_field": "id"}}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, redis_url=redis_url,
                    secret_key="test", extra=MappingProxyType(
                        {"inbound_routes": json.dumps(ROUTES)}))


@pytest.fixture
def app(services: Services) -> Iterator[Flask]:
    jobs.use(services)
    built = create_app(services=services)
    built.config["TESTING"] = True
    yield built
    jobs.use(None)


@pytest.fixture
def message_id(services: Services) -> str:
    """A submitted message whose operator id is ``op-77``, on an account with callbacks."""
    seed_prices(services)
    account = make_account(services)
    with transaction(services.sessions) as session:
        session.add(CallbackEndpoint(id="cbe_t", account_id=account.id,
                                     url="https://example.org/hook",
                                     secret=SecretBox("test").encrypt("whsec_dGVzdHRlc3R0ZXN0")))
    [result] = pipeline.submit(services, account, [SmsRequest(account.id, NUMBER, text="Hi")])
    assert result.message_id is not None
    sent = Sent(result.message_id, account.id, Decimal("0.05"), 0)
    receipts.record_outcomes(services, [(sent, SubmitOutcome(result.message_id, True,
                                                             ["op-77"]))])
    services.queue("transactional").empty()  # its send job: no dispatcher in these tests
    return result.message_id


def signed(body: dict[str, Any], at: float | None = None,
           secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return raw, {"X-Timestamp": ts, "X-Signature": f"sha256={digest}",
                 "Content-Type": "application/json"}


def post(app: Flask, kind: str, raw: bytes, headers: dict[str, str],
         route: str = "acme") -> tuple[int, Any]:
    response = app.test_client().post(f"/api/v1/inbound/routes/{route}/{kind}", data=raw,
                                      headers=headers)
    return response.status_code, response.json


def work(services: Services) -> None:
    assert services.redis is not None
    SimpleWorker([services.queue("transactional")], connection=services.redis).work(burst=True)


def state(services: Services, message_id: str) -> tuple[str, int, int]:
    """The message status, its stored receipts and its message.delivered events."""
    with services.sessions() as session:
        status = session.get(Message, message_id).status  # type: ignore[union-attr]
        receipts_ = session.scalar(select(func.count()).select_from(DeliveryReceipt))
        events = session.scalar(select(func.count()).select_from(CallbackEvent).where(
            CallbackEvent.type == "message.delivered"))
    return status, int(receipts_ or 0), int(events or 0)


DLR = {"id": "dlr-1", "message_id": "op-77", "status": "delivered"}


def test_a_signed_dlr_delivers_the_message_once_even_when_sent_twice(
        app: Flask, services: Services, message_id: str) -> None:
    code, body = post(app, "dlr", *signed(DLR))
    assert (code, body["status"]) == (202, "accepted")
    code, body = post(app, "dlr", *signed(DLR, at=time.time() + 1))  # re-sent, freshly signed
    assert (code, body["status"]) == (200, "duplicate")
    work(services)
    assert state(services, message_id) == ("delivered", 1, 1)


def test_the_job_twice_still_moves_the_message_once(
        app: Flask, services: Services, message_id: str) -> None:
    for _ in range(2):
        inbound.process(kind="dlr", route="acme", payload=DLR, dedupe_key="k")
    status, stored, events = state(services, message_id)
    assert (status, events) == ("delivered", 1)
    assert stored == 2  # both receipts are kept for disputes; only one moved the message


@pytest.mark.parametrize(("name", "build", "code"), [
    ("forged", lambda: signed(DLR, secret="guess"), "signature_invalid"),
    ("stale", lambda: signed(DLR, at=time.time() - 3600), "stale_request"),
    ("unsigned", lambda: (json.dumps(DLR).encode(), {"Content-Type": "application/json"}),
     "signature_invalid"),
])
def test_forged_stale_and_unsigned_reports_change_nothing(
        app: Flask, services: Services, message_id: str, name: str, build: Any,
        code: str) -> None:
    status, body = post(app, "dlr", *build())
    assert (status, body["code"]) == (401, code), name
    assert services.queue("transactional").count == 0
    work(services)
    assert state(services, message_id) == ("submitted", 0, 0)


def test_a_replayed_request_is_refused(app: Flask, services: Services, message_id: str) -> None:
    request = signed({**DLR, "status": "undeliverable"})
    assert post(app, "dlr", *request)[0] == 202
    status, body = post(app, "dlr", *request)
    assert (status, body["code"]) == (401, "replayed_request")
    work(services)
    assert state(services, message_id)[0] == "undeliverable"


def test_a_stop_reply_opts_the_number_out(app: Flask, services: Services,
                                          message_id: str) -> None:
    reply = {"id": "mo-1", "from": NUMBER, "to": "36000", "text": "STOP"}
    assert post(app, "mo", *signed(reply))[0] == 202
    work(services)
    with services.sessions() as session:
        numbers = list(session.scalars(select(OptOut.number)))
        types = set(session.scalars(select(CallbackEvent.type)))
    assert numbers == [NUMBER]
    assert {"reply.received", "optout.added"} <= types


def test_an_unknown_route_is_not_found(app: Flask) -> None:
    assert post(app, "dlr", *signed(DLR), route="nobody")[0] == 404


@pytest.mark.parametrize(("payload", "state_", "error"), [
    ({"message_id": "0A", "status": "DELIVERED"}, "delivered", None),
    ({"operator_id": "x1", "status": "rejected", "error": "E12"}, "rejected", "E12"),
    ({"message_id": "x2", "status": "weird"}, "unknown", None),
])
def test_report_shapes(payload: dict[str, Any], state_: str, error: str | None) -> None:
    report = inbound.report_from_json(payload, "acme")
    assert (report.state, report.error, report.route) == (state_, error, "acme")


@pytest.mark.parametrize("payload", [{"status": "delivered"}, ["not", "an", "object"]])
def test_malformed_reports_fail_loudly(payload: Any) -> None:
    with pytest.raises(inbound.PayloadError):
        inbound.report_from_json(payload, "acme")


def test_routes_come_from_the_settings(settings: Settings) -> None:
    found = inbound.routes(settings)
    assert set(found) == {"acme"} and found["acme"].secrets == (SECRET,)
    assert inbound.routes(Settings(data_dir=settings.data_dir)) == {}

