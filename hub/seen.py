"""``webhooks.SeenStore`` on Redis: the replay and deduplication keys of inbound requests.

``SET key 1 NX EX ttl`` is atomic across every web process, so two copies of one delivery
report racing through two workers are told apart; ``DEL`` forgets a key when storing failed so
that the provider's retry is accepted.
"""

from __future__ import annotations

import redis

PREFIX = "smshub:seen:"


class RedisSeenStore:
    """Keys with an expiry in Redis, under :data:`PREFIX`."""

    def __init__(self, client: redis.Redis, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def add_if_new(self, key: str, ttl: int) -> bool:
        """True if ``key`` was absent (now stored for ``ttl`` seconds), False if present."""
        return bool(self.client.set(self.prefix + key, b"1", nx=True, ex=max(1, int(ttl))))

    def discard(self, key: str) -> None:
        self.client.delete(self.prefix + key)
