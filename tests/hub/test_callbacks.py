"""Outbound callbacks end to end on a real loopback receiver: outbox written with the status
change, ordered signed delivery, an hour-long outage, dead letters and replay, secret rotation,
the SSRF guard at delivery, and the database store's claims."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select, update

from connectors.base import SmsRequest
from hub import ledger, pipeline, receipts
from hub.callbacks import delivery, endpoints, jobs, store
from hub.callbacks.delivery import Deliverer
from hub.callbacks.store import DbCallbackStore
from hub.config import Settings
from hub.db import transaction
from hub.models import (
    Account,
    CallbackAttempt,
    CallbackDeadLetter,
    CallbackEndpoint,
    CallbackEvent,
    CallbackQueueItem,
    utcnow,
)
from hub.receipts import Sent
from hub.replies import record_inbound
from hub.services import Services
from sms_core.dispatch.types import DeliveryReport, InboundSms, SubmitOutcome
from tests.hub.conftest import make_account, seed_prices
from tests.webhooks.conftest import Receiver, receiver, status
from webhooks import ManualClock, parse_event, verify

__all__ = ["receiver"]  # the loopback receiver fixture, shared with tests/webhooks

NUMBER = "+33612345678"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, redis_url=redis_url,
                    secret_key="test", batch_size=50, callback_allowlist="127.0.0.1",
                    callback_allow_http=True)


@pytest.fixture
def account(services: Services) -> Account:
    seed_prices(services)
    return make_account(services)


@pytest.fixture
def secret(services: Services, account: Account, receiver: Receiver) -> str:
    with transaction(services.sessions) as session:
        _, shown = endpoints.set_url(session, services.settings, account, receiver.url())
    assert shown is not None and shown.startswith("whsec_")
    return shown


@pytest.fixture
def clock() -> ManualClock:
    """A worker clock a little ahead of the test's own writes, so they are due at once."""
    return ManualClock(utcnow() + timedelta(minutes=2))


@pytest.fixture
def deliverer(services: Services, clock: ManualClock) -> Iterator[Deliverer]:
    found = Deliverer(services, clock=clock, rng=random.Random(7), timeout=2.0)
    yield found
    assert found.http is not None
    found.http.close()  # no kept-alive connection holds the receiver's shutdown


def send_and_deliver(services: Services, account: Account, operator_id: str = "op-1") -> str:
    """Submit one message, record its operator acceptance and its delivery receipt."""
    request = SmsRequest(account.id, NUMBER, text=f"Hi {operator_id}")
    [result] = pipeline.submit(services, account, [request])
    assert result.message_id is not None and result.status == "accepted"
    sent = Sent(result.message_id, account.id, Decimal("0.05"), 0)
    receipts.record_outcomes(services, [(sent, SubmitOutcome(result.message_id, True,
                                                             [operator_id]))])
    receipts.record_report(services, DeliveryReport(operator_id, "delivered"))
    return result.message_id


def delivered_types(receiver: Receiver, ok_only: bool = True) -> list[str]:
    return [parse_event(r.body).type for r in receiver.requests]


def count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def run_until(deliverer: Deliverer, clock: ManualClock, hours: float, step: timedelta) -> None:
    """Advance the fake clock by ``step`` up to ``hours``, running a delivery pass each time."""
    end = clock() + timedelta(hours=hours)
    while clock() < end:
        clock.advance(step)
        deliverer.run()


def test_status_changes_arrive_in_order_signed_with_the_secret(
        services: Services, account: Account, secret: str, receiver: Receiver,
        deliverer: Deliverer) -> None:
    message_id = send_and_deliver(services, account)
    assert count(services, CallbackEvent) == 3  # written with the changes, before any send
    outcomes = deliverer.run()
    assert [o.state for o in outcomes] == ["delivered"] * 3
    assert delivered_types(receiver) == ["message.accepted", "message.submitted",
                                         "message.delivered"]
    for request in receiver.requests:
        verify(request.headers, request.body, secret, clock=deliverer.clock)
        event = parse_event(request.body)
        assert event.data["message_id"] == message_id
        assert request.headers["Webhook-Id"] == event.id
    assert parse_event(receiver.requests[-1].body).data["status"] == "delivered"
    assert count(services, CallbackQueueItem) == 0
    assert count(services, CallbackAttempt) == 3


