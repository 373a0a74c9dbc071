"""The submit pipeline: the one way an SMS enters the hub, for the API, connectors and the CLI.

``submit(services, account, requests)`` normalises each recipient, drops duplicates, refuses what
must not be sent (opted out, forbidden country, flooding, bad sender, template or length errors,
no credits), renders and analyses the text, prices it, reserves the credits, computes the send
instant (quiet hours for marketing), inserts the Message rows and, after the commit, enqueues
their ids. It returns one :class:`SubmitResult` per request, in order.

Decisions this module makes (documented here because callers rely on them):

* **Transactions.** Requests are processed in chunks of :data:`CHUNK_SIZE`; each chunk is one
  transaction (rows + credit reservation) followed by its enqueue. A call of up to
  ``CHUNK_SIZE`` requests is therefore atomic; a 100,000-recipient campaign commits chunk by
  chunk, so that single alerts submitted meanwhile are not blocked behind it.
* **Duplicates.** Within one call, requests without an idempotency key are merged per recipient
  (one message per number); the later ones answer ``duplicate=True`` with the first message's id.
  Requests with a key are merged per key, and a key already used by the account (in this call or
  any earlier one, before or after a restart) answers with the first message, ``duplicate=True``,
  and sends nothing. A concurrent submit of the same key loses on the unique constraint and is
  retried, so it too answers with the winner's message.
* **Refusals.** A refused recipient of a multi-request call (a campaign, a connector batch) is
  stored as a Message with status ``refused``, its ``reason`` code and cost 0, so that campaign
  counts and the history show it; a refusal in a single-request call is only answered. Refused
  rows never keep the idempotency key: retrying after the cause is fixed (credits bought, opt-in)
  sends. Nothing is ever charged for a refusal.
* **Credits.** Each chunk reserves its total with one ledger call. When the balance does not
  cover a chunk, the longest prefix it covers is accepted and the rest refused
  ``insufficient_credits``; when not even the first message of the call can be paid,
  :class:`BillingError` ``insufficient_credits`` is raised and nothing is stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import SmsRequest, SubmitResult
from hub import ledger, queues
from hub.callbacks import outbox
from hub.db import (
    GIVE_WAY_LIMIT,
    GiveWay,
    give_way_point,
    giving_way,
    insert_many,
    one_of,
    reading,
    transaction,
)
from hub.models import Account, Message, utcnow
from hub.recipients import domestic_countries
from hub.services import Services
from hub.submission import Call, Chunk, Draft, RaceLost
from sms_core import compliance
from sms_core.errors import BillingError, HubError

log = logging.getLogger(__name__)

CHUNK_SIZE = 2000
"""Requests per transaction: large enough for bulk INSERT to pay off, small enough to keep
memory flat and the database lock short."""

RACE_RETRIES = 3
"""Attempts of a chunk that lost an idempotency-key race to a concurrent submit."""


def submit(
    services: Services,
    account: Account | str,
    requests: Sequence[SmsRequest],
    *,
    campaign_id: str | None = None,
) -> list[SubmitResult]:
    """Submit ``requests`` for ``account``; one result per request, in order (see module doc)."""
    call = _start(services, account, len(requests), campaign_id)
    results: list[SubmitResult] = []
    for start in range(0, len(requests), CHUNK_SIZE):
        chunk = requests[start:start + CHUNK_SIZE]
        done = _submit_chunk(services, call, chunk, first=start == 0)
        assert done is not None
        results.extend(done.results())
    return results


def start_campaign(services: Services, account: Account | str, campaign_id: str) -> Call:
    """The state of a campaign run, for :func:`submit_campaign_chunk`.

    The run streams: it keeps no result per recipient and asks the database which numbers the
    campaign already has, so its memory does not grow with the campaign.
    """
    return _start(services, account, 2, campaign_id, streaming=True)


def submit_campaign_chunk(services: Services, call: Call, requests: Sequence[SmsRequest],
                          during: Callable[[Session], bool]) -> dict[str, int] | None:
    """Submit one chunk of a campaign in one transaction; status → number of stored messages.

    ``during(session)`` runs first inside that transaction (to check and advance the campaign's
    progress, so that messages and progress commit together); when it answers False the chunk
    was already done by another run: nothing is written and None is returned. A chunk the
    balance cannot cover is stored ``refused`` ``insufficient_credits`` instead of raising.
    """
    chunk = _submit_chunk(services, call, requests, first=False, during=during)
    return None if chunk is None else chunk.counts()


def check_campaign(services: Services, account: Account | str, sample: SmsRequest) -> None:
    """The checks a campaign passes once for all its recipients, before anything is stored.

    Its text (or rendered template) must be sendable, its sender valid in the account's home
    country, and the credit must pay at least one message there. Raises the ``HubError`` the
    pipeline would give every recipient (``too_long``, ``sender_invalid``,
    ``insufficient_credits``...).
    """
    call = _start(services, account, 2, None)
    text = call.composer.text_of(sample.text, sample.template, sample.variables)
    analysis = call.composer.compose(text, sample.category, sample.transliterate)
    chosen = sample.sender or call.default_sender
    if chosen:
        compliance.validate_sender_id(chosen, call.region)
    try:
        needed = call.price_book.unit_price(call.region, call.composer.policy.route)
    except HubError:
        return  # no home price: recipients elsewhere may still be priced
    with reading(services.sessions) as session:
        available = ledger.spendable(session, call.account_id)
    if available < needed * analysis.segments:
        raise BillingError(f"insufficient credits: {available} {call.currency} available",
                           code="insufficient_credits", available=str(available),
                           currency=call.currency)


def _start(services: Services, account: Account | str, size: int,
           campaign_id: str | None, *, streaming: bool = False) -> Call:
    account_id = account if isinstance(account, str) else account.id
    with reading(services.sessions) as session:
        row = session.get(Account, account_id)
        if row is None:
            raise HubError(f"unknown account {account_id!r}", code="account_not_found")
        book = ledger.price_book(session, row)
    settings = dict(row.settings or {})
    region = str(settings.get("region") or services.settings.default_region).upper()
    return Call.create(
        account=row,
        price_book=book,
        region=region,
        countries=domestic_countries(region, settings.get("allowed_countries") or ()),
        default_max_parts=services.settings.max_parts,
        campaign_id=campaign_id,
        keep_refused=campaign_id is not None or size > 1,
        has_redis=services.redis is not None,
        streaming=streaming,
        max_per_hour=services.settings.flood_max_per_hour,
        denied_domains=services.settings.items("denied_domains"),
    )


def _submit_chunk(services: Services, call: Call, requests: Sequence[SmsRequest], *,
                  first: bool, during: Callable[[Session], bool] | None = None) -> Chunk | None:
    """Plan the chunk outside the write lock, then write it in a short transaction.

    The plan (numbers, texts, prices, send instants, and what the database says about opt-outs,
    flood history and idempotency keys) is made from a read-only snapshot, so the CPU work never
    holds SQLite's single write lock. The write transaction re-checks what a concurrent submit
    may have changed (:meth:`Chunk.unchanged`); when anything did, or when a key race is lost,
    the chunk is planned again inside the write transaction, as the one and only truth.
    """
    planned: Chunk | None = None
    attempt = gave_way = 0
    while attempt < RACE_RETRIES:
        try:
            if planned is None and (attempt == 0 or gave_way):
                with reading(services.sessions) as session:
                    planned = _plan(session, call, requests)
            with (transaction(services.sessions) as session,
                  contextlib.nullcontext() if gave_way >= GIVE_WAY_LIMIT
                  else giving_way(session)):
                if during is not None and not during(session):
                    return None
                if planned is not None and planned.unchanged(
                        session, lambda s: _replays(s, call.account_id, requests)):
                    chunk = planned
                else:
                    chunk = _plan(session, call, requests)
                _reserve(session, call, chunk, first=first)
                _insert(session, chunk)
        except GiveWay:  # rolled back for an alert: written again after it
            gave_way += 1
            if planned is not None and planned.trimmed:  # its balance was rolled back too
                planned = None
            continue
        except (IntegrityError, RaceLost):
            if attempt == RACE_RETRIES - 1:
                raise
            log.info("idempotency key race lost; replaying the chunk")
            planned, attempt, gave_way = None, attempt + 1, 0
            continue
        call.commit(chunk)
        queues.enqueue_new(services, chunk.ready_by_queue(), chunk.scheduled_by_queue())
        return chunk
    raise AssertionError("unreachable")


def _plan(session: Session, call: Call, requests: Sequence[SmsRequest]) -> Chunk:
    """Decide the fate of every request of the chunk (nothing written yet)."""
    chunk = Chunk(call=call, now=utcnow())
    replays = chunk.replays = _replays(session, call.account_id, requests)
    drafts = [chunk.prepare(index, request, replays) for index, request in enumerate(requests)]
    chunk.check_batch(session, drafts)
    return chunk


def _replays(session: Session, account_id: str,
             requests: Sequence[SmsRequest]) -> dict[str, SubmitResult]:
    """Results already given to the idempotency keys of ``requests`` (one query)."""
    keys = {r.idempotency_key for r in requests if r.idempotency_key}
    if not keys:
        return {}
    query = select(Message.idempotency_key, Message.id, Message.status, Message.to,
                   Message.reason, Message.detail).where(
        Message.account_id == account_id, one_of(session, Message.idempotency_key, keys))
    return {
        key: SubmitResult(status=status, to=to, message_id=mid, code=reason, reason=detail,
                          duplicate=True)
        for key, mid, status, to, reason, detail in session.execute(query)
        if key is not None
    }


def _reserve(session: Session, call: Call, chunk: Chunk, *, first: bool) -> None:
    """Reserve the chunk's credits in one ledger call, trimming it to what the balance covers."""
    payable = chunk.payable()
    if not payable:
        return
    account = session.get(Account, call.account_id)
    assert account is not None
    total = sum((d.cost for d in payable), Decimal(0))
    try:
        with session.begin_nested():
            ledger.reserve(session, account, total, reference=_reference(call, payable),
                           count=len(payable))
        return
    except BillingError as exc:
        if exc.code != "insufficient_credits":
            raise
        short = exc
    kept = _affordable(payable, ledger.spendable(session, account))
    if first and not kept and not chunk.has_replays():
        raise short
    chunk.refuse_unpaid(payable[len(kept):], short)
    if kept:
        amount = sum((d.cost for d in kept), Decimal(0))
        ledger.reserve(session, account, amount, reference=_reference(call, kept),
                       count=len(kept))


