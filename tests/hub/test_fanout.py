"""Status fan-out to connectors: a reminder's status changes reach the calendar connector
durably, outside the move's transaction, at least once and in order; API messages cost one
statement per move whatever their number."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rq import SimpleWorker
from sqlalchemy import event

from connectors.calendar.models import Calendar, Connection, Reminder
from hub import fanout, registry, states
from hub.calendars.wiring import build_store
from hub.callbacks import delivery
from hub.callbacks import jobs as callback_jobs
from hub.db import transaction
from hub.models import Account, Message, utcnow
from hub.services import Services
from tests.hub.conftest import make_account

LATER = timedelta(minutes=10)


class Recorder:
    """A connector that records what it is told, and fails when asked to."""

    name = "google_calendar"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.failures = 0

    def handle_status(self, message_id: str, status: str, data: Mapping[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("connector down")
        self.calls.append((message_id, status, dict(data)))


@pytest.fixture
def account(services: Services) -> Account:
    return make_account(services, credits=None)


@pytest.fixture
def recorder(services: Services) -> Iterator[Recorder]:
    found = Recorder()
    registry.install(services, "google_calendar", found)
    yield found
    registry.forget(services)


def add_messages(services: Services, account: Account, count: int, source: str,
                 status: str = "scheduled", prefix: str = "m") -> list[str]:
    ids = [f"msg_{prefix}{i}_{source[:3]}" for i in range(count)]
    with transaction(services.sessions) as session:
        session.add_all(Message(id=i, account_id=account.id, to="+33612345678", text="Hi",
                                status=status, encoding="GSM-7", segments=1, source=source)
                        for i in ids)
    return ids


def move(services: Services, ids: list[str], target: str, **values: Any) -> int:
    with transaction(services.sessions) as session:
        return states.move(session, ids, target, values=values)


def test_a_reminder_status_change_reaches_the_connector_after_the_commit(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "google_calendar")
    [api] = add_messages(services, account, 1, "api")
    move(services, [reminder, api], "accepted")
    assert recorder.calls == []  # nothing is called inside the move's transaction
    assert fanout.pending(services) == [(reminder, "accepted")]
    assert fanout.run_pass(services) == 1
    assert recorder.calls == [(reminder, "accepted",
                               {"account": account.id, "source": "google_calendar",
                                "reason": None})]
    assert fanout.pending(services) == []
    assert fanout.run_pass(services) == 0


def test_a_rolled_back_move_queues_nothing(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "outlook_calendar")
    with pytest.raises(RuntimeError), transaction(services.sessions) as session:
        assert states.move(session, [reminder], "accepted") == 1
        raise RuntimeError("rolled back")
    assert fanout.pending(services) == []


def test_one_message_s_moves_reach_the_connector_in_order_in_one_pass(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "google_calendar", status="accepted")
    move(services, [reminder], "submitted")
    move(services, [reminder], "failed", reason="operator_rejected")
    assert fanout.run_pass(services) == 2
    assert [(status, data["reason"]) for _, status, data in recorder.calls] == [
        ("submitted", None), ("failed", "operator_rejected")]


def test_a_failing_connector_gets_the_change_again_later_and_blocks_the_next_one(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "google_calendar", status="accepted")
    move(services, [reminder], "submitted")
    move(services, [reminder], "delivered")
    recorder.failures = 1
    now = utcnow()
    assert fanout.run_pass(services, now=now) == 0
    assert recorder.calls == []
    assert fanout.run_pass(services, now=now + timedelta(seconds=1)) == 0  # not due yet
    assert fanout.run_pass(services, now=now + fanout.FIRST_DELAY) == 2
    assert [status for _, status, _ in recorder.calls] == ["submitted", "delivered"]


def test_a_change_claimed_by_a_worker_that_died_is_handed_over_again(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "google_calendar")
    move(services, [reminder], "cancelled")
    now = utcnow()
    assert len(fanout.claim(services, now)) == 1  # a worker claims it, then dies
    assert fanout.run_pass(services, now=now) == 0  # leased: invisible to the others
    assert fanout.run_pass(services, now=now + fanout.LEASE) == 1
    assert recorder.calls[0][:2] == (reminder, "cancelled")


def test_a_connector_that_never_takes_a_change_ends_up_dropping_it(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "google_calendar")
    move(services, [reminder], "accepted")
    recorder.failures = fanout.MAX_ATTEMPTS
    now = utcnow()
    for _ in range(fanout.MAX_ATTEMPTS):
        fanout.run_pass(services, now=now)
        now += fanout.MAX_DELAY
    assert fanout.pending(services) == [] and recorder.calls == []


def test_api_messages_cost_the_same_statements_per_move_whatever_their_number(
        services: Services, account: Account) -> None:
    def statements(count: int, prefix: str) -> int:
        ids = add_messages(services, account, count, "api", prefix=prefix)
        seen: list[str] = []

        def record(*args: Any) -> None:
            seen.append(str(args[2]))

        engine = services.sessions.kw["bind"]
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert move(services, ids, "accepted") == count
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert sum("connector_status_queue" in s for s in seen) == 1
        return len(seen)

    assert statements(5, "a") == statements(2000, "b")
    assert fanout.pending(services) == []


def test_the_calendar_connector_marks_its_reminder_sent(
        services: Services, account: Account) -> None:
    store = build_store(services)
    store.save_connection(Connection("calc_1", account.id, "google", user="dr@example.com"))
    store.save_calendar(Calendar("cal_1", "calc_1", "dr@example.com", "Cabinet", selected=True))
    [message] = add_messages(services, account, 1, "google_calendar", status="accepted")
    start = datetime.now(UTC) + timedelta(days=2)
    store.save_reminder(Reminder("k1", "cal_1", "ev1", "crule_1", start, start - LATER,
                                 "+33612345678", "scheduled", message_id=message))
    move(services, [message], "submitted")
    assert fanout.run_pass(services) == 1
    found = store.reminder_by_message(message)
    assert found is not None and found.status == "sent"
    registry.forget(services)


def test_the_callbacks_worker_job_hands_changes_over(
        services: Services, account: Account, recorder: Recorder) -> None:
    [reminder] = add_messages(services, account, 1, "google_calendar")
    move(services, [reminder], "accepted")
    callback_jobs.use(services)
    try:
        assert delivery.kick(services)
        assert services.redis is not None
        SimpleWorker([services.queue("callbacks")], connection=services.redis).work(burst=True)
    finally:
        callback_jobs.use(None)
    assert [status for _, status, _ in recorder.calls] == ["accepted"]
    assert fanout.pending(services) == []
