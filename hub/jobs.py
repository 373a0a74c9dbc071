"""RQ job functions. They take message ids only and read everything else from the database.

Each function finds the process's services through the dispatcher runtime installed by
``run_dispatcher`` (the only process that consumes the hub queues), so a job never builds an
engine or a Redis connection of its own.
"""

from __future__ import annotations

from hub import dispatching, sweeper


def send_batch(ids: list[str]) -> int:
    """Hand a batch of accepted messages to the operator drivers."""
    return dispatching.send_batch(dispatching.current(), ids)


def promote(ids: list[str]) -> int:
    """Scheduled messages whose time has come: move them to accepted and enqueue them."""
    return sweeper.promote_due(dispatching.current().services, ids=ids)
