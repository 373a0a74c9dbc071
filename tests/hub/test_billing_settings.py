"""Credit limit (post-paid) and low-balance threshold: admin API, the account's read, CLI."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from hub import ledger
from hub.cli import main
from hub.db import transaction
from hub.models import Balance
from sms_core.errors import BillingError
from tests.hub.apiclient import auth, make_app, new_account, sessions
from tests.hub.test_openapi import Checker


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    return make_app(database_url, tmp_path)


def test_admin_sets_limit_and_threshold_and_the_account_reads_them(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document is not None
    check = Checker(document)
    _, admin = new_account(app, "Admin", is_admin=True)
    acc, key = new_account(app, credits=Decimal(10))
    client = app.test_client()
    path = "/accounts/{account_id}/billing"

    first = client.get("/api/v1/accounts/me/billing", headers=auth(key))
    check(path, "get", first)
    assert first.json == {"account_id": acc, "currency": "EUR", "credit_limit": "0",
                          "low_balance_threshold": None, "balance": "10", "spendable": "10"}

    refused = client.put(f"/api/v1/accounts/{acc}/billing", json={"credit_limit": "50"},
                         headers=auth(key))
    check(path, "put", refused)
    assert refused.status_code == 403 and refused.json is not None
    assert refused.json["code"] == "admin_only"

    done = client.put(f"/api/v1/accounts/{acc}/billing",
                      json={"credit_limit": "50", "low_balance_threshold": "5.5"},
                      headers=auth(admin))
    check(path, "put", done)
    assert done.status_code == 200, done.json
    assert done.json is not None
    assert (done.json["credit_limit"], done.json["low_balance_threshold"],
            done.json["spendable"]) == ("50", "5.5", "60")
    seen = client.get("/api/v1/accounts/me/billing", headers=auth(key)).json
    assert seen == done.json

    # the limit is really spendable and the threshold really alerts
    with transaction(sessions(app)) as s:
        ledger.reserve(s, acc, Decimal(55), reference="big send")
        assert ledger.spendable(s, acc) == Decimal(5)
        with pytest.raises(BillingError):
            ledger.reserve(s, acc, Decimal(6), reference="too much")
    with sessions(app)() as s:
        row = s.get(Balance, acc)
        assert row is not None and row.low_alerted

    cleared = client.put(f"/api/v1/accounts/{acc}/billing",
                         json={"low_balance_threshold": None}, headers=auth(admin))
    assert cleared.json is not None and cleared.json["low_balance_threshold"] is None
    assert cleared.json["credit_limit"] == "50"

    for bad in ({}, {"credit_limit": "-5"}, {"credit_limit": 5}, {"other": "1"}):
        answer = client.put(f"/api/v1/accounts/{acc}/billing", json=bad, headers=auth(admin))
        check(path, "put", answer)
        assert answer.status_code == 422, bad
    missing = client.put("/api/v1/accounts/acc_nope/billing", json={"credit_limit": "1"},
                         headers=auth(admin))
    check(path, "put", missing)
    assert missing.status_code == 404


def test_a_sub_account_reads_its_parents_limit_and_gets_none_of_its_own(app: Flask) -> None:
    _, admin = new_account(app, "Admin", is_admin=True)
    parent, _ = new_account(app, "Parent")
    child, child_key = new_account(app, "Child", parent_id=parent)
    client = app.test_client()
    assert client.put(f"/api/v1/accounts/{parent}/billing", json={"credit_limit": "20"},
                      headers=auth(admin)).status_code == 200
    seen = client.get("/api/v1/accounts/me/billing", headers=auth(child_key)).json
    assert seen is not None and (seen["account_id"], seen["credit_limit"]) == (parent, "20")
    refused = client.put(f"/api/v1/accounts/{child}/billing", json={"credit_limit": "5"},
                         headers=auth(admin))
    assert refused.status_code == 409 and refused.json is not None
    assert refused.json["code"] == "payer_only"


def test_credits_limit_and_threshold_on_the_command_line(runner: CliRunner,
                                                         tmp_path: Path) -> None:
    created = runner.invoke(main, ["account", "create", "Shop", "--json"])
    assert created.exit_code == 0, created.output
    account = json.loads(created.output)["id"]
    limit = runner.invoke(main, ["credits", "limit", "Shop", "100"])
    assert limit.exit_code == 0, limit.output
    assert limit.output.rstrip().endswith("set to 100 EUR; spendable 100")
    threshold = runner.invoke(main, ["credits", "threshold", account, "12.5"])
    assert threshold.exit_code == 0 and "set to 12.5 EUR" in threshold.output
    from hub.config import load_settings
    from hub.db import make_engine, make_sessionmaker

    engine = make_engine(load_settings(data_dir=tmp_path).effective_database_url)
    with make_sessionmaker(engine)() as s:
        row = s.get(Balance, account)
        assert row is not None
        assert (row.credit_limit, row.low_threshold) == (Decimal(100), Decimal("12.5"))
    none = runner.invoke(main, ["credits", "threshold", "Shop", "none"])
    assert none.exit_code == 0 and "removed" in none.output
    with make_sessionmaker(engine)() as s:
        row = s.get(Balance, account)
        assert row is not None and row.low_threshold is None
    engine.dispose()
    bad = runner.invoke(main, ["credits", "limit", "Shop", "--", "-3"])
    assert bad.exit_code == 1 and "invalid_amount" in bad.output
    bad = runner.invoke(main, ["credits", "threshold", "Shop", "lots"])
    assert bad.exit_code == 1 and "invalid_amount" in bad.output