def test_a_forged_secret_does_not_verify(
        services: Services, account: Account, secret: str, receiver: Receiver,
        deliverer: Deliverer) -> None:
    send_and_deliver(services, account)
    deliverer.run()
    from webhooks import VerificationError, generate_secret

    with pytest.raises(VerificationError):
        verify(receiver.requests[0].headers, receiver.requests[0].body, generate_secret(),
               clock=deliverer.clock)


def test_an_hour_long_outage_loses_nothing_and_keeps_the_order(
        services: Services, account: Account, secret: str, receiver: Receiver,
        deliverer: Deliverer, clock: ManualClock) -> None:
    receiver.respond(status(500))
    send_and_deliver(services, account)
    run_until(deliverer, clock, hours=1, step=timedelta(minutes=1))
    failures = len(receiver.requests)
    assert failures >= 5  # 5 s, 30 s, 2 min, 10 min, 30 min...
    assert set(delivered_types(receiver)) == {"message.accepted"}  # later events wait
    receiver.respond(status(200))
    run_until(deliverer, clock, hours=3, step=timedelta(minutes=5))
    assert delivered_types(receiver)[failures:] == ["message.accepted", "message.submitted",
                                                    "message.delivered"]
    assert count(services, CallbackQueueItem) == 0
    assert count(services, CallbackDeadLetter) == 0
    for request in receiver.requests[failures:]:
        verify(request.headers, request.body, secret, tolerance=4 * 3600, clock=clock)


def test_dead_letters_after_a_day_then_a_replay_delivers(
        services: Services, account: Account, secret: str, receiver: Receiver,
        deliverer: Deliverer, clock: ManualClock) -> None:
    receiver.respond(status(503))
    send_and_deliver(services, account)
    run_until(deliverer, clock, hours=25, step=timedelta(hours=1))
    assert count(services, CallbackQueueItem) == 0
    with services.sessions() as session:
        letters = list(session.scalars(select(CallbackDeadLetter).order_by(CallbackDeadLetter.id)))
        types = [session.get(CallbackEvent, letter.event_id).type for letter in letters]  # type: ignore[union-attr]
    assert types == ["message.accepted", "message.submitted", "message.delivered"]
    assert all(letter.last_error == "http_503" for letter in letters)
    receiver.respond(status(200))
    before = len(receiver.requests)
    with transaction(services.sessions) as session:
        store.replay(session, session.get(CallbackDeadLetter, letters[2].id), clock())  # type: ignore[arg-type]
    deliverer.run()
    assert delivered_types(receiver)[before:] == ["message.delivered"]
    with services.sessions() as session:
        assert session.get(CallbackDeadLetter, letters[2].id).replayed_at is not None  # type: ignore[union-attr]


def test_rotation_signs_with_both_secrets_during_the_grace_period(
        services: Services, account: Account, secret: str, receiver: Receiver,
        deliverer: Deliverer, clock: ManualClock) -> None:
    with transaction(services.sessions) as session:
        _, new_secret = endpoints.rotate(session, services.settings, account.id, now=clock())
    assert new_secret != secret
    send_and_deliver(services, account)
    deliverer.run()
    request = receiver.requests[0]
    assert len(request.headers["Webhook-Signature"].split()) == 2
    verify(request.headers, request.body, secret, clock=clock)
    verify(request.headers, request.body, new_secret, clock=clock)
    clock.advance(hours=25)
    send_and_deliver(services, account, operator_id="op-2")
    deliverer.run()
    late = receiver.requests[-1]
    assert len(late.headers["Webhook-Signature"].split()) == 1
    verify(late.headers, late.body, new_secret, clock=clock)


def test_secrets_are_encrypted_at_rest(services: Services, account: Account, secret: str) -> None:
    with services.sessions() as session:
        row = session.scalar(select(CallbackEndpoint).where(
            CallbackEndpoint.account_id == account.id))
    assert row is not None and secret not in row.secret and "whsec_" not in row.secret


def test_a_loopback_url_without_the_allowlist_is_refused_at_delivery(
        services: Services, account: Account, secret: str, receiver: Receiver,
        clock: ManualClock) -> None:
    strict = Services(services.settings.replace(callback_allowlist=""), services.sessions,
                      services.redis)
    send_and_deliver(services, account)
    outcomes = Deliverer(strict, clock=clock).run()
    assert [o.state for o in outcomes] == ["dead"] * 3
    assert receiver.requests == []
    with services.sessions() as session:
        errors = set(session.scalars(select(CallbackAttempt.error)))
    assert len(errors) == 1 and next(iter(errors)).startswith("unsafe_url")  # type: ignore[union-attr]


