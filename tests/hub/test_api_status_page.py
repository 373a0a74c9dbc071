"""The HTML status page: login by email + password, CSRF, autoescaping, what it shows."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub.accounts import create_user
from hub.db import transaction
from hub.models import Account
from tests.hub.apiclient import auth, make_app, new_account, seed_prices, sessions


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    built = make_app(database_url, tmp_path)
    seed_prices(built)
    return built


def _csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _login(client: FlaskClient, password: str) -> int:
    return client.post("/login", data={"email": "ada@example.org", "password": password,
                                       "csrf": _csrf(client)}).status_code


def test_signed_out_visitors_see_the_login_instructions(app: Flask) -> None:
    page = app.test_client().get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "smshub user create" in page.get_data(as_text=True)


def test_login_shows_account_balance_and_escaped_messages(app: Flask) -> None:
    account_id, key = new_account(app, "<b>Acme</b>", credits=Decimal(3))
    with transaction(sessions(app)) as session:
        account = session.get(Account, account_id)
        assert account is not None
        create_user(session, account, "ada@example.org", "a long password")
    client = app.test_client()
    sent = client.post("/api/v1/messages", json={"to": "+33612345678",
                                                 "text": "<script>x</script>"},
                       headers=auth(key))
    assert sent.status_code == 201
    assert _login(client, "wrong password") == 401
    assert _login(client, "a long password") == 302
    page = client.get("/").get_data(as_text=True)
    assert "&lt;b&gt;Acme&lt;/b&gt;" in page and "<b>Acme</b>" not in page
    assert "2.95 EUR" in page
    assert "+33612345678" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert client.post("/logout", data={"csrf": _csrf(client)}).status_code == 302
    assert "smshub user create" in client.get("/").get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(app: Flask) -> None:
    client = app.test_client()
    refused = client.post("/login", data={"email": "a@b.org", "password": "x" * 12})
    assert refused.status_code == 400


def test_health_reports_the_database(app: Flask) -> None:
    health = app.test_client().get("/healthz")
    assert health.status_code == 200
    assert health.json == {"status": "ok", "database": "ok", "redis": "not configured"}
