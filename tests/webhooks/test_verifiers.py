"""Inbound verifiers, provider by provider, with published or hand-derived vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from webhooks.errors import VerificationError
from webhooks.replay import MemorySeenStore, check_timestamp, remember
from webhooks.verifiers import (
    graph_validation_token,
    hubspot_uri,
    sign_prestashop,
    verify_basic_auth,
    verify_google_channel,
    verify_graph_notifications,
    verify_hmac,
    verify_hubspot,
    verify_prestashop,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def codes(call: object) -> str:
    with pytest.raises(VerificationError) as info:
        call()  # type: ignore[operator]
    assert info.value.status == 401
    return info.value.code


# --- shared-secret HMAC and the PrestaShop module ------------------------------------------


def test_hmac_with_timestamp_by_hand() -> None:
    body = b'{"id":"dlr-1","status":"DELIVRD"}'
    sig = hmac.new(b"s3cret", f"{TS}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"x-op-sig": f"sha256={sig}", "X-Op-Ts": str(TS)}
    signed = verify_hmac(
        body, headers, "s3cret", now=NOW, signature_header="X-Op-Sig", timestamp_header="X-Op-Ts"
    )
    assert signed.timestamp == TS and signed.signature == f"sha256={sig}"


def test_hmac_base64_without_prefix_and_rotation() -> None:
    body = b"a=1"
    sig = base64.b64encode(hmac.new(b"new", f"{TS}.a=1".encode(), hashlib.sha256).digest())
    headers = {"X-Signature": sig.decode(), "X-Timestamp": str(TS)}
    assert verify_hmac(body, headers, ["old", "new"], now=NOW, prefix="", encoding="base64")
    assert codes(lambda: verify_hmac(body, headers, "old", now=NOW, prefix="", encoding="base64"))


def test_hmac_refusals() -> None:
    body = b"{}"
    good = sign_prestashop(body, "k", TS)
    assert verify_prestashop(body, good, "k", now=NOW)
    assert codes(lambda: verify_prestashop(body + b" ", good, "k", now=NOW)) == "signature_invalid"
    assert codes(lambda: verify_prestashop(body, good, "other", now=NOW)) == "signature_invalid"
    stale = sign_prestashop(body, "k", TS - 301)
    assert codes(lambda: verify_prestashop(body, stale, "k", now=NOW)) == "stale_request"
    future = sign_prestashop(body, "k", TS + 301)
    assert codes(lambda: verify_prestashop(body, future, "k", now=NOW)) == "stale_request"
    assert codes(lambda: verify_prestashop(body, {}, "k", now=NOW)) == "signature_invalid"
    garbage = {**good, "X-Smshub-Signature": "sha256=zz"}
    assert codes(lambda: verify_prestashop(body, garbage, "k", now=NOW)) == "signature_invalid"


def test_prestashop_scheme_is_the_documented_one() -> None:
    headers = sign_prestashop(b'{"order":1}', "module-secret", 1714564800)
    expected = hmac.new(b"module-secret", b'1714564800.{"order":1}', hashlib.sha256).hexdigest()
    assert headers == {
        "X-Smshub-Timestamp": "1714564800",
        "X-Smshub-Signature": f"sha256={expected}",
    }


# --- basic auth ------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth() -> None:
    assert verify_basic_auth(basic("op", "pw:with:colons"), "op", "pw:with:colons") == "op"
    assert codes(lambda: verify_basic_auth(basic("op", "nope"), "op", "pw")) == "signature_invalid"
    assert codes(lambda: verify_basic_auth(basic("x", "pw"), "op", "pw"))
    assert codes(lambda: verify_basic_auth({"Authorization": "Bearer t"}, "op", "pw"))
    assert codes(lambda: verify_basic_auth({"Authorization": "Basic !!"}, "op", "pw"))
    assert codes(lambda: verify_basic_auth({}, "op", "pw"))


# --- Google Calendar push --------------------------------------------------------------------


def google_headers(token: str = "chan-secret", state: str = "exists") -> dict[str, str]:
    return {
        "X-Goog-Channel-ID": "chan-1",
        "X-Goog-Channel-Token": token,
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": "42",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events",
    }


def test_google_channel_token() -> None:
    note = verify_google_channel(google_headers(), "chan-secret", channel_id="chan-1")
    assert (note.resource_state, note.message_number) == ("exists", "42")
    assert codes(lambda: verify_google_channel(google_headers("forged"), "chan-secret"))
    assert codes(lambda: verify_google_channel(google_headers("é"), "chan-secret"))
    assert codes(lambda: verify_google_channel(google_headers(), "chan-secret", channel_id="x"))
    assert codes(lambda: verify_google_channel(google_headers(state=""), "chan-secret"))


# --- Microsoft Graph -------------------------------------------------------------------------


def test_graph_handshake_and_client_state() -> None:
    assert graph_validation_token({"validationToken": "Validation: abc"}) == "Validation: abc"
    assert graph_validation_token({}) is None
    batch = {"value": [{"clientState": "cs", "resource": "me/events/1"}, {"clientState": "cs"}]}
    assert len(verify_graph_notifications(json.dumps(batch).encode(), "cs")) == 2
    batch["value"][1]["clientState"] = "forged"
    assert codes(lambda: verify_graph_notifications(json.dumps(batch).encode(), "cs"))
    assert codes(lambda: verify_graph_notifications(b'{"value": []}', "cs"))
    assert codes(lambda: verify_graph_notifications(b"not json", "cs"))
    assert codes(lambda: verify_graph_notifications(b'{"value": [{}]}', "cs"))


# --- HubSpot ---------------------------------------------------------------------------------


def test_hubspot_v2_published_example() -> None:
    """developers.hubspot.com, v2 request validation: the GET example and its hash."""
    headers = {
        "X-HubSpot-Signature-Version": "v2",
        "X-HubSpot-Signature": "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
    }
    uri = "https://www.example.com/webhook_uri"
    signed = verify_hubspot("GET", uri, b"", headers, HUBSPOT_SECRET, now=NOW)
    assert signed.version == "v2"
    assert codes(lambda: verify_hubspot("POST", uri, b"", headers, HUBSPOT_SECRET, now=NOW))


def test_hubspot_v2_with_a_utf8_body() -> None:
    body = '{"example_field":"サンプルデータ"}'.encode()
    uri = "https://www.example.com/webhook_uri"
    source = f"{HUBSPOT_SECRET}POST{uri}" + body.decode()
    headers = {
        "X-HubSpot-Signature-Version": "v2",
        "X-HubSpot-Signature": hashlib.sha256(source.encode()).hexdigest(),
    }
    assert verify_hubspot("POST", uri, body, headers, HUBSPOT_SECRET, now=NOW).version == "v2"


def v3_headers(method: str, signed_uri: str, body: str, millis: int) -> dict[str, str]:
    """The v3 algorithm written out independently: base64 HMAC-SHA256 of
    method + decoded URI + body + timestamp, keyed with the client secret."""
    source = f"{method}{signed_uri}{body}{millis}".encode()
    digest = hmac.new(HUBSPOT_SECRET.encode(), source, hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": str(millis),
    }


def test_hubspot_v3_decodes_the_listed_characters() -> None:
    sent = "https://hub.example/hooks/hubspot?email=ann%40example.com&next=%2Fa%3Bb&q=a%20b"
    decoded = "https://hub.example/hooks/hubspot?email=ann@example.com&next=/a;b&q=a%20b"
    assert hubspot_uri(sent) == decoded
    assert hubspot_uri("%3a%2f%3F%21%24%27%28%29%2A%2C") == ":/?!$'()*,"
    body = '[{"eventId":1,"portalId":62515}]'
    millis = TS * 1000 - 1500
    headers = v3_headers("POST", decoded, body, millis)
    signed = verify_hubspot("POST", sent, body.encode(), headers, HUBSPOT_SECRET, now=NOW)
    assert signed.version == "v3" and signed.timestamp == millis / 1000


def test_hubspot_v3_refusals() -> None:
    uri, body = "https://hub.example/h", "[]"
    good = v3_headers("POST", uri, body, TS * 1000)
    assert verify_hubspot("POST", uri, b"[]", good, HUBSPOT_SECRET, now=NOW)
    assert codes(lambda: verify_hubspot("POST", uri + "x", b"[]", good, HUBSPOT_SECRET, now=NOW))
    assert codes(lambda: verify_hubspot("POST", uri, b"[]", good, "other", now=NOW))
    old = v3_headers("POST", uri, body, (TS - 301) * 1000)
    late = NOW
    code = codes(lambda: verify_hubspot("POST", uri, b"[]", old, HUBSPOT_SECRET, now=late))
    assert code == "stale_request"
    no_ts = {"X-HubSpot-Signature-v3": good["X-HubSpot-Signature-v3"]}
    assert codes(lambda: verify_hubspot("POST", uri, b"[]", no_ts, HUBSPOT_SECRET, now=NOW))
    v1 = {"X-HubSpot-Signature-Version": "v1", "X-HubSpot-Signature": "x"}
    assert codes(lambda: verify_hubspot("POST", uri, b"[]", v1, HUBSPOT_SECRET, now=NOW))


# --- replay helpers --------------------------------------------------------------------------


def test_seen_store_expires_keys_with_the_clock() -> None:
    clock_now = [NOW]
    store = MemorySeenStore(lambda: clock_now[0])
    assert store.add_if_new("k", ttl=60)
    assert not store.add_if_new("k", ttl=60) and "k" in store
    clock_now[0] += timedelta(seconds=61)
    assert store.add_if_new("k", ttl=60)
    store.discard("k")
    assert "k" not in store
    remember(store, "r", 10)
    with pytest.raises(VerificationError) as info:
        remember(store, "r", 10)
    assert info.value.code == "replayed_request"
    check_timestamp(TS + 300, NOW)
    with pytest.raises(VerificationError):
        check_timestamp(TS + 301, NOW)
