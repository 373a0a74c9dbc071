"""API keys: hashed storage, revocation, IP filters (strict / trusted with approval), passwords."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import select

from hub.accounts import (
    AuthError,
    ForbiddenError,
    authenticate,
    check_login,
    create_account,
    create_api_key,
    create_user,
)
from hub.api.context import EXTENSION
from hub.app import create_app
from hub.db import transaction
from hub.models import ApiKey, User
from tests.hub.apiclient import auth, new_account, sessions
from tests.hub.apiclient import shared_app as shared_app  # the module's "app" fixture


def _key_row(app: Flask, key: str) -> ApiKey:
    with sessions(app)() as session:
        row = session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(key.encode()).hexdigest())
        )
        assert row is not None
        return row


def test_only_the_sha256_of_a_key_is_stored(app: Flask) -> None:
    _, key = new_account(app)
    row = _key_row(app, key)
    assert key.startswith("sk_") and len(key) >= 40
    assert key not in (row.key_hash, row.prefix) and key.startswith(row.prefix)


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (None, 401, "missing_key"),
        ("Basic abc", 401, "missing_key"),
        ("Bearer sk_unknown", 401, "invalid_key"),
    ],
)
def test_requests_without_a_valid_key_are_refused(
    app: Flask, header: str | None, status: int, code: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = app.test_client().get("/api/v1/keys", headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.json is not None and response.json["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_refused_with_key_revoked(app: Flask) -> None:
    _, key = new_account(app)
    client = app.test_client()
    row = _key_row(app, key)
    assert client.delete(f"/api/v1/keys/{row.id}", headers=auth(key)).status_code == 204
    response = client.get("/api/v1/keys", headers=auth(key))
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "key_revoked"


def _filtered_key(app: Flask, mode: str) -> str:
    with transaction(sessions(app)) as session:
        account = create_account(session, "Filtered")
        _, key = create_api_key(session, account, ip_mode=mode, ip_allow=["10.0.0.0/24"])
    return key


@pytest.mark.parametrize("mode", ["strict", "trusted"])
def test_an_allowed_address_passes_the_filter(app: Flask, mode: str) -> None:
    key = _filtered_key(app, mode)
    response = app.test_client().get(
        "/api/v1/keys", headers=auth(key), environ_base={"REMOTE_ADDR": "10.0.0.7"}
    )
    assert response.status_code == 200


def test_strict_filter_refuses_other_addresses_without_recording_them(app: Flask) -> None:
    key = _filtered_key(app, "strict")
    response = app.test_client().get(
        "/api/v1/keys", headers=auth(key), environ_base={"REMOTE_ADDR": "192.0.2.9"}
    )
    assert response.status_code == 403
    assert response.json is not None and response.json["code"] == "ip_not_allowed"
    assert _key_row(app, key).ip_allow["pending"] == []


def test_trusted_filter_holds_a_new_address_until_it_is_approved(app: Flask) -> None:
    key = _filtered_key(app, "trusted")
    client = app.test_client()
    outside = {"REMOTE_ADDR": "192.0.2.9"}
    inside = {"REMOTE_ADDR": "10.0.0.7"}
    refused = client.get("/api/v1/keys", headers=auth(key), environ_base=outside)
    assert refused.status_code == 403
    assert refused.json is not None and refused.json["code"] == "ip_pending_validation"
    row = _key_row(app, key)
    assert row.ip_allow["pending"] == ["192.0.2.9"]
    approved = client.post(
        f"/api/v1/keys/{row.id}/approvals",
        json={"address": "192.0.2.9"},
        headers=auth(key),
        environ_base=inside,
    )
    assert approved.status_code == 200
    assert approved.json is not None
    assert approved.json["ip_pending"] == [] and "192.0.2.9/32" in approved.json["ip_allow"]
    assert client.get("/api/v1/keys", headers=auth(key), environ_base=outside).status_code == 200


def test_authenticate_raises_the_error_classes(app: Flask) -> None:
    key = _filtered_key(app, "strict")
    with transaction(sessions(app)) as session:
        with pytest.raises(ForbiddenError):
            authenticate(session, key, "not an address")
        with pytest.raises(AuthError):
            authenticate(session, key + "x", "10.0.0.1")
        assert authenticate(session, key, "10.0.0.1").name == "Filtered"


def test_passwords_are_salted_hashes_and_checked(app: Flask) -> None:
    with transaction(sessions(app)) as session:
        account = create_account(session, "Login")
        create_user(session, account, "Ada@Example.org", "correct horse battery")
    with transaction(sessions(app)) as session:
        user = session.scalar(select(User))
        assert user is not None and user.email == "ada@example.org"
        assert "correct horse" not in user.password_hash
        assert user.password_hash.startswith("scrypt:")
        assert check_login(session, "ada@example.org", "correct horse battery") == user
        assert check_login(session, "ada@example.org", "wrong password!") is None
        assert check_login(session, "nobody@example.org", "correct horse battery") is None


def _proxied_app(app: Flask, hops: int) -> Flask:
    """The same services (database) behind ``hops`` trusted reverse proxies."""
    services = app.extensions[EXTENSION]
    return create_app(services=replace(services, settings=services.settings.replace(
        trusted_proxies=hops)))


@pytest.mark.parametrize("hops", [0, 1])
def test_ip_filters_see_the_client_through_trusted_proxies_only(app: Flask, hops: int) -> None:
    """Behind a configured proxy the filter judges the address the proxy reports; without
    one, an X-Forwarded-For header is ignored (anybody could write it)."""
    key = _filtered_key(app, "strict")
    client = _proxied_app(app, hops).test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    allowed = client.get("/api/v1/keys", environ_base=proxy,
                         headers={**auth(key), "X-Forwarded-For": "10.0.0.7"})
    forged = client.get("/api/v1/keys", environ_base={"REMOTE_ADDR": "192.0.2.9"},
                        headers={**auth(key), "X-Forwarded-For": "10.0.0.7"})
    outside = client.get("/api/v1/keys", environ_base=proxy,
                         headers={**auth(key), "X-Forwarded-For": "192.0.2.9"})
    assert outside.status_code == 403
    if hops:
        assert allowed.status_code == 200
    else:  # the peer is the judge: the header changes nothing, written by a proxy or not
        assert allowed.status_code == 403 and forged.status_code == 403
