"""Appointment-reminder plans by number of calendars, with their fees and pro-rata arithmetic.

SMSFactor special terms §6: SOLO covers 1 calendar, BUSINESS 2–5, ENTERPRISE 6–50; monthly
without commitment or annual; a 30-day trial; a change of plan is charged pro rata on the next
invoice and a downgrade is never refunded. The SMS themselves are paid from credits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from sms_core.billing import add_months
from sms_core.errors import BillingError

TRIAL_DAYS = 30
CURRENCY = "EUR"
"""Currency of the plan fees (and so of the accounts that may subscribe)."""
CYCLES = ("monthly", "annual")


@dataclass(frozen=True)
class Plan:
    """A plan: how many calendars it covers and its fee per cycle (EUR, excluding tax)."""

    code: str
    min_calendars: int
    max_calendars: int
    monthly: Decimal
    annual: Decimal

    def fee(self, cycle: str) -> Decimal:
        return self.monthly if cycle == "monthly" else self.annual

    def covers(self, calendars: int) -> bool:
        return calendars <= self.max_calendars


PLANS = MappingProxyType({
    "SOLO": Plan("SOLO", 1, 1, Decimal("7.99"), Decimal("75")),
    "BUSINESS": Plan("BUSINESS", 2, 5, Decimal("19.99"), Decimal("190")),
    "ENTERPRISE": Plan("ENTERPRISE", 6, 50, Decimal("39.99"), Decimal("380")),
})
"""The plans, smallest first (fees from SMSFactor's published terms)."""


def plan(code: str) -> Plan:
    """The plan called ``code`` (case-insensitive), or BillingError(unknown_plan)."""
    found = PLANS.get((code or "").upper())
    if found is None:
        raise BillingError(f"unknown plan {code!r} (one of {', '.join(PLANS)})",
                           code="unknown_plan")
    return found


def cycle_name(cycle: str) -> str:
    if cycle not in CYCLES:
        raise BillingError(f"unknown billing cycle {cycle!r}", code="unknown_cycle")
    return cycle


def plan_for(calendars: int) -> Plan:
    """The smallest plan that covers ``calendars``; BillingError(plan_limit) beyond the largest."""
    for candidate in PLANS.values():
        if candidate.covers(calendars):
            return candidate
    raise BillingError(f"no plan covers {calendars} calendars", code="plan_limit")


def period_end(start: datetime, cycle: str) -> datetime:
    """End of the billing period that starts at ``start``."""
    return add_months(start, 1 if cycle_name(cycle) == "monthly" else 12)


def prorata(old: Plan, new: Plan, cycle: str, start: datetime, end: datetime,
            now: datetime) -> Decimal:
    """What an upgrade at ``now`` adds to the next invoice: the fee difference for the rest of
    the period, to the cent. A downgrade adds nothing and refunds nothing."""
    difference = new.fee(cycle) - old.fee(cycle)
    if difference <= 0 or now >= end:
        return Decimal("0.00")
    micro = timedelta(microseconds=1)
    left = Decimal((end - max(now, start)) // micro) / Decimal((end - start) // micro)
    return (difference * left).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
