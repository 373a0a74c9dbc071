"""Google Calendar end to end: authlib and google-api-python-client against the local fakes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.calendar.connector import CalendarConnector
from connectors.calendar.models import Calendar, ReminderRule
from connectors.calendar.store import InMemoryStore
from sms_core.errors import BillingError, ConnectorAuthError, RateLimitedError, UpstreamError
from tests.fakes.google_calendar import FakeGoogleCalendar
from tests.fakes.oauth import FakeOAuth
from tests.fakes.server import Served

from .conftest import Clock, Hub, consent, sms

PARIS = ZoneInfo("Europe/Paris")
CAL = "dr.martin@example.com"
TEMPLATE = "RDV {{ title }} le {{ start | date('fr', 'd MMMM') }} à {{ start | time('fr') }}"


def connect(connector: CalendarConnector, server: Served, account: str = "acc_business") -> str:
    connection = connector.complete_connect(consent(connector, account, "google", server.ca_file))
    return connection.id


def cabinet(connector: CalendarConnector, connection_id: str) -> Calendar:
    return next(c for c in connector.store.calendars(connection_id) if c.provider_id == CAL)


def setup_rules(
    connector: CalendarConnector, calendar: Calendar, *offsets: timedelta, **extra: object
) -> None:
    connector.select_calendars(calendar.connection_id, [calendar.id])
    rules = [
        ReminderRule(f"r{int(o.total_seconds() // 3600)}h", calendar.id, o, TEMPLATE,
                     sender="Cabinet", **extra)  # type: ignore[arg-type]
        for o in offsets
    ]  # fmt: skip
    connector.set_rules(calendar.id, rules)


@pytest.fixture
def ready(connector: CalendarConnector, google: FakeGoogleCalendar, server: Served) -> Calendar:
    calendar = cabinet(connector, connect(connector, server))
    setup_rules(connector, calendar, timedelta(hours=24), timedelta(hours=2))
    return calendar


def test_connect_stores_encrypted_tokens_and_lists_calendars(
    connector: CalendarConnector,
    google: FakeGoogleCalendar,
    google_oauth: FakeOAuth,
    server: Served,
    store: InMemoryStore,
) -> None:
    url = connector.begin_connect("acc_business", "google")
    assert "access_type=offline" in url and "prompt=consent" in url
    assert "code_challenge_method=S256" in url and "calendar.readonly" in url
    connection_id = connect(connector, server)
    names = sorted(c.name for c in store.calendars(connection_id))
    assert names == ["Cabinet", "Perso"]
    assert all(not c.selected for c in store.calendars(connection_id))
    blob = store.load_tokens(connection_id)
    assert blob is not None
    grant = next(iter(google_oauth.grants.values()))
    assert next(iter(grant.refresh_tokens)).encode() not in blob
    assert b"access_token" not in blob
    code_grant = google_oauth.token_requests[0]
    assert code_grant["grant_type"] == "authorization_code" and code_grant["code_verifier"]


def test_initial_sync_submits_exact_reminders(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    google.put(CAL, "ev1", datetime(2025, 10, 22, 14, 30, tzinfo=PARIS),
               summary="Mme Dupont", location="06 12 34 56 78")  # fmt: skip
    report = connector.sync(ready.id)
    assert report.full and len(report.submitted) == 2
    text = "RDV Mme Dupont le 22 octobre à 14:30"
    digest = hashlib.sha256(f"{ready.id}\x1fev1".encode()).hexdigest()[:20]
    assert sms(hub.submitted) == [
        ("+33612345678", "2025-10-21T12:30:00+00:00", text,
         f"cal:{digest}:r24h:20251022T123000Z:+33612345678"),
        ("+33612345678", "2025-10-22T10:30:00+00:00", text,
         f"cal:{digest}:r2h:20251022T123000Z:+33612345678"),
    ]  # fmt: skip
    request = hub.submitted[0]
    assert (request.source, request.sender, request.category) == (
        "google_calendar",
        "Cabinet",
        "alert",
    )
    assert request.account == "acc_business"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"summary": "Réunion équipe"}, "no_mobile_number"),
        ({"summary": "Fixe 01 42 68 53 00"}, "no_mobile_number"),
        ({"summary": "Congés 0612345678", "start": date(2025, 10, 23)}, "all_day"),
        ({"summary": "Refusé 0612345678", "declined": True}, "declined"),
        ({"summary": "Hier 0612345678", "start": datetime(2025, 10, 19, 9, tzinfo=PARIS)},
         "past"),
        ({"summary": "Demain 0612345678", "start": datetime(2025, 10, 20, 13, tzinfo=PARIS)},
         "reminder_time_passed"),
    ],
)  # fmt: skip
def test_events_without_sms_record_why(
    connector: CalendarConnector,
    google: FakeGoogleCalendar,
    ready: Calendar,
    hub: Hub,
    fields: dict[str, object],
    reason: str,
) -> None:
    start = fields.pop("start", datetime(2025, 10, 24, 10, tzinfo=PARIS))
    google.put(CAL, "ev", start, **fields)  # type: ignore[arg-type]
    connector.sync(ready.id)
    assert hub.submitted == []
    assert {s.reason for s in connector.skipped(ready.id)} == {reason}


def test_cancelled_event_cancels_its_reminders(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    google.put(CAL, "ev1", datetime(2025, 10, 24, 10, tzinfo=PARIS), summary="A 0612345678")
    connector.sync(ready.id)
    google.delete(CAL, "ev1")
    report = connector.sync(ready.id)
    assert not report.full
    assert sorted(hub.cancelled) == sorted(r.idempotency_key for r in hub.submitted)
    assert len(hub.submitted) == 2


def test_move_reschedules_edit_keeps_delete_cancels(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    google.put(CAL, "ev1", datetime(2025, 10, 24, 10, tzinfo=PARIS), summary="A 0612345678")
    google.put(CAL, "ev2", datetime(2025, 10, 24, 11, tzinfo=PARIS), summary="B 0698765432")
    connector.sync(ready.id)
    first = [r.idempotency_key for r in hub.submitted]
    assert len(first) == 4
    google.put(CAL, "ev1", datetime(2025, 10, 27, 16, tzinfo=PARIS), summary="A 0612345678")
    google.put(
        CAL, "ev2", datetime(2025, 10, 24, 11, tzinfo=PARIS), summary="B (edited) 0698765432"
    )
    report = connector.sync(ready.id)
    assert report.events == 2 and not report.full
    moved = sms(hub.submitted[4:])
    assert [(to, at) for to, at, _, _ in moved] == [
        ("+33612345678", "2025-10-26T15:00:00+00:00"),
        ("+33612345678", "2025-10-27T13:00:00+00:00"),
    ]
    assert all(":20251027T150000Z:" in key for *_, key in moved)
    assert sorted(hub.cancelled) == sorted(first[:2])
    google.delete(CAL, "ev2")
    connector.sync(ready.id)
    assert sorted(hub.cancelled) == sorted(first)
    assert len(hub.submitted) == 6


def test_410_gone_triggers_full_resync_without_duplicates(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    for n in range(5):  # more than one page
        google.put(CAL, f"ev{n}", datetime(2025, 10, 24, 9 + n, tzinfo=PARIS),
                   summary=f"Patient {'ABCDE'[n]} 06123456{70 + n}")  # fmt: skip
    assert connector.sync(ready.id).full
    assert len(hub.submitted) == 10
    google.delete(CAL, "ev4")
    google.invalidate_sync_tokens()
    report = connector.sync(ready.id)
    assert report.full
    assert any("syncToken" in r for r in google.requests)
    assert len(hub.submitted) == 10
    assert len(hub.cancelled) == 2 and all("+33612345674" in k for k in hub.cancelled)


def test_push_then_periodic_sync_sends_once(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    assert connector.renew_push() == [ready.id]
    calendar = connector.store.get_calendar(ready.id)
    assert calendar is not None and calendar.push_id in google.channels
    assert google.channels[calendar.push_id].token == calendar.push_secret
    google.put(CAL, "ev1", datetime(2025, 10, 24, 10, tzinfo=PARIS), summary="A 0612345678")
    assert google.notify(CAL) == [202]
    assert len(hub.submitted) == 2
    connector.sync_all()  # the periodic sync sees the same change
    assert google.notify(CAL) == [202]  # and the push arrives twice
    latest = connector.store.get_calendar(ready.id)
    assert latest is not None
    connector.store.save_calendar(replace(latest, sync_state=None))
    connector.sync_all()  # a full listing again
    assert len(hub.submitted) == 2 and hub.calls == 1


def test_push_with_wrong_token_is_refused(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar
) -> None:
    connector.renew_push()
    calendar = connector.store.get_calendar(ready.id)
    assert calendar is not None
    headers = {"X-Goog-Channel-ID": calendar.push_id or "", "X-Goog-Channel-Token": "guess",
               "X-Goog-Resource-State": "exists"}  # fmt: skip
    with pytest.raises(Exception, match="wrong token"):
        connector.handle_push(headers)


def test_channel_renewal_opens_new_and_stops_old(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, clock: Clock
) -> None:
    connector.renew_push()
    old = connector.store.get_calendar(ready.id)
    assert old is not None and old.push_expires is not None
    assert connector.renew_push() == []
    clock.now = old.push_expires - timedelta(hours=1)
    assert connector.renew_push() == [ready.id]
    new = connector.store.get_calendar(ready.id)
    assert new is not None and new.push_id != old.push_id
    assert list(google.channels) == [new.push_id]


def test_expired_access_token_is_refreshed(
    connector: CalendarConnector,
    google: FakeGoogleCalendar,
    google_oauth: FakeOAuth,
    ready: Calendar,
    clock: Clock,
    hub: Hub,
) -> None:
    google_oauth.expire_access_tokens()  # the server says 401 before our clock does
    google.put(CAL, "ev1", datetime(2025, 10, 24, 10, tzinfo=PARIS), summary="A 0612345678")
    connector.sync(ready.id)
    assert google_oauth.refresh_grants() == 1
    clock.now += timedelta(hours=2)  # now our clock says the token expired
    connector.sync(ready.id)
    assert google_oauth.refresh_grants() == 2
    assert len(hub.submitted) == 2


def test_revoked_grant_marks_needs_reauth_and_cancels(
    connector: CalendarConnector,
    google: FakeGoogleCalendar,
    google_oauth: FakeOAuth,
    ready: Calendar,
    hub: Hub,
    store: InMemoryStore,
) -> None:
    google.put(CAL, "ev1", datetime(2025, 10, 24, 10, tzinfo=PARIS), summary="A 0612345678")
    connector.sync(ready.id)
    google_oauth.revoke()
    with pytest.raises(ConnectorAuthError) as caught:
        connector.sync(ready.id)
    assert caught.value.code == "invalid_grant"
    connection = store.get_connection(ready.connection_id)
    assert connection is not None and connection.status == "needs_reauth"
    assert sorted(hub.cancelled) == sorted(r.idempotency_key for r in hub.submitted)
    assert store.load_tokens(ready.connection_id) is None
    [event] = hub.events
    assert (event.kind, event.account, event.data["cancelled"]) == (
        "needs_reauth",
        "acc_business",
        2,
    )
    assert "revoked" in event.data["reason"]
    assert connector.sync(ready.id).events == 0  # no more calls for a lost grant


def test_plan_limit_is_enforced(
    connector: CalendarConnector, google: FakeGoogleCalendar, server: Served
) -> None:
    connection_id = connect(connector, server, "acc_solo")
    ids = [c.id for c in connector.store.calendars(connection_id)]
    with pytest.raises(BillingError) as caught:
        connector.select_calendars(connection_id, ids)
    assert caught.value.code == "plan_limit"
    connector.select_calendars(connection_id, ids[:1])
    assert [c.selected for c in connector.store.calendars(connection_id)].count(True) == 1


def test_reminder_before_monday_after_october_switch(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    """Sunday 26 October 2025 03:00 CEST → 02:00 CET. Monday 09:00 CET is 08:00 UTC, so 24 h
    before is Sunday 08:00 UTC — not 07:00, which a summer-time offset would give."""
    google.put(CAL, "ev1", datetime(2025, 10, 27, 9, tzinfo=PARIS), summary="M. Leroy 0612345678")
    connector.sync(ready.id)
    day_before = hub.submitted[0]
    assert day_before.send_at == datetime(2025, 10, 26, 8, tzinfo=UTC)
    assert day_before.text == "RDV M. Leroy 0612345678 le 27 octobre à 09:00"


def test_recurring_series_gets_one_reminder_per_occurrence(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    google.put_series(CAL, "kine", datetime(2025, 10, 21, 18, tzinfo=PARIS), 3,
                      summary="Kiné", description="Patient: 07 81 23 45 67")  # fmt: skip
    connector.sync(ready.id)
    day_before = [r for r in hub.submitted if ":r24h:" in (r.idempotency_key or "")]
    assert [r.send_at for r in day_before] == [
        datetime(2025, 10, 20, 16, tzinfo=UTC),  # CEST
        datetime(2025, 10, 27, 17, tzinfo=UTC),  # CET: same 18:00 local, one hour later in UTC
        datetime(2025, 11, 3, 17, tzinfo=UTC),
    ]
    assert {r.text for r in day_before} == {
        "RDV Kiné le 21 octobre à 18:00", "RDV Kiné le 28 octobre à 18:00",
        "RDV Kiné le 4 novembre à 18:00"}  # fmt: skip
    assert len({r.idempotency_key for r in hub.submitted}) == 6


def test_two_numbers_get_one_reminder_each(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    google.put(
        CAL,
        "ev1",
        datetime(2025, 10, 24, 10, tzinfo=PARIS),
        summary="Lucas (mineur)",
        location="Mère 06.12.34.56.78",
        description="Père : +33 (0)7 81 23 45 67",
    )
    connector.sync(ready.id)
    day_before = [r for r in hub.submitted if ":r24h:" in (r.idempotency_key or "")]
    assert [r.to for r in day_before] == ["+33612345678", "+33781234567"]
    assert len({r.idempotency_key for r in day_before}) == 2


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        (429, {"Retry-After": "30"}, RateLimitedError),
        (403, {}, RateLimitedError),
        (503, {}, UpstreamError),
    ],
)
def test_upstream_errors_map_and_keep_sync_state(
    connector: CalendarConnector,
    google: FakeGoogleCalendar,
    ready: Calendar,
    status: int,
    headers: dict[str, str],
    error: type[Exception],
) -> None:
    connector.sync(ready.id)
    state = connector.store.get_calendar(ready.id).sync_state  # type: ignore[union-attr]
    google.fail_next(status, headers)
    with pytest.raises(error) as caught:
        connector.sync(ready.id)
    if status == 429:
        assert caught.value.retry_after == 30  # type: ignore[attr-defined]
    assert connector.store.get_calendar(ready.id).sync_state == state  # type: ignore[union-attr]


def test_disconnect_cancels_pending_and_forgets_tokens(
    connector: CalendarConnector, google: FakeGoogleCalendar, ready: Calendar, hub: Hub
) -> None:
    connector.renew_push()
    google.put(CAL, "ev1", datetime(2025, 10, 24, 10, tzinfo=PARIS), summary="A 0612345678")
    connector.sync(ready.id)
    cancelled = connector.disconnect(ready.connection_id)
    assert sorted(cancelled) == sorted(r.idempotency_key for r in hub.submitted)
    assert connector.store.load_tokens(ready.connection_id) is None
    assert google.channels == {}
