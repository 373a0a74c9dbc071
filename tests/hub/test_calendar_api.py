"""Calendar reminders through the hub: the API, the real pipeline and ledger, RQ jobs on the
embedded Redis, and the fakes of Google, Graph and their OAuth servers on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import select

from hub import ledger, plans, registry
from hub.accounts import create_account, create_api_key
from hub.app import create_app
from hub.calendars import jobs
from hub.cli import main
from hub.config import Settings
from hub.crypto import SecretBox
from hub.db import transaction
from hub.models import CalendarConnection, Message
from hub.roles import run_worker
from hub.services import Services, build_services
from tests.connectors.calendar import conftest as fakes
from tests.fakes.google_calendar import FakeGoogleCalendar
from tests.fakes.graph import FakeGraph
from tests.fakes.oauth import FakeOAuth
from tests.fakes.server import Served, serve

from .conftest import seed_prices

# The fakes' fixtures, shared with the connector's own tests.
router, server, google_oauth, google = fakes.router, fakes.server, fakes.google_oauth, fakes.google
ms_oauth, graph = fakes.ms_oauth, fakes.graph

PARIS = ZoneInfo("Europe/Paris")
CAL = "dr.martin@example.com"
TEMPLATE = "RDV {{ title }} le {{ start | date('fr', 'd MMMM') }} à {{ start | time('fr') }}"
API = "/api/v1/calendar"


@dataclass
class Hub:
    """The hub under test: its services, app (also served on loopback for push) and a key."""

    services: Services
    app: Flask
    client: FlaskClient
    account: str
    key: str
    served: Served

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        return self.client.open(f"{API}{path}", method=method, headers=headers, **kwargs)

    def work(self) -> None:
        """Run the queued calendar jobs (push syncs, rule resyncs, periodic jobs)."""
        SimpleWorker([self.services.queue(jobs.QUEUE)],
                     connection=self.services.redis).work(burst=True)

    def messages(self) -> list[Message]:
        with self.services.sessions() as session:
            return list(session.scalars(select(Message).where(
                Message.account_id == self.account).order_by(Message.created_at, Message.id)))

    def balance(self) -> Decimal:
        with self.services.sessions() as session:
            return ledger.balance(session, self.account)


class LateApp:
    """The served WSGI app, installed once the hub exists (its URL goes into the settings)."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


def calendar_settings(server: Served, hub_url: str) -> dict[str, str]:
    """``SMSHUB_CALENDAR_*`` values pointing at the fakes and at the served hub."""
    values = {
        "google_client_id": "client-id", "google_client_secret": "client-secret",
        "google_redirect_uri": f"{hub_url}{API}/oauth/callback",
        "google_authorize_url": f"{server.url}/google-oauth/o/oauth2/v2/auth",
        "google_token_url": f"{server.url}/google-oauth/token",
        "google_api_url": f"{server.url}/google-api/calendar/v3/",
        "google_push_url": f"{hub_url}{API}/push/google",
        "microsoft_client_id": "client-id", "microsoft_client_secret": "client-secret",
        "microsoft_redirect_uri": f"{hub_url}{API}/oauth/callback",
        "microsoft_authority": f"{server.url}/ms-login/organizations",
        "microsoft_validate_authority": "false",
        "graph_url": f"{server.url}/graph/v1.0",
        "graph_push_url": f"{hub_url}{API}/push/graph",
        "ca_bundle": server.ca_file or "",
    }
    return {f"calendar_{name}": value for name, value in values.items()}


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, server: Served) -> Iterator[Hub]:
    late = LateApp()
    with serve(late) as served:
        settings = Settings(data_dir=tmp_path, database_url=database_url, redis_url=redis_url,
                            secret_key="test", bulk_nice=0, extra=MappingProxyType(
                                calendar_settings(server, served.url)))
        services = build_services(settings)
        late.app = app = create_app(services=services)
        seed_prices(services)
        with transaction(services.sessions) as session:
            account = create_account(session, "Cabinet Martin")
            _, key = create_api_key(session, account)
            ledger.purchase(session, account, Decimal(100), reference="test pack")
            plans.subscribe(session, account, "BUSINESS")
        jobs.use(services)
        yield Hub(services, app, app.test_client(), account.id, key, served)
        jobs.use(None)
        registry.forget(services)
        services.close()


