"""Subscriptions to the appointment-reminder plans, and the calendar limit they impose.

The calendar connector's hub wiring calls :func:`check_can_add_calendar` before connecting one
more calendar. A sub-account shares its parent's subscription, as it shares its credits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from hub.models import Account, Subscription
from sms_core import plans
from sms_core.errors import BillingError


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
    extra = Decimal(0)
    if when >= row.trial_ends_at:
        extra = plans.prorata(plans.plan(row.plan), new, row.cycle, row.period_start,
                              row.period_end, when)
    row.plan, row.pending = new.code, row.pending + extra
    return extra


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


def cancel(session: Session, account: Account | str) -> None:
    """End the subscription: no new calendar, no refund of the period (SMSFactor §6)."""
    row = subscription(session, account)
    if row is None:
        raise BillingError("no subscription to cancel", code="no_subscription")
    row.status = "cancelled"
