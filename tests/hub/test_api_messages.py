"""POST/GET /messages: sending, refusals as problems, idempotency, bad input without effect."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from hub import ledger
from hub.models import IdempotencyRecord, Message
from tests.hub.apiclient import auth, count, new_account, sessions
from tests.hub.apiclient import shared_app as shared_app  # the module's "app" fixture

MOBILE = "+33612345678"


@pytest.fixture
def key(app: Flask) -> str:
    return new_account(app, credits=Decimal(10))[1]


def _balance(app: Flask, key: str) -> Decimal:
    response = app.test_client().get("/api/v1/balance", headers=auth(key))
    assert response.status_code == 200 and response.json is not None
    return Decimal(response.json["balance"])


def test_one_recipient_is_accepted_priced_and_readable(app: Flask, key: str) -> None:
    client = app.test_client()
    response = client.post(
        "/api/v1/messages", json={"to": "06 12 34 56 78", "text": "Hello"}, headers=auth(key)
    )
    assert response.status_code == 201, response.json
    message = response.json
    assert message is not None
    assert (message["to"], message["status"], message["encoding"], message["segments"]) == (
        MOBILE,
        "accepted",
        "GSM-7",
        1,
    )
    assert Decimal(message["cost"]) == Decimal("0.05")
    assert response.headers["Location"] == f"/api/v1/messages/{message['id']}"
    assert client.get(response.headers["Location"], headers=auth(key)).json == message
    assert _balance(app, key) == Decimal("9.95")


def test_a_list_answers_one_result_per_recipient_in_order(app: Flask, key: str) -> None:
    response = app.test_client().post(
        "/api/v1/messages",
        json={"to": [MOBILE, "abc", "+33698765432", MOBILE], "text": "Héllo ✓"},
        headers=auth(key),
    )
    assert response.status_code == 201
    body = response.json
    assert body is not None
    statuses = [(r["status"], r["code"], r["duplicate"]) for r in body["results"]]
    assert statuses[1] == ("refused", "invalid_number", False)
    assert statuses[0][0] == statuses[2][0] == "accepted"
    assert statuses[3][2] is True
    assert body["results"][3]["message_id"] == body["results"][0]["message_id"]
    # the repeated number is one message, billed once: counted apart from the accepted ones
    assert (body["accepted"], body["duplicates"], body["refused"]) == (2, 1, 1)
    assert {m["encoding"] for m in body["messages"] if m["status"] == "accepted"} == {"UCS-2"}


def _unchanged(app: Flask, key: str, send: Any) -> Any:
    """Run ``send``; assert no message, no idempotency record and no credit moved."""
    before = (count(app, Message), count(app, IdempotencyRecord), _balance(app, key))
    response = send()
    assert (count(app, Message), count(app, IdempotencyRecord), _balance(app, key)) == before
    assert response.mimetype == "application/problem+json"
    return response


BAD_BODIES = [
    ({"to": "abc", "text": "hi"}, 422, "invalid_number"),
    ({"to": MOBILE, "template": "Hi {{ name }}", "variables": {}}, 422, "undefined_variable"),
    ({"to": [MOBILE], "template": "Hi {{ name }}"}, 422, "undefined_variable"),
    ({"to": MOBILE, "text": "hi", "sender": "S" * 20}, 422, "sender_invalid"),
    ({"to": [MOBILE, MOBILE], "text": "hi", "sender": "S" * 20}, 422, "sender_invalid"),
    ({"to": MOBILE, "text": "hi", "sender": "1234"}, 422, "sender_invalid"),
    ({"to": MOBILE, "text": "hi", "colour": "red"}, 422, "unknown_field"),
    ({"to": MOBILE}, 422, "text_missing"),
    ({"to": MOBILE, "text": "hi", "template": "x"}, 422, "text_and_template"),
    ({"to": MOBILE, "text": "hi", "send_at": "tomorrow"}, 422, "invalid_field"),
    ({"to": MOBILE, "text": "hi", "send_at": "2030-01-01T10:00:00"}, 422, "invalid_field"),
    ({"to": MOBILE, "text": "hi", "category": "spam"}, 422, "invalid_field"),
    ({"to": [], "text": "hi"}, 422, "invalid_field"),
    ({"to": MOBILE, "text": "x" * 2000}, 422, "too_long"),
    ([MOBILE], 422, "invalid_field"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
def test_bad_input_is_a_precise_problem_with_no_effect(
    app: Flask, key: str, body: Any, status: int, code: str
) -> None:
    response = _unchanged(
        app, key, lambda: app.test_client().post("/api/v1/messages", json=body, headers=auth(key))
    )
    assert response.status_code == status
    assert response.json["code"] == code, response.json
    assert response.json["status"] == status and response.json["detail"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ('{"to": "+33612345678", "text": "hi"}', "text/plain", 415, "unsupported_media_type"),
        (
            '{"to": "' + "1" * (10 * 1024 * 1024) + '"}',
            "application/json",
            413,
            "payload_too_large",
        ),
    ],
)
def test_unreadable_bodies_are_refused_before_anything_happens(
    app: Flask, key: str, data: str, content_type: str, status: int, code: str
) -> None:
    response = _unchanged(
        app,
        key,
        lambda: app.test_client().post(
            "/api/v1/messages", data=data, content_type=content_type, headers=auth(key)
        ),
    )
    assert (response.status_code, response.json["code"]) == (status, code)


@pytest.mark.parametrize("key_kind", ["unknown", "revoked", "strict_ip"])
def test_refused_keys_send_nothing(app: Flask, key_kind: str) -> None:
    from hub.accounts import create_api_key, revoke_api_key
    from hub.db import transaction
    from hub.models import Account

    account_id, key = new_account(app, credits=Decimal(10))
    with transaction(sessions(app)) as session:
        account = session.get(Account, account_id)
        assert account is not None
        other, plain = create_api_key(session, account, ip_mode="strict", ip_allow=["10.9.9.9"])
        if key_kind == "revoked":
            revoke_api_key(session, account, other.id)
    used = {"unknown": "sk_" + "x" * 43}.get(key_kind, plain)
    expected = {"unknown": 401, "revoked": 401, "strict_ip": 403}[key_kind]
    response = _unchanged(
        app,
        key,
        lambda: app.test_client().post(
            "/api/v1/messages", json={"to": MOBILE, "text": "hi"}, headers=auth(used)
        ),
    )
    assert response.status_code == expected


def test_no_credits_is_402_and_nothing_is_stored(app: Flask) -> None:
    _, broke = new_account(app, "Broke")
    before = count(app, Message)
    response = app.test_client().post(
        "/api/v1/messages", json={"to": MOBILE, "text": "hi"}, headers=auth(broke)
    )
    assert response.status_code == 402
    assert response.json is not None and response.json["code"] == "insufficient_credits"
    assert count(app, Message) == before


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    app: Flask, key: str
) -> None:
    client = app.test_client()
    before = count(app, Message)
    headers = {**auth(key), "Idempotency-Key": "order-42"}
    body = {"to": MOBILE, "text": "Your order shipped"}
    first = client.post("/api/v1/messages", json=body, headers=headers)
    again = client.post("/api/v1/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, Message) == before + 1 and _balance(app, key) == Decimal("9.95")
    other = client.post("/api/v1/messages", json={**body, "text": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json is not None and other.json["code"] == "idempotency_mismatch"
    assert count(app, Message) == before + 1


def test_a_replayed_refusal_keeps_its_status(app: Flask, key: str) -> None:
    client = app.test_client()
    headers = {**auth(key), "Idempotency-Key": "bad-1"}
    first = client.post(
        "/api/v1/messages", json={"to": "+33140000000", "text": "x"}, headers=headers
    )
    again = client.post(
        "/api/v1/messages", json={"to": "+33140000000", "text": "x"}, headers=headers
    )
    assert first.status_code == again.status_code == 422
    assert again.mimetype == "application/problem+json"
    assert again.json == first.json and first.json is not None
    assert first.json["code"] == "fixed_line"


def _send_some(app: Flask, key: str) -> list[str]:
    client = app.test_client()
    ids = []
    for n, source_text in enumerate(["one", "two", "three", "four", "five"]):
        number = f"+3361234567{n}"
        response = client.post(
            "/api/v1/messages", json={"to": number, "text": source_text}, headers=auth(key)
        )
        assert response.status_code == 201
        assert response.json is not None
        ids.append(response.json["id"])
    return ids


def test_listing_pages_with_a_cursor_newest_first(app: Flask, key: str) -> None:
    ids = _send_some(app, key)
    client = app.test_client()
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/messages", query_string=query, headers=auth(key)).json
        assert page is not None
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"to": "06 12 34 56 72"}, 1),
        ({"status": "accepted"}, 5),
        ({"status": "delivered,failed"}, 0),
        ({"source": "api"}, 5),
        ({"source": "email"}, 0),
        ({"from": "2000-01-01T00:00:00Z"}, 5),
        ({"until": "2000-01-01T00:00:00Z"}, 0),
        ({"campaign_id": "cmp_nope"}, 0),
    ],
)
def test_listing_filters(app: Flask, key: str, query: dict[str, str], expected: int) -> None:
    _send_some(app, key)
    page = app.test_client().get("/api/v1/messages", query_string=query, headers=auth(key)).json
    assert page is not None and len(page["data"]) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"from": "yesterday"}, "from"),
        ({"to": "abc"}, "to"),
    ],
)
def test_bad_listing_parameters_are_named(
    app: Flask, key: str, query: dict[str, str], field: str
) -> None:
    response = app.test_client().get("/api/v1/messages", query_string=query, headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None and response.json["field"] == field


def test_messages_of_other_accounts_are_not_found(app: Flask, key: str) -> None:
    message_id = _send_some(app, key)[0]
    _, other = new_account(app, "Other", credits=Decimal(1))
    client = app.test_client()
    assert client.get(f"/api/v1/messages/{message_id}", headers=auth(other)).status_code == 404
    listed = client.get("/api/v1/messages", headers=auth(other)).json
    assert listed is not None and listed["data"] == []


def test_sub_account_spends_the_parent_balance(app: Flask) -> None:
    parent_id, parent_key = new_account(app, "Parent", credits=Decimal(1))
    child = (
        app.test_client()
        .post("/api/v1/accounts/me/subaccounts", json={"name": "Child"}, headers=auth(parent_key))
        .json
    )
    assert child is not None
    child_key = child["api_key"]["key"]
    sent = app.test_client().post(
        "/api/v1/messages", json={"to": MOBILE, "text": "hi"}, headers=auth(child_key)
    )
    assert sent.status_code == 201
    with sessions(app)() as session:
        assert ledger.balance(session, parent_id) == Decimal("0.95")
    assert _balance(app, child_key) == Decimal("0.95")