def connect_google(hub: Hub, server: Served) -> dict[str, Any]:
    """The user's way: the API's consent URL, the fake consent page, back to the callback."""
    started = hub.call("POST", "/connections", json={"provider": "google"})
    assert started.status_code == 201, started.json
    consent = requests.get(started.json["authorization_url"], allow_redirects=False,
                           verify=server.ca_file, timeout=10)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["Location"])
    assert back.path == f"{API}/oauth/callback"
    answer = hub.client.get(f"{back.path}?{back.query}")
    assert answer.status_code == 201, answer.json
    return dict(answer.json)


def cabinet_of(connection: dict[str, Any]) -> str:
    return str(next(c["id"] for c in connection["calendars"] if c["name"] == "Cabinet"))


@pytest.fixture
def ready(hub: Hub, google: FakeGoogleCalendar, server: Served) -> str:
    """A connected Google account, the Cabinet calendar selected, a rule 24 h before."""
    calendar_id = cabinet_of(connect_google(hub, server))
    connection_id = hub.call("GET", "/connections").json["data"][0]["id"]
    chosen = hub.call("PUT", f"/connections/{connection_id}/calendars",
                      json={"selected": [calendar_id]})
    assert chosen.status_code == 200, chosen.json
    rule = hub.call("POST", f"/calendars/{calendar_id}/rules",
                    json={"offset_minutes": 24 * 60, "template": TEMPLATE})
    assert rule.status_code == 201, rule.json
    hub.work()
    return calendar_id


def appointment(days: int, hour: int = 14, minute: int = 30) -> datetime:
    """A local Paris time ``days`` from now (the pipeline schedules against the real clock)."""
    day = datetime.now(PARIS).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def scheduled(hub: Hub) -> list[tuple[str, datetime | None, str]]:
    return [(m.to, m.send_at, m.text) for m in hub.messages() if m.status == "scheduled"]


def test_connect_stores_tokens_encrypted(
    hub: Hub, google: FakeGoogleCalendar, google_oauth: FakeOAuth, server: Served
) -> None:
    connection = connect_google(hub, server)
    assert connection["status"] == "active"
    assert sorted(c["name"] for c in connection["calendars"]) == ["Cabinet", "Perso"]
    with hub.services.sessions() as session:
        row = session.scalar(select(CalendarConnection))
    assert row is not None and row.tokens and row.account_id == hub.account
    refresh = next(iter(next(iter(google_oauth.grants.values())).refresh_tokens))
    assert refresh not in row.tokens and "access_token" not in row.tokens
    document = json.loads(SecretBox("test").decrypt(row.tokens))
    assert document["refresh_token"] == refresh


def test_reminder_scheduled_moved_and_deleted_with_refunds(
    hub: Hub, google: FakeGoogleCalendar, ready: str
) -> None:
    start = appointment(3)
    google.put(CAL, "ev1", start, summary="Mme Dupont", location="06 12 34 56 78")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    text = f"RDV Mme Dupont le {start.day} {_month(start)} à 14:30"
    assert scheduled(hub) == [("+33612345678", start - timedelta(hours=24), text)]
    assert hub.balance() == Decimal("99.95")
    [first] = hub.messages()
    upcoming = hub.call("GET", f"/calendars/{ready}/upcoming").json["data"]
    assert [(u["message_id"], u["to"]) for u in upcoming] == [(first.id, "+33612345678")]

    moved = appointment(4, 9, 0)
    google.put(CAL, "ev1", moved, summary="Mme Dupont", location="06 12 34 56 78")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    statuses = {m.id: m.status for m in hub.messages()}
    assert statuses[first.id] == "cancelled"
    assert [at for _, at, _ in scheduled(hub)] == [moved - timedelta(hours=24)]
    assert hub.balance() == Decimal("99.95")

    google.delete(CAL, "ev1")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    assert scheduled(hub) == []
    assert {m.status for m in hub.messages()} == {"cancelled"}
    assert hub.balance() == Decimal("100")
    assert hub.call("GET", f"/calendars/{ready}/upcoming").json["data"] == []


def _month(when: datetime) -> str:
    return ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
            "septembre", "octobre", "novembre", "décembre"][when.month - 1]


def test_push_notification_syncs_and_periodic_sync_adds_nothing(
    hub: Hub, google: FakeGoogleCalendar, ready: str
) -> None:
    assert registry.calendar(hub.services).renew_push() == [ready]
    google.put(CAL, "ev1", appointment(2), summary="M. Leroy 0612345678")
    assert google.notify(CAL) == [200]
    hub.work()
    assert len(scheduled(hub)) == 1
    assert jobs.enqueue_due(hub.services) == list(jobs.PERIODIC)
    assert jobs.enqueue_due(hub.services) == []  # one periodic job per interval
    assert google.notify(CAL) == [200]  # the same change announced twice
    hub.work()
    assert len(hub.messages()) == 1


