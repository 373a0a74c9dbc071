"""Subscribing to a reminder plan: the API, the CLI, plan changes and the calendar limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from hub import plans
from hub.calendars.wiring import make_plan_check
from hub.cli import main
from hub.db import transaction
from hub.models import Account, CalendarConnection, CalendarRow, Subscription
from hub.models.subscription import SubscriptionFee
from sms_core.errors import BillingError
from tests.hub.apiclient import auth, make_app, new_account, sessions
from tests.hub.test_openapi import Checker

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    return make_app(database_url, tmp_path)


def _select_calendars(app: Flask, account_id: str, count: int) -> None:
    with transaction(sessions(app)) as s:
        conn_id = f"con_{account_id}"[:40]
        if s.get(CalendarConnection, conn_id) is None:
            s.add(CalendarConnection(id=conn_id, account_id=account_id, provider="google"))
            s.flush()
        for i in range(count):
            s.add(CalendarRow(id=f"cal_{account_id}_{i}"[:40], connection_id=conn_id,
                              provider_id=f"p{i}", selected=True))


def _openapi(app: Flask) -> Checker:
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document is not None
    return Checker(document)


def test_subscribe_change_downgrade_and_cancel_through_the_api(app: Flask) -> None:
    check = _openapi(app)
    acc, key = new_account(app)
    client, h = app.test_client(), auth(key)

    none = client.get("/api/v1/subscription", headers=h)
    check("/subscription", "get", none)
    assert none.json is not None and none.json["status"] == "none"
    assert none.json["calendars_allowed"] == 0

    before = datetime.now(UTC)
    created = client.put("/api/v1/subscription", json={"plan": "SOLO"}, headers=h)
    check("/subscription", "put", created)
    assert created.status_code == 201, created.json
    body = created.json
    assert body is not None
    assert (body["account_id"], body["plan"], body["cycle"], body["status"]) == (
        acc, "SOLO", "monthly", "trial")
    trial_end = datetime.fromisoformat(body["trial_ends_at"])
    assert before + timedelta(days=30) <= trial_end <= datetime.now(UTC) + timedelta(days=30)
    assert body["period_start"] == body["trial_ends_at"]
    assert (body["calendars_allowed"], body["calendars_used"], body["fee"]) == (1, 0, "7.99")

    # the calendar connector's plan check now lets the first calendar in
    assert make_plan_check(app.extensions["smshub"])(acc, 1) is True
    with pytest.raises(BillingError) as err:
        make_plan_check(app.extensions["smshub"])(acc, 2)
    assert err.value.code == "plan_limit"

    up = client.put("/api/v1/subscription", json={"plan": "BUSINESS", "cycle": "annual"},
                    headers=h)
    check("/subscription", "put", up)
    assert up.status_code == 200 and up.json is not None
    assert (up.json["plan"], up.json["cycle"], up.json["prorata"]) == ("BUSINESS", "annual", "0")
    assert up.json["calendars_allowed"] == 5 and up.json["fee"] == "190"

    _select_calendars(app, acc, 2)
    down = client.put("/api/v1/subscription", json={"plan": "SOLO"}, headers=h)
    check("/subscription", "put", down)
    assert down.status_code == 409 and down.json is not None
    assert down.json["code"] == "calendars_in_use"
    shown = client.get("/api/v1/subscription", headers=h).json
    assert shown is not None and (shown["plan"], shown["calendars_used"]) == ("BUSINESS", 2)

    bad = client.put("/api/v1/subscription", json={"plan": "GOLD"}, headers=h)
    check("/subscription", "put", bad)
    assert bad.status_code == 422

    cancelled = client.delete("/api/v1/subscription", headers=h)
    check("/subscription", "delete", cancelled)
    assert cancelled.status_code == 200 and cancelled.json is not None
    assert (cancelled.json["status"], cancelled.json["calendars_allowed"]) == ("cancelled", 0)
    again = client.delete("/api/v1/subscription", headers=h)
    check("/subscription", "delete", again)
    assert again.status_code == 404 and again.json is not None
    assert again.json["code"] == "no_subscription"
    with pytest.raises(BillingError):
        make_plan_check(app.extensions["smshub"])(acc, 1)

    # chosen again within the trial: the same trial goes on, no second one
    back = client.put("/api/v1/subscription", json={"plan": "BUSINESS"}, headers=h)
    assert back.status_code == 200 and back.json is not None
    assert (back.json["status"], back.json["trial_ends_at"]) == ("trial", body["trial_ends_at"])


def test_a_sub_account_reads_its_parents_plan_and_cannot_change_it(app: Flask) -> None:
    check = _openapi(app)
    parent, parent_key = new_account(app, "Parent")
    _, child_key = new_account(app, "Child", parent_id=parent)
    client = app.test_client()
    assert client.put("/api/v1/subscription", json={"plan": "BUSINESS"},
                      headers=auth(parent_key)).status_code == 201
    _select_calendars(app, parent, 1)
    with transaction(sessions(app)) as s:
        child_id = s.scalar(select(Account.id).where(Account.parent_id == parent))
    assert child_id is not None
    _select_calendars(app, child_id, 1)
    seen = client.get("/api/v1/subscription", headers=auth(child_key))
    check("/subscription", "get", seen)
    assert seen.json is not None
    assert (seen.json["account_id"], seen.json["plan"], seen.json["calendars_used"]) == (
        parent, "BUSINESS", 2)
    for refused in (client.put("/api/v1/subscription", json={"plan": "SOLO"},
                               headers=auth(child_key)),
                    client.delete("/api/v1/subscription", headers=auth(child_key))):
        assert refused.status_code == 403 and refused.json is not None
        assert refused.json["code"] == "payer_only"


def test_upgrade_after_the_trial_adds_its_pro_rata_and_a_new_cycle_waits_for_the_next_period(
    app: Flask,
) -> None:
    acc, _ = new_account(app)
    with transaction(sessions(app)) as s:
        row, extra, created = plans.choose(s, acc, "SOLO", "monthly", now=T0)
        assert created and extra == 0
        start, end = row.period_start, row.period_end
        halfway = start + (end - start) / 2
        # annual from the next period: the current monthly period stays as invoiced
        plans.choose(s, acc, "SOLO", "annual", now=halfway - timedelta(days=1))
        assert (row.cycle, row.period_end) == ("annual", end)
        _, extra, _ = plans.choose(s, acc, "ENTERPRISE", "annual", now=halfway)
        assert extra == Decimal("16.00")  # (39.99 - 7.99) / 2 on the monthly period
        plans.record_fees(s, acc, end)
        fees = s.scalars(select(SubscriptionFee).where(SubscriptionFee.account_id == acc)
                         .order_by(SubscriptionFee.id)).all()
        assert [(f.kind, f.plan, f.cycle, f.amount) for f in fees] == [
            ("period", "SOLO", "monthly", Decimal("7.99")),
            ("prorata", "ENTERPRISE", "monthly", Decimal("16.00")),
            ("period", "ENTERPRISE", "annual", Decimal("380")),
        ]


def test_a_cancelled_plan_chosen_after_its_period_starts_a_new_billed_period(app: Flask) -> None:
    acc, _ = new_account(app)
    with transaction(sessions(app)) as s:
        plans.choose(s, acc, "SOLO", now=T0)
        plans.cancel(s, acc, now=T0 + timedelta(days=10))  # in the trial: nothing billed
        later = T0 + timedelta(days=90)
        row, _, created = plans.choose(s, acc, "BUSINESS", "monthly", now=later)
        assert not created and row.status == "active" and row.period_start == later
        fees = s.scalars(select(SubscriptionFee).where(SubscriptionFee.account_id == acc)).all()
        assert [(f.plan, f.amount, f.period_start) for f in fees] == [
            ("BUSINESS", Decimal("19.99"), later)]
        assert s.get(Subscription, acc) is row


def test_plan_subscribe_and_show_on_the_command_line(runner: CliRunner) -> None:
    created = runner.invoke(main, ["account", "create", "Cabinet", "--json"])
    assert created.exit_code == 0, created.output
    account = json.loads(created.output)["id"]
    shown = runner.invoke(main, ["plan", "show", "Cabinet"])
    assert shown.exit_code == 0 and "no plan" in shown.output
    done = runner.invoke(main, ["plan", "subscribe", "Cabinet", "business", "--cycle", "annual"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("subscribed")
    data: dict[str, Any] = json.loads(
        runner.invoke(main, ["plan", "show", account, "--json"]).output)
    assert (data["plan"], data["cycle"], data["status"], data["calendars_allowed"]) == (
        "BUSINESS", "annual", "trial", 5)
    moved = runner.invoke(main, ["plan", "subscribe", "Cabinet", "SOLO"])
    assert moved.exit_code == 0 and moved.output.startswith("changed")
    cancelled = runner.invoke(main, ["plan", "cancel", "Cabinet"])
    assert cancelled.exit_code == 0 and "(cancelled)" in cancelled.output
    wrong = runner.invoke(main, ["plan", "subscribe", "Cabinet", "GOLD"])
    assert wrong.exit_code != 0
