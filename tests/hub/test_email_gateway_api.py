"""Email-to-SMS settings through the API: read, replace, rotate the secret, set SMTP login."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from hub.crypto import SecretBox
from hub.email.directory import DatabaseDirectory
from tests.hub.apiclient import auth, new_account, sessions
from tests.hub.apiclient import shared_app as shared_app  # the module's "app" fixture

SETTINGS = {"senders": ["*@Garage-Martin.fr", "boss@gmail.com"], "sender_id": "GARAGE",
            "category": "alert", "forward_replies": True, "delivery_notices": True}


def directory(app: Flask) -> DatabaseDirectory:
    return DatabaseDirectory(sessions(app), SecretBox("test-secret"))


def test_settings_are_replaced_and_read_back(app: Flask) -> None:
    account_id, key = new_account(app)
    client = app.test_client()
    empty = client.get("/api/v1/accounts/me/email", headers=auth(key)).json
    assert empty is not None and empty["senders"] == [] and empty["has_secret"] is False
    put = client.put("/api/v1/accounts/me/email", json=SETTINGS, headers=auth(key))
    assert put.status_code == 200 and put.json is not None
    assert put.json["senders"] == ["*@garage-martin.fr", "boss@gmail.com"]
    assert (put.json["forward_replies"], put.json["summary"]) == (True, False)
    again = client.put("/api/v1/accounts/me/email", json={"senders": ["a@b.fr"]},
                       headers=auth(key))
    assert again.json is not None and again.json["forward_replies"] is False  # PUT replaces
    found = directory(app).get(account_id)
    assert found is not None and found.senders == ("a@b.fr",) and found.sender_id is None


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"senders": ["not-an-address"]}, "invalid_setting", "senders"),
        ({"sender_id": "123456"}, "sender_invalid", "sender_id"),
        ({"category": "spam"}, "invalid_field", "/category"),
        ({"summary": "yes"}, "invalid_field", "/summary"),
        ({"secret": "mine"}, "unknown_field", "/secret"),
    ],
)
def test_bad_settings_are_refused(app: Flask, body: dict[str, Any], code: str,
                                  field: str) -> None:
    _, key = new_account(app)
    response = app.test_client().put("/api/v1/accounts/me/email", json=body, headers=auth(key))
    assert response.status_code in (400, 422) and response.json is not None
    assert (response.json["code"], response.json["field"]) == (code, field)


def test_the_secret_is_shown_once_and_rotation_retires_the_old_one(app: Flask) -> None:
    account_id, key = new_account(app)
    client = app.test_client()
    first = client.post("/api/v1/accounts/me/email/secret", headers=auth(key))
    second = client.post("/api/v1/accounts/me/email/secret", headers=auth(key))
    assert first.status_code == second.status_code == 201
    assert first.json is not None and second.json is not None
    old, new = first.json["secret"], second.json["secret"]
    assert old != new and new in second.json["example_address"]
    assert directory(app).by_secret(old) is None
    found = directory(app).by_secret(new)
    assert found is not None and found.account == account_id
    shown = client.get("/api/v1/accounts/me/email", headers=auth(key)).json
    assert shown is not None and shown["has_secret"] is True and new not in str(shown)


def test_smtp_credentials_are_set_and_checked(app: Flask) -> None:
    account_id, key = new_account(app)
    _, other_key = new_account(app, "Other")
    client = app.test_client()
    login = {"username": f"garage-{account_id[-6:].lower()}", "password": "a long passphrase"}
    response = client.put("/api/v1/accounts/me/email/credentials", json=login, headers=auth(key))
    assert response.status_code == 200 and response.json is not None
    assert response.json["has_password"] is True and "passphrase" not in str(response.json)
    found = directory(app).authenticate(login["username"], login["password"])
    assert found is not None and found.account == account_id
    taken = client.put("/api/v1/accounts/me/email/credentials", json=login,
                       headers=auth(other_key))
    assert taken.status_code == 422 and taken.json is not None
    assert taken.json["code"] == "username_taken"
    short = client.put("/api/v1/accounts/me/email/credentials",
                       json={"username": "other-garage", "password": "short"},
                       headers=auth(other_key))
    assert short.status_code == 422


def test_another_account_email_settings_are_not_found(app: Flask) -> None:
    other_id, _ = new_account(app, "Other")
    _, key = new_account(app)
    response = app.test_client().get(f"/api/v1/accounts/{other_id}/email", headers=auth(key))
    assert response.status_code == 404


def test_the_openapi_document_lists_the_email_routes(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document is not None
    assert {"get", "put"} <= set(document["paths"]["/accounts/{account_id}/email"])
    assert "post" in document["paths"]["/accounts/{account_id}/email/secret"]
    assert "EmailSettings" in document["components"]["schemas"]
