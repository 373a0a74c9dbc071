"""GET /api/v1/routes: the health a real dispatcher runtime publishes to Redis, served to
administrators with the age of each report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from connectors.base import SmsRequest
from hub import dispatching, pipeline
from hub.accounts import create_account, create_api_key
from hub.app import create_app
from hub.db import transaction
from hub.models import Account
from hub.services import Services
from sms_core.dispatch.sim import SimSettings, SimulatorThread
from tests.hub.test_dispatching import statuses, work
from tests.hub.test_openapi import Checker


@pytest.fixture
def simulator() -> Iterator[SimulatorThread]:
    sim = SimulatorThread(SimSettings(port=0, dlr_delay=0.05, delivery_ratio=1.0))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def app(services: Services) -> Flask:
    built = create_app(services=services)
    built.config["TESTING"] = True
    return built


def key_for(services: Services, *, admin: bool) -> dict[str, str]:
    with transaction(services.sessions) as session:
        account = create_account(session, "Ops" if admin else "Shop", is_admin=admin)
        _, key = create_api_key(session, account)
    return {"Authorization": f"Bearer {key}"}


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_a_running_dispatcher_publishes_its_routes_and_they_vanish_after_it_stops(
        services: Services, account: Account, simulator: SimulatorThread, app: Flask) -> None:
    settings = services.settings.replace(smsc_port=simulator.port)
    runtime = dispatching.DispatchRuntime(services, dispatching.default_driver(settings),
                                          name="dispatcher-1", heartbeat_ttl=2.0)
    runtime.start()
    dispatching.install(runtime)
    client = app.test_client()
    admin = key_for(services, admin=True)
    document = client.get("/api/v1/openapi.json").json
    check = Checker(document)
    try:
        results = pipeline.submit(services, account, [
            SmsRequest(account="", to=f"06123456{i:02d}", text="Bonjour") for i in range(5)])
        ids = [r.message_id or "" for r in results]
        work(services)
        wait_for(lambda: set(statuses(services, ids).values()) == {"delivered"})

        def reported() -> list[dict[str, Any]] | None:
            response = client.get("/api/v1/routes", headers=admin)
            check("/routes", "get", response)
            rows = (response.json or {})["routes"]
            counters = rows[0]["counters"] if rows else {}
            done = counters.get("accepted_parts", 0) >= 5 and counters.get("reports", 0) >= 5
            return rows if done else None

        [row] = wait_for(reported)
        assert row["dispatcher"] == "dispatcher-1" and row["route"] == "default"
        assert (row["quality"], row["kind"], row["healthy"]) == ("premium", "smpp", True)
        assert row["window"] == 100 and row["window_in_use"] == 0
        assert row["inbound_queued"] == 0 and row["last_error"] is None
        assert row["counters"]["submitted"] == 5 and row["counters"]["reports"] == 5
        assert row["throughput"] >= 0 and row["age_seconds"] < 5 and not row["stale"]
        assert len(check.seen) >= 1
    finally:
        dispatching.install(None)
        runtime.stop()
    gone = wait_for(lambda: client.get("/api/v1/routes", headers=admin).json == {"routes": []},
                    timeout=5.0)
    assert gone


def test_throughput_counts_the_messages_accepted_since_the_previous_report(
        services: Services, account: Account, simulator: SimulatorThread) -> None:
    settings = services.settings.replace(smsc_port=simulator.port)
    runtime = dispatching.DispatchRuntime(services, dispatching.default_driver(settings))
    runtime.start()
    dispatching.install(runtime)
    try:
        runtime.health()
        results = pipeline.submit(services, account, [
            SmsRequest(account="", to=f"06123456{i:02d}", text="Bonjour") for i in range(8)])
        work(services)
        ids = [r.message_id or "" for r in results]
        assert set(statuses(services, ids).values()) <= {"submitted", "delivered"}
        [first] = runtime.health()
        [second] = runtime.health()
        assert first["throughput"] > 0 and second["throughput"] == 0
    finally:
        dispatching.install(None)
        runtime.stop()


def test_an_old_report_is_stale_and_only_administrators_see_routes(
        services: Services, app: Flask) -> None:
    assert services.redis is not None
    report = dispatching.publish_health(
        services.redis, "dispatcher-9",
        [{"route": "backup", "quality": "standard", "kind": "http", "healthy": False,
          "failures_in_row": 4, "rate": None, "last_error": "HTTP 503"}],
        ttl=60, interval=5)
    report["reported_at"] -= 30  # a dispatcher that stopped reporting 30 s ago
    services.redis.set(dispatching.ROUTE_HEALTH_PREFIX + "dispatcher-9", json.dumps(report),
                       ex=60)
    client = app.test_client()
    response = client.get("/api/v1/routes", headers=key_for(services, admin=True))
    assert response.status_code == 200
    [row] = (response.json or {})["routes"]
    assert row["stale"] and row["age_seconds"] >= 30 and not row["healthy"]
    assert row["counters"] == {"failures_in_row": 4} and row["last_error"] == "HTTP 503"
    assert row["window"] is None and row["throughput"] is None
    forbidden = client.get("/api/v1/routes", headers=key_for(services, admin=False))
    assert forbidden.status_code == 403 and (forbidden.json or {})["code"] == "admin_only"
    assert client.get("/api/v1/routes").status_code == 401
