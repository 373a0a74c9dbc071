"""Callbacks end to end with a fast clock: retries, dead letters, per-message order."""

from __future__ import annotations

import random
from datetime import timedelta

import requests
from werkzeug.wrappers import Request, Response

from tests.webhooks.conftest import Receiver, slow, status
from webhooks import signing
from webhooks.clock import ManualClock
from webhooks.delivery import DeliveryAttempt, deliver
from webhooks.events import Event, make_event, parse_event
from webhooks.ordering import (
    CallbackQueue,
    MemoryCallbackStore,
    Outcome,
    QueuedCallback,
    process_due,
)
from webhooks.ssrf import safe_session

SECRET = signing.generate_secret()


class Harness:
    """A queue over a memory store, a real receiver, and a clock that jumps to the next due."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.clock = ManualClock()
        self.store = MemoryCallbackStore()
        self.queue = CallbackQueue(self.store, clock=self.clock, rng=random.Random(3))
        self.session: requests.Session = safe_session(allow_http=True, allowlist=["127.0.0.1"])
        self.events: dict[str, Event] = {}
        self.outcomes: list[Outcome] = []

    def push(self, key: str, kind: str) -> Event:
        event = make_event(kind, {"message_id": key}, clock=self.clock)
        self.events[event.id] = event
        self.queue.push(key, event.id)
        return event

    def send(self, item: QueuedCallback) -> DeliveryAttempt:
        return deliver(
            self.receiver.url(f"/{item.key}"),
            self.events[item.event_id],
            SECRET,
            session=self.session,
            timeout=(1, 0.2),
            attempt=item.attempts + 1,
            clock=self.clock,
        )

    def run(self, max_passes: int = 200) -> None:
        """Process due work, then jump the clock to the earliest pending retry."""
        for _ in range(max_passes):
            self.outcomes += process_due(self.queue, self.send)
            due = self.store.earliest_due()
            if due is None:
                return
            self.clock.set(max(self.clock(), due))
        raise AssertionError("the queue never drained")


def test_retries_after_500s_and_a_timeout_then_delivers(receiver: Receiver) -> None:
    receiver.respond(status(500), status(503), slow(0.6), status(200))
    h = Harness(receiver)
    event = h.push("msg_1", "message.delivered")
    h.run()
    assert [o.state for o in h.outcomes] == ["retry", "retry", "retry", "delivered"]
    assert h.outcomes[2].item.last_error == "timeout"
    assert len(receiver.requests) == 4
    for got in receiver.requests:
        assert signing.verify(got.headers, got.body, SECRET, clock=h.clock).id == event.id
    assert h.clock() - event.created_at < timedelta(minutes=5)


def test_dead_letter_after_the_24_hour_horizon(receiver: Receiver) -> None:
    receiver.respond(status(500))
    h = Harness(receiver)
    event = h.push("msg_2", "message.failed")
    h.run()
    states = [o.state for o in h.outcomes]
    assert states[-1] == "dead" and set(states[:-1]) == {"retry"}
    assert len(receiver.requests) == len(states) == 11
    last = h.outcomes[-1]
    assert last.item.attempts == 11 and last.item.last_error == "http_500"
    assert h.clock() - event.created_at <= timedelta(hours=24)
    assert h.clock() - event.created_at > timedelta(hours=22)


def test_a_permanent_refusal_is_dead_at_once(receiver: Receiver) -> None:
    receiver.respond(status(400))
    h = Harness(receiver)
    h.push("msg_3", "message.delivered")
    h.run()
    assert [o.state for o in h.outcomes] == ["dead"]


def test_events_of_one_message_go_out_in_order(receiver: Receiver) -> None:
    receiver.respond(status(500), status(500), status(200))
    h = Harness(receiver)
    submitted = h.push("msg_4", "message.submitted")
    delivered = h.push("msg_4", "message.delivered")
    assert h.queue.may_send("msg_4", submitted.id)
    assert not h.queue.may_send("msg_4", delivered.id)
    h.run()
    sent = [parse_event(r.body).type for r in receiver.requests]
    assert sent == ["message.submitted"] * 3 + ["message.delivered"]


def test_a_retrying_message_does_not_hold_back_another(receiver: Receiver) -> None:
    def by_path(request: Request) -> Response:
        return Response(status=500 if request.path == "/slow_msg" else 200)

    receiver.respond(by_path)
    h = Harness(receiver)
    h.push("slow_msg", "message.submitted")
    h.push("fast_msg", "message.submitted")
    outcomes = process_due(h.queue, h.send)
    assert sorted((o.item.key, o.state) for o in outcomes) == [
        ("fast_msg", "delivered"),
        ("slow_msg", "retry"),
    ]


def test_a_dead_head_releases_the_next_event(receiver: Receiver) -> None:
    receiver.respond(status(410), status(200))
    h = Harness(receiver)
    h.push("msg_5", "message.submitted")
    h.push("msg_5", "message.delivered")
    h.run()
    assert [o.state for o in h.outcomes] == ["dead", "delivered"]


def test_events_stuck_past_their_horizon_get_one_attempt(receiver: Receiver) -> None:
    receiver.respond(status(500))
    h = Harness(receiver)
    h.push("msg_6", "message.submitted")
    h.push("msg_6", "message.delivered")
    h.run()
    states = [o.state for o in h.outcomes]
    assert states.count("dead") == 2 and states[-2:] == ["dead", "dead"]
