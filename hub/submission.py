"""The working state of one submit call (:class:`Call`) and of one of its chunks (:class:`Chunk`).

A :class:`Draft` is one request on its way to a Message row: either a ``refusal``, a
``duplicate`` of an earlier result, or a message to accept (recipient, analysis, sender, send
instant, cost). The chunk decides every draft's fate before anything is written, so that a chunk
that loses an idempotency race can be replayed from scratch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from connectors.base import SmsRequest, SubmitResult
from hub.composing import Composer, TextPolicy
from hub.db import is_sqlite
from hub.ids import new_id
from hub.models import Account
from hub.queues import queue_for
from hub.recipients import Recipient, resolve
from hub.refusals import (
    COUNTRY_NOT_ALLOWED,
    INSUFFICIENT_CREDITS,
    OPTED_OUT,
    FloodGuard,
    Mark,
    Refusal,
    added_since,
    campaign_numbers,
    high_water,
    opted_out,
    recent_ids,
)
from sms_core import compliance
from sms_core.billing import PriceBook
from sms_core.encoding import Analysis
from sms_core.errors import HubError

RAW_TO_LIMIT = 32
"""Width of ``messages.to``: an unparseable recipient is stored cut to it."""


@dataclass
class Call:
    """What stays the same for every chunk of one submit call, and the merges across chunks."""

    account_id: str
    currency: str
    default_sender: str | None
    region: str
    countries: frozenset[str]
    price_book: PriceBook
    composer: Composer
    campaign_id: str | None
    keep_refused: bool
    has_redis: bool
    max_per_hour: int = compliance.MAX_PER_HOUR
    """The flood rule: messages per number per rolling hour (the account's, or the hub's)."""
    streaming: bool = False
    """A campaign run: the database, not this object, remembers earlier chunks (memory stays
    flat), duplicates are merged per number even though every request has a key, and no
    per-recipient result is built."""
    by_number: dict[str, SubmitResult] = field(default_factory=dict)
    by_key: dict[str, SubmitResult] = field(default_factory=dict)
    _senders: dict[tuple[str, str], str | Refusal] = field(default_factory=dict)
    _prices: dict[str, Decimal | Refusal] = field(default_factory=dict)
    _times: dict[tuple[datetime, str, str], datetime] = field(default_factory=dict)

    @classmethod
    def create(cls, *, account: Account, price_book: PriceBook, region: str,
               countries: frozenset[str], default_max_parts: int, campaign_id: str | None,
               keep_refused: bool, has_redis: bool, streaming: bool = False,
               max_per_hour: int = compliance.MAX_PER_HOUR,
               denied_domains: Iterable[str] = ()) -> Call:
        settings: Mapping[str, Any] = account.settings or {}
        return cls(
            account_id=account.id,
            currency=account.currency,
            default_sender=settings.get("default_sender") or None,
            region=region,
            countries=countries,
            price_book=price_book,
            composer=Composer(TextPolicy.from_settings(settings, default_max_parts,
                                                       denied_domains)),
            max_per_hour=int(settings.get("max_per_hour") or max_per_hour),
            campaign_id=campaign_id,
            keep_refused=keep_refused,
            has_redis=has_redis,
            streaming=streaming,
        )

    def sender_for(self, sender: str | None, country: str) -> str | None:
        """The validated sender for ``country`` (cached); raises ``ComplianceError``."""
        chosen = sender or self.default_sender
        if not chosen:
            return None
        key = (chosen, country)
        if key not in self._senders:
            try:
                self._senders[key] = compliance.validate_sender_id(chosen, country)
            except HubError as exc:
                self._senders[key] = Refusal.of(exc)
        return _unwrap(self._senders[key])

    def unit_price(self, country: str) -> Decimal:
        """Price of one part to ``country`` on the account's route (cached)."""
        if country not in self._prices:
            try:
                route = self.composer.policy.route
                self._prices[country] = self.price_book.unit_price(country, route)
            except HubError as exc:
                self._prices[country] = Refusal.of(exc)
        return _unwrap(self._prices[country])

    def send_time(self, wanted: datetime | None, now: datetime, category: str,
                  country: str) -> datetime:
        """The send instant: the requested one (never in the past), then quiet hours."""
        when = now if wanted is None else _aware(wanted)
        when = max(when, now)
        key = (when, category, country)
        if key not in self._times:
            self._times[key] = compliance.next_send_time(when, category, country)
        return self._times[key]

    def commit(self, chunk: Chunk) -> None:
        """Remember what a committed chunk accepted, for the duplicates of later chunks."""
        if self.streaming:
            return
        self.by_number.update(chunk.by_number)
        self.by_key.update(chunk.by_key)


