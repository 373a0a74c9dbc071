"""Reminder planning and sync without HTTP: numbers, windows, sent reminders, change notices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.calendar.models import Calendar, CalendarEvent, Connection, EventBatch, ReminderRule
from connectors.calendar.reminders import plan, recipients, within_window
from connectors.calendar.store import InMemoryStore
from connectors.calendar.sync import ReminderSync

from .conftest import Clock, Hub

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2025, 10, 20, 9, tzinfo=UTC)
CALENDAR = Calendar("cal_1", "calc_1", "primary", "Cabinet", selected=True)
RULE = ReminderRule("r2h", "cal_1", timedelta(hours=2), "{{ title }} à {{ start | time('fr') }}")


def event(**fields: object) -> CalendarEvent:
    values: dict[str, object] = {
        "id": "ev1", "calendar_id": "cal_1", "title": "RDV 0612345678",
        "start": datetime(2025, 10, 24, 10, tzinfo=PARIS), "time_zone": "Europe/Paris",
    }  # fmt: skip
    values.update(fields)
    return CalendarEvent(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("location", "title", "description", "expected"),
    [
        ("06 12 34 56 78", "", "", ["+33612345678"]),
        ("06.12.34.56.78", "", "", ["+33612345678"]),
        ("", "Mme Durand 06-12-34-56-78", "", ["+33612345678"]),
        ("", "", "tél:+33 (0)6 12 34 56 78", ["+33612345678"]),
        ("", "", "appeler le 0033 6 12 34 56 78", ["+33612345678"]),
        ("", "Dupont0612345678", "", ["+33612345678"]),
        ("", "Réunion : 0692 12 34 56", "", ["+262692123456"]),
        ("", "", "Fixe 01 42 68 53 00, portable 07 81 23 45 67", ["+33781234567"]),
        ("06 12 34 56 78", "0612345678", "+33 7 81 23 45 67", ["+33612345678", "+33781234567"]),
        ("", "Commande n°0612345678", "", []),
        ("", "Salle 12, 14h30", "", []),
    ],
)
def test_numbers_in_odd_formats(
    location: str, title: str, description: str, expected: list[str]
) -> None:
    found = recipients(event(location=location, title=title, description=description), "FR")
    assert found == expected


@pytest.mark.parametrize(
    ("local_send", "expected_local"),
    [
        (datetime(2025, 10, 24, 14, 0), datetime(2025, 10, 24, 14, 0)),
        (datetime(2025, 10, 24, 7, 0), datetime(2025, 10, 23, 20, 0)),
        (datetime(2025, 10, 24, 21, 30), datetime(2025, 10, 24, 20, 0)),
        (datetime(2025, 10, 26, 6, 0), datetime(2025, 10, 25, 20, 0)),  # across the DST switch
    ],
)
def test_business_hours_window_moves_reminders_earlier(
    local_send: datetime, expected_local: datetime
) -> None:
    rule = replace(RULE, window=(time(8), time(20)))
    send_at = local_send.replace(tzinfo=PARIS).astimezone(UTC)
    assert within_window(send_at, rule, PARIS) == expected_local.replace(tzinfo=PARIS)


def test_plan_uses_late_sending_only_when_asked() -> None:
    soon = event(start=NOW + timedelta(minutes=90))
    assert plan(soon, [RULE], CALENDAR, NOW)[0] == []
    [late] = plan(soon, [replace(RULE, send_late=True)], CALENDAR, NOW)[0]
    assert late.send_at == NOW


@pytest.fixture
def sync(hub: Hub, clock: Clock) -> tuple[ReminderSync, InMemoryStore]:
    store = InMemoryStore()
    store.save_calendar(CALENDAR)
    clock.now = NOW
    return ReminderSync(store, hub.submit, hub.cancel, clock), store


CONNECTION = Connection("calc_1", "acc_1", "google")


def test_sent_reminder_is_not_sent_again_after_an_edit(
    sync: tuple[ReminderSync, InMemoryStore], hub: Hub, clock: Clock
) -> None:
    engine, store = sync
    store.save_rule(RULE)
    engine.apply(CONNECTION, CALENDAR, EventBatch([event()]))
    clock.now = datetime(2025, 10, 24, 8, 5, tzinfo=UTC)  # the 2 h reminder went out at 08:00
    engine.apply(CONNECTION, CALENDAR, EventBatch([event(title="RDV (salle 2) 0612345678")]))
    assert len(hub.submitted) == 1 and hub.cancelled == []


def test_moved_after_sending_gets_a_change_notice(
    sync: tuple[ReminderSync, InMemoryStore], hub: Hub, clock: Clock
) -> None:
    engine, store = sync
    store.save_rule(replace(RULE, change_template="Nouvel horaire : {{ start | time('fr') }}"))
    engine.apply(CONNECTION, CALENDAR, EventBatch([event()]))
    clock.now = datetime(2025, 10, 24, 8, 5, tzinfo=UTC)
    moved = event(start=datetime(2025, 10, 24, 11, tzinfo=PARIS))
    engine.apply(CONNECTION, CALENDAR, EventBatch([moved]))
    engine.apply(CONNECTION, CALENDAR, EventBatch([moved]))  # the same change again
    # the new 2 h reminder (07:00 UTC) is already past: only the notice goes, once
    assert [(r.text, r.send_at) for r in hub.submitted[1:]] == [
        ("Nouvel horaire : 11:00", clock.now)
    ]
    assert hub.cancelled == []


def test_event_moved_away_and_back_is_submitted_under_a_fresh_key(
    sync: tuple[ReminderSync, InMemoryStore], hub: Hub
) -> None:
    engine, store = sync
    store.save_rule(RULE)
    engine.apply(CONNECTION, CALENDAR, EventBatch([event()]))
    later = event(start=datetime(2025, 10, 25, 10, tzinfo=PARIS))
    engine.apply(CONNECTION, CALENDAR, EventBatch([later]))
    engine.apply(CONNECTION, CALENDAR, EventBatch([event()]))
    first, _, back = (r.idempotency_key or "" for r in hub.submitted)
    assert back == f"{first}~1"
    assert len(hub.cancelled) == 2
