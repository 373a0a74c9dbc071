"""The OpenAPI document matches the implementation: same routes and methods, real responses
valid against the documented schemas."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from tests.hub.apiclient import auth, make_app, new_account, seed_prices

DOC_URI = "urn:smshub:openapi"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    return make_app(database_url, tmp_path)


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc is not None
    return doc


def _flask_routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        found |= {(path, m.lower()) for m in rule.methods or () if m.lower() in METHODS}
    return found


def test_every_route_is_documented_and_every_documented_route_exists(
    app: Flask, document: dict[str, Any]
) -> None:
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert _flask_routes(app) == documented


def test_the_document_is_openapi_3_1_with_valid_schemas(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/api/v1"}]
    for name, schema in document["components"]["schemas"].items():
        validator_for(schema, default=Draft202012Validator).check_schema(schema), name
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([a-z_]+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, method)
            assert op["responses"], (path, method)


class Checker:
    """Validates real responses against the operation's documented response schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, path: str, method: str, response: TestResponse) -> None:
        op = self.document["paths"][path][method]
        status = str(response.status_code)
        assert status in op["responses"], f"{method} {path} answered undocumented {status}"
        documented = op["responses"][status]
        self.seen.add((path, method, status))
        if "$ref" in documented:
            name = documented["$ref"].rsplit("/", 1)[1]
            documented = self.document["components"]["responses"][name]
        content = documented.get("content")
        if content is None:
            assert response.data == b"", f"{method} {path} {status} should have no body"
            return
        media = next(iter(content))
        assert response.mimetype == media
        if "$ref" in op["responses"][status]:
            pointer = "/components/schemas/Problem"
        else:
            pointer = "/".join(["/paths", _escape(path), method, "responses", status, "content",
                                _escape(media), "schema"])
        schema = {"$ref": f"{DOC_URI}#{pointer}"}
        Draft202012Validator(schema, registry=self.registry).validate(response.json)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")


def test_real_responses_match_the_documented_schemas(app: Flask, document: dict[str, Any]) -> None:
    check = Checker(document)
    client = app.test_client()
    _, key = new_account(app)
    h = auth(key)

    check("/accounts/{account_id}", "get", client.get("/api/v1/accounts/me", headers=h))
    check("/accounts/{account_id}", "get", client.get("/api/v1/accounts/acc_x", headers=h))
    check("/accounts/{account_id}/settings", "patch",
          client.patch("/api/v1/accounts/me/settings", json={"max_parts": 4}, headers=h))
    check("/accounts/{account_id}/settings", "patch",
          client.patch("/api/v1/accounts/me/settings", json={"max_parts": 40}, headers=h))
    check("/accounts/{account_id}/settings", "get",
          client.get("/api/v1/accounts/me/settings", headers=h))
    sub = client.post("/api/v1/accounts/me/subaccounts", json={"name": "B"}, headers=h)
    check("/accounts/{account_id}/subaccounts", "post", sub)
    check("/accounts/{account_id}/subaccounts", "get",
          client.get("/api/v1/accounts/me/subaccounts", headers=h))
    created = client.post("/api/v1/keys", json={"name": "k"}, headers=h)
    check("/keys", "post", created)
    check("/keys", "post", client.post("/api/v1/keys", data="{", headers=h,
                                       content_type="application/json"))
    check("/keys", "get", client.get("/api/v1/keys", headers=h))
    check("/keys", "get", client.get("/api/v1/keys"))
    assert created.json is not None
    check("/keys/{key_id}/approvals", "post",
          client.post(f"/api/v1/keys/{created.json['id']}/approvals",
                      json={"address": "10.1.2.3"}, headers=h))
    check("/keys/{key_id}", "delete",
          client.delete(f"/api/v1/keys/{created.json['id']}", headers=h))
    check("/openapi.json", "get", client.get("/api/v1/openapi.json"))
    assert len(check.seen) >= 12


def test_sending_responses_match_the_documented_schemas(
    app: Flask, document: dict[str, Any]
) -> None:
    check = Checker(document)
    client = app.test_client()
    seed_prices(app)
    _, key = new_account(app, credits=Decimal(5))
    h = auth(key)
    mobile = "+33612345678"

    one = client.post("/api/v1/messages", json={"to": mobile, "text": "hi"}, headers=h)
    check("/messages", "post", one)
    check("/messages", "post", client.post("/api/v1/messages",
                                           json={"to": [mobile, "abc"], "text": "hi"}, headers=h))
    check("/messages", "post", client.post("/api/v1/messages", json={"to": "abc", "text": "x"},
                                           headers=h))
    check("/messages", "post", client.post("/api/v1/messages", data="x", headers=h))
    assert one.json is not None
    check("/messages/{message_id}", "get",
          client.get(f"/api/v1/messages/{one.json['id']}", headers=h))
    check("/messages/{message_id}", "get", client.get("/api/v1/messages/msg_x", headers=h))
    check("/messages", "get", client.get("/api/v1/messages?limit=1", headers=h))
    check("/messages", "get", client.get("/api/v1/messages?limit=0", headers=h))
    campaign = client.post("/api/v1/campaigns", json={"to": [mobile, "+33698765432"],
                                                      "text": "hi"}, headers=h)
    check("/campaigns", "post", campaign)
    assert campaign.json is not None
    check("/campaigns/{campaign_id}", "get",
          client.get(f"/api/v1/campaigns/{campaign.json['id']}", headers=h))
    check("/balance", "get", client.get("/api/v1/balance", headers=h))
    check("/optouts", "post", client.post("/api/v1/optouts", json={"number": mobile}, headers=h))
    check("/optouts", "get", client.get("/api/v1/optouts", headers=h))
    check("/optouts/{number}", "delete", client.delete(f"/api/v1/optouts/{mobile}", headers=h))
    check("/optouts/{number}", "delete", client.delete(f"/api/v1/optouts/{mobile}", headers=h))
    _, broke = new_account(app, "Broke")
    check("/messages", "post", client.post("/api/v1/messages", json={"to": mobile, "text": "x"},
                                           headers=auth(broke)))
    assert len(check.seen) >= 15
