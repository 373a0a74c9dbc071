"""Inbound requests from operators and providers, checked per route.

A *route* (an operator connection, a provider account) has a :class:`RouteAuth` that names its
scheme and secrets. :func:`verify_request` dispatches to the scheme's verifier through the
:data:`VERIFIERS` registry and returns a :class:`Verified` request carrying the parsed payload,
the key that identifies this exact request (for replay protection) and the provider's own id of
the event if it has one (for deduplication). Nothing here touches Flask: the blueprint turns a
Flask request into an :class:`InboundRequest`, and so can anything else.

What each scheme protects against:

==============  ====================  =====================  ==============================
scheme          forged                stale                  replayed / duplicate
==============  ====================  =====================  ==============================
hmac            HMAC of ts + body     ±window on ts          signature seen → 401
prestashop      same, module headers  ±window                signature seen → 401
standard        Standard Webhooks     ±window                signature seen → 401;
                                                             same webhook-id → duplicate
hubspot         v3 HMAC / v2 SHA-256  v3: ±window (ms ts)    signature seen → 401
basic           Basic credentials     —                      identical body → duplicate
google          channel token         —                      same message number → duplicate
graph           clientState           —                      identical body → duplicate
==============  ====================  =====================  ==============================
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from . import signing
from .errors import SIGNATURE_INVALID, VerificationError
from .replay import DEFAULT_WINDOW
from .verifiers import (
    header,
    verify_basic_auth,
    verify_google_channel,
    verify_graph_notifications,
    verify_hmac,
    verify_hubspot,
    verify_prestashop,
)

Scheme = Literal["hmac", "prestashop", "standard", "hubspot", "basic", "google", "graph"]
DEFAULT_DEDUPE_TTL = 48 * 3600


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """The parts of an HTTP request that verification needs, framework-free."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class RouteAuth:
    """How one route authenticates its callers; what ``resolve_route`` gives the blueprint.

    ``secrets`` holds the shared secret(s) of the scheme (several during a rotation): the HMAC
    key, the Standard Webhooks ``whsec_`` secret, the HubSpot client secret (first one), the
    Google channel token or the Graph ``clientState``. ``id_field`` names the payload field
    holding the provider's id of the event (``"id"``, ``"message_id"``...), used to spot
    re-sent reports; without it the body's hash is used.
    """

    scheme: Scheme
    secrets: tuple[str, ...] = ()
    username: str = ""
    password: str = ""
    signature_header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"
    signature_prefix: str = "sha256="
    signature_encoding: Literal["hex", "base64"] = "hex"
    window: int = DEFAULT_WINDOW
    public_url: str | None = None
    channel_id: str | None = None
    id_field: str | None = None
    dedupe_ttl: int = DEFAULT_DEDUPE_TTL

    def __post_init__(self) -> None:
        if self.scheme == "basic" and not (self.username and self.password):
            raise ValueError("basic auth needs a username and a password")
        if self.scheme != "basic" and not any(self.secrets):
            raise ValueError(f"scheme {self.scheme!r} needs at least one secret")


@dataclass(frozen=True, slots=True)
class Verified:
    """A request that passed its route's check."""

    scheme: str
    payload: Any
    replay_key: str | None = None
    provider_id: str | None = None
    timestamp: float | None = None


Verifier = Callable[[RouteAuth, InboundRequest, datetime], Verified]


def verify_request(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    """Authenticate ``request`` by ``auth.scheme``; raise :class:`VerificationError` if not."""
    return VERIFIERS.get(auth.scheme, _refuse)(auth, request, now)


def parse_payload(body: bytes, content_type: str = "") -> Any:
    """JSON, form fields (a flat dict) or ``{"raw": text}``: operators use all three."""
    kind = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind.endswith("json") or (not kind and text.lstrip()[:1] in ("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return {"raw": text}
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    return {"raw": text} if text else {}


def dedupe_key(route: str, kind: str, verified: Verified, body: bytes) -> str:
    """The idempotency key of an inbound event: the provider's id, else the body's hash."""
    if verified.provider_id:
        return f"{route}:{kind}:id:{verified.provider_id}"
    return f"{route}:{kind}:sha256:{hashlib.sha256(body).hexdigest()}"


def _payload(auth: RouteAuth, request: InboundRequest) -> tuple[Any, str | None]:
    payload = parse_payload(request.body, request.content_type)
    provider_id = None
    if auth.id_field and isinstance(payload, dict) and payload.get(auth.id_field) is not None:
        provider_id = str(payload[auth.id_field])
    return payload, provider_id


def _hmac(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    signed = verify_hmac(
        request.body,
        request.headers,
        auth.secrets,
        now=now,
        signature_header=auth.signature_header,
        timestamp_header=auth.timestamp_header,
        prefix=auth.signature_prefix,
        encoding=auth.signature_encoding,
        window=auth.window,
    )
    payload, provider_id = _payload(auth, request)
    return Verified("hmac", payload, signed.signature, provider_id, signed.timestamp)


def _prestashop(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    signed = verify_prestashop(
        request.body, request.headers, auth.secrets, now=now, window=auth.window
    )
    payload, provider_id = _payload(auth, request)
    return Verified("prestashop", payload, signed.signature, provider_id, signed.timestamp)


def _standard(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    message = signing.verify(
        request.headers, request.body, auth.secrets, auth.window, clock=lambda: now
    )
    payload, _ = _payload(auth, request)
    replay = header(request.headers, signing.HEADER_SIGNATURE)
    return Verified("standard", payload, replay, message.id, float(message.timestamp))


def _hubspot(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    uri = request.url
    if auth.public_url:
        query = request.url.partition("?")[2]
        uri = auth.public_url + (f"?{query}" if query else "")
    signed = verify_hubspot(
        request.method, uri, request.body, request.headers, auth.secrets[0], now=now,
        window=auth.window,
    )  # fmt: skip
    payload, provider_id = _payload(auth, request)
    return Verified("hubspot", payload, signed.signature, provider_id, signed.timestamp)


def _basic(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    verify_basic_auth(request.headers, auth.username, auth.password)
    payload, provider_id = _payload(auth, request)
    return Verified("basic", payload, None, provider_id)


def _google(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    note = verify_google_channel(request.headers, auth.secrets, channel_id=auth.channel_id)
    payload = {
        "channel_id": note.channel_id,
        "resource_id": note.resource_id,
        "resource_state": note.resource_state,
        "message_number": note.message_number,
        "resource_uri": note.resource_uri,
    }
    provider_id = f"{note.channel_id}:{note.message_number}" if note.message_number else None
    return Verified("google", payload, None, provider_id)


def _graph(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    notifications = verify_graph_notifications(request.body, auth.secrets)
    return Verified("graph", {"value": notifications})


def _refuse(auth: RouteAuth, request: InboundRequest, now: datetime) -> Verified:
    raise VerificationError(f"unknown scheme {auth.scheme!r}", code=SIGNATURE_INVALID)


VERIFIERS: dict[str, Verifier] = {
    "hmac": _hmac,
    "prestashop": _prestashop,
    "standard": _standard,
    "hubspot": _hubspot,
    "basic": _basic,
    "google": _google,
    "graph": _graph,
}
"""Scheme name → verifier. The hub may add schemes; an unknown one never verifies."""
