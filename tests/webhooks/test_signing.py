"""Standard Webhooks signatures: the published vector, rotation, tolerance, forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from webhooks import signing
from webhooks.clock import ManualClock
from webhooks.errors import VerificationError

# The example of the Standard Webhooks reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.fromtimestamp(SPEC_TS, UTC))


def test_signature_matches_the_published_example() -> None:
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_sign_produces_the_three_headers(clock: ManualClock) -> None:
    headers = signing.sign(SPEC_ID, SPEC_BODY, SPEC_SECRET, clock=clock)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_a_receiver_can_verify_with_only_the_secret_and_hmac(clock: ManualClock) -> None:
    secret = signing.generate_secret()
    headers = signing.sign("evt_1", b'{"a":1}', secret, clock=clock)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + b'{"a":1}'
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_verify_accepts_any_header_case(clock: ManualClock) -> None:
    headers = {
        "Webhook-Id": SPEC_ID,
        "Webhook-Timestamp": str(SPEC_TS),
        "Webhook-Signature": SPEC_SIGNATURE,
    }
    verified = signing.verify(headers, SPEC_BODY, SPEC_SECRET, clock=clock)
    assert verified == signing.VerifiedMessage(SPEC_ID, SPEC_TS)


def test_rotation_signs_with_both_secrets_and_either_verifies(clock: ManualClock) -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.sign("evt_2", b"{}", [old, new], clock=clock)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert signing.verify(headers, b"{}", old, clock=clock).id == "evt_2"
    assert signing.verify(headers, b"{}", new, clock=clock).id == "evt_2"
    assert signing.verify(headers, b"{}", [signing.generate_secret(), new], clock=clock)
    with pytest.raises(VerificationError):
        signing.verify(headers, b"{}", signing.generate_secret(), clock=clock)


def test_unknown_versions_and_garbage_entries_are_skipped(clock: ManualClock) -> None:
    header = f"v2,AAAA v1,@@@ v1, {SPEC_SIGNATURE}"
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": header,
    }
    assert signing.verify(headers, SPEC_BODY, SPEC_SECRET, clock=clock).id == SPEC_ID


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="},
            "signature_invalid",
        ),
        ({"webhook-id": "msg_other"}, "signature_invalid"),
        ({"webhook-timestamp": "hello"}, "signature_invalid"),
        ({"webhook-timestamp": str(SPEC_TS - 301)}, "stale_request"),
        ({"webhook-timestamp": str(SPEC_TS + 301)}, "stale_request"),
        ({"webhook-id": ""}, "signature_invalid"),
    ],
)
def test_forged_or_stale_messages_are_refused(
    clock: ManualClock, change: dict[str, str], code: str
) -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
        **change,
    }
    with pytest.raises(VerificationError) as info:
        signing.verify(headers, SPEC_BODY, SPEC_SECRET, clock=clock)
    assert info.value.code == code
    assert info.value.status == 401


def test_a_changed_body_is_refused(clock: ManualClock) -> None:
    headers = signing.sign(SPEC_ID, SPEC_BODY, SPEC_SECRET, clock=clock)
    with pytest.raises(VerificationError):
        signing.verify(headers, SPEC_BODY + b" ", SPEC_SECRET, clock=clock)


def test_timestamps_inside_the_tolerance_pass(clock: ManualClock) -> None:
    headers = signing.sign(SPEC_ID, SPEC_BODY, SPEC_SECRET, clock=clock)
    clock.advance(seconds=300)
    assert signing.verify(headers, SPEC_BODY, SPEC_SECRET, clock=clock)
    clock.advance(seconds=1)
    with pytest.raises(VerificationError):
        signing.verify(headers, SPEC_BODY, SPEC_SECRET, clock=clock)


def test_generated_secrets_are_random_and_decodable() -> None:
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first != second and first.startswith("whsec_")
    assert len(signing.decode_secret(first)) == 32
    with pytest.raises(ValueError):
        signing.generate_secret(8)
    with pytest.raises(ValueError):
        signing.decode_secret("whsec_not base64!")
    assert signing.decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == signing.decode_secret(
        SPEC_SECRET
    )
