"""``webhooks.CallbackStore`` on the ``callback_queue`` table, safe for many workers.

Each method is its own short transaction. :meth:`DbCallbackStore.due_heads` *claims* what it
returns: the heads are selected ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises
writers with ``BEGIN IMMEDIATE``) and their ``next_attempt_at`` is pushed ``lease`` into the
future in the same transaction, so no other worker sees them as due while this one sends.
A worker that dies mid-send leaves the claim to expire and the head is sent again (receivers
deduplicate on ``webhook-id``, which is the stable event id).

Removing an item that carries a ``last_error`` means the queue gave up on it
(``CallbackQueue.record`` only removes on success, where the error is None, or on dead
letter): the dead letter is written in the same transaction as the removal, so it can never be
lost between the two.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from hub.db import transaction
from hub.models import CallbackDeadLetter, CallbackEvent, CallbackQueueItem
from webhooks import QueuedCallback

DEFAULT_LEASE = timedelta(minutes=2)
"""How long a claimed head stays invisible to other workers; longer than one attempt can take
(connect + read timeouts and three redirects)."""

ERROR_LIMIT = 200


class DbCallbackStore:
    """The hub's :class:`webhooks.CallbackStore` (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], *,
                 lease: timedelta = DEFAULT_LEASE) -> None:
        self.sessions = sessions
        self.lease = lease

    def append(self, key: str, event_id: str, enqueued_at: datetime) -> QueuedCallback:
        with transaction(self.sessions) as session:
            seq = session.scalar(insert(CallbackQueueItem).values(
                key=key, event_id=event_id, enqueued_at=enqueued_at,
                next_attempt_at=enqueued_at, attempts=0).returning(CallbackQueueItem.seq))
        assert seq is not None
        return QueuedCallback(key, event_id, int(seq), enqueued_at, enqueued_at)

    def head(self, key: str) -> QueuedCallback | None:
        with self.sessions() as session:
            row = session.scalar(select(CallbackQueueItem).where(CallbackQueueItem.key == key)
                                 .order_by(CallbackQueueItem.seq).limit(1))
            return _item(row) if row is not None else None

    def save(self, item: QueuedCallback) -> None:
        with transaction(self.sessions) as session:
            session.execute(update(CallbackQueueItem)
                            .where(CallbackQueueItem.seq == item.seq)
                            .values(attempts=item.attempts, next_attempt_at=item.next_attempt_at,
                                    last_error=_short(item.last_error)))

    def remove(self, item: QueuedCallback) -> None:
        with transaction(self.sessions) as session:
            session.execute(delete(CallbackQueueItem).where(CallbackQueueItem.seq == item.seq))
            if item.last_error is not None:
                dead_letter(session, item)

    def due_heads(self, now: datetime, limit: int) -> list[QueuedCallback]:
        """Claim up to ``limit`` due heads, earliest first (one per key)."""
        earlier = aliased(CallbackQueueItem)
        ahead = exists().where(earlier.key == CallbackQueueItem.key,
                               earlier.seq < CallbackQueueItem.seq)
        query = (select(CallbackQueueItem)
                 .where(CallbackQueueItem.next_attempt_at <= now, ~ahead)
                 .order_by(CallbackQueueItem.next_attempt_at, CallbackQueueItem.seq)
                 .limit(limit)
                 .with_for_update(skip_locked=True, of=CallbackQueueItem))
        with transaction(self.sessions) as session:
            items = [_item(row) for row in session.scalars(query)]
            if items:
                session.execute(update(CallbackQueueItem)
                                .where(CallbackQueueItem.seq.in_([i.seq for i in items]))
                                .values(next_attempt_at=now + self.lease))
        return items

    def earliest_due(self) -> datetime | None:
        """When the next queued item falls due (heads or not: a cheap lower bound)."""
        with self.sessions() as session:
            found: datetime | None = session.scalar(
                select(CallbackQueueItem.next_attempt_at)
                .order_by(CallbackQueueItem.next_attempt_at).limit(1))
            return found

    def pending(self, key: str) -> list[QueuedCallback]:
        """Everything queued for ``key``, head first (inspection and tests)."""
        with self.sessions() as session:
            rows = session.scalars(select(CallbackQueueItem).where(CallbackQueueItem.key == key)
                                   .order_by(CallbackQueueItem.seq))
            return [_item(row) for row in rows]


def dead_letter(session: Session, item: QueuedCallback) -> None:
    """Keep a given-up event for inspection and manual replay."""
    event = session.get(CallbackEvent, item.event_id)
    session.add(CallbackDeadLetter(
        event_id=item.event_id, account_id=event.account_id if event else "",
        message_id=event.message_id if event else None, key=item.key,
        attempts=item.attempts, last_error=_short(item.last_error)))


def _item(row: CallbackQueueItem) -> QueuedCallback:
    return QueuedCallback(row.key, row.event_id, row.seq, row.enqueued_at, row.next_attempt_at,
                          row.attempts, row.last_error)


def _short(error: str | None) -> str | None:
    return None if error is None else error[:ERROR_LIMIT]



def replay(session: Session, letter: CallbackDeadLetter, now: datetime) -> int:
    """Queue a dead-lettered event again (behind whatever its key holds now), with a fresh
    24-hour horizon; returns the new queue position's ``seq``."""
    seq = session.scalar(insert(CallbackQueueItem).values(
        key=letter.key, event_id=letter.event_id, enqueued_at=now, next_attempt_at=now,
        attempts=0).returning(CallbackQueueItem.seq))
    letter.replayed_at = now
    assert seq is not None
    return int(seq)
