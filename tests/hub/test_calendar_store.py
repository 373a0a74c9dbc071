"""The calendar store on the hub's database behaves like the connector's reference store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from connectors.calendar.models import Calendar, Connection, Reminder, ReminderRule, Skip
from hub.calendars.store import DatabaseStore
from hub.calendars.wiring import SecretBoxCipher, calendar_settings
from hub.crypto import SecretBox
from hub.models import Account, CalendarRow
from hub.services import Services

from .conftest import make_account

NOW = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def account(services: Services) -> Account:
    return make_account(services, credits=None)


@pytest.fixture
def clock() -> list[datetime]:
    return [NOW]


@pytest.fixture
def store(services: Services, clock: list[datetime]) -> DatabaseStore:
    return DatabaseStore(services.sessions, SecretBox("test"), clock=lambda: clock[0])


@pytest.fixture
def calendar(store: DatabaseStore, account: Account) -> Calendar:
    store.save_connection(Connection("calc_1", account.id, "google", user="dr@example.com"))
    found = Calendar("cal_1", "calc_1", "dr@example.com", "Cabinet", selected=True)
    store.save_calendar(found)
    return found


def test_connection_round_trip_and_status(store: DatabaseStore, account: Account) -> None:
    store.save_connection(Connection("calc_1", account.id, "microsoft", user="u@x.example"))
    store.save_connection(Connection("calc_1", account.id, "microsoft", "needs_reauth", "u"))
    assert store.get_connection("calc_1") == Connection(
        "calc_1", account.id, "microsoft", "needs_reauth", "u")
    assert [c.id for c in store.connections()] == ["calc_1"]
    assert store.connections(account="acc_other") == []
    assert store.get_connection("calc_missing") is None


def test_tokens_are_kept_as_given_and_deleted(store: DatabaseStore, calendar: Calendar) -> None:
    cipher = SecretBoxCipher(SecretBox("test"))
    blob = cipher.encrypt(b'{"access_token": "ya29.secret"}')
    store.save_tokens("calc_1", blob)
    assert store.load_tokens("calc_1") == blob
    assert cipher.decrypt(blob) == b'{"access_token": "ya29.secret"}'
    assert b"ya29" not in blob
    store.delete_tokens("calc_1")
    assert store.load_tokens("calc_1") is None


def test_pending_authorisation_is_used_once_and_expires(
    store: DatabaseStore, clock: list[datetime]
) -> None:
    store.save_pending("state-1", b"flow-1")
    store.save_pending("state-2", b"flow-2")
    assert store.pop_pending("state-1") == b"flow-1"
    assert store.pop_pending("state-1") is None
    clock[0] = NOW + timedelta(minutes=10, seconds=1)
    assert store.pop_pending("state-2") is None


def test_calendar_round_trip_with_encrypted_push_secret(
    store: DatabaseStore, calendar: Calendar, services: Services
) -> None:
    pushed = Calendar("cal_1", "calc_1", "dr@example.com", "Cabinet", "Europe/Paris", True,
                      sync_state="tok", window_end=NOW, push_id="chan-1", push_resource="res",
                      push_secret="s3cret-token", push_expires=NOW + timedelta(days=7))
    store.save_calendar(pushed)
    assert store.get_calendar("cal_1") == pushed
    assert store.calendar_by_push_id("chan-1") == pushed
    assert store.calendar_by_push_id("chan-2") is None
    with services.sessions() as session:
        row = session.scalar(select(CalendarRow))
        assert row is not None and row.push_secret and "s3cret" not in row.push_secret


def test_selected_count_is_per_account(
    store: DatabaseStore, calendar: Calendar, services: Services
) -> None:
    other = make_account(services, credits=None)
    store.save_connection(Connection("calc_2", other.id, "google"))
    store.save_calendar(Calendar("cal_2", "calc_2", "x", "X", selected=True))
    store.save_calendar(Calendar("cal_3", "calc_1", "perso", "Perso", selected=False))
    assert store.selected_count(calendar_account(store)) == 1
    assert store.selected_count(other.id) == 1
    assert [c.id for c in store.calendars("calc_1")] == ["cal_1", "cal_3"]


def calendar_account(store: DatabaseStore) -> str:
    connection = store.get_connection("calc_1")
    assert connection is not None
    return connection.account


def test_rules_round_trip_and_delete(store: DatabaseStore, calendar: Calendar) -> None:
    rule = ReminderRule("crule_1", "cal_1", timedelta(hours=24), "RDV {{ title }}",
                        sender="Cabinet", window=(time(8), time(19, 30)), send_late=True,
                        change_template="Déplacé")
    plain = ReminderRule("crule_2", "cal_1", timedelta(hours=2), "Bientôt")
    store.save_rule(plain)
    store.save_rule(rule)
    assert store.rules("cal_1") == [rule, plain]
    assert store.delete_rule("cal_1", "crule_2") is True
    assert store.delete_rule("cal_1", "crule_2") is False
    assert store.rules("cal_1") == [rule]


def _reminder(key: str, status: str = "scheduled", **changes: object) -> Reminder:
    found = Reminder(key, "cal_1", "ev1", "crule_1", NOW + timedelta(days=2),
                     NOW + timedelta(days=1), "+33612345678", status)  # type: ignore[arg-type]
    for name, value in changes.items():
        setattr(found, name, value)
    return found


def test_reminders_by_event_pending_message_and_upcoming(
    store: DatabaseStore, calendar: Calendar
) -> None:
    store.save_reminder(_reminder("k1", message_id="msg_1"))
    store.save_reminder(_reminder("k2", "cancelled", message_id="msg_2"))
    store.save_reminder(_reminder("k3", event_id="ev2", send_at=NOW + timedelta(hours=1)))
    assert [r.key for r in store.reminders_for_event("cal_1", "ev1")] == ["k1", "k2"]
    assert [r.key for r in store.pending_reminders(["cal_1"])] == ["k3", "k1"]
    assert store.reminder_by_message("msg_2") == _reminder("k2", "cancelled", message_id="msg_2")
    assert [r.key for r in store.upcoming(["cal_1"], NOW + timedelta(hours=2))] == ["k1"]
    store.save_reminder(_reminder("k1", "sent", message_id="msg_1"))
    assert [r.key for r in store.pending_reminders(["cal_1"])] == ["k3"]


def test_skips_replace_per_rule_and_clear_per_event(
    store: DatabaseStore, calendar: Calendar
) -> None:
    store.record_skip(Skip("cal_1", "ev1", "no_mobile_number", title="Réunion", start=NOW))
    store.record_skip(Skip("cal_1", "ev1", "past", title="Réunion", start=NOW))
    store.record_skip(Skip("cal_1", "ev2", "reminder_time_passed", "crule_1", "B", NOW))
    assert store.skips("cal_1") == [
        Skip("cal_1", "ev1", "past", None, "Réunion", NOW),
        Skip("cal_1", "ev2", "reminder_time_passed", "crule_1", "B", NOW),
    ]
    store.clear_skips("cal_1", "ev1")
    assert [s.event_id for s in store.skips("cal_1")] == ["ev2"]


@pytest.mark.parametrize(
    ("namespace", "check"),
    [
        ({}, lambda s: s.google_client_id == "" and s.renew_margin == timedelta(hours=12)),
        ({"renew_margin": "3600", "timeout": "5"},
         lambda s: s.renew_margin == timedelta(hours=1) and s.timeout == 5.0),
        ({"microsoft_validate_authority": "false", "ca_bundle": ""},
         lambda s: s.microsoft_validate_authority is False and s.ca_bundle is None),
    ],
)
def test_settings_from_the_namespace(
    namespace: dict[str, str], check: Callable[[object], bool]
) -> None:
    assert check(calendar_settings(namespace))


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="google_cliend_id"):
        calendar_settings({"google_cliend_id": "x"})
