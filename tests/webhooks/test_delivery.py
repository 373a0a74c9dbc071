"""Signed deliveries to a real loopback receiver: outcomes, redirects, caps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from tests.webhooks.conftest import Receiver, redirect, slow, status
from webhooks import signing
from webhooks.clock import ManualClock
from webhooks.delivery import Endpoint, deliver
from webhooks.events import Event, make_event
from webhooks.ssrf import safe_session

SECRET = signing.generate_secret()


@pytest.fixture
def session() -> requests.Session:
    return safe_session(allow_http=True, allowlist=["127.0.0.1"])


@pytest.fixture
def event() -> Event:
    return make_event("message.delivered", {"message_id": "msg_1", "status": "delivered"})


def test_a_delivery_is_verifiable_with_only_the_secret(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2)
    assert result.ok and result.status_code == 200 and result.error is None
    got = receiver.requests[0]
    assert got.body == event.body()
    assert got.headers["Content-Type"] == "application/json"
    assert signing.verify(got.headers, got.body, SECRET).id == event.id


def test_two_secrets_during_rotation_both_verify(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    deliver(receiver.url(), event, [old, new], session=session, timeout=2)
    got = receiver.requests[0]
    assert signing.verify(got.headers, got.body, old).id == event.id
    assert signing.verify(got.headers, got.body, new).id == event.id


def test_extra_headers_cannot_override_the_signature(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    endpoint = Endpoint(receiver.url(), headers={"X-Token": "t", "webhook-id": "forged"})
    deliver(endpoint, event, SECRET, session=session, timeout=2)
    got = receiver.requests[0]
    assert got.headers["X-Token"] == "t" and got.headers["Webhook-Id"] == event.id


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(500, True), (503, True), (408, True), (429, True), (400, False), (404, False), (410, False)],
)
def test_failures_are_classified(
    receiver: Receiver, session: requests.Session, event: Event, code: int, retryable: bool
) -> None:
    receiver.respond(status(code, b"nope"))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2, attempt=3)
    assert not result.ok and result.status_code == code
    assert result.retryable is retryable and result.error == f"http_{code}"
    assert result.attempt == 3 and result.response_body == "nope"


def test_retry_after_is_reported(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    receiver.respond(status(429, headers={"Retry-After": "120"}))
    assert deliver(receiver.url(), event, SECRET, session=session, timeout=2).retry_after == 120


def test_a_timeout_is_retryable(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    receiver.respond(slow(1.0))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=(1, 0.2))
    assert not result.ok and result.retryable and result.error == "timeout"
    assert result.status_code is None and result.latency_ms < 900


def test_a_closed_port_is_a_retryable_connection_error(
    session: requests.Session, event: Event
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = deliver(f"http://127.0.0.1:{port}/", event, SECRET, session=session, timeout=1)
    assert result.retryable and result.error is not None
    assert result.error.startswith("connection_error")


def test_a_forbidden_url_is_refused_for_good(event: Event) -> None:
    result = deliver("http://10.0.0.1/", event, SECRET, session=safe_session(allow_http=True))
    assert not result.ok and not result.retryable and result.status_code is None
    assert result.error is not None and result.error.startswith("unsafe_url")


@pytest.mark.parametrize("url", ["https:///nohost", "hooks.example/cb", "http://[::1"])
def test_a_malformed_url_is_refused_for_good(url: str, event: Event) -> None:
    result = deliver(url, event, SECRET, session=safe_session(allow_http=True))
    assert not result.ok and not result.retryable and result.error is not None
    assert result.error.startswith(("invalid_url", "unsafe_url"))


def test_307_to_an_allowed_address_is_followed_with_the_same_body(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    receiver.respond(redirect("/moved"), status(204))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2)
    assert result.ok and result.url.endswith("/moved")
    assert [r.path for r in receiver.requests] == ["/hook", "/moved"]
    assert receiver.requests[1].body == event.body()


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/steal",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://2130706434:{port}/",
        "http://[::ffff:127.0.0.2]:{port}/",
    ],
)
def test_a_redirect_to_a_forbidden_address_is_refused(
    receiver: Receiver, session: requests.Session, event: Event, target: str
) -> None:
    """Only 127.0.0.1 is allowlisted; 2130706434 is 127.0.0.2 in decimal notation."""
    receiver.respond(redirect(target.format(port=receiver.port), 308))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2)
    assert not result.ok and not result.retryable
    assert result.error is not None and result.error.startswith("unsafe_url")
    assert len(receiver.requests) == 1


def test_redirects_that_would_drop_the_body_are_not_followed(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    receiver.respond(redirect("/moved", 302))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2)
    assert result.error == "redirect_not_followed" and not result.retryable
    assert len(receiver.requests) == 1


def test_redirect_loops_stop(receiver: Receiver, session: requests.Session, event: Event) -> None:
    receiver.respond(redirect("/hook"))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2, max_redirects=2)
    assert result.error == "too_many_redirects" and len(receiver.requests) == 3


def test_the_response_body_is_read_up_to_the_cap(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    receiver.respond(status(200, b"y" * 100_000))
    result = deliver(
        receiver.url(), event, SECRET, session=session, timeout=2, max_response_bytes=512
    )
    assert result.ok and result.response_body == "y" * 512


def test_the_attempt_time_comes_from_the_clock(
    receiver: Receiver, session: requests.Session, event: Event
) -> None:
    clock = ManualClock(datetime.now(UTC))
    result = deliver(receiver.url(), event, SECRET, session=session, timeout=2, clock=clock)
    assert result.at == clock.now
    assert result.to_dict()["at"] == clock.now.isoformat()
    sent = receiver.requests[0].headers["Webhook-Timestamp"]
    assert sent == str(int(clock.now.timestamp()))