def test_push_with_a_wrong_token_is_refused(
    hub: Hub, google: FakeGoogleCalendar, ready: str
) -> None:
    registry.calendar(hub.services).renew_push()
    [channel] = google.channels.values()
    base = {"X-Goog-Channel-ID": channel.id, "X-Goog-Resource-State": "exists",
            "X-Goog-Resource-ID": channel.resource_id}
    forged = hub.client.post(f"{API}/push/google",
                             headers={**base, "X-Goog-Channel-Token": "guess"})
    unknown = hub.client.post(f"{API}/push/google", headers={
        **base, "X-Goog-Channel-ID": "nope", "X-Goog-Channel-Token": channel.token})
    good = hub.client.post(f"{API}/push/google",
                           headers={**base, "X-Goog-Channel-Token": channel.token})
    assert (forged.status_code, forged.json["code"]) == (401, "signature_invalid")
    assert (unknown.status_code, unknown.json["code"]) == (403, "push_rejected")
    assert good.status_code == 200


def test_revoked_grant_needs_reauth_and_cancels_pending(
    hub: Hub, google: FakeGoogleCalendar, google_oauth: FakeOAuth, ready: str
) -> None:
    google.put(CAL, "ev1", appointment(3), summary="A 0612345678")
    google.put(CAL, "ev2", appointment(5), summary="B 0698765432")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    assert len(scheduled(hub)) == 2 and hub.balance() == Decimal("99.90")
    google_oauth.revoke()
    jobs.enqueue_due(hub.services)
    hub.work()
    connection = hub.call("GET", "/connections").json["data"][0]
    assert connection["status"] == "needs_reauth"
    assert {m.status for m in hub.messages()} == {"cancelled"}
    assert hub.balance() == Decimal("100")
    with hub.services.sessions() as session:
        row = session.scalar(select(CalendarConnection))
        assert row is not None and row.tokens is None


def test_skipped_events_are_listed_with_reasons(
    hub: Hub, google: FakeGoogleCalendar, ready: str
) -> None:
    google.put(CAL, "ev1", appointment(3), summary="Réunion équipe")
    google.put(CAL, "ev2", appointment(3, 16), summary="Fixe 01 42 68 53 00")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    skipped = hub.call("GET", f"/calendars/{ready}/skipped").json["data"]
    assert sorted((s["event_id"], s["reason"]) for s in skipped) == [
        ("ev1", "no_mobile_number"), ("ev2", "no_mobile_number")]
    assert hub.messages() == []


def test_rule_changes_replan_every_event(
    hub: Hub, google: FakeGoogleCalendar, ready: str
) -> None:
    start = appointment(3)
    google.put(CAL, "ev1", start, summary="A 0612345678")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    [rule] = hub.call("GET", f"/calendars/{ready}/rules").json["data"]
    changed = hub.call("PUT", f"/calendars/{ready}/rules/{rule['id']}",
                       json={"offset_minutes": 120, "template": "Rappel {{ title }}"})
    assert changed.status_code == 200, changed.json
    hub.work()
    assert scheduled(hub) == [("+33612345678", start - timedelta(hours=2), "Rappel A 0612345678")]
    assert hub.call("DELETE", f"/calendars/{ready}/rules/{rule['id']}").status_code == 204
    hub.work()
    assert scheduled(hub) == [] and hub.balance() == Decimal("100")


def test_plan_limit_refused_with_problem_json(
    hub: Hub, google: FakeGoogleCalendar, server: Served
) -> None:
    with transaction(hub.services.sessions) as session:
        plans.change_plan(session, hub.account, "SOLO")
    connection = connect_google(hub, server)
    both = [c["id"] for c in connection["calendars"]]
    refused = hub.call("PUT", f"/connections/{connection['id']}/calendars",
                       json={"selected": both})
    assert refused.status_code == 402
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "plan_limit"
    one = hub.call("PUT", f"/connections/{connection['id']}/calendars",
                   json={"selected": both[:1]})
    assert [c["selected"] for c in one.json["data"]].count(True) == 1


def test_other_accounts_see_nothing(hub: Hub, google: FakeGoogleCalendar, ready: str) -> None:
    with transaction(hub.services.sessions) as session:
        other = create_account(session, "Other")
        _, key = create_api_key(session, other)
    headers = {"Authorization": f"Bearer {key}"}
    assert hub.client.get(f"{API}/connections", headers=headers).json["data"] == []
    answer = hub.client.get(f"{API}/calendars/{ready}/upcoming", headers=headers)
    assert (answer.status_code, answer.json["code"]) == (404, "not_found")


