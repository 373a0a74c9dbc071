"""Public identifiers: a short prefix naming the kind, then a ULID (time-ordered, 26 characters).

Ids are made in Python rather than by the database so that a batch of 10,000 messages can be
inserted and enqueued without reading anything back.
"""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits, Crockford base32."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``prefix_<ULID>``, e.g. ``msg_01JD0Z...``."""
    return f"{prefix}_{ulid()}"
