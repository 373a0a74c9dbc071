"""Public identifiers: a short prefix naming the kind, then a ULID (time-ordered, 26 characters).

Ids are made in Python rather than by the database so that a batch of 10,000 messages can be
inserted and enqueued without reading anything back. They are monotonic within a process (the
ULID specification's monotonic mode): ids made in the same millisecond increment the random part,
so sorting by id gives creation order, which listings and tests rely on.
"""

from __future__ import annotations

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits, Crockford base32."""
    global _last_ms, _last_random
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if ms <= _last_ms and _last_random + 1 < (1 << _RANDOM_BITS):
            ms, random_part = _last_ms, _last_random + 1
        else:
            random_part = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _last_ms, _last_random = ms, random_part
    return _encode((ms << _RANDOM_BITS) | random_part)


def new_id(prefix: str) -> str:
    """``prefix_<ULID>``, e.g. ``msg_01JD0Z...``."""
    return f"{prefix}_{ulid()}"
