"""The long-lived resources one hub process shares: settings, database sessions, Redis, queues.

Everything that needs the database or the queues receives a :class:`Services` instead of building
its own engine or connection, so that the web app, the workers, the dispatcher and the tests all
run the same code against whatever backends the runtime chose (SQLite + embedded Redis by default,
PostgreSQL + a Redis server in production).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Settings
from hub.db import make_engine, make_sessionmaker

QUEUE_NAMES = ("transactional", "bulk", "callbacks", "calendar", "campaigns")
"""RQ queues, highest priority first: alerts jump ahead of campaigns in every worker."""


@dataclass
class Services:
    """What a hub process holds for its whole life. ``redis`` is ``None`` when no Redis is
    configured: submits then persist messages and leave the enqueueing to the sweeper."""

    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis | None
    _queues: dict[str, Queue] = field(default_factory=dict, repr=False)

    def queue(self, name: str) -> Queue:
        """The RQ queue ``name`` (one of :data:`QUEUE_NAMES`) on this process's Redis."""
        if self.redis is None:
            raise RuntimeError("no Redis configured: set SMSHUB_REDIS_URL")
        if name not in QUEUE_NAMES:
            raise KeyError(f"unknown queue {name!r}")
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.redis)
        return self._queues[name]

    def queues(self) -> list[Queue]:
        """Every hub queue, highest priority first (the order workers listen in)."""
        return [self.queue(name) for name in QUEUE_NAMES]

    def close(self) -> None:
        """Release the connection pools (the engine's and Redis's)."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()
        if self.redis is not None:
            self.redis.close()


def connect_redis(url: str) -> redis.Redis:
    """A Redis client for ``url`` (``redis://``, ``rediss://`` or ``unix:///path.sock``).

    Responses stay bytes: RQ stores pickled job data and decodes what it needs itself.
    """
    return redis.Redis.from_url(url)


def build_services(settings: Settings) -> Services:
    """Open the database engine and, when ``settings.redis_url`` is set, the Redis client."""
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    client = connect_redis(settings.redis_url) if settings.redis_url else None
    return Services(settings=settings, sessions=sessions, redis=client)