def test_disconnect_cancels_and_forgets(hub: Hub, google: FakeGoogleCalendar, ready: str) -> None:
    google.put(CAL, "ev1", appointment(3), summary="A 0612345678")
    hub.call("POST", f"/calendars/{ready}/sync")
    hub.work()
    connection_id = hub.call("GET", "/connections").json["data"][0]["id"]
    gone = hub.call("DELETE", f"/connections/{connection_id}")
    assert gone.json == {"id": connection_id, "status": "disconnected", "cancelled": 1}
    assert {m.status for m in hub.messages()} == {"cancelled"}
    assert hub.balance() == Decimal("100")


def test_graph_validation_handshake_and_client_state(
    hub: Hub, graph: FakeGraph, ms_oauth: FakeOAuth
) -> None:
    echoed = hub.client.post(f"{API}/push/graph?validationToken=abc%20123")
    assert (echoed.status_code, echoed.mimetype, echoed.text) == (200, "text/plain", "abc 123")
    forged = hub.client.post(f"{API}/push/graph", json={"value": [
        {"subscriptionId": "sub-unknown", "clientState": "guess"}]})
    assert (forged.status_code, forged.json["code"]) == (403, "push_rejected")


def test_openapi_documents_the_calendar_routes(hub: Hub) -> None:
    paths = hub.client.get("/api/v1/openapi.json").json["paths"]
    assert {"/calendar/connections", "/calendar/push/google", "/calendar/push/graph",
            "/calendar/calendars/{calendar_id}/upcoming"} <= set(paths)
    assert paths["/calendar/push/graph"]["post"]["security"] == []


def test_cli_lists_connections_and_syncs(
    hub: Hub, google: FakeGoogleCalendar, ready: str, tmp_path: Path
) -> None:
    settings = hub.services.settings
    env = {"SMSHUB_DATABASE_URL": settings.database_url, "SMSHUB_SECRET_KEY": "test",
           "SMSHUB_DATA_DIR": str(tmp_path), "SMSHUB_REDIS_URL": "",
           **{f"SMSHUB_{k.upper()}": v for k, v in settings.extra.items()}}
    runner = CliRunner()
    listed = runner.invoke(main, ["calendar", "connections", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert (row["account"], row["status"]) == (hub.account, "active")
    assert [c["id"] for c in row["calendars"] if c["selected"]] == [ready]
    google.put(CAL, "ev1", appointment(3), summary="A 0612345678")
    synced = runner.invoke(main, ["calendar", "sync", ready], env=env)
    assert synced.exit_code == 0, synced.output
    assert f"{ready}\tok\tevents=1 submitted=1 cancelled=0" in synced.output
    assert len(scheduled(hub)) == 1


def test_outlook_connect_by_form_post_subscription_and_push(
    hub: Hub, graph: FakeGraph, server: Served
) -> None:
    started = hub.call("POST", "/connections", json={"provider": "microsoft"})
    consent = requests.get(started.json["authorization_url"], allow_redirects=False,
                           verify=server.ca_file, timeout=10)
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', consent.text))
    assert set(form) == {"code", "state"}  # response_mode=form_post: no code in a URL
    connection = hub.client.post(f"{API}/oauth/callback", data=form).json
    [calendar] = connection["calendars"]
    hub.call("PUT", f"/connections/{connection['id']}/calendars",
             json={"selected": [calendar["id"]]})
    hub.call("POST", f"/calendars/{calendar['id']}/rules",
             json={"offset_minutes": 120, "template": "RDV {{ title }}"})
    hub.work()
    assert registry.calendar(hub.services).renew_push() == [calendar["id"]]  # validated
    start = appointment(2, 10, 0)
    graph.put("AAMkCal1", "AAMkEv1", start.astimezone(UTC), subject="Mme Roux 0612345678")
    assert graph.notify("AAMkCal1", "AAMkEv1") == [202]
    hub.work()
    assert scheduled(hub) == [("+33612345678", start - timedelta(hours=2),
                               "RDV Mme Roux 0612345678")]


def test_calendar_worker_role_runs_the_queued_sync(
    hub: Hub, google: FakeGoogleCalendar, ready: str
) -> None:
    google.put(CAL, "ev1", appointment(3), summary="A 0612345678")
    assert hub.call("POST", f"/calendars/{ready}/sync").json["queued"] is True
    assert run_worker(hub.services.settings, {"burst": True}) == 0
    assert len(scheduled(hub)) == 1
