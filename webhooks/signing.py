"""Signatures for outbound callbacks, following the Standard Webhooks scheme.

A customer can check our callbacks with nothing but their endpoint secret, in any language:

1. Take the headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
   ``webhook-signature``.
2. The secret is ``whsec_`` followed by base64; the HMAC key is the base64-decoded part.
3. Compute ``base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.".encode() + body))``
   over the raw request body bytes.
4. ``webhook-signature`` holds one or more space-separated ``v1,<base64>`` entries (several
   while a secret is being rotated: one per valid secret). Accept if any ``v1`` entry equals
   the computed value (constant-time compare), and refuse timestamps more than 5 minutes away
   from the receiver's clock, which bounds replays; ``webhook-id`` is stable across retries of
   one event, so receivers can also deduplicate on it.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clock import Clock, utc_now
from .errors import SIGNATURE_INVALID, STALE_REQUEST, VerificationError

SECRET_PREFIX = "whsec_"
VERSION = "v1"
DEFAULT_TOLERANCE = 300
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


@dataclass(frozen=True, slots=True)
class VerifiedMessage:
    """What a successful :func:`verify` vouches for: the message id and its signing time."""

    id: str
    timestamp: int


def generate_secret(nbytes: int = 32) -> str:
    """A new endpoint secret, ``whsec_`` + base64 of ``nbytes`` random bytes (24 to 64)."""
    if not 24 <= nbytes <= 64:
        raise ValueError("a webhook secret needs between 24 and 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")


def decode_secret(secret: str | bytes) -> bytes:
    """The HMAC key of a secret: raw bytes as given, or the base64 part of ``whsec_...``.

    The prefix is optional and missing padding is tolerated, as in the reference libraries.
    """
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except binascii.Error as exc:
            raise ValueError("webhook secret is not valid base64") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def signature(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """One ``v1,<base64>`` signature of ``msg_id.timestamp.body`` with one secret."""
    payload = body.encode("utf-8") if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(
    msg_id: str,
    body: bytes | str,
    secrets: str | bytes | Sequence[str | bytes],
    *,
    timestamp: int | None = None,
    clock: Clock = utc_now,
) -> dict[str, str]:
    """The three headers to send with ``body``: one signature per secret, space-separated.

    Pass the old and the new secret during a rotation so receivers holding either accept.
    """
    keys = _as_list(secrets)
    if not keys:
        raise ValueError("at least one secret is needed to sign")
    ts = int(clock().timestamp()) if timestamp is None else int(timestamp)
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: " ".join(signature(key, msg_id, ts, body) for key in keys),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    secrets: str | bytes | Sequence[str | bytes],
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    clock: Clock = utc_now,
) -> VerifiedMessage:
    """Check a signed message; raise :class:`VerificationError` unless one signature matches.

    ``headers`` may use any letter case. Codes: ``signature_invalid`` (missing or malformed
    headers, no matching signature) and ``stale_request`` (timestamp outside ``tolerance``
    seconds either way).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(HEADER_ID, "")
    raw_ts = lowered.get(HEADER_TIMESTAMP, "")
    received = lowered.get(HEADER_SIGNATURE, "")
    if not (msg_id and raw_ts and received):
        raise VerificationError("missing webhook signature headers", code=SIGNATURE_INVALID)
    if not raw_ts.isdigit():
        raise VerificationError("malformed webhook-timestamp", code=SIGNATURE_INVALID)
    ts = int(raw_ts)
    if abs(clock().timestamp() - ts) > tolerance:
        raise VerificationError("webhook timestamp outside the tolerance", code=STALE_REQUEST)
    candidates = _received_signatures(received)
    for key in _as_list(secrets):
        expected = base64.b64decode(signature(key, msg_id, ts, body).split(",", 1)[1])
        if any(hmac.compare_digest(expected, got) for got in candidates):
            return VerifiedMessage(id=msg_id, timestamp=ts)
    raise VerificationError("no matching webhook signature", code=SIGNATURE_INVALID)


def _received_signatures(header: str) -> list[bytes]:
    """Decoded ``v1`` signatures of a header; other versions and garbage are skipped."""
    found: list[bytes] = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != VERSION or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    return found


def _as_list(secrets: str | bytes | Sequence[str | bytes]) -> list[str | bytes]:
    if isinstance(secrets, str | bytes):
        return [secrets]
    return list(secrets)
