"""The HTTP driver against a local fake operator on loopback."""

from __future__ import annotations

from typing import Any

from sms_core.dispatch.http import HttpDriver, HttpSettings, json_path, message_text
from tests.sms_core.dispatch.fake_operator import OperatorState, fake_operator
from tests.sms_core.dispatch.helpers import run, sms

FIELDS = {"to": "msisdn", "sender": "sender", "text": "message", "message_id": "reference"}


def settings(url: str, **overrides: Any) -> HttpSettings:
    base: dict[str, Any] = {
        "url": url,
        "headers": {"X-Api-Key": "k-123"},
        "fields": FIELDS,
        "static_fields": {"route": "premium"},
        "message_id_path": "data.messages.0.id",
        "to_format": "digits",
        "retries": 2,
    }
    return HttpSettings(**{**base, **overrides})


async def submit_all(driver: HttpDriver, count: int) -> list[Any]:
    await driver.start()
    try:
        return [await driver.submit(sms(n)) for n in range(count)]
    finally:
        await driver.stop()


def test_json_submit_maps_fields_and_reads_the_id() -> None:
    with fake_operator() as (url, state):
        long_text = "Votre colis arrive demain entre 8h et 12h. " * 5
        message = sms(1, long_text)
        assert len(message.parts) == 2

        async def scenario() -> Any:
            driver = HttpDriver("http", settings(url))
            await driver.start()
            try:
                return await driver.submit(message)
            finally:
                await driver.stop()

        outcome = run(scenario())
    assert outcome.ok and outcome.operator_ids == ["1"]
    body = state.requests[0]["body"]
    assert body == {
        "route": "premium",
        "msisdn": "33600000001",
        "sender": "SHOP",
        "message": long_text,
        "reference": "m1",
    }


def test_form_body() -> None:
    with fake_operator() as (url, state):
        outcomes = run(submit_all(HttpDriver("http", settings(url, body="form")), 1))
    assert outcomes[0].ok
    assert state.requests[0]["body"]["msisdn"] == "33600000000"


def test_429_slows_down_and_5xx_retries_then_succeeds() -> None:
    with fake_operator(OperatorState(throttle_first=2, fail_first=1)) as (url, _):
        driver = HttpDriver("http", settings(url))
        outcome = run(submit_all(driver, 1))[0]
    assert outcome.ok and outcome.attempts == 4
    assert driver.throttled == 2 and driver._bucket.rate is not None


def test_4xx_is_permanent_with_the_status_as_code() -> None:
    with fake_operator(OperatorState(invalid_numbers={"33600000000"})) as (url, _):
        outcome = run(submit_all(HttpDriver("http", settings(url)), 1))[0]
    assert not outcome.ok and outcome.permanent
    assert outcome.error_code == "http_400" and "invalid number" in outcome.detail


def test_wrong_key_is_permanent_and_5xx_storm_is_transient_and_marks_down() -> None:
    with fake_operator() as (url, _):
        outcome = run(submit_all(HttpDriver("http", settings(url, headers={})), 1))[0]
        assert (outcome.error_code, outcome.permanent) == ("http_401", True)
    with fake_operator(OperatorState(always=503)) as (url, _):
        driver = HttpDriver("http", settings(url, retries=1, unhealthy_after=2))

        async def scenario() -> tuple[Any, bool]:
            await driver.start()
            try:
                return await driver.submit(sms(1)), driver.healthy
            finally:
                await driver.stop()

        outcome, healthy = run(scenario())
    assert (outcome.error_code, outcome.permanent, healthy) == ("http_503", False, False)


def test_unreachable_operator_is_transient() -> None:
    driver = HttpDriver("http", settings("http://127.0.0.1:9/sms", retries=0, timeout=0.5))
    outcome = run(submit_all(driver, 1))[0]
    assert (outcome.ok, outcome.permanent, outcome.error_code) == (False, False, "http_unreachable")


def test_helpers() -> None:
    assert json_path({"a": [{"b": 3}]}, "a.0.b") == 3
    assert json_path({"a": []}, "a.0.b") is None
    assert message_text(sms(1, "Merci 🙏")) == "Merci 🙏"
