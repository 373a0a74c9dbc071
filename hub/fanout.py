"""Status fan-out to connectors: a message a connector submitted tells it when its status moves.

The hook :func:`message_moved` runs inside ``hub.states.move``'s transaction and adds a
``connector_status_queue`` row per moved message whose ``source`` has a connector in the
registry (``google_calendar``, ``outlook_calendar``). It is one ``INSERT ... SELECT`` by primary
key per move, whatever the batch size and whether or not any connector message is in it: a
campaign of API messages pays one indexed statement per move and no work per message.

:func:`run_pass` hands the queued changes to the connectors' ``handle_status`` outside that
transaction. It runs in the callback delivery job (``hub.callbacks.delivery.run_pass``), whose
self-rescheduling chain on the ``callbacks`` queue the ``worker`` role consumes, so a change
reaches its connector within that chain's poll interval. Delivery is at least once: a row is
claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a lease pushed into the future), handed over,
then deleted; a worker dying in between leaves the lease to expire and the change is handed over
again, which connectors shrug off (the calendar connector only changes a reminder still
``scheduled``). A connector that raises gets the change again later, with a growing delay, until
:data:`MAX_ATTEMPTS`; then it is logged and dropped. Only the head of each message (its oldest
row) is due, so one message's moves reach its connector in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, insert, literal, select, update
from sqlalchemy.orm import Session, aliased

from hub.calendars import replan  # noqa: F401 - registers the ledger's purchase hook
from hub.db import one_of, transaction, unindexed
from hub.models import Message, utcnow
from hub.models.connector import ConnectorStatusItem
from hub.services import Services

log = logging.getLogger(__name__)

BATCH = 200
LEASE = timedelta(minutes=2)
"""How long a claimed change stays invisible to other workers."""
MAX_ATTEMPTS = 12
"""Hand-overs tried before a change is dropped (the delays add up to almost three hours)."""
FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(hours=2)
ERROR_LIMIT = 200
PASS_BUDGET = 10.0
"""Seconds one pass keeps handing over (it shares the callback worker's job)."""


def sources() -> tuple[str, ...]:
    """The message sources that have a connector to tell (the registry's keys)."""
    from hub.registry import CONNECTORS  # the registry builds connectors that move messages

    return tuple(sorted(CONNECTORS))


def concerns(message_sources: Iterable[str | None]) -> bool:
    """Whether some message of these sources has a connector to tell of its changes."""
    connectors = set(sources())
    return any(source in connectors for source in message_sources)


def message_moved(session: Session, ids: Sequence[str], target: str,
                  now: datetime | None = None) -> None:
    """Queue ``target`` for the connector of every message among ``ids`` now in it.

    Called by ``hub.states.move`` right after its conditional UPDATE, in the same transaction.
    """
    if not ids:
        return
    now = now or utcnow()
    chosen = select(Message.id, Message.account_id, Message.source, literal(target),
                    Message.reason, literal(now), literal(now), literal(0)).where(
        one_of(session, Message.id, ids), unindexed(Message.status) == target,
        one_of(session, Message.source, sources()))
    session.execute(insert(ConnectorStatusItem).from_select(
        ["message_id", "account_id", "source", "status", "reason", "enqueued_at",
         "next_attempt_at", "attempts"], chosen))


@dataclass(frozen=True, slots=True)
class Change:
    """A claimed row, detached from its session."""

    seq: int
    message_id: str
    account_id: str
    source: str
    status: str
    reason: str | None
    attempts: int

    @property
    def data(self) -> dict[str, Any]:
        return {"account": self.account_id, "source": self.source, "reason": self.reason}


def claim(services: Services, now: datetime, limit: int = BATCH) -> list[Change]:
    """Claim up to ``limit`` due heads (one per message), oldest first."""
    earlier = aliased(ConnectorStatusItem)
    ahead = exists().where(earlier.message_id == ConnectorStatusItem.message_id,
                           earlier.seq < ConnectorStatusItem.seq)
    query = (select(ConnectorStatusItem)
             .where(ConnectorStatusItem.next_attempt_at <= now, ~ahead)
             .order_by(ConnectorStatusItem.seq).limit(limit)
             .with_for_update(skip_locked=True, of=ConnectorStatusItem))
    with transaction(services.sessions) as session:
        found = [Change(row.seq, row.message_id, row.account_id, row.source, row.status,
                        row.reason, row.attempts) for row in session.scalars(query)]
        if found:
            session.execute(update(ConnectorStatusItem)
                            .where(ConnectorStatusItem.seq.in_([c.seq for c in found]))
                            .values(next_attempt_at=now + LEASE))
    return found


def hand_over(services: Services, change: Change) -> None:
    """Tell the connector of ``change.source``; raises what the connector raises."""
    from hub import registry

    listener = registry.status_listener(services, change.source)
    if listener is not None:
        listener.handle_status(change.message_id, change.status, change.data)


def retry_delay(attempts: int) -> timedelta:
    """Wait before hand-over number ``attempts + 1`` (doubling from :data:`FIRST_DELAY`)."""
    return min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, attempts - 1))


def run_pass(services: Services, now: datetime | None = None, limit: int = BATCH,
             budget: float = PASS_BUDGET) -> int:
    """Hand every due change to its connector, again while heads are due (a handed-over head
    frees its message's next change at once) or until ``budget`` seconds are spent; returns
    how many were handed over."""
    now = now or utcnow()
    done = 0
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        batch = claim(services, now, limit)
        if not batch:
            break
        done += sum(_hand_over_one(services, change, now) for change in batch)
    return done


def _hand_over_one(services: Services, change: Change, now: datetime) -> int:
    try:
        hand_over(services, change)
    except Exception as exc:  # a connector's failure is retried, never fatal to the pass
        _failed(services, change, exc, now)
        return 0
    with transaction(services.sessions) as session:
        session.execute(delete(ConnectorStatusItem).where(ConnectorStatusItem.seq == change.seq))
    return 1


def _failed(services: Services, change: Change, exc: Exception, now: datetime) -> None:
    attempts = change.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    with transaction(services.sessions) as session:
        row = session.get(ConnectorStatusItem, change.seq)
        if row is None:
            return
        if attempts >= MAX_ATTEMPTS:
            log.error("connector %s never took status %s of message %s, dropped: %s",
                      change.source, change.status, change.message_id, error)
            session.delete(row)
            return
        log.warning("connector %s failed on status %s of message %s (attempt %d): %s",
                    change.source, change.status, change.message_id, attempts, error)
        row.attempts, row.last_error = attempts, error
        row.next_attempt_at = now + retry_delay(attempts)


def pending(services: Services) -> list[tuple[str, str]]:
    """(message id, status) of every queued change, oldest first (inspection and tests)."""
    with services.sessions() as session:
        rows = session.execute(select(ConnectorStatusItem.message_id, ConnectorStatusItem.status)
                               .order_by(ConnectorStatusItem.seq))
        return [(str(m), str(s)) for m, s in rows]
