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
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Account, Subscription
from hub.models.subscription import SubscriptionFee
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
    extra = Decimal(0)
    if when >= row.trial_ends_at:
        extra = plans.prorata(plans.plan(row.plan), new, row.cycle, row.period_start,
                              row.period_end, when)
    if extra > 0:
        session.add(SubscriptionFee(
            account_id=row.account_id, kind="prorata", plan=new.code, cycle=row.cycle,
            currency=plans.CURRENCY, amount=extra, period_start=when, period_end=row.period_end,
            reference=f"prorata:{new.code}:{when.isoformat()}", created_at=when))
    row.plan, row.pending = new.code, row.pending + extra
    session.flush()
    return extra


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
