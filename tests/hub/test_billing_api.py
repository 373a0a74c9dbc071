"""Billing through the REST API: ledger pages, statements, admin credits and price lists."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

from hub import ledger
from hub.db import transaction
from tests.hub.apiclient import auth, make_app, new_account, sessions

PRICE_CSV = ("country,route,operator,unit_price,currency,valid_from\n"
             "FR,standard,,0.045,EUR,2026-01-01\n")


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    return make_app(database_url, tmp_path)


def test_admin_adds_credits_and_the_balance_shows_them(app: Flask) -> None:
    _, admin = new_account(app, "Admin", is_admin=True)
    acc, key = new_account(app)
    client = app.test_client()
    response = client.post("/api/v1/credits", json={"account_id": acc, "amount": "25.5"},
                           headers=auth(admin))
    assert response.status_code == 201, response.json
    assert response.json is not None and response.json["balance"] == "25.500000"
    balance = client.get("/api/v1/balance", headers=auth(key)).json
    assert balance == {"balance": "25.5", "currency": "EUR"}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"account_id": "acc_nope", "amount": "5"}, 404, None),
    ({"account_id": "ME", "amount": "0"}, 402, "invalid_amount"),
    ({"account_id": "ME", "amount": "-5"}, 422, None),
    ({"account_id": "ME", "amount": "5", "currency": "XYZ"}, 402, "unknown_currency"),
])
def test_bad_credit_requests(app: Flask, body: dict[str, str], status: int,
                             code: str | None) -> None:
    _, admin = new_account(app, "Admin", is_admin=True)
    acc, _ = new_account(app)
    body = {**body, "account_id": acc if body["account_id"] == "ME" else body["account_id"]}
    response = app.test_client().post("/api/v1/credits", json=body, headers=auth(admin))
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    if code:
        assert response.json is not None and response.json["code"] == code


def test_only_admins_add_credits_or_touch_prices(app: Flask) -> None:
    acc, key = new_account(app)
    client = app.test_client()
    assert client.post("/api/v1/credits", json={"account_id": acc, "amount": "5"},
                       headers=auth(key)).status_code == 403
    assert client.get("/api/v1/prices", headers=auth(key)).status_code == 403


def test_ledger_pages_newest_first(app: Flask) -> None:
    acc, key = new_account(app)
    with transaction(sessions(app)) as s:
        for i in range(5):
            ledger.purchase(s, acc, Decimal(i + 1), reference=f"p{i}")
    client = app.test_client()
    first = client.get("/api/v1/ledger?limit=3", headers=auth(key)).json
    assert first is not None and [e["amount"] for e in first["data"]] == [
        "5.000000", "4.000000", "3.000000"]
    rest = client.get(f"/api/v1/ledger?limit=3&before={first['next']}", headers=auth(key)).json
    assert rest is not None and len(rest["data"]) == 2 and rest["next"] is None
    bad = client.get("/api/v1/ledger?limit=0", headers=auth(key))
    assert bad.status_code == 422


def test_statement_as_json_and_csv(app: Flask) -> None:
    acc, key = new_account(app)
    when = datetime(2026, 2, 3, tzinfo=UTC)
    with transaction(sessions(app)) as s:
        ledger.purchase(s, acc, Decimal(10), reference="p", now=when)
        ledger.settle(s, acc, Decimal("0.09"), reference="b", count=2, country="FR",
                      route="standard", source="api", now=when)
    client = app.test_client()
    doc = client.get("/api/v1/statements/2026-02", headers=auth(key)).json
    assert doc is not None and doc["totals"] == {"messages": 2, "amount": "0.090000"}
    csv = client.get("/api/v1/statements/2026-02?format=csv", headers=auth(key))
    assert csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).splitlines()[1] == "FR,standard,api,2,0.090000"
    bad = client.get("/api/v1/statements/2026-2", headers=auth(key))
    assert bad.json is not None and bad.json["code"] == "invalid_period"


def test_price_list_import_and_export(app: Flask) -> None:
    _, admin = new_account(app, "Admin", is_admin=True)
    client = app.test_client()
    put = client.put("/api/v1/prices", data=PRICE_CSV, content_type="text/csv",
                     headers=auth(admin))
    assert put.json == {"imported": 1}
    exported = client.get("/api/v1/prices", headers=auth(admin)).get_data(as_text=True)
    assert exported.splitlines()[1].startswith("FR,standard,,0.045000,EUR,2026-01-01")
    bad = client.put("/api/v1/prices", data=PRICE_CSV + "FR,gold,,1,EUR,2026-01-01\n",
                     content_type="text/csv", headers=auth(admin))
    assert bad.json is not None
    assert (bad.json["code"], bad.json["line"]) == ("invalid_price_row", 3)


def test_consumption_history_downloads_as_streamed_csv(app: Flask,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.api import billing as api

    acc, key = new_account(app)
    sub, sub_key = new_account(app, "Shop", parent_id=acc)
    with transaction(sessions(app)) as s:
        ledger.purchase(s, acc, Decimal(10), reference="pack",
                        now=datetime(2026, 1, 31, 23, tzinfo=UTC))
        for day in range(1, 6):
            ledger.settle(s, sub if day % 2 else acc, Decimal("0.05"), reference=f"m{day}",
                          country="FR", route="standard", source="api",
                          now=datetime(2026, 2, day, 12, tzinfo=UTC))
    monkeypatch.setattr(api, "CSV_CHUNK", 2)  # several chunks, each its own read
    client = app.test_client()
    response = client.get("/api/v1/ledger?format=csv&from=2026-02-01&to=2026-02-04",
                          headers=auth(key))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == ",".join(api.LEDGER_COLUMNS)
    assert [line.split(",")[6] for line in lines[1:]] == ["m1", "m2", "m3", "m4"]
    assert lines[1].split(",")[1:6] == ["2026-02-01T12:00:00+00:00", "charge", "-0.050000",
                                        "0.000000", "1"]
    mine = client.get("/api/v1/ledger?format=csv", headers=auth(sub_key)).get_data(as_text=True)
    assert [line.split(",")[6] for line in mine.splitlines()[1:]] == ["m1", "m3", "m5"]
    page = client.get("/api/v1/ledger?from=2026-02-05T00:00:00Z", headers=auth(key)).json
    assert page is not None and [e["reference"] for e in page["data"]] == ["m5"]
    for bad in ("format=xml", "from=yesterday"):
        assert client.get(f"/api/v1/ledger?{bad}", headers=auth(key)).status_code == 422


def test_statement_breaks_usage_down_per_sub_account(app: Flask) -> None:
    acc, key = new_account(app)
    sub, sub_key = new_account(app, "Shop", parent_id=acc)
    when = datetime(2026, 2, 3, tzinfo=UTC)
    with transaction(sessions(app)) as s:
        ledger.purchase(s, acc, Decimal(5), reference="pack", now=when)
        ledger.settle(s, acc, Decimal("0.10"), reference="a", count=2, country="FR",
                      route="standard", source="api", now=when)
        ledger.settle(s, sub, Decimal("0.05"), reference="b", country="FR", route="standard",
                      source="api", now=when)
    client = app.test_client()
    doc = client.get("/api/v1/statements/2026-02", headers=auth(sub_key)).json
    assert doc is not None and doc["account_id"] == acc
    assert doc["by_account"] == sorted([
        {"account_id": acc, "messages": 2, "amount": "0.100000"},
        {"account_id": sub, "messages": 1, "amount": "0.050000"},
    ], key=lambda row: row["account_id"])
    text = client.get("/api/v1/statements/2026-02?format=csv&part=accounts",
                      headers=auth(key)).get_data(as_text=True)
    rows = text.splitlines()
    assert rows[0] == "account_id,messages,amount" and rows[-1] == "total,3,0.150000"
    assert sorted(rows[1:-1]) == sorted([f"{acc},2,0.100000", f"{sub},1,0.050000"])
