"""Authentication of inbound requests, one function per provider scheme.

Every function is pure (headers, body and settings in; a result out or
:class:`~webhooks.errors.VerificationError` raised), so connectors can call them from their own
views and tests need no web server. Comparisons of secrets and signatures are constant-time.
``headers`` may be any mapping; names are matched case-insensitively.

Schemes:

- :func:`verify_hmac`: a shared secret signs ``f"{timestamp}.".encode() + body`` with
  HMAC-SHA256; header names, prefix and hex/base64 encoding are settings; ±5 minutes.
- :func:`verify_prestashop`: our PrestaShop module's instance of the above:
  ``X-Smshub-Timestamp: <unix seconds>`` and
  ``X-Smshub-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``.
- :func:`verify_basic_auth`: HTTP Basic credentials.
- :func:`verify_google_channel`: Google Calendar push: ``X-Goog-Channel-Token`` must equal the
  token given when the channel was opened.
- :func:`graph_validation_token` / :func:`verify_graph_notifications`: Microsoft Graph change
  notifications: echo the subscription handshake; ``clientState`` of every notification.
- :func:`verify_hubspot`: HubSpot request signatures v3 (HMAC, millisecond timestamp), with
  the v2 fallback (SHA-256 of secret + method + URI + body, no timestamp).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import SIGNATURE_INVALID, STALE_REQUEST, VerificationError
from .replay import DEFAULT_WINDOW, check_timestamp

Secrets = str | Sequence[str]
PRESTASHOP_SIGNATURE = "X-Smshub-Signature"
PRESTASHOP_TIMESTAMP = "X-Smshub-Timestamp"
HUBSPOT_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_HUBSPOT_ESCAPES = re.compile("|".join(HUBSPOT_DECODED), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request whose signature held: the signature (a replay key) and its timestamp."""

    signature: str
    timestamp: float | None
    version: str = ""


@dataclass(frozen=True, slots=True)
class GoogleNotification:
    """The ``X-Goog-*`` headers of a verified Calendar push notification."""

    channel_id: str
    resource_id: str
    resource_state: str
    message_number: str
    resource_uri: str


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value by case-insensitive name, or ``""``."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def verify_hmac(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Secrets,
    *,
    now: datetime,
    signature_header: str = "X-Signature",
    timestamp_header: str = "X-Timestamp",
    prefix: str = "sha256=",
    encoding: str = "hex",
    window: int = DEFAULT_WINDOW,
) -> SignedRequest:
    """Shared-secret HMAC-SHA256 over ``timestamp + "." + body`` (see the module docs)."""
    received = header(headers, signature_header).strip()
    raw_ts = header(headers, timestamp_header).strip()
    if not received or not raw_ts:
        raise VerificationError("missing signature or timestamp header", code=SIGNATURE_INVALID)
    if not raw_ts.isdigit():
        raise VerificationError("malformed timestamp header", code=SIGNATURE_INVALID)
    check_timestamp(int(raw_ts), now, window)
    given = _decode(received.removeprefix(prefix), encoding)
    message = raw_ts.encode() + b"." + body
    for secret in _as_list(secrets):
        if hmac.compare_digest(hmac.new(secret.encode(), message, hashlib.sha256).digest(), given):
            return SignedRequest(received, float(raw_ts))
    raise VerificationError("signature does not match", code=SIGNATURE_INVALID)


def sign_prestashop(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers our PrestaShop module sends; the reference for its PHP implementation."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        PRESTASHOP_TIMESTAMP: str(timestamp),
        PRESTASHOP_SIGNATURE: f"sha256={digest.hexdigest()}",
    }


def verify_prestashop(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Secrets,
    *,
    now: datetime,
    window: int = DEFAULT_WINDOW,
) -> SignedRequest:
    """Our PrestaShop module's scheme: :func:`verify_hmac` with its header names."""
    return verify_hmac(
        body,
        headers,
        secrets,
        now=now,
        signature_header=PRESTASHOP_SIGNATURE,
        timestamp_header=PRESTASHOP_TIMESTAMP,
        window=window,
    )


def verify_basic_auth(headers: Mapping[str, str], username: str, password: str) -> str:
    """Check ``Authorization: Basic``; returns the user name. Both parts are always compared."""
    scheme, _, encoded = header(headers, "Authorization").partition(" ")
    if scheme.lower() != "basic":
        raise VerificationError("basic credentials required", code=SIGNATURE_INVALID)
    try:
        user, sep, given = base64.b64decode(encoded.strip(), validate=True).partition(b":")
    except binascii.Error as exc:
        raise VerificationError("malformed basic credentials", code=SIGNATURE_INVALID) from exc
    user_ok = hmac.compare_digest(user, username.encode())
    password_ok = hmac.compare_digest(given, password.encode())
    if not (sep and user_ok and password_ok):
        raise VerificationError("wrong credentials", code=SIGNATURE_INVALID)
    return username


