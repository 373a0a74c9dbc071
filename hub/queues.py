"""Putting message ids on the RQ queues: batches for now, scheduled promotions for later.

Jobs carry lists of message ids, never message objects: the database row is the truth and the
job only says "look at these". Enqueueing happens after the rows are committed; if Redis is down
or the process dies in between, the sweeper finds the rows (``enqueued_at`` null or old) and
enqueues them again, so enqueue failures are logged, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Queue

from hub.services import Services

log = logging.getLogger(__name__)

TRANSACTIONAL = "transactional"
BULK = "bulk"

SEND_JOB = "hub.jobs.send_batch"
"""Job function that hands a batch of ids to the dispatcher engine."""

PROMOTE_JOB = "hub.jobs.promote"
"""Job function that moves due scheduled messages to accepted and enqueues them."""

JOB_TIMEOUT = 600
"""Seconds a batch may take at the route's throughput before RQ considers the job stuck."""

FAILURE_TTL = int(timedelta(days=7).total_seconds())
"""How long failed jobs stay inspectable (the messages themselves are re-swept anyway)."""


def queue_for(category: str, campaign_id: str | None = None) -> str:
    """Alerts outside campaigns jump the queue; marketing and campaigns go to ``bulk``."""
    return BULK if category == "marketing" or campaign_id else TRANSACTIONAL


def batches(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def enqueue_ids(queue: Queue, ids: Sequence[str], batch_size: int) -> int:
    """Enqueue ``ids`` as send jobs of ``batch_size`` ids, in one Redis round trip."""
    jobs = [
        Queue.prepare_data(SEND_JOB, args=(batch,), timeout=JOB_TIMEOUT, result_ttl=0,
                           failure_ttl=FAILURE_TTL)
        for batch in batches(ids, batch_size)
    ]
    if jobs:
        queue.enqueue_many(jobs)
    return len(jobs)


def schedule_ids(queue: Queue, when: datetime, ids: Sequence[str], batch_size: int) -> int:
    """Ask RQ's scheduler to promote ``ids`` at ``when`` (batches of ``batch_size``)."""
    count = 0
    for batch in batches(ids, batch_size):
        queue.enqueue_at(when, PROMOTE_JOB, batch, job_timeout=JOB_TIMEOUT, result_ttl=0,
                         failure_ttl=FAILURE_TTL)
        count += 1
    return count


def enqueue_new(
    services: Services,
    ready: Mapping[str, Sequence[str]],
    scheduled: Mapping[str, Mapping[datetime, Sequence[str]]],
) -> bool:
    """Enqueue freshly committed messages; False (and a log line) when Redis failed."""
    if services.redis is None:
        return False
    size = services.settings.batch_size
    try:
        for name, ids in ready.items():
            enqueue_ids(services.queue(name), ids, size)
        for name, by_time in scheduled.items():
            for when, ids in by_time.items():
                schedule_ids(services.queue(name), when, ids, size)
    except RedisError:
        log.exception("enqueue failed; the sweeper will enqueue these messages again")
        return False
    return True
