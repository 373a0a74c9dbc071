"""Every way a callback URL enters the hub goes through the SSRF guard at acceptance: the
account settings (kept in one place with the callbacks endpoint), sub-account creation and a
send's own ``callback_url``."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from hub.db import transaction
from hub.models import CallbackEndpoint, Message
from tests.conftest import DB_PARAMS
from tests.hub.apiclient import auth, make_app, migrated_url, new_account, seed_prices, sessions

UNSAFE = ["http://127.0.0.2/hook", "http://[::1]/hook", "http://169.254.169.254/latest",
          "http://10.1.2.3/hook", "http://192.168.0.1/hook", "http://2130706434/hook"]


@pytest.fixture(scope="module", params=DB_PARAMS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Flask]:
    with migrated_url(request.param, tmp_path_factory.mktemp("db")) as url:
        built = make_app(url, tmp_path_factory.mktemp("data"), callback_allowlist="127.0.0.1",
                         callback_allow_http=True)
        seed_prices(built)
        yield built


def endpoint_url(app: Flask, account_id: str) -> str | None:
    with sessions(app)() as session:
        found = session.scalar(select(CallbackEndpoint)
                               .where(CallbackEndpoint.account_id == account_id))
        return found.url if found else None


@pytest.mark.parametrize("url", UNSAFE)
def test_settings_refuse_unsafe_callback_urls_and_keep_everything(app: Flask, url: str) -> None:
    account_id, key = new_account(app, settings={"max_parts": 2})
    client = app.test_client()
    response = client.patch("/api/v1/accounts/me/settings",
                            json={"callback_url": url, "max_parts": 3}, headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None
    assert (response.json["code"], response.json["field"]) == ("callback_url_refused",
                                                               "callback_url")
    assert client.get("/api/v1/accounts/me/settings", headers=auth(key)).json == {"max_parts": 2}
    assert endpoint_url(app, account_id) is None


def test_the_settings_url_is_the_endpoint_url_both_ways(app: Flask) -> None:
    account_id, key = new_account(app)
    client = app.test_client()
    allowed = "http://127.0.0.1:9/hook"
    response = client.patch("/api/v1/accounts/me/settings", json={"callback_url": allowed},
                            headers=auth(key))
    assert response.status_code == 200 and response.json == {"callback_url": allowed}
    assert client.get("/api/v1/callbacks", headers=auth(key)).json["url"] == allowed  # type: ignore[index]
    assert endpoint_url(app, account_id) == allowed

    put = client.put("/api/v1/callbacks", json={"url": "http://127.0.0.1:9/v2"},
                     headers=auth(key))
    assert put.status_code == 200
    settings = client.get("/api/v1/accounts/me/settings", headers=auth(key)).json
    assert settings == {"callback_url": "http://127.0.0.1:9/v2"}

    cleared = client.patch("/api/v1/accounts/me/settings", json={"callback_url": None},
                           headers=auth(key))
    assert cleared.status_code == 200 and cleared.json == {}
    assert endpoint_url(app, account_id) is None


def test_a_name_that_does_not_resolve_yet_is_accepted(app: Flask) -> None:
    account_id, key = new_account(app)
    url = "https://hooks.nowhere.invalid/sms"
    response = app.test_client().patch("/api/v1/accounts/me/settings",
                                       json={"callback_url": url}, headers=auth(key))
    assert response.status_code == 200
    assert endpoint_url(app, account_id) == url


def test_a_sub_account_cannot_be_created_with_an_unsafe_callback_url(app: Flask) -> None:
    _, key = new_account(app)
    response = app.test_client().post(
        "/api/v1/accounts/me/subaccounts",
        json={"name": "Shop", "settings": {"callback_url": "http://169.254.169.254/x"}},
        headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None and response.json["code"] == "callback_url_refused"


@pytest.mark.parametrize("url", UNSAFE)
def test_a_send_with_an_unsafe_callback_url_is_refused_before_anything_is_stored(
        app: Flask, url: str) -> None:
    account_id, key = new_account(app, credits=Decimal(10))
    response = app.test_client().post(
        "/api/v1/messages", json={"to": "+33612345678", "text": "Hi", "callback_url": url},
        headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None
    assert (response.json["code"], response.json["field"]) == ("callback_url_refused",
                                                               "/callback_url")
    with transaction(sessions(app)) as session:
        assert session.scalars(select(Message).where(Message.account_id == account_id)).all() \
            == []


def test_a_send_with_an_allowed_callback_url_keeps_it(app: Flask) -> None:
    _, key = new_account(app, credits=Decimal(10))
    response = app.test_client().post(
        "/api/v1/messages",
        json={"to": "+33612345678", "text": "Hi", "callback_url": "http://127.0.0.1:9/own"},
        headers=auth(key))
    assert response.status_code == 201, response.json
    with sessions(app)() as session:
        message = session.get(Message, response.json["id"])  # type: ignore[index]
        assert message is not None and message.callback_url == "http://127.0.0.1:9/own"
