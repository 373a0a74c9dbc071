"""Why a recipient is refused, and the checks that need the database (opt-outs, flood history).

Each check loads what it needs for a whole chunk of recipients with one query (an ``IN`` list of
numbers), so that a campaign chunk of thousands of numbers costs two round trips, not thousands.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    bindparam,
    select,
    text,
)
from sqlalchemy.orm import Session

from connectors.base import SubmitResult
from hub.db import is_sqlite, one_of, one_of_text
from hub.models import Message, OptOut
from hub.models.base import UtcDateTime
from sms_core import compliance
from sms_core.errors import HubError

FLOOD_HORIZON = timedelta(hours=1)
"""How far back the flood rules look (messages per recipient per rolling hour)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A recipient that will not be sent to: a stable machine ``code`` and a human ``reason``."""

    code: str
    reason: str

    @classmethod
    def of(cls, error: HubError) -> Refusal:
        return cls(error.code, error.message)


OPTED_OUT = "opted_out"
COUNTRY_NOT_ALLOWED = "country_not_allowed"
INSUFFICIENT_CREDITS = "insufficient_credits"


def opted_out(session: Session, account_id: str, numbers: Collection[str]) -> set[str]:
    """The numbers among ``numbers`` on the account's opt-out list."""
    if not numbers:
        return set()
    query = select(OptOut.number).where(
        OptOut.account_id == account_id, one_of(session, OptOut.number, numbers))
    return set(session.scalars(query))


def campaign_numbers(session: Session, account_id: str, campaign_id: str,
                     numbers: Collection[str]) -> dict[str, SubmitResult]:
    """The numbers among ``numbers`` that earlier chunks of the campaign already stored, with
    their message: a campaign run keeps one message per recipient without holding them all."""
    if not numbers:
        return {}
    found = _to_numbers(session, (Message.to, Message.id, Message.status), account_id, numbers,
                        "campaign_id = :campaign_id", campaign_id=campaign_id)
    return {to: SubmitResult(status=status, to=to, message_id=mid, duplicate=True)
            for to, mid, status in found}


NUMBER_INDEX = "ix_messages_account_to"
"""The index (account_id, to) that finds an account's messages to given numbers."""


def _to_numbers(session: Session, columns: tuple[Any, ...], account_id: str,
                numbers: Collection[str], condition: str, **params: Any) -> list[tuple[Any, ...]]:
    """The account's messages to ``numbers`` that also meet ``condition``, looked up number by
    number in :data:`NUMBER_INDEX`.

    Without statistics SQLite's planner prefers a plain equality on another index (the
    campaign, or the account and a time range) to a thousand look-ups per number: it would then
    read every message of the campaign or of the last hour for each chunk, so that a campaign's
    cost grew with the square of its size. On SQLite the index is therefore named; PostgreSQL
    chooses from its statistics.
    """
    source = f"messages INDEXED BY {NUMBER_INDEX}" if is_sqlite(session) else "messages"
    names = ", ".join(f'"{column.key}"' for column in columns)
    listed, numbers_param = one_of_text(session, '"to"', "numbers", numbers)
    binds = [bindparam("account_id", account_id), numbers_param]
    binds += [bindparam(name, value, type_=UtcDateTime() if isinstance(value, datetime) else None)
              for name, value in params.items()]
    query = text(f"SELECT {names} FROM {source} WHERE account_id = :account_id "
                 f"AND {listed} AND {condition}").bindparams(*binds).columns(*columns)
    return [tuple(row) for row in session.execute(query)]


def recent_ids(session: Session, account_id: str, numbers: Collection[str],
               now: datetime) -> set[str]:
    """Ids of the messages :meth:`FloodGuard.load` would count for ``numbers`` at ``now``."""
    if not numbers:
        return set()
    return {row[0] for row in _recent(session, (Message.id,), account_id, numbers, now)}