def _affordable(drafts: list[Draft], balance: Decimal) -> list[Draft]:
    kept: list[Draft] = []
    spent = Decimal(0)
    for draft in drafts:
        if spent + draft.cost > balance:
            break
        spent += draft.cost
        kept.append(draft)
    return kept


def _reference(call: Call, drafts: list[Draft]) -> str:
    return call.campaign_id or drafts[0].message_id


def _insert(session: Session, chunk: Chunk) -> None:
    give_way_point(session)  # before building the rows, when an alert waits
    rows = chunk.rows()
    if rows:
        insert_many(session, cast(Table, Message.__table__), rows)
        outbox.messages_created(session, rows)


def message_to_dict(message: Message) -> dict[str, Any]:
    """The public JSON shape of a message (REST API, callbacks, CLI)."""
    return {
        "id": message.id,
        "to": message.to,
        "status": message.status,
        "encoding": message.encoding,
        "segments": message.segments,
        "cost": _decimal_string(message.cost),
        "currency": message.currency,
        "sender": message.sender,
        "text": message.text,
        "category": message.category,
        "created_at": _iso(message.created_at),
        "send_at": _iso(message.send_at),
        "submitted_at": _iso(message.submitted_at),
        "done_at": _iso(message.done_at),
        "reason": message.reason,
        "detail": message.detail,
        "source": message.source,
        "campaign_id": message.campaign_id,
    }


def _decimal_string(value: Decimal | None) -> str:
    amount = Decimal(0) if value is None else Decimal(value)
    return format(amount.normalize() if amount else Decimal(0), "f")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