def test_a_loopback_url_without_the_allowlist_is_refused_at_registration(
        services: Services, account: Account, receiver: Receiver) -> None:
    strict = services.settings.replace(callback_allowlist="")
    with transaction(services.sessions) as session, \
            pytest.raises(endpoints.CallbackUrlRefused) as refused:
        endpoints.set_url(session, strict, account, receiver.url())
    assert refused.value.status == 422


def test_accounts_without_callbacks_record_no_events(
        services: Services, account: Account) -> None:
    requests = [SmsRequest(account.id, f"+336123456{i:02d}", text="Hi") for i in range(60)]
    results = pipeline.submit(services, account, requests)
    assert {r.status for r in results} == {"accepted"}
    assert count(services, CallbackEvent) == 0


def test_a_message_callback_url_is_used_without_an_account_endpoint(
        services: Services, account: Account, receiver: Receiver,
        deliverer: Deliverer) -> None:
    request = SmsRequest(account.id, NUMBER, text="Hi", callback_url=receiver.url("/own"))
    [result] = pipeline.submit(services, account, [request])
    deliverer.run()
    assert [r.path for r in receiver.requests] == ["/own"]
    assert parse_event(receiver.requests[0].body).data["message_id"] == result.message_id


def test_the_same_transition_is_reported_once(
        services: Services, account: Account, secret: str) -> None:
    send_and_deliver(services, account)
    receipts.record_report(services, DeliveryReport("op-1", "delivered"))
    with services.sessions() as session:
        types = list(session.scalars(select(CallbackEvent.type)))
    assert sorted(types) == ["message.accepted", "message.delivered", "message.submitted"]


def test_replies_opt_outs_and_low_balance_become_events(
        services: Services, account: Account, secret: str) -> None:
    send_and_deliver(services, account)
    record_inbound(services, InboundSms(NUMBER, "36000", "STOP", utcnow()))
    with transaction(services.sessions) as session:
        ledger.set_low_balance_threshold(session, account, Decimal("99.92"))
    pipeline.submit(services, account, [SmsRequest(account.id, "+33612345679", text="Hi")])
    with services.sessions() as session:
        events = {row.type: row.payload for row in session.scalars(select(CallbackEvent))}
    assert events["reply.received"]["data"]["text"] == "STOP"
    assert events["optout.added"]["data"]["number"] == NUMBER
    assert Decimal(events["balance.low"]["data"]["balance"]) < Decimal("99.92")


def test_claimed_heads_are_invisible_to_a_second_worker(services: Services) -> None:
    first, second = DbCallbackStore(services.sessions), DbCallbackStore(services.sessions)
    now = utcnow()
    with transaction(services.sessions) as session:
        account = Account(id="acc_claims", name="c")
        session.add(account)
        session.flush()
        session.add_all(CallbackEvent(id=f"evt_{i}", account_id=account.id, type="balance.low")
                        for i in range(6))
    for i in range(6):
        first.append(f"k{i % 3}", f"evt_{i}", now)
    claimed = first.due_heads(now, 100)
    assert sorted(item.event_id for item in claimed) == ["evt_0", "evt_1", "evt_2"]
    assert second.due_heads(now, 100) == []
    assert second.due_heads(now + store.DEFAULT_LEASE + timedelta(seconds=1), 100) != []


@pytest.fixture
def callback_jobs(services: Services) -> Iterator[None]:
    jobs.use(services)
    yield
    jobs.use(None)


def test_the_rq_job_delivers_and_schedules_the_next_pass(
        services: Services, account: Account, secret: str, receiver: Receiver,
        callback_jobs: None) -> None:
    send_and_deliver(services, account)
    assert delivery.kick(services)
    assert not delivery.kick(services)  # one link of the chain at a time
    assert services.redis is not None
    SimpleWorker([services.queue("callbacks")], connection=services.redis).work(burst=True)
    assert delivered_types(receiver) == ["message.accepted", "message.submitted",
                                         "message.delivered"]
    scheduled = services.queue("callbacks").scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1


def test_a_queued_event_for_an_endpoint_without_url_goes_to_dead_letters(
        services: Services, account: Account, secret: str, receiver: Receiver,
        deliverer: Deliverer) -> None:
    [result] = pipeline.submit(services, account, [SmsRequest(account.id, NUMBER, text="Hi")])
    with transaction(services.sessions) as session:
        session.execute(update(CallbackEndpoint).values(url=None))
    assert [o.state for o in deliverer.run()] == ["dead"]
    assert receiver.requests == []
    assert result.message_id is not None
