"""The envelope of every outbound callback.

::

    {"id": "evt_…", "type": "message.delivered", "created_at": "2024-05-01T08:00:00.000Z",
     "data": {...}}

``id`` is unique per event and stays the same on every retry (it is also the ``webhook-id``
header), so receivers can deduplicate. Ids start with 12 hex digits of the creation time in
milliseconds, so they sort by creation.

Size cap: the serialised envelope is at most :data:`MAX_PAYLOAD_BYTES` (64 KiB). A larger event
is not refused, because a status change the customer never hears about is worse than a short
one: its ``data`` is replaced by the identifying fields it had (:data:`KEPT_WHEN_TRUNCATED`)
plus ``"truncated": true`` and ``"original_size"``, and the customer fetches the full resource
from the REST API. Only if even that cannot fit is :class:`PayloadTooLargeError` raised.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .clock import Clock, utc_now
from .errors import PayloadTooLargeError

EVENT_TYPES = frozenset(
    {
        "message.accepted",
        "message.submitted",
        "message.delivered",
        "message.undeliverable",
        "message.expired",
        "message.failed",
        "reply.received",
        "optout.added",
        "optout.removed",
        "balance.low",
        "connector.needs_reauth",
    }
)
MAX_PAYLOAD_BYTES = 64 * 1024
KEPT_WHEN_TRUNCATED = (
    "id",
    "message_id",
    "campaign_id",
    "account",
    "to",
    "from",
    "status",
    "reason",
    "number",
    "balance",
)


@dataclass(frozen=True, slots=True)
class Event:
    """One outbound event. Build it with :func:`make_event`, send :meth:`body` verbatim."""

    id: str
    type: str
    created_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return bool(self.data.get("truncated"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "created_at": rfc3339(self.created_at),
            "data": dict(self.data),
        }

    def body(self) -> bytes:
        """The exact bytes that are signed and sent: compact UTF-8 JSON."""
        return _dumps(self.to_dict())


def rfc3339(when: datetime) -> str:
    """``2024-05-01T08:00:00.000Z``: UTC, millisecond precision; naive datetimes refused."""
    if when.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id(clock: Clock = utc_now) -> str:
    """``evt_`` + creation time in ms (12 hex digits) + 16 random hex digits."""
    millis = int(clock().timestamp() * 1000)
    return f"evt_{millis:012x}{secrets.token_hex(8)}"


def make_event(
    type: str,
    data: Mapping[str, Any],
    *,
    clock: Clock = utc_now,
    event_id: str | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Event:
    """A new event of a known ``type``, shrunk under ``max_bytes`` as the module docs say."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = Event(event_id or new_event_id(clock), type, clock(), _plain(data))
    size = len(event.body())
    if size <= max_bytes:
        return event
    kept = {k: v for k, v in event.data.items() if k in KEPT_WHEN_TRUNCATED and _small(v)}
    short = Event(
        event.id, type, event.created_at, {**kept, "truncated": True, "original_size": size}
    )
    if len(short.body()) > max_bytes:
        raise PayloadTooLargeError(f"event {event.id} does not fit in {max_bytes} bytes")
    return short


def parse_event(body: bytes | str) -> Event:
    """The inverse of :meth:`Event.body`, for receivers and tests."""
    raw = json.loads(body)
    created = datetime.fromisoformat(raw["created_at"].replace("Z", "+00:00"))
    return Event(raw["id"], raw["type"], created, raw.get("data") or {})


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-only copy of ``data`` (datetimes to RFC 3339, decimals to strings)."""
    loaded: dict[str, Any] = json.loads(_dumps(dict(data)))
    return loaded


def _small(value: Any) -> bool:
    return isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 256)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default).encode()
