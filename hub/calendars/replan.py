"""Reminders refused for lack of credits are planned again once the account can pay.

A reminder the pipeline refused ``insufficient_credits`` is stored by the connector as
``refused`` (the hub's submit function tags its reason with that code, :data:`UNPAID`), and the
connector never re-plans a key it has seen. :func:`reopen` *forgets* such reminders whose send
time is still ahead and clears their calendars' sync state, so the next sync lists every event
of the window again and submits them anew. No new idempotency key is needed: the pipeline never
keeps the key of a refused message, so the same key now sends.

When it runs:

* in the transaction of a credit purchase (``hub.ledger.on_purchase``), for the paying account
  and its sub-accounts; the next sync (push, or the periodic ``sync_all``) submits them;
* at the start of every periodic ``sync_all``, for every account that has such reminders and
  credit to spend now (credit added another way: an adjustment, a credit limit, a parent's pack).

An account whose credit is still too short gets its reminders refused again at that sync; the
cost is one full listing of the calendar per period while it stays short.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from hub import ledger
from hub.db import transaction
from hub.models import Account, utcnow
from hub.models.calendar import CalendarConnection, CalendarReminder, CalendarRow
from hub.services import Services

UNPAID = "insufficient_credits"
"""The refusal code whose reminders are planned again; stored reasons start with it."""


def tag(code: str | None, reason: str | None) -> str | None:
    """The reason stored for a refused reminder: ``insufficient_credits: <text>`` when unpaid."""
    if code == UNPAID and not (reason or "").startswith(UNPAID):
        return f"{UNPAID}: {reason}" if reason else UNPAID
    return reason


def _unpaid(now: datetime,
            account_ids: Iterable[str] | None = None) -> Select[str, str, str]:
    query = (select(CalendarReminder.key, CalendarReminder.calendar_id,
                    CalendarConnection.account_id)
             .join(CalendarRow, CalendarRow.id == CalendarReminder.calendar_id)
             .join(CalendarConnection, CalendarConnection.id == CalendarRow.connection_id)
             .where(CalendarReminder.status == "refused",
                    CalendarReminder.reason.like(f"{UNPAID}%"),
                    CalendarReminder.send_at > now))
    if account_ids is not None:
        query = query.where(CalendarConnection.account_id.in_(list(account_ids)))
    return query


def reopen(session: Session, account_ids: Iterable[str] | None = None,
           now: datetime | None = None) -> set[str]:
    """Forget the future unpaid reminders of ``account_ids`` (all accounts when None) and
    clear their calendars' sync state; returns the calendars concerned."""
    rows = session.execute(_unpaid(now or utcnow(), account_ids)).all()
    if not rows:
        return set()
    calendars = {calendar_id for _, calendar_id, _ in rows}
    session.execute(delete(CalendarReminder)
                    .where(CalendarReminder.key.in_([key for key, _, _ in rows]))
                    .execution_options(synchronize_session=False))
    session.execute(update(CalendarRow).where(CalendarRow.id.in_(sorted(calendars)))
                    .values(sync_state=None).execution_options(synchronize_session=False))
    return calendars


def credits_bought(session: Session, paying_id: str) -> None:
    """``hub.ledger.on_purchase`` hook: the paying account and the sub-accounts it pays for."""
    children = session.scalars(select(Account.id).where(Account.parent_id == paying_id))
    reopen(session, [paying_id, *children])


def reopen_payable(services: Services, now: datetime | None = None) -> set[str]:
    """The periodic pass: reopen for every account with unpaid reminders and credit to spend."""
    now = now or utcnow()
    with transaction(services.sessions) as session:
        waiting = {account for _, _, account in session.execute(_unpaid(now)).all()}
        payable = [a for a in sorted(waiting) if ledger.spendable(session, a) > Decimal(0)]
        return reopen(session, payable, now) if payable else set()


ledger.on_purchase(credits_bought)
