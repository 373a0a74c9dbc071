"""Putting message ids on the RQ queues: batches for now, scheduled promotions for later.

Jobs carry lists of message ids, never message objects: the database row is the truth and the
job only says "look at these". Enqueueing happens after the rows are committed; if Redis is down
or the process dies in between, the sweeper finds the rows (``enqueued_at`` null or old) and
enqueues them again, so enqueue failures are logged, not raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import as_text, parse_composite_key

from hub.services import Services

log = logging.getLogger(__name__)

TRANSACTIONAL = "transactional"
BULK = "bulk"
DISPATCH_QUEUES = (TRANSACTIONAL, BULK)
"""The queues dispatchers listen to, highest priority first; they carry message ids only."""

SEND_JOB = "hub.jobs.send_batch"
"""Job function that hands a batch of ids to the dispatcher engine."""

PROMOTE_JOB = "hub.jobs.promote"
"""Job function that moves due scheduled messages to accepted and enqueues them."""

JOB_TIMEOUT = 600
"""Seconds a batch may take at the route's throughput before RQ considers the job stuck."""

FAILURE_TTL = int(timedelta(days=7).total_seconds())
"""How long failed jobs stay inspectable (the messages themselves are re-swept anyway)."""


def sending_queues(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` (blanks around them stripped) as the queues of one dispatcher; raises
    ``ValueError`` for none, or for a name that is not a sending queue (an empty one
    included)."""
    chosen = tuple(name.strip() for name in names)
    unknown = set(chosen) - set(DISPATCH_QUEUES)
    if unknown or not chosen:
        raise ValueError(f"a dispatcher listens to {DISPATCH_QUEUES}, not {sorted(unknown)}")
    return chosen


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


def batch_size_for(services: Services, queue_name: str) -> int:
    """Ids per send job on ``queue_name``: ``bulk_batch_size`` on the bulk queue."""
    settings = services.settings
    return settings.bulk_batch_size if queue_name == BULK else settings.batch_size


def enqueue_new(
    services: Services,
    ready: Mapping[str, Sequence[str]],
    scheduled: Mapping[str, Mapping[datetime, Sequence[str]]],
) -> bool:
    """Enqueue freshly committed messages; False (and a log line) when Redis failed."""
    if services.redis is None:
        return False
    try:
        for name, ids in ready.items():
            enqueue_ids(services.queue(name), ids, batch_size_for(services, name))
        for name, by_time in scheduled.items():
            for when, ids in by_time.items():
                schedule_ids(services.queue(name), when, ids, batch_size_for(services, name))
    except RedisError:
        log.exception("enqueue failed; the sweeper will enqueue these messages again")
        return False
    return True


def live_message_ids(services: Services, heartbeat_prefix: str) -> set[str]:
    """Message ids some job will still handle: queued, scheduled, or started by a live worker.

    A started job counts only while its worker's heartbeat key (``heartbeat_prefix`` + worker
    name) exists: a worker killed mid-batch stops beating and its messages become sweepable.
    """
    assert services.redis is not None
    redis = services.redis
    job_ids: list[str] = []
    for queue in [services.queue(name) for name in DISPATCH_QUEUES]:
        job_ids.extend(queue.get_job_ids())
        job_ids.extend(queue.scheduled_job_registry.get_job_ids(cleanup=False))
        started = queue.started_job_registry
        for entry in redis.zrangebyscore(started.key, time.time(), "+inf"):
            job_ids.append(parse_composite_key(as_text(entry))[0])  # type: ignore[arg-type]
    found: set[str] = set()
    for job in Job.fetch_many(job_ids, connection=redis):
        if job is None or not job.args:
            continue
        if job.get_status(refresh=False) == JobStatus.STARTED and not _alive(
                services, heartbeat_prefix, job.worker_name):
            continue
        found.update(job.args[0])
    return found


def _alive(services: Services, prefix: str, worker_name: str | None) -> bool:
    assert services.redis is not None
    return bool(worker_name) and bool(services.redis.exists(prefix + str(worker_name)))