class RaceLost(Exception):
    """A concurrent submit committed one of this chunk's idempotency keys: replay the chunk."""


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


def _unwrap(value: Any) -> Any:
    if isinstance(value, Refusal):
        raise _Refused(value)
    return value


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(slots=True)
class Draft:
    """One request of a chunk and what will become of it."""

    request: SmsRequest
    message_id: str = ""
    recipient: Recipient | None = None
    analysis: Analysis | None = None
    sender: str | None = None
    send_at: datetime | None = None
    cost: Decimal = Decimal(0)
    refusal: Refusal | None = None
    duplicate_of: SubmitResult | None = None

    @property
    def payable(self) -> bool:
        return self.refusal is None and self.duplicate_of is None

    @property
    def to(self) -> str:
        return self.recipient.number if self.recipient else self.request.to


@dataclass
class Chunk:
    """The drafts of one transaction."""

    call: Call
    now: datetime
    drafts: list[Draft] = field(default_factory=list)
    by_number: dict[str, SubmitResult] = field(default_factory=dict)
    by_key: dict[str, SubmitResult] = field(default_factory=dict)
    replays: dict[str, SubmitResult] = field(default_factory=dict)
    """What the database held for the chunk's idempotency keys when it was planned."""
    numbers: set[str] = field(default_factory=set)
    stopped: set[str] = field(default_factory=set)
    recent: set[str] = field(default_factory=set)
    """The numbers checked against the database, those found opted out, and the ids of the
    recent messages the flood rules counted: :meth:`unchanged` compares them again."""
    marks: dict[str, Mark] | None = None
    """SQLite: the high-water marks of messages and opt-outs in the planning snapshot."""

    def prepare(self, index: int, request: SmsRequest,
                replays: Mapping[str, SubmitResult]) -> Draft:
        """Everything about one request that needs no other request: number, text, price."""
        draft = Draft(request=request)
        self.drafts.append(draft)
        key = request.idempotency_key
        earlier = key and (replays.get(key) or self.call.by_key.get(key) or self.by_key.get(key))
        if earlier:
            draft.duplicate_of = earlier
            return draft
        draft.message_id = new_id("msg")
        try:
            self._shape(draft)
        except _Refused as refused:
            draft.refusal = refused.refusal
        except HubError as exc:
            draft.refusal = Refusal.of(exc)
        return draft

    def _shape(self, draft: Draft) -> None:
        request, call = draft.request, self.call
        recipient = draft.recipient = resolve(request.to, call.region)
        if recipient.country not in call.countries and "*" not in call.countries:
            raise _Refused(Refusal(
                COUNTRY_NOT_ALLOWED,
                f"sending to {recipient.country} is not enabled for this account",
            ))
        text = call.composer.text_of(request.text, request.template, request.variables)
        analysis = call.composer.compose(text, request.category, request.transliterate)
        draft.analysis = analysis
        draft.sender = call.sender_for(request.sender, recipient.country)
        draft.send_at = call.send_time(request.send_at, self.now, request.category,
                                       recipient.country)
        draft.cost = call.unit_price(recipient.country) * analysis.segments

    def check_batch(self, session: Session, drafts: Sequence[Draft]) -> None:
        """The checks that need the database, for all drafts at once; then merge duplicates."""
        live = [d for d in drafts if d.payable]
        numbers = self.numbers = {d.to for d in live}
        if self.call.streaming and self.call.campaign_id:
            self.by_number.update(campaign_numbers(session, self.call.account_id,
                                                   self.call.campaign_id, numbers))
        if is_sqlite(session):
            self.marks = {t: high_water(session, t) for t in ("messages", "optouts")}
        stopped = self.stopped = opted_out(session, self.call.account_id, numbers)
        flood = FloodGuard(self.now, max_per_hour=self.call.max_per_hour)
        seen_keys = flood.load(session, self.call.account_id, numbers)
        self.recent = flood.seen
        if any(d.request.idempotency_key in seen_keys for d in live):
            raise RaceLost("an idempotency key of this chunk was committed meanwhile")
        for draft in live:
            self._check_one(draft, stopped, flood)

    def unchanged(self, session: Session,
                  replays: Callable[[Session], Mapping[str, SubmitResult]]) -> bool:
        """Whether what the plan read still holds in ``session`` (the write transaction).

        A chunk planned outside the write lock is kept only when nobody has since used one of
        its idempotency keys, opted one of its numbers out or stored a message to one of them
        (cheap ``IN`` queries); otherwise it must be planned again. A campaign's own earlier
        chunks cannot change meanwhile: they are claimed in order (see :mod:`hub.campaigns`).
        """
        account_id = self.call.account_id
        if self.marks is not None:
            return self._unchanged_since_marks(session, self.marks)
        if {k: r.message_id for k, r in replays(session).items()} != \
                {k: r.message_id for k, r in self.replays.items()}:
            return False
        if opted_out(session, account_id, self.numbers) != self.stopped:
            return False
        return recent_ids(session, account_id, self.numbers, self.now) == self.recent

    def _unchanged_since_marks(self, session: Session, marks: Mapping[str, Mark]) -> bool:
        """SQLite: only the rows added since the snapshot are read (rowids only grow), so
        the re-check costs as little as what happened meanwhile (a few alerts)."""
        account_id = self.call.account_id
        added = added_since(session, "messages", marks["messages"],
                            '"to", idempotency_key', account_id)
        if added is None:
            return False
        keys = {d.request.idempotency_key for d in self.drafts} - {None}
        if any(row[0] in self.numbers or row[1] in keys for row in added):
            return False
        new_stops = added_since(session, "optouts", marks["optouts"], "number", account_id)
        if new_stops is None or any(row[0] in self.numbers for row in new_stops):
            return False
        return not self.stopped or opted_out(session, account_id, self.stopped) == self.stopped

    def _check_one(self, draft: Draft, stopped: Collection[str], flood: FloodGuard) -> None:
        key, number = draft.request.idempotency_key, draft.to
        if key and key in self.by_key:
            draft.duplicate_of = self.by_key[key]
            return
        if key is None or self.call.streaming:
            first = self.call.by_number.get(number) or self.by_number.get(number)
            if first is not None:
                draft.duplicate_of = first
                return
        assert draft.analysis is not None
        if number in stopped:
            draft.refusal = Refusal(OPTED_OUT, f"{number} opted out of this account's messages")
        else:
            draft.refusal = flood.check(number, draft.analysis.text)
        if draft.refusal is None:
            flood.record(number, draft.analysis.text)
            result = self._accepted_result(draft)
            self.by_number.setdefault(number, result)
            if key:
                self.by_key[key] = result

    def _accepted_result(self, draft: Draft) -> SubmitResult:
        return SubmitResult(status=self._status(draft), to=draft.to, message_id=draft.message_id)

    def _status(self, draft: Draft) -> str:
        return "scheduled" if draft.send_at and draft.send_at > self.now else "accepted"

    def payable(self) -> list[Draft]:
        return [d for d in self.drafts if d.payable]

    def has_replays(self) -> bool:
        return any(d.duplicate_of is not None for d in self.drafts)

    @property
    def trimmed(self) -> bool:
        """Whether some drafts were refused for the balance of a write transaction
        (:meth:`refuse_unpaid`): a transaction that rolls back must not keep that decision (the
        chunk is planned again)."""
        return any(d.refusal is not None and d.refusal.code == INSUFFICIENT_CREDITS
                   for d in self.drafts)

    def refuse_unpaid(self, drafts: Sequence[Draft], error: HubError) -> None:
        """Refuse the drafts the balance could not cover (and forget them as duplicates)."""
        for draft in drafts:
            draft.refusal = Refusal(INSUFFICIENT_CREDITS, error.message)
            if self.by_number.get(draft.to, None) is not None and \
                    self.by_number[draft.to].message_id == draft.message_id:
                del self.by_number[draft.to]
            key = draft.request.idempotency_key
            if key and key in self.by_key:
                del self.by_key[key]

    def counts(self) -> dict[str, int]:
        """Status → number of the messages this chunk stored (a campaign's progress)."""
        found: dict[str, int] = defaultdict(int)
        for draft in self.drafts:
            if draft.duplicate_of is not None:
                continue
            if draft.refusal is not None:
                found["refused"] += 1
            else:
                found[self._status(draft)] += 1
        return dict(found)

    def results(self) -> list[SubmitResult]:
        return [self._result(d) for d in self.drafts]

    def _result(self, draft: Draft) -> SubmitResult:
        if draft.duplicate_of is not None:
            earlier = draft.duplicate_of
            return SubmitResult(status=earlier.status, to=earlier.to,
                                message_id=earlier.message_id, code=earlier.code,
                                reason=earlier.reason, duplicate=True)
        if draft.refusal is not None:
            stored = self.call.keep_refused
            return SubmitResult(status="refused", to=draft.to,
                                message_id=draft.message_id if stored else None,
                                code=draft.refusal.code, reason=draft.refusal.reason)
        return self._accepted_result(draft)

    def rows(self) -> list[dict[str, Any]]:
        """Column values of every Message this chunk creates (accepted and kept refusals)."""
        keep = self.call.keep_refused
        return [self._row(d) for d in self.drafts
                if d.duplicate_of is None and (d.refusal is None or keep)]

    def _row(self, draft: Draft) -> dict[str, Any]:
        request, call, analysis = draft.request, self.call, draft.analysis
        refused = draft.refusal is not None
        status = "refused" if refused else self._status(draft)
        return {
            "id": draft.message_id,
            "account_id": call.account_id,
            "campaign_id": call.campaign_id,
            "to": draft.to[:RAW_TO_LIMIT],
            "country": draft.recipient.country[:2] if draft.recipient else None,
            "sender": draft.sender,
            "text": analysis.text if analysis else (request.text or ""),
            "category": request.category,
            "encoding": analysis.encoding if analysis else "GSM-7",
            "segments": analysis.segments if analysis else 0,
            "cost": Decimal(0) if refused else draft.cost,
            "currency": call.currency,
            "status": status,
            "reason": draft.refusal.code if draft.refusal else None,
            "detail": draft.refusal.reason if draft.refusal else None,
            "source": request.source,
            "idempotency_key": None if refused else request.idempotency_key,
            "callback_url": request.callback_url,
            "route": call.composer.policy.route,
            "operator_id": None,
            "attempts": 0,
            "meta": dict(request.metadata),
            "send_at": draft.send_at,
            "created_at": self.now,
            "accepted_at": self.now if status == "accepted" else None,
            "enqueued_at": self.now if status == "accepted" and call.has_redis else None,
            "submitted_at": None,
            "done_at": self.now if refused else None,
        }

    def _queued(self, status: str) -> list[Draft]:
        return [d for d in self.drafts if d.payable and self._status(d) == status]

    def ready_by_queue(self) -> dict[str, list[str]]:
        """Ids to enqueue now, per queue name."""
        found: dict[str, list[str]] = defaultdict(list)
        for draft in self._queued("accepted"):
            found[queue_for(draft.request.category, self.call.campaign_id)].append(
                draft.message_id)
        return dict(found)

    def scheduled_by_queue(self) -> dict[str, dict[datetime, list[str]]]:
        """Ids to promote later, per queue name and send instant."""
        found: dict[str, dict[datetime, list[str]]] = defaultdict(lambda: defaultdict(list))
        for draft in self._queued("scheduled"):
            assert draft.send_at is not None
            name = queue_for(draft.request.category, self.call.campaign_id)
            found[name][draft.send_at].append(draft.message_id)
        return {name: dict(by_time) for name, by_time in found.items()}
