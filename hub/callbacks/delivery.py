"""Sending the queued callbacks: one pass of ``webhooks.process_due`` over the database store,
repeated while heads are due, with every attempt written to the delivery log.

The pass runs as an RQ job on the ``callbacks`` queue that keeps itself going: when it ends it
schedules the next pass (RQ's scheduler) at the earliest due retry, and at most
:data:`POLL_SECONDS` later, so new events wait that long at most and retries happen on time.
A Redis key keeps one link of that chain pending; the sweeper's :func:`kick` restarts the chain
if Redis lost it. Several workers may run passes at once: the store's claims keep them apart.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from redis.exceptions import RedisError
from sqlalchemy import insert

from hub import fanout
from hub.callbacks import endpoints
from hub.callbacks.store import DbCallbackStore
from hub.crypto import secret_box
from hub.db import transaction
from hub.models import CallbackAttempt, CallbackEvent
from hub.services import Services
from webhooks import (
    CallbackQueue,
    Clock,
    DeliveryAttempt,
    Event,
    Outcome,
    QueuedCallback,
    RetryPolicy,
    deliver,
    parse_event,
    process_due,
    safe_session,
    utc_now,
)
from webhooks.delivery import DEFAULT_TIMEOUT, Timeout
from webhooks.retry import DEFAULT_POLICY

log = logging.getLogger(__name__)

CALLBACKS_QUEUE = "callbacks"
DELIVER_JOB = "hub.callbacks.jobs.deliver"
CHAIN_KEY = "smshub:callbacks:chain"
POLL_SECONDS = 2.0
"""Longest wait between two passes: how late a new event may leave at most."""
CHAIN_SLACK = 60.0
"""Extra life of the chain key: if a pass dies without rescheduling, a kick after this works."""
PASS_BUDGET = 30.0
"""Seconds one job keeps sending before it hands over to the next link (other queues wait
behind a worker busy with slow receivers)."""
BATCH = 100


@dataclass
class Deliverer:
    """Sends due callbacks for one process; reuse it (its HTTP session pools connections)."""

    services: Services
    clock: Clock = utc_now
    policy: RetryPolicy = DEFAULT_POLICY
    rng: random.Random = field(default_factory=random.Random)
    timeout: Timeout = DEFAULT_TIMEOUT
    http: requests.Session | None = None

    def __post_init__(self) -> None:
        settings = self.services.settings
        self.store = DbCallbackStore(self.services.sessions)
        self.queue = CallbackQueue(self.store, policy=self.policy, clock=self.clock, rng=self.rng)
        self.box = secret_box(settings)
        if self.http is None:
            self.http = safe_session(allow_http=settings.callback_allow_http,
                                     allowlist=endpoints.allowlist(settings))

    def run(self, budget: float = PASS_BUDGET, limit: int = BATCH) -> list[Outcome]:
        """Send what is due, again and again (a delivered head frees the next event of its
        key at once), until nothing is due or ``budget`` seconds are spent."""
        outcomes: list[Outcome] = []
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            batch = process_due(self.queue, self.send, limit=limit)
            if not batch:
                break
            outcomes.extend(batch)
        return outcomes

    def send(self, item: QueuedCallback) -> DeliveryAttempt:
        """One signed attempt of ``item``'s event, logged; the SSRF guard checks the URL again."""
        now = self.clock()
        with transaction(self.services.sessions) as session:
            row = session.get(CallbackEvent, item.event_id)
            assert row is not None, f"queued event {item.event_id} has no row"
            keys = endpoints.signing_keys(session, self.box, row.account_id, now)
            event, account_id, message_id = _event(row.payload), row.account_id, row.message_id
            url = row.url or keys.url
        assert self.http is not None
        if url is None:
            attempt = DeliveryAttempt(None, 0, False, "no_callback_url", item.attempts + 1, now)
        else:
            attempt = deliver(url, event, keys.secrets, session=self.http, timeout=self.timeout,
                              attempt=item.attempts + 1, clock=self.clock)
        self._log(attempt, event.id, account_id, message_id)
        return attempt

    def _log(self, attempt: DeliveryAttempt, event_id: str, account_id: str,
             message_id: str | None) -> None:
        with transaction(self.services.sessions) as session:
            session.execute(insert(CallbackAttempt).values(
                event_id=event_id, account_id=account_id, message_id=message_id,
                url=attempt.url, attempt=attempt.attempt, status_code=attempt.status_code,
                latency_ms=attempt.latency_ms, ok=attempt.ok,
                error=(attempt.error or None) and attempt.error[:200], at=attempt.at))

    def next_delay(self) -> float:
        """Seconds until the next pass should run (the earliest due item, capped)."""
        earliest = self.store.earliest_due()
        if earliest is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(0.0, (earliest - self.clock()).total_seconds()))


def _event(payload: dict[str, object]) -> Event:
    return parse_event(json.dumps(payload))


def kick(services: Services, delay: float = 0.0) -> bool:
    """Schedule a delivery pass in ``delay`` seconds unless one is already pending.

    Never raises for Redis trouble: the next kick (the sweeper's) tries again.
    """
    if services.redis is None:
        return False
    try:
        ttl = int((delay + CHAIN_SLACK) * 1000)
        if not services.redis.set(CHAIN_KEY, "1", nx=True, px=ttl):
            return False
        queue = services.queue(CALLBACKS_QUEUE)
        options = {"job_timeout": int(PASS_BUDGET * 4), "result_ttl": 0, "failure_ttl": 86400}
        if delay <= 0:
            queue.enqueue(DELIVER_JOB, **options)
        else:
            queue.enqueue_in(timedelta(seconds=delay), DELIVER_JOB, **options)
    except RedisError:
        log.exception("could not schedule a callback delivery pass")
        return False
    return True


def run_pass(services: Services, deliverer: Deliverer | None = None) -> list[Outcome]:
    """What the RQ job does: release the chain key, send, hand status changes to connectors
    (:mod:`hub.fanout` rides on this chain), schedule the next pass."""
    deliverer = deliverer or Deliverer(services)
    if services.redis is not None:
        services.redis.delete(CHAIN_KEY)
    try:
        outcomes = deliverer.run()
        try:
            fanout.run_pass(services)
        except Exception:  # the connectors' outbox waits for the next pass
            log.exception("connector status fan-out pass failed")
        return outcomes
    finally:
        kick(services, delay=deliverer.next_delay())

