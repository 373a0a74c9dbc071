"""The transactional outbox: status changes and their callback events, in one transaction.

The hooks here run inside the caller's transaction (``hub.states.move``, the submit pipeline's
insert, the reply recorder, the ledger's low-balance crossing), add a ``callback_events`` row and
its ``callback_queue`` row, and leave the commit to the caller: a change that rolls back takes
its event with it, a committed one always has it. Delivery happens later, in an RQ job.

Cost when an account has no callbacks: one query by primary key joined to the unique index of
``callback_endpoints.account_id`` per move, one endpoints query per submitted chunk, and no work
per message. A message is reported when its own ``callback_url`` is set or its account's
endpoint has a URL. Each (message, event type) is recorded once, so a replayed transition or a
racing sweeper never reports twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, insert, or_, select
from sqlalchemy.orm import Session

from hub import ledger
from hub.db import one_of, unindexed
from hub.models import CallbackEndpoint, CallbackEvent, CallbackQueueItem, Message, utcnow
from webhooks.events import Event, make_event

MESSAGE_EVENTS: Mapping[str, str] = {
    "accepted": "message.accepted",
    "submitted": "message.submitted",
    "delivered": "message.delivered",
    "undeliverable": "message.undeliverable",
    "expired": "message.expired",
    "failed": "message.failed",
}
"""Message state → the event type that reports entering it (other states are not reported)."""


def queue_key(account_id: str, subject: str) -> str:
    """Events sharing a key are delivered in order: one key per account and message."""
    return f"{account_id}:{subject}"


def message_moved(session: Session, ids: Sequence[str], target: str) -> int:
    """Record the event of every message among ``ids`` now in ``target`` that has callbacks.

    Called by ``hub.states.move`` right after its conditional UPDATE, in the same transaction;
    returns how many events were recorded.
    """
    event_type = MESSAGE_EVENTS.get(target)
    if event_type is None or not ids:
        return 0
    reported = exists().where(CallbackEvent.message_id == Message.id,
                              CallbackEvent.type == event_type)
    query = (
        select(Message)
        .outerjoin(CallbackEndpoint, CallbackEndpoint.account_id == Message.account_id)
        .where(one_of(session, Message.id, ids), unindexed(Message.status) == target, ~reported,
               or_(Message.callback_url.is_not(None), CallbackEndpoint.url.is_not(None)))
        .execution_options(populate_existing=True)
    )
    messages = list(session.scalars(query))
    record_message_events(session, event_type, messages)
    return len(messages)


def messages_created(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Record ``message.accepted`` for freshly inserted accepted rows that have callbacks.

    Called by the submit pipeline after its bulk INSERT, with the same column dicts.
    """
    accepted = [row for row in rows if row.get("status") == "accepted"]
    if not accepted:
        return 0
    reported = set(listening(session, {row["id"]: (row["account_id"], row.get("callback_url"))
                                       for row in accepted}))
    chosen = [Message(**row) for row in accepted if row["id"] in reported]
    record_message_events(session, "message.accepted", chosen)
    return len(chosen)


def listening(session: Session, owners: Mapping[str, tuple[str, str | None]]) -> list[str]:
    """The messages among ``owners`` (id → its account and its own callback URL) whose changes
    are reported: those with a URL of their own, or whose account's endpoint has one (one
    indexed query, only when some message has no URL of its own)."""
    without = {account_id for account_id, url in owners.values() if not url}
    accounts = accounts_with_url(session, without) if without else set()
    return [message_id for message_id, (account_id, url) in owners.items()
            if url or account_id in accounts]


def accounts_with_url(session: Session, account_ids: Iterable[str]) -> set[str]:
    """Which of ``account_ids`` have an endpoint with a URL (one indexed query)."""
    wanted = list(account_ids)
    if not wanted:
        return set()
    query = select(CallbackEndpoint.account_id).where(
        CallbackEndpoint.account_id.in_(wanted), CallbackEndpoint.url.is_not(None))
    return set(session.scalars(query))


def record_message_events(session: Session, event_type: str,
                          messages: Sequence[Message]) -> None:
    """One event per message, keyed per message so its events go out in order."""
    from hub.pipeline import message_to_dict  # the pipeline imports the state machine

    now = utcnow()
    items = []
    for message in messages:
        data = {**message_to_dict(message), "message_id": message.id,
                "account": message.account_id}
        event = make_event(event_type, data, clock=lambda: now)
        items.append((event, message.account_id, message.id, message.callback_url))
    _append(session, items, now)


def record_account_event(session: Session, account_id: str, event_type: str,
                         data: Mapping[str, Any]) -> Event | None:
    """An account-level event (reply, opt-out, low balance) when the account has a URL."""
    if account_id not in accounts_with_url(session, [account_id]):
        return None
    now = utcnow()
    event = make_event(event_type, {**data, "account": account_id}, clock=lambda: now)
    _append(session, [(event, account_id, None, None)], now)
    return event


def _append(session: Session,
            items: Sequence[tuple[Event, str, str | None, str | None]], now: datetime) -> None:
    """Insert events and their queue rows (two bulk statements, queue rows in event order)."""
    if not items:
        return
    session.execute(insert(CallbackEvent), [
        {"id": event.id, "account_id": account_id, "message_id": message_id,
         "type": event.type, "url": url, "payload": event.to_dict(), "created_at": now}
        for event, account_id, message_id, url in items
    ])
    session.execute(insert(CallbackQueueItem), [
        {"key": queue_key(account_id, message_id or event.id), "event_id": event.id,
         "enqueued_at": now, "next_attempt_at": now, "attempts": 0, "last_error": None}
        for event, account_id, message_id, _url in items
    ])


def inbound_recorded(session: Session, inbound: Any) -> None:
    """``reply.received`` for a stored reply, and ``optout.added`` when it was a STOP.

    ``inbound`` is the :class:`hub.models.InboundMessage` just added to ``session``.
    """
    if inbound.account_id is None:
        return
    data = {"id": inbound.id, "from": inbound.sender, "to": inbound.recipient,
            "text": inbound.text, "kind": inbound.kind, "received_at": inbound.received_at}
    record_account_event(session, inbound.account_id, "reply.received", data)
    if inbound.kind == "stop":
        optout_changed(session, inbound.account_id, inbound.sender, added=True, source="sms",
                       reply_id=inbound.id)
    elif inbound.kind == "start":
        optout_changed(session, inbound.account_id, inbound.sender, added=False, source="sms",
                       reply_id=inbound.id)


def optout_changed(session: Session, account_id: str, number: str, *, added: bool,
                   source: str, **extra: Any) -> Event | None:
    """``optout.added`` or ``optout.removed``: a STOP / START reply (``source="sms"``) or a
    change through the API (``source="api"``), in the transaction that changed the list."""
    return record_account_event(session, account_id,
                                "optout.added" if added else "optout.removed",
                                {"number": number, "source": source, **extra})


def balance_low(session: Session, account_id: str, available: Decimal,
                threshold: Decimal) -> None:
    """``balance.low`` once per crossing (registered with ``hub.ledger.on_low_balance``)."""
    record_account_event(session, account_id, "balance.low",
                         {"balance": available, "threshold": threshold})


ledger.on_low_balance(balance_low)
