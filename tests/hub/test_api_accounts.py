"""Accounts through the API: settings (validated), sub-accounts, API keys."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from hub.models import Account, ApiKey
from tests.hub.apiclient import auth, count, new_account
from tests.hub.apiclient import shared_app as shared_app  # the module's "app" fixture


def test_settings_are_read_and_patched(app: Flask) -> None:
    _, key = new_account(app)
    client = app.test_client()
    patch = {"default_sender": "Acme", "transliterate": True, "max_parts": 5,
             "allowed_countries": ["be", "CH"], "callback_url": "https://example.org/cb",
             "region": "be", "timezone": "Europe/Brussels", "max_per_hour": 5,
             "denied_domains": ["Suivi-Colis.example", "bad.test", "bad.test"]}
    response = client.patch("/api/v1/accounts/me/settings", json=patch, headers=auth(key))
    assert response.status_code == 200
    expected = {**patch, "allowed_countries": ["BE", "CH"], "region": "BE",
                "denied_domains": ["bad.test", "suivi-colis.example"]}
    assert response.json == expected
    assert client.get("/api/v1/accounts/me/settings", headers=auth(key)).json == expected
    removed = client.patch("/api/v1/accounts/me/settings", json={"default_sender": None},
                           headers=auth(key))
    assert removed.json is not None and "default_sender" not in removed.json


@pytest.mark.parametrize(
    ("patch", "code", "field"),
    [
        ({"max_parts": 11}, "invalid_field", "/max_parts"),
        ({"max_parts": 0}, "invalid_field", "/max_parts"),
        ({"default_sender": "A" * 20}, "sender_invalid", "/default_sender"),
        ({"default_sender": "123456"}, "sender_invalid", "default_sender"),
        ({"region": "XX"}, "invalid_setting", "region"),
        ({"allowed_countries": ["FR", "ZZ"]}, "invalid_setting", "allowed_countries"),
        ({"timezone": "Mars/Olympus"}, "invalid_setting", "timezone"),
        ({"callback_url": "ftp://example.org"}, "invalid_setting", "callback_url"),
        ({"transliterate": "yes"}, "invalid_field", "/transliterate"),
        ({"max_per_hour": 0}, "invalid_field", "/max_per_hour"),
        ({"denied_domains": ["not a domain"]}, "invalid_setting", "denied_domains"),
        ({"denied_domains": "bad.test"}, "invalid_field", "/denied_domains"),
        ({"colour": "blue"}, "unknown_field", "/colour"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(
    app: Flask, patch: dict[str, Any], code: str, field: str
) -> None:
    _, key = new_account(app, settings={"max_parts": 2})
    client = app.test_client()
    response = client.patch("/api/v1/accounts/me/settings", json=patch, headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None
    assert (response.json["code"], response.json["field"]) == (code, field)
    assert client.get("/api/v1/accounts/me/settings", headers=auth(key)).json == {"max_parts": 2}


def test_a_parent_creates_and_lists_sub_accounts_with_their_own_key(app: Flask) -> None:
    parent_id, key = new_account(app)
    client = app.test_client()
    created = client.post("/api/v1/accounts/me/subaccounts",
                          json={"name": "Shop 2", "settings": {"max_parts": 4}}, headers=auth(key))
    assert created.status_code == 201
    body = created.json
    assert body is not None and body["account"]["parent_id"] == parent_id
    child_key = body["api_key"]["key"]
    child = client.get("/api/v1/accounts/me", headers=auth(child_key)).json
    assert child is not None and child["id"] == body["account"]["id"]
    listed = client.get(f"/api/v1/accounts/{parent_id}/subaccounts", headers=auth(key)).json
    assert listed is not None and [a["name"] for a in listed["data"]] == ["Shop 2"]
    # the parent manages the child's settings; the child cannot nest nor reach its parent
    assert client.patch(f"/api/v1/accounts/{child['id']}/settings", json={"max_parts": 6},
                        headers=auth(key)).status_code == 200
    nested = client.post("/api/v1/accounts/me/subaccounts", json={"name": "x"},
                         headers=auth(child_key))
    assert nested.status_code == 403 and nested.json is not None
    assert nested.json["code"] == "nested_subaccount"
    assert client.get(f"/api/v1/accounts/{parent_id}", headers=auth(child_key)).status_code == 404


def test_an_admin_reaches_any_account_and_others_do_not(app: Flask) -> None:
    other_id, _ = new_account(app, "Other")
    _, admin_key = new_account(app, "Admin", is_admin=True)
    _, plain_key = new_account(app, "Plain")
    client = app.test_client()
    assert client.get(f"/api/v1/accounts/{other_id}", headers=auth(admin_key)).status_code == 200
    assert client.get(f"/api/v1/accounts/{other_id}", headers=auth(plain_key)).status_code == 404


def test_keys_are_created_listed_and_revoked(app: Flask) -> None:
    _, key = new_account(app)
    client = app.test_client()
    created = client.post("/api/v1/keys", json={"name": "shop", "ip_mode": "strict",
                                                "ip_allow": ["203.0.113.4"]}, headers=auth(key))
    assert created.status_code == 201 and created.json is not None
    assert created.json["key"].startswith(created.json["prefix"])
    assert created.json["ip_allow"] == ["203.0.113.4/32"]
    listed = client.get("/api/v1/keys", headers=auth(key)).json
    assert listed is not None and len(listed["data"]) == 2
    assert all("key" not in item for item in listed["data"])
    gone = client.delete(f"/api/v1/keys/{created.json['id']}", headers=auth(key))
    assert gone.status_code == 204
    assert client.delete("/api/v1/keys/key_nope", headers=auth(key)).status_code == 404


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"ip_mode": "strict"}, "invalid_ip_mode"),
        ({"ip_mode": "strict", "ip_allow": ["not-an-ip"]}, "invalid_ip"),
        ({"ip_mode": "sometimes", "ip_allow": ["10.0.0.1"]}, "invalid_field"),
    ],
)
def test_bad_key_requests_create_nothing(app: Flask, payload: dict[str, Any], code: str) -> None:
    _, key = new_account(app)
    before = count(app, ApiKey), count(app, Account)
    response = app.test_client().post("/api/v1/keys", json=payload, headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None and response.json["code"] == code
    assert (count(app, ApiKey), count(app, Account)) == before


def test_billing_email_is_patched_read_and_removed(app: Flask) -> None:
    _, key = new_account(app)
    client = app.test_client()
    set_ = client.patch("/api/v1/accounts/me/settings",
                        json={"billing_email": " compta@garage-martin.fr "}, headers=auth(key))
    assert set_.status_code == 200, set_.json
    assert set_.json is not None and set_.json["billing_email"] == "compta@garage-martin.fr"
    shown = client.get("/api/v1/accounts/me/settings", headers=auth(key)).json
    assert shown is not None and shown["billing_email"] == "compta@garage-martin.fr"
    bad = client.patch("/api/v1/accounts/me/settings", json={"billing_email": "not-an-email"},
                       headers=auth(key))
    assert bad.status_code == 422 and bad.json is not None
    assert (bad.json["code"], bad.json["field"]) == ("invalid_setting", "billing_email")
    removed = client.patch("/api/v1/accounts/me/settings", json={"billing_email": None},
                           headers=auth(key))
    assert removed.json is not None and "billing_email" not in removed.json


def test_billing_email_is_a_setting_without_the_notifications_module() -> None:
    """The web process never imports hub.notifications: the setting must not depend on it."""
    import subprocess
    import sys

    code = ("import sys; from hub import accounts; "
            "assert 'hub.notifications' not in sys.modules, 'imported'; "
            "print(accounts.validate_settings({'billing_email': 'a@b.fr'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'billing_email': 'a@b.fr'}"