def _recent(session: Session, columns: tuple[Any, ...], account_id: str,
            numbers: Collection[str], now: datetime) -> list[tuple[Any, ...]]:
    return _to_numbers(session, columns, account_id, numbers,
                       "created_at >= :since AND status != 'refused'",
                       since=now - FLOOD_HORIZON)


Mark = tuple[int, Any]
"""SQLite: a table's highest rowid and the primary key of that row, when a snapshot was read."""


def high_water(session: Session, table: str) -> Mark:
    """The :data:`Mark` of ``table`` (SQLite: rowids grow, rows added later are above it)."""
    found = session.execute(text(f"SELECT rowid, id FROM {table} ORDER BY rowid DESC LIMIT 1"))
    row = found.first()
    return (0, None) if row is None else (int(row[0]), row[1])


def added_since(session: Session, table: str, mark: Mark, columns: str,
                account_id: str) -> list[tuple[Any, ...]] | None:
    """The account's rows of ``table`` added after ``mark`` (SQLite), or None when the marked
    row is gone, so that rowids may have been reused and the answer would not be sure.

    They are read by rowid range (``NOT INDEXED``): the planner would otherwise walk the
    account's whole part of an index that starts with ``account_id``, so that the re-check of
    every chunk cost as much as the account's history instead of what was added meanwhile."""
    rowid, key = mark
    if rowid:
        still = session.execute(text(f"SELECT id FROM {table} WHERE rowid = :r"),
                                {"r": rowid}).scalar()
        if still != key:
            return None
    return [tuple(row) for row in session.execute(
        text(f"SELECT {columns} FROM {table} NOT INDEXED WHERE rowid > :r AND account_id = :a"),
        {"r": rowid, "a": account_id})]


@dataclass
class FloodGuard:
    """The flood rules over the account's recent history plus what this call already accepted."""

    now: datetime
    max_per_hour: int = compliance.MAX_PER_HOUR
    history: dict[str, tuple[tuple[datetime, str, str], ...]] = field(default_factory=dict)
    """Per number, its messages of the last hour: tuples, which the garbage collector stops
    tracking, rather than one list per recipient of a chunk."""

    seen: set[str] = field(default_factory=set)
    """Ids of the stored messages :meth:`load` found (what a later re-check compares)."""

    _digests: dict[str, str] = field(default_factory=dict)
    """The digests of the texts recorded: a campaign records one text thousands of times."""

    def load(self, session: Session, account_id: str, numbers: Collection[str]) -> set[str]:
        """Add the last hour of the account's messages to ``numbers`` (one query).

        Returns the idempotency keys of those messages: a caller that finds one of its own keys
        there lost a race to a concurrent submit that committed meanwhile.
        """
        keys: set[str] = set()
        fresh = [n for n in numbers if n not in self.history]
        if not fresh:
            return keys
        columns = (Message.id, Message.to, Message.text, Message.created_at,
                   Message.idempotency_key)
        for mid, to, body, created_at, key in _recent(session, columns, account_id, fresh,
                                                      self.now):
            self.seen.add(mid)
            self._add(to, (created_at, to, compliance.text_hash(body)))
            if key:
                keys.add(key)
        return keys

    def check(self, number: str, text: str) -> Refusal | None:
        """A ``flooding`` or ``duplicate_text`` refusal, or None when ``text`` may go."""
        entries = self.history.get(number)
        if entries:
            try:
                compliance.check_flood(entries, number, text, self.now,
                                       max_per_hour=self.max_per_hour)
            except HubError as exc:
                return Refusal.of(exc)
        return None

    def record(self, number: str, text: str) -> None:
        """Count a message accepted by this call against its recipient."""
        digest = self._digests.get(text)
        if digest is None:
            digest = self._digests[text] = compliance.text_hash(text)
        self._add(number, (self.now, number, digest))

    def _add(self, number: str, entry: tuple[datetime, str, str]) -> None:
        self.history[number] = (*self.history.get(number, ()), entry)