def verify_google_channel(
    headers: Mapping[str, str], tokens: Secrets, *, channel_id: str | None = None
) -> GoogleNotification:
    """A Calendar push notification whose channel token (and channel id, if given) match."""
    token = header(headers, "X-Goog-Channel-Token")
    if not token or not any(_same(token, t) for t in _as_list(tokens)):
        raise VerificationError("channel token does not match", code=SIGNATURE_INVALID)
    note = GoogleNotification(
        channel_id=header(headers, "X-Goog-Channel-ID"),
        resource_id=header(headers, "X-Goog-Resource-ID"),
        resource_state=header(headers, "X-Goog-Resource-State"),
        message_number=header(headers, "X-Goog-Message-Number"),
        resource_uri=header(headers, "X-Goog-Resource-URI"),
    )
    if not note.resource_state or (channel_id is not None and note.channel_id != channel_id):
        raise VerificationError("not a notification of this channel", code=SIGNATURE_INVALID)
    return note


def graph_validation_token(query: Mapping[str, str]) -> str | None:
    """The token of a Graph subscription handshake, to echo as ``text/plain`` with 200."""
    return query.get("validationToken") or None


def verify_graph_notifications(body: bytes, client_states: Secrets) -> list[dict[str, Any]]:
    """The notifications of a Graph POST; every one must carry one of the ``client_states``."""
    try:
        notifications = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError("not a Graph notification batch", code=SIGNATURE_INVALID) from exc
    if not isinstance(notifications, list) or not notifications:
        raise VerificationError("empty Graph notification batch", code=SIGNATURE_INVALID)
    states = _as_list(client_states)
    for item in notifications:
        given = item.get("clientState") if isinstance(item, dict) else None
        if not isinstance(given, str) or not any(_same(given, s) for s in states):
            raise VerificationError("clientState does not match", code=SIGNATURE_INVALID)
    return notifications


def hubspot_uri(uri: str) -> str:
    """The URI as HubSpot signs it (v3): the characters of its table percent-decoded."""
    return _HUBSPOT_ESCAPES.sub(lambda m: HUBSPOT_DECODED[m.group(0).upper()], uri)


def verify_hubspot(
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    client_secret: str,
    *,
    now: datetime,
    window: int = DEFAULT_WINDOW,
) -> SignedRequest:
    """HubSpot's v3 signature if present, else v2 (``X-HubSpot-Signature-Version: v2``).

    ``uri`` is the full URL HubSpot called, scheme and query included, as configured in the
    app (behind a proxy, not what the local server sees). v1 is refused: it signs only the body.
    """
    v3 = header(headers, "X-HubSpot-Signature-v3")
    if v3:
        return _hubspot_v3(method, uri, body, headers, client_secret, v3, now, window)
    if header(headers, "X-HubSpot-Signature-Version").lower() == "v2":
        given = header(headers, "X-HubSpot-Signature")
        source = client_secret.encode() + method.upper().encode() + uri.encode() + body
        if given and _same(hashlib.sha256(source).hexdigest(), given.lower()):
            return SignedRequest(given, None, "v2")
    raise VerificationError("HubSpot signature missing or wrong", code=SIGNATURE_INVALID)


def _hubspot_v3(
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    given: str,
    now: datetime,
    window: int,
) -> SignedRequest:
    raw_ts = header(headers, "X-HubSpot-Request-Timestamp")
    if not raw_ts.isdigit():
        raise VerificationError("missing HubSpot timestamp", code=SIGNATURE_INVALID)
    seconds = int(raw_ts) / 1000
    if abs(now.timestamp() - seconds) > window:
        raise VerificationError("HubSpot timestamp too old", code=STALE_REQUEST)
    source = method.upper().encode() + hubspot_uri(uri).encode() + body + raw_ts.encode()
    expected = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    if hmac.compare_digest(expected, _decode(given, "base64")):
        return SignedRequest(given, seconds, "v3")
    raise VerificationError("HubSpot signature does not match", code=SIGNATURE_INVALID)


def _decode(value: str, encoding: str) -> bytes:
    """Signature text to bytes; garbage becomes an empty value that never matches."""
    try:
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
        return bytes.fromhex(value)
    except (binascii.Error, ValueError):
        return b""


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings, whatever characters they hold."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _as_list(secrets: Secrets) -> list[str]:
    return [secrets] if isinstance(secrets, str) else [s for s in secrets if s]
