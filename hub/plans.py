"""Subscriptions to the appointment-reminder plans, and the calendar limit they impose.

The calendar connector's hub wiring calls :func:`check_can_add_calendar` before connecting one
more calendar. A sub-account shares its parent's subscription, as it shares its credits.

Fees (RULES.md § Billing: "a monthly/annual fixed fee plus usage billed monthly") are written as
:class:`~hub.models.subscription.SubscriptionFee` lines, never changed afterwards, and appear on
the monthly statement of the month they fell due in. They are *invoiced*, not taken from the
prepaid SMS credits: the credits pay SMS only (SMSFactor special terms §6). :func:`record_fees`
writes the period fee when each period starts (the first when the trial ends) and moves the
subscription to its current period; it runs before any change of plan, before a cancellation
and before a statement is computed, so a fee is always billed at the plan in force when its
period began. An upgrade adds a ``prorata`` line at once (a downgrade refunds nothing).

Choosing a plan (:func:`choose`, behind ``PUT /api/v1/subscription`` and ``smshub plan
subscribe``): the first subscription of an account starts the plan's 30-day free trial (one
trial per account, never started automatically: a calendar selection without a plan is refused
with ``plan_limit``). Afterwards an upgrade takes effect at once with its pro-rata, a downgrade
below the calendars in use is refused (``calendars_in_use``), and a new billing cycle applies at
once during the trial, else from the next period (the current one is already invoiced). A
cancelled subscription chosen again goes on in its trial or its paid period, or else starts a
new period (billed at once). The subscription belongs to the paying account: a sub-account
reads its parent's, and only the paying account changes it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.models import Account, CalendarConnection, CalendarRow, Subscription
from hub.models.subscription import SubscriptionFee
from sms_core import plans
from sms_core.errors import BillingError


class PlanConflict(BillingError):
    """A plan change that contradicts the account's state (409)."""

    status = 409


def _payer_id(session: Session, account: Account | str) -> str:
    acting = account if isinstance(account, Account) else session.get(Account, account)
    if acting is None:
        raise BillingError(f"unknown account {account!r}", code="unknown_account")
    return acting.parent_id or acting.id


def subscription(session: Session, account: Account | str) -> Subscription | None:
    """The paying account's subscription, if any."""
    return session.get(Subscription, _payer_id(session, account))


def subscribe(session: Session, account: Account | str, plan: str, cycle: str = "monthly",
              now: datetime | None = None) -> Subscription:
    """Start ``plan`` with its 30-day trial; the first paid period begins when the trial ends."""
    chosen, when = plans.plan(plan), now or datetime.now(UTC)
    payer = _payer_id(session, account)
    paying = session.get(Account, payer)
    if paying is not None and paying.currency != plans.CURRENCY:
        raise BillingError(f"plans are billed in {plans.CURRENCY}; account {payer} is billed "
                           f"in {paying.currency}", code="currency_mismatch")
    if session.get(Subscription, payer) is not None:
        raise BillingError("this account already has a subscription; change its plan",
                           code="already_subscribed")
    trial_end = when + timedelta(days=plans.TRIAL_DAYS)
    row = Subscription(account_id=payer, plan=chosen.code, cycle=plans.cycle_name(cycle),
                       status="trial", trial_ends_at=trial_end, period_start=trial_end,
                       period_end=plans.period_end(trial_end, cycle), pending=Decimal(0),
                       created_at=when)
    session.add(row)
    session.flush()
    return row


def change_plan(session: Session, account: Account | str, plan: str,
                now: datetime | None = None) -> Decimal:
    """Switch plans now; returns the pro-rata added to the next invoice (0 for a downgrade).

    A downgrade below the calendars in use is the caller's to refuse (it knows the count).
    """
    row = subscription(session, account)
    if row is None:
        raise BillingError("no subscription to change", code="no_subscription")
    new, when = plans.plan(plan), now or datetime.now(UTC)
    record_fees(session, row.account_id, when)
    extra, cycle = Decimal(0), _period_cycle(session, row)
    if when >= row.trial_ends_at:
        extra = plans.prorata(plans.plan(row.plan), new, cycle, row.period_start,
                              row.period_end, when)
    if extra > 0:
        session.add(SubscriptionFee(
            account_id=row.account_id, kind="prorata", plan=new.code, cycle=cycle,
            currency=plans.CURRENCY, amount=extra, period_start=when, period_end=row.period_end,
            reference=f"prorata:{new.code}:{when.isoformat()}", created_at=when))
    row.plan, row.pending = new.code, row.pending + extra
    session.flush()
    return extra


def _period_cycle(session: Session, row: Subscription) -> str:
    """The cycle the current period was invoiced at (a new cycle waits for the next period)."""
    billed = session.scalar(select(SubscriptionFee.cycle).where(
        SubscriptionFee.account_id == row.account_id,
        SubscriptionFee.reference == f"period:{row.period_start.isoformat()}"))
    return billed or row.cycle


def _billed(session: Session, account_id: str, reference: str) -> bool:
    return session.scalar(select(SubscriptionFee.id).where(
        SubscriptionFee.account_id == account_id, SubscriptionFee.reference == reference)
    ) is not None


def record_fees(session: Session, account: Account | str, until: datetime) -> int:
    """Write the period fee of every period that began by ``until`` and was not billed yet, and
    move the subscription to the period containing ``until``. Idempotent; returns lines added.

    A cancelled subscription is billed nothing more (what it already paid is not refunded).
    """
    row = subscription(session, account)
    if row is None or row.status == "cancelled":
        return 0
    added = 0
    while row.period_start <= until:
        reference = f"period:{row.period_start.isoformat()}"
        if not _billed(session, row.account_id, reference):
            session.add(SubscriptionFee(
                account_id=row.account_id, kind="period", plan=row.plan, cycle=row.cycle,
                currency=plans.CURRENCY, amount=plans.plan(row.plan).fee(row.cycle),
                period_start=row.period_start, period_end=row.period_end,
                reference=reference, created_at=row.period_start))
            added += 1
            row.status = "active"
        if row.period_end > until:
            break
        row.period_start = row.period_end
        row.period_end = plans.period_end(row.period_start, row.cycle)
        row.pending = Decimal(0)
    session.flush()
    return added


