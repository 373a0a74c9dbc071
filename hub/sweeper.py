"""The sweeper: the database is the truth, so whatever a crash or a lost Redis left behind is
found there and put back on its way.

One :func:`sweep` pass
1. promotes scheduled messages whose time has come (RQ's scheduler normally does it first),
2. re-enqueues accepted messages that no live job holds and that were last enqueued more than
   ``settings.sweep_after`` seconds ago (never enqueued, enqueue failed, worker killed,
   Redis flushed),
3. closes what outlived the 24 h validity (RULES.md § Delivery): submitted without a final
   receipt → ``expired`` (charged: the operator accepted it); still not submitted →
   ``failed`` ``validity_elapsed`` and refunded (the platform could not send),
4. expires the unspent credit of packs past their validity (:func:`expire_packs_due`), at most
   once per :data:`EXPIRY_INTERVAL` for the whole cluster.

Run it in a loop (:func:`sweep_forever`) next to the workers; several sweepers are harmless: every
move is a conditional update and re-enqueueing skips ids that a live job holds.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Row, or_, select, update
from sqlalchemy.orm import Session

from hub import ledger, notifications, queues, states
from hub.calendars import jobs as calendar_jobs
from hub.callbacks import delivery
from hub.db import transaction
from hub.models import Message, utcnow
from hub.receipts import Sent, refund
from hub.services import Services

log = logging.getLogger(__name__)

VALIDITY = timedelta(hours=24)
"""How long a message may wait for its submit, then for its final receipt."""

SWEEP_LIMIT = 50_000
"""Messages re-enqueued per pass at most, so one pass stays short."""

HEARTBEAT_PREFIX = "smshub:alive:"
"""Redis key prefix of dispatcher heartbeats (``<prefix><rq worker name>``), written by the
dispatcher runtime and read here to tell live started jobs from dead ones."""

EXPIRY_INTERVAL = timedelta(hours=1)
"""How often pack expiry runs: once per interval per cluster (a Redis mark), or per process
without Redis."""
EXPIRY_MARK = "smshub:billing:expire-packs"
"""Redis key set (``NX``, expiring after :data:`EXPIRY_INTERVAL`) by the scheduler that runs it."""
_last_expiry: dict[int, datetime] = {}
"""Without Redis: when this process last expired packs, per services object."""


@dataclass(frozen=True)
class SweepReport:
    promoted: int = 0
    requeued: int = 0
    expired: int = 0
    abandoned: int = 0
    credit_expired: Decimal = Decimal(0)


def sweep(services: Services, now: datetime | None = None) -> SweepReport:
    """One pass of the three duties above."""
    now = now or utcnow()
    promoted = promote_due(services, now=now)
    requeued = requeue_stale(services, now)
    expired, abandoned = close_elapsed(services, now)
    credit_expired = expire_packs_due(services, now)
    delivery.kick(services)  # restarts the callback delivery chain if Redis lost it
    notifications.kick(services)  # billing emails (low balance) recorded since the last pass
    return SweepReport(promoted, requeued, expired, abandoned, credit_expired)


def expire_packs_due(services: Services, now: datetime) -> Decimal:
    """Run :func:`hub.ledger.expire_packs` if it did not run in the last hour; the credit it
    expired. One ``expiry`` ledger entry per pack, and a pack is expired only once (its
    remaining credit goes to zero), so a repeated run writes nothing more."""
    if services.redis is not None:
        if not services.redis.set(EXPIRY_MARK, "1", nx=True,
                                  ex=int(EXPIRY_INTERVAL.total_seconds())):
            return Decimal(0)
    else:
        last = _last_expiry.get(id(services))
        if last is not None and now - last < EXPIRY_INTERVAL:
            return Decimal(0)
        _last_expiry[id(services)] = now
    try:
        with transaction(services.sessions) as session:
            return ledger.expire_packs(session, now)
    except Exception:
        if services.redis is not None:
            services.redis.delete(EXPIRY_MARK)  # the next sweep tries again
        else:
            _last_expiry.pop(id(services), None)
        raise


def promote_due(services: Services, *, ids: Sequence[str] | None = None,
                now: datetime | None = None) -> int:
    """Move due ``scheduled`` messages (all, or among ``ids``) to ``accepted`` and enqueue them."""
    now = now or utcnow()
    with transaction(services.sessions) as session:
        query = select(Message.id, Message.category, Message.campaign_id).where(
            Message.status == "scheduled", Message.send_at <= now)
        if ids is not None:
            query = query.where(Message.id.in_(list(ids)))
        due = list(session.execute(query.limit(SWEEP_LIMIT).with_for_update(skip_locked=True)))
        enqueued_at = now if services.redis is not None else None
        states.move(session, [row.id for row in due], "accepted", only_from=["scheduled"],
                    at=now, values={"enqueued_at": enqueued_at})
    _enqueue(services, due)
    return len(due)


def requeue_stale(services: Services, now: datetime) -> int:
    """Put back on the queues the accepted messages no live job holds any more."""
    if services.redis is None:
        return 0
    cutoff = now - timedelta(seconds=services.settings.sweep_after)
    live = queues.live_message_ids(services, HEARTBEAT_PREFIX)
    with transaction(services.sessions) as session:
        rows = _stale(session, cutoff)
        lost = [row for row in rows if row.id not in live]
        for chunk in queues.batches([row.id for row in lost], 1000):
            session.execute(update(Message).where(Message.id.in_(chunk),
                                                  Message.status == "accepted")
                            .values(enqueued_at=now).execution_options(synchronize_session=False))
    _enqueue(services, lost)
    return len(lost)


def _stale(session: Session, cutoff: datetime) -> list[Row[str, str, str | None]]:
    query = select(Message.id, Message.category, Message.campaign_id).where(
        Message.status == "accepted",
        or_(Message.enqueued_at.is_(None), Message.enqueued_at < cutoff),
    ).order_by(Message.accepted_at).limit(SWEEP_LIMIT)
    return list(session.execute(query))


def _enqueue(services: Services, rows: Sequence[Row[str, str, str | None]]) -> None:
    by_queue: dict[str, list[str]] = defaultdict(list)
    for message_id, category, campaign_id in rows:
        by_queue[queues.queue_for(category, campaign_id)].append(message_id)
    if by_queue:
        queues.enqueue_new(services, by_queue, {})


def close_elapsed(services: Services, now: datetime) -> tuple[int, int]:
    """Expire submitted messages without a final receipt, fail and refund unsent ones."""
    cutoff = now - VALIDITY
    with transaction(services.sessions) as session:
        submitted = list(session.scalars(select(Message.id).where(
            Message.status == "submitted", Message.submitted_at < cutoff).limit(SWEEP_LIMIT)))
        expired = states.move(session, submitted, "expired", only_from=["submitted"], at=now,
                              values={"reason": "no_receipt"})
        unsent = list(session.execute(select(
            Message.id, Message.account_id, Message.cost, Message.attempts).where(
            Message.status == "accepted", Message.accepted_at < cutoff).limit(SWEEP_LIMIT)))
        abandoned = states.move(session, [row.id for row in unsent], "failed",
                                only_from=["accepted"], at=now,
                                values={"reason": "validity_elapsed"})
        by_account: dict[str, list[Sent]] = defaultdict(list)
        for row in unsent:
            by_account[row.account_id].append(Sent(row.id, row.account_id, row.cost,
                                                   row.attempts))
        refund(session, by_account, "validity_elapsed")
    return expired, abandoned


def sweep_forever(services: Services, interval: float = 15.0,
                  stop: threading.Event | None = None) -> None:
    """Sweep every ``interval`` seconds until ``stop`` is set; errors are logged, not fatal."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = sweep(services)
            calendar_jobs.enqueue_due(services)  # periodic calendar sync and push renewal
            if report != SweepReport():
                log.info("sweep: %s", report)
        except Exception:
            log.exception("sweep failed; retrying at the next interval")
        stop.wait(interval)
