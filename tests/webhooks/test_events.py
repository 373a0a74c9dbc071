"""The event envelope: shape, ids, JSON of non-JSON types, and the size cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from webhooks.clock import ManualClock
from webhooks.errors import PayloadTooLargeError
from webhooks.events import EVENT_TYPES, make_event, parse_event, rfc3339

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def test_the_envelope_has_id_type_created_at_and_data() -> None:
    event = make_event("message.delivered", {"message_id": "msg_1"}, clock=ManualClock(NOW))
    raw = json.loads(event.body())
    assert raw == {
        "id": event.id,
        "type": "message.delivered",
        "created_at": "2024-05-01T08:00:00.000Z",
        "data": {"message_id": "msg_1"},
    }
    assert event.id.startswith("evt_") and not event.truncated
    assert parse_event(event.body()) == event


def test_every_documented_type_is_accepted_and_others_refused() -> None:
    assert len(EVENT_TYPES) == 11
    for kind in EVENT_TYPES:
        assert make_event(kind, {}).type == kind
    with pytest.raises(ValueError):
        make_event("message.teleported", {})


def test_ids_are_unique_and_sort_by_creation() -> None:
    clock = ManualClock(NOW)
    first = make_event("message.accepted", {}, clock=clock)
    clock.advance(milliseconds=1)
    second = make_event("message.accepted", {}, clock=clock)
    assert first.id < second.id


def test_datetimes_and_decimals_become_json() -> None:
    event = make_event("balance.low", {"balance": Decimal("1.50"), "at": NOW + timedelta(hours=1)})
    assert event.data == {"balance": "1.50", "at": "2024-05-01T09:00:00.000Z"}
    with pytest.raises(ValueError):
        rfc3339(datetime(2024, 1, 1))


def test_oversize_data_is_truncated_to_its_identifying_fields() -> None:
    data = {
        "message_id": "msg_9",
        "status": "delivered",
        "text": "x" * 70_000,
        "to": "+33600000000",
    }
    event = make_event("message.delivered", data)
    assert len(event.body()) <= 64 * 1024
    assert event.truncated
    assert event.data["message_id"] == "msg_9" and event.data["to"] == "+33600000000"
    assert "text" not in event.data and event.data["original_size"] > 70_000


def test_an_event_that_cannot_shrink_enough_is_refused() -> None:
    with pytest.raises(PayloadTooLargeError):
        make_event("message.delivered", {"message_id": "m" * 200}, max_bytes=100)
