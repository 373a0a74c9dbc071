"""The message state machine: which moves are allowed and which timestamp each move stamps.

::

    scheduled ─► accepted ─► submitted ─► delivered | undeliverable | expired
        │            │           │
        └─► cancelled└─► failed  └─► failed
    (refused is only ever a starting state)

Moves are made with one conditional ``UPDATE ... WHERE status IN (<allowed sources>)``, so two
processes racing on the same message (a late DLR and the sweeper's expiry, a sweeper re-enqueue
and a dispatcher) cannot both win, and a final state is never left: a DLR never moves a delivered
message back. The caller commits the move before any side effect that depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.orm import Session

from hub import fanout
from hub.callbacks import outbox
from hub.db import one_of, unindexed, update_each
from hub.models import FINAL_STATES, Message, utcnow

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "scheduled": frozenset({"accepted", "cancelled", "failed"}),
    "accepted": frozenset({"submitted", "failed", "cancelled", "expired"}),
    "submitted": frozenset({"delivered", "undeliverable", "expired", "failed"}),
    **{state: frozenset() for state in FINAL_STATES},
}
"""Allowed moves, from each state to the states it may go to."""

STAMPS: Mapping[str, str] = {
    "accepted": "accepted_at",
    "submitted": "submitted_at",
    **{state: "done_at" for state in FINAL_STATES},
}
"""The timestamp column each state sets when a message enters it."""

INITIAL_STATES = frozenset({"scheduled", "accepted", "refused"})
"""States a message may be created in."""


class TransitionError(ValueError):
    """A move the state machine forbids (a programming error, not a race)."""


def sources(target: str) -> frozenset[str]:
    """The states from which a message may move to ``target``."""
    found = frozenset(state for state, targets in TRANSITIONS.items() if target in targets)
    if not found:
        raise TransitionError(f"no state may move to {target!r}")
    return found


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def stamp(target: str, at: datetime | None = None) -> dict[str, Any]:
    """The column values entering ``target`` sets (status and its timestamp)."""
    values: dict[str, Any] = {"status": target}
    column = STAMPS.get(target)
    if column:
        values[column] = at or utcnow()
    return values


def move(
    session: Session,
    ids: Iterable[str],
    target: str,
    *,
    only_from: Sequence[str] | None = None,
    at: datetime | None = None,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Move the messages ``ids`` to ``target`` when their current state allows it.

    ``only_from`` narrows the allowed sources further (the sweeper expires only ``submitted``).
    Extra column ``values`` (reason, operator id...) are written in the same statement. Returns
    how many rows moved; the others were already elsewhere (a race lost, a final state kept).
    """
    allowed = sources(target)
    if only_from is not None:
        wrong = set(only_from) - allowed
        if wrong:
            raise TransitionError(f"cannot move from {sorted(wrong)} to {target!r}")
        allowed = frozenset(only_from)
    id_list = list(ids)
    if not id_list:
        return 0
    statement = (
        update(Message)
        .where(one_of(session, Message.id, id_list),
               one_of(session, unindexed(Message.status), sorted(allowed)))
        .values(**stamp(target, at), **(values or {}))
        .execution_options(synchronize_session=False)
    )
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    moved = int(result.rowcount)
    if moved:
        outbox.message_moved(session, id_list, target)  # callback events, same transaction
        fanout.message_moved(session, id_list, target)  # connectors' outbox, same transaction
    return moved


def move_each(
    session: Session,
    rows: Sequence[Mapping[str, Any]],
    target: str,
    *,
    only_from: Sequence[str] | None = None,
    at: datetime | None = None,
) -> list[str]:
    """Move many messages to ``target``, each with its own column values (``rows`` hold ``id``
    and the values), in one query and one executemany instead of one statement per message.

    The eligible messages are read first (row-locked on PostgreSQL; SQLite's writer already
    holds the database lock), so the transition rules are those of :func:`move`; the updates
    are one Core executemany per set of columns. Returns the
    ids that moved, in the order given.
    """
    allowed = sources(target) if only_from is None else frozenset(only_from)
    if not allowed <= sources(target):
        raise TransitionError(f"cannot move from {sorted(allowed)} to {target!r}")
    wanted = [str(row["id"]) for row in rows]
    if not wanted:
        return []
    # by primary key only, the state checked here: with a status condition SQLite (no
    # statistics) prefers the status index and reads every message in that state
    eligible = {
        message_id: (account_id, source, callback_url)
        for message_id, status, account_id, source, callback_url in session.execute(
            select(Message.id, Message.status, Message.account_id, Message.source,
                   Message.callback_url)
            .where(one_of(session, Message.id, wanted)).with_for_update())
        if status in allowed
    }
    chosen = [row for row in rows if row["id"] in eligible]
    if not chosen:
        return []
    table = cast(Table, Message.__table__)
    stamped = stamp(target, at)
    by_values: dict[tuple[Any, ...], list[str]] = {}
    by_columns: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in chosen:
        columns = tuple(key for key in row if key != "id")
        try:
            by_values.setdefault((columns, *(row[key] for key in columns)),
                                 []).append(str(row["id"]))  # fmt: skip
        except TypeError:  # a value that cannot be a key: its own statement
            by_columns.setdefault(columns, []).append(row)
    for (columns, *values), ids in by_values.items():
        if len(ids) > 1:  # rows that set the same values (a receipt state): one UPDATE ... IN
            shared = {k: v for k, v in zip(columns, values, strict=True) if k not in stamped}
            session.execute(update(table).where(one_of(session, table.c.id, ids))
                            .values(**shared, **stamped))
            continue
        by_columns.setdefault(columns, []).append(
            {"id": ids[0], **dict(zip(columns, values, strict=True))})
    for columns, each in by_columns.items():
        # one executemany per set of columns: per-row values, the stamp as constants
        update_each(session, table, "id", [
            {"id": row["id"], **{k: row[k] for k in columns if k not in stamped}}
            for row in each], stamped)
    moved = [str(row["id"]) for row in chosen]
    # the hooks look only at the messages that may concern them (read above with the state)
    if fanout.concerns(eligible[i][1] for i in moved):
        fanout.message_moved(session, moved, target)
    listening = outbox.listening(session, {i: (eligible[i][0], eligible[i][2]) for i in moved})
    if listening:
        outbox.message_moved(session, listening, target)
    return moved


def move_one(
    session: Session, message_id: str, target: str, *, at: datetime | None = None,
    **values: Any,
) -> bool:
    """:func:`move` for one message; True when it moved."""
    return move(session, [message_id], target, at=at, values=values) == 1
