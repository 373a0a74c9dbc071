"""Campaigns and the opt-out list through the API."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

from hub.models import Campaign, Message
from tests.hub.apiclient import auth, count, make_app, new_account, seed_prices


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    built = make_app(database_url, tmp_path)
    seed_prices(built)
    return built


@pytest.fixture
def key(app: Flask) -> str:
    return new_account(app, credits=Decimal(100))[1]


def _numbers(n: int) -> list[str]:
    return [f"+336{10000000 + i:08d}" for i in range(n)]


def test_a_campaign_is_accepted_and_counted_per_status(app: Flask, key: str) -> None:
    client = app.test_client()
    numbers = [*_numbers(300), "abc", _numbers(1)[0]]
    response = client.post("/api/v1/campaigns", json={"name": "Sale", "to": numbers,
                                                      "text": "Sale today"}, headers=auth(key))
    assert response.status_code == 202, response.json
    body = response.json
    assert body is not None and body["id"].startswith("cmp_")
    assert body["total"] == 302
    assert body["counts"] == {"accepted": 300, "refused": 1}
    assert response.headers["Location"] == f"/api/v1/campaigns/{body['id']}"
    again = client.get(f"/api/v1/campaigns/{body['id']}", headers=auth(key)).json
    assert again == body
    listed = client.get("/api/v1/messages", query_string={"campaign_id": body["id"],
                                                          "limit": 1000}, headers=auth(key)).json
    assert listed is not None and len(listed["data"]) == 301


def test_a_campaign_with_a_bad_template_or_no_credit_leaves_nothing(app: Flask, key: str) -> None:
    client = app.test_client()
    bad = client.post("/api/v1/campaigns", json={"to": _numbers(3), "template": "{{ x }}"},
                      headers=auth(key))
    assert bad.status_code == 422
    assert bad.json is not None and bad.json["code"] == "undefined_variable"
    _, broke = new_account(app, "Broke")
    poor = client.post("/api/v1/campaigns", json={"to": _numbers(3), "text": "hi"},
                       headers=auth(broke))
    assert poor.status_code == 402
    assert (count(app, Campaign), count(app, Message)) == (0, 0)


def test_campaigns_of_others_are_not_found(app: Flask, key: str) -> None:
    made = app.test_client().post("/api/v1/campaigns", json={"to": _numbers(1), "text": "x"},
                                  headers=auth(key)).json
    assert made is not None
    _, other = new_account(app, "Other")
    response = app.test_client().get(f"/api/v1/campaigns/{made['id']}", headers=auth(other))
    assert response.status_code == 404


def test_opt_outs_are_added_listed_honoured_and_removed(app: Flask, key: str) -> None:
    client = app.test_client()
    added = client.post("/api/v1/optouts", json={"number": "06 12 34 56 78"}, headers=auth(key))
    assert added.status_code == 201
    assert added.json is not None and added.json["number"] == "+33612345678"
    twice = client.post("/api/v1/optouts", json={"number": "+33612345678"}, headers=auth(key))
    assert twice.status_code == 200
    listed = client.get("/api/v1/optouts", headers=auth(key)).json
    assert listed is not None and [o["number"] for o in listed["data"]] == ["+33612345678"]
    refused = client.post("/api/v1/messages", json={"to": "+33612345678", "text": "hi"},
                          headers=auth(key))
    assert refused.status_code == 422
    assert refused.json is not None and refused.json["code"] == "opted_out"
    assert client.delete("/api/v1/optouts/+33612345678", headers=auth(key)).status_code == 204
    assert client.delete("/api/v1/optouts/+33612345678", headers=auth(key)).status_code == 404
    sent = client.post("/api/v1/messages", json={"to": "+33612345678", "text": "hi"},
                       headers=auth(key))
    assert sent.status_code == 201


def test_opt_out_pages_and_bad_numbers(app: Flask, key: str) -> None:
    client = app.test_client()
    for number in _numbers(5):
        assert client.post("/api/v1/optouts", json={"number": number},
                           headers=auth(key)).status_code == 201
    first = client.get("/api/v1/optouts", query_string={"limit": 3}, headers=auth(key)).json
    assert first is not None and len(first["data"]) == 3
    rest = client.get("/api/v1/optouts", query_string={"cursor": first["next_cursor"]},
                      headers=auth(key)).json
    assert rest is not None and len(rest["data"]) == 2 and rest["next_cursor"] is None
    bad = client.post("/api/v1/optouts", json={"number": "abc"}, headers=auth(key))
    assert bad.status_code == 422
    assert bad.json is not None and bad.json["code"] == "invalid_number"


@pytest.mark.parametrize(
    ("bad", "field"),
    [(5, "/to/7"), ("", "/to/7"), ("1" * 65, "/to/7"), (None, "/to/7")],
)
def test_a_bad_recipient_deep_in_a_campaign_is_named(
    app: Flask, key: str, bad: object, field: str
) -> None:
    numbers: list[object] = list(_numbers(10))
    numbers[7] = bad
    before = (count(app, Campaign), count(app, Message))
    response = app.test_client().post("/api/v1/campaigns", json={"to": numbers, "text": "x"},
                                      headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None and response.json["field"] == field
    assert (count(app, Campaign), count(app, Message)) == before