def can_add_calendar(session: Session, account: Account | str, current_count: int) -> bool:
    """Whether one more calendar fits the account's plan (no subscription: no calendar).

    The trial gives the plan's full allowance; when it ends the fee is due and the plan goes on.
    """
    row = subscription(session, account)
    if row is None or row.status == "cancelled":
        return False
    return plans.plan(row.plan).covers(current_count + 1)


def check_can_add_calendar(session: Session, account: Account | str,
                           current_count: int) -> None:
    """:func:`can_add_calendar` or BillingError(plan_limit) saying which plan is needed."""
    if can_add_calendar(session, account, current_count):
        return
    row = subscription(session, account)
    needed = plans.plan_for(current_count + 1).code if current_count < 50 else "none"
    current = row.plan if row is not None else "none"
    raise BillingError(
        f"plan {current} does not allow calendar {current_count + 1} (needs {needed})",
        code="plan_limit", plan=current, needed=needed)


def cancel(session: Session, account: Account | str, now: datetime | None = None) -> None:
    """End the subscription: no new calendar, no refund of the period (SMSFactor §6)."""
    row = subscription(session, account)
    if row is None:
        raise BillingError("no subscription to cancel", code="no_subscription")
    record_fees(session, row.account_id, now or datetime.now(UTC))
    row.status = "cancelled"


def calendars_in_use(session: Session, account: Account | str) -> int:
    """Selected calendars of the paying account and of its sub-accounts (what the plan covers)."""
    payer = _payer_id(session, account)
    owners = select(Account.id).where(or_(Account.id == payer, Account.parent_id == payer))
    return int(session.scalar(
        select(func.count()).select_from(CalendarRow)
        .join(CalendarConnection, CalendarConnection.id == CalendarRow.connection_id)
        .where(CalendarConnection.account_id.in_(owners), CalendarRow.selected)) or 0)


def paying_account(session: Session, account: Account | str) -> str:
    acting = account if isinstance(account, Account) else session.get(Account, account)
    if acting is None:
        raise BillingError(f"unknown account {account!r}", code="unknown_account")
    if acting.parent_id is not None:
        raise PlanConflict(f"the plan of {acting.id} is its parent's ({acting.parent_id}): "
                           "the paying account changes it", code="payer_only")
    return acting.id


def choose(session: Session, account: Account | str, plan: str, cycle: str = "monthly",
           now: datetime | None = None) -> tuple[Subscription, Decimal, bool]:
    """Subscribe to ``plan`` or move to it; (subscription, pro-rata added, created)."""
    when, wanted, cycle = now or datetime.now(UTC), plans.plan(plan), plans.cycle_name(cycle)
    payer = paying_account(session, account)
    row = session.get(Subscription, payer)
    if row is None:
        return subscribe(session, payer, wanted.code, cycle, when), Decimal(0), True
    record_fees(session, payer, when)
    used = calendars_in_use(session, payer)
    if not wanted.covers(used):
        raise PlanConflict(f"{used} calendars are selected and {wanted.code} covers "
                           f"{wanted.max_calendars}: deselect calendars first",
                           code="calendars_in_use", calendars_used=used,
                           calendars_allowed=wanted.max_calendars)
    if row.status == "cancelled":
        in_trial = when < row.trial_ends_at
        paid = _billed(session, payer, f"period:{row.period_start.isoformat()}")
        if in_trial or (paid and when < row.period_end):
            row.status = "trial" if in_trial else "active"
        else:
            row.plan, row.cycle, row.pending = wanted.code, cycle, Decimal(0)
            row.period_start, row.period_end = when, plans.period_end(when, cycle)
            row.status = "active"
            record_fees(session, payer, when)
            return row, Decimal(0), False
    extra = Decimal(0)
    if wanted.code != row.plan:
        extra = change_plan(session, payer, wanted.code, when)
    if cycle != row.cycle:
        row.cycle = cycle
        if when < row.trial_ends_at:
            row.period_end = plans.period_end(row.period_start, cycle)
    session.flush()
    return row, extra, False


def describe(session: Session, account: Account | str, now: datetime | None = None
             ) -> dict[str, Any]:
    """The paying account's subscription as the API and the CLI show it (fees brought up to
    date first, so the period shown is the current one)."""
    payer = _payer_id(session, account)
    record_fees(session, payer, now or datetime.now(UTC))
    row = session.get(Subscription, payer)
    used = calendars_in_use(session, payer)
    if row is None:
        return {"account_id": payer, "plan": None, "cycle": None, "status": "none",
                "trial_ends_at": None, "period_start": None, "period_end": None, "fee": None,
                "currency": plans.CURRENCY, "pending": "0", "calendars_allowed": 0,
                "calendars_used": used}
    chosen = plans.plan(row.plan)
    return {"account_id": payer, "plan": row.plan, "cycle": row.cycle, "status": row.status,
            "trial_ends_at": _iso(row.trial_ends_at), "period_start": _iso(row.period_start),
            "period_end": _iso(row.period_end), "fee": format(chosen.fee(row.cycle), "f"),
            "currency": plans.CURRENCY, "pending": format(row.pending.normalize(), "f"),
            "calendars_allowed": 0 if row.status == "cancelled" else chosen.max_calendars,
            "calendars_used": used}


def _iso(value: datetime) -> str:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
