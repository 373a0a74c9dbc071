"""Outlook end to end: msal (auth-code flow with PKCE) and Graph calls against the local fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.calendar.connector import CalendarConnector
from connectors.calendar.models import Calendar, ReminderRule
from connectors.calendar.store import InMemoryStore
from sms_core.errors import ConnectorAuthError, RateLimitedError
from tests.fakes.graph import FakeGraph
from tests.fakes.oauth import FakeOAuth
from tests.fakes.server import Served

from .conftest import Clock, Hub, consent, sms

PARIS = ZoneInfo("Europe/Paris")
CAL = "AAMkCal1"
TEMPLATE = "{{ organizer }}: RDV {{ title }} le {{ start | date('fr', 'EEEE d MMMM') }} à {{ start | time('fr') }}"  # noqa: E501


@pytest.fixture
def ready(connector: CalendarConnector, graph: FakeGraph, server: Served) -> Calendar:
    form = consent(connector, "acc_business", "microsoft", server.ca_file)
    assert isinstance(form, dict) and set(form) == {"code", "state"}  # response_mode=form_post
    connection = connector.complete_connect(form)
    [calendar] = connector.store.calendars(connection.id)
    connector.select_calendars(connection.id, [calendar.id])
    connector.set_rules(
        calendar.id, [ReminderRule("r24h", calendar.id, timedelta(hours=24), TEMPLATE)]
    )
    return calendar


def keys(hub: Hub) -> list[str]:
    return [r.idempotency_key or "" for r in hub.submitted]


def test_connect_with_msal_pkce_and_encrypted_cache(
    connector: CalendarConnector, ready: Calendar, ms_oauth: FakeOAuth, store: InMemoryStore
) -> None:
    assert ready.name == "Calendar" and ready.provider_id == CAL
    code_grant = ms_oauth.token_requests[0]
    assert code_grant["grant_type"] == "authorization_code" and code_grant["code_verifier"]
    assert "Calendars.Read" in code_grant["scope"] and "offline_access" in code_grant["scope"]
    blob = store.load_tokens(ready.connection_id)
    grant = next(iter(ms_oauth.grants.values()))
    assert blob is not None and next(iter(grant.refresh_tokens)).encode() not in blob


def test_initial_sync_pages_and_builds_exact_reminders(
    connector: CalendarConnector, graph: FakeGraph, ready: Calendar, hub: Hub
) -> None:
    for n in range(4):
        graph.put(CAL, f"AAMkEv{n}", datetime(2025, 10, 27, 9 + n, tzinfo=PARIS),
                  subject=f"Patient {'ABCD'[n]}", body=f"Tél. 06 12 34 56 7{n}")  # fmt: skip
    report = connector.sync(ready.id)
    assert report.full and report.events == 4
    assert sum("$skiptoken" in r for r in graph.requests) == 1
    first = sms(hub.submitted)[0]
    assert first[:3] == (
        "+33612345670", "2025-10-26T08:00:00+00:00",
        "Dr Martin: RDV Patient A le lundi 27 octobre à 09:00",
    )  # fmt: skip
    assert first[3].endswith(":r24h:20251027T080000Z:+33612345670")
    assert hub.submitted[0].source == "outlook_calendar"


def test_delta_changes_removals_and_410(
    connector: CalendarConnector, graph: FakeGraph, ready: Calendar, hub: Hub
) -> None:
    graph.put(CAL, "AAMkA", datetime(2025, 10, 24, 10, tzinfo=PARIS), subject="A 0612345678")
    graph.put(CAL, "AAMkB", datetime(2025, 10, 24, 11, tzinfo=PARIS), subject="B 0698765432")
    graph.put(CAL, "AAMkC", datetime(2025, 10, 24, 12, tzinfo=PARIS), subject="C 0611111111",
              cancelled=True)  # fmt: skip
    connector.sync(ready.id)
    assert len(hub.submitted) == 2
    assert {s.reason for s in connector.skipped(ready.id)} == {"cancelled"}
    graph.put(CAL, "AAMkA", datetime(2025, 10, 25, 10, tzinfo=PARIS), subject="A 0612345678")
    graph.delete(CAL, "AAMkB")
    report = connector.sync(ready.id)
    assert not report.full and report.events == 1
    assert any("$deltatoken" in r for r in graph.requests)
    assert sorted(hub.cancelled) == sorted(keys(hub)[:2])
    assert hub.submitted[2].send_at == datetime(2025, 10, 24, 8, tzinfo=UTC)
    graph.invalidate_delta_tokens()
    assert connector.sync(ready.id).full
    assert len(hub.submitted) == 3


def test_subscription_push_and_renewal(
    connector: CalendarConnector, graph: FakeGraph, ready: Calendar, hub: Hub, clock: Clock
) -> None:
    connector.sync(ready.id)
    assert connector.renew_push() == [ready.id]
    calendar = connector.store.get_calendar(ready.id)
    assert calendar is not None and calendar.push_id in graph.subscriptions
    sub = graph.subscriptions[calendar.push_id]
    assert sub["clientState"] == calendar.push_secret
    assert sub["resource"] == f"me/calendars/{CAL}/events"
    graph.put(CAL, "AAMkA", datetime(2025, 10, 24, 10, tzinfo=PARIS), subject="A 0612345678")
    assert graph.notify(CAL, "AAMkA", "created") == [202]
    assert len(hub.submitted) == 1
    connector.sync_all()
    assert graph.notify(CAL, "AAMkA") == [202]
    assert len(hub.submitted) == 1
    assert calendar.push_expires is not None
    clock.now = calendar.push_expires - timedelta(hours=2)
    assert connector.renew_push() == [ready.id]
    renewed = connector.store.get_calendar(ready.id)
    assert renewed is not None and renewed.push_id == calendar.push_id
    assert renewed.push_secret == calendar.push_secret
    assert any(r.startswith("PATCH /v1.0/subscriptions/") for r in graph.requests)


def test_notification_with_wrong_client_state_is_refused(
    connector: CalendarConnector, graph: FakeGraph, ready: Calendar
) -> None:
    connector.renew_push()
    calendar = connector.store.get_calendar(ready.id)
    assert calendar is not None
    body = b'{"value": [{"subscriptionId": "%s", "clientState": "guess"}]}' % (
        (calendar.push_id or "").encode()
    )
    with pytest.raises(Exception, match="clientState"):
        connector.handle_push({"Content-Type": "application/json"}, body)


def test_expired_token_refreshes_through_msal(
    connector: CalendarConnector, graph: FakeGraph, ready: Calendar, ms_oauth: FakeOAuth
) -> None:
    ms_oauth.expire_access_tokens()
    connector.sync(ready.id)
    assert ms_oauth.refresh_grants() == 1
    assert connector.sync(ready.id).full is False


def test_revoked_grant_needs_reauth(
    connector: CalendarConnector,
    graph: FakeGraph,
    ready: Calendar,
    ms_oauth: FakeOAuth,
    hub: Hub,
) -> None:
    graph.put(CAL, "AAMkA", datetime(2025, 10, 24, 10, tzinfo=PARIS), subject="A 0612345678")
    connector.sync(ready.id)
    ms_oauth.revoke()
    with pytest.raises(ConnectorAuthError) as caught:
        connector.sync(ready.id)
    assert caught.value.code == "invalid_grant" and "AADSTS50173" in caught.value.message
    assert hub.cancelled == keys(hub)
    assert [e.kind for e in hub.events] == ["needs_reauth"]


def test_throttling_raises_with_retry_after(
    connector: CalendarConnector, graph: FakeGraph, ready: Calendar
) -> None:
    graph.fail_next(429, {"Retry-After": "12"})
    with pytest.raises(RateLimitedError) as caught:
        connector.sync(ready.id)
    assert caught.value.retry_after == 12
