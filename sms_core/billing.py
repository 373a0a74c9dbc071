"""Prices, money and the pure arithmetic of the ledger (the store itself belongs to the hub).

Money is :class:`~decimal.Decimal` with six decimal places (the hub stores it as integer
micro-units so that SQLite, which has no decimal type, never rounds it through a float).

Prices are per message part, per destination country and route, optionally per operator, and
versioned by the instant they become valid: a message pays the price valid when it was accepted.
Where no price was negotiated a default rate applies (RULES.md, SMSFactor "Post Paid"); the
default rows of a price list use the country ``*``.

Prepaid credits come as packs valid 12 months from purchase (SMSFactor, smsmode) or, as a
per-deployment setting, 365 days renewed by every purchase or send (Octopush §20.2). Consumption
takes the oldest pack first. The functions here decide *how much* moves where; the hub writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from types import MappingProxyType

from babel.numbers import list_currencies

from sms_core.errors import BillingError

QUANTUM = Decimal("0.000001")
"""Smallest amount the hub stores: one micro-unit of the account currency."""

MAX_AMOUNT = Decimal(10) ** 12
"""Largest amount accepted anywhere; stored micro-units then fit a signed 64-bit integer."""

ROUTES = ("standard", "premium", "alert")
"""Route qualities a price can be set for (RULES.md § Delivery)."""

ANY_COUNTRY = "*"
"""Country of a default-rate row: applies where no price was set for the country."""

ENTRY_KINDS = ("purchase", "reserve", "charge", "release", "refund", "expiry", "adjustment")
"""Kinds of ledger entries; the balance is the sum of their amounts."""

EXPIRY_POLICIES = ("fixed", "rolling")
"""``fixed``: a pack lives 12 months from its purchase (default, the stricter rule);
``rolling``: 365 days, renewed for every live pack by each purchase or send (Octopush §20.2)."""


def money(value: object, *, what: str = "amount") -> Decimal:
    """``value`` as an exact Decimal of at most six decimal places; floats are refused.

    Floats are refused because ``0.1`` is not one tenth: money enters as strings, ints or
    Decimals only. Raises ``BillingError(code="invalid_amount")``.
    """
    if isinstance(value, float | bool) or value is None:
        raise BillingError(f"{what} must be a decimal string, not {value!r}", code="invalid_amount")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise BillingError(f"{what} {value!r} is not a number", code="invalid_amount") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise BillingError(f"{what} {value!r} is not a number the ledger can hold",
                           code="invalid_amount")
    if amount != amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN):
        raise BillingError(f"{what} {value!r} has more than 6 decimals", code="invalid_amount")
    return amount.quantize(QUANTUM)


def positive_money(value: object, *, what: str = "amount") -> Decimal:
    """Like :func:`money` but also refuses zero and negative amounts (code ``invalid_amount``)."""
    amount = money(value, what=what)
    if amount <= 0:
        raise BillingError(f"{what} must be positive, got {amount}", code="invalid_amount")
    return amount


def currency_code(code: object) -> str:
    """An ISO 4217 currency code known to Babel (CLDR), upper-cased; else ``unknown_currency``."""
    text = str(code or "").strip().upper()
    if len(text) != 3 or text not in list_currencies():
        raise BillingError(f"unknown currency {code!r}", code="unknown_currency")
    return text


def route_name(route: object) -> str:
    """A known route quality, lower-cased; else ``BillingError(code="unknown_route")``."""
    text = str(route or "").strip().lower()
    if text not in ROUTES:
        raise BillingError(f"unknown route {route!r} (one of {', '.join(ROUTES)})",
                           code="unknown_route")
    return text


@dataclass(frozen=True)
class Price:
    """One row of a price list: the price of one message part from ``valid_from`` on."""

    country: str
    route: str
    unit_price: Decimal
    valid_from: datetime
    operator: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.country, self.route, self.operator)


def current_prices(prices: Iterable[Price], at: datetime) -> dict[tuple[str, str, str], Price]:
    """For each (country, route, operator), the newest price already valid at ``at``."""
    chosen: dict[tuple[str, str, str], Price] = {}
    for price in prices:
        if price.valid_from > at:
            continue
        best = chosen.get(price.key)
        if best is None or price.valid_from > best.valid_from:
            chosen[price.key] = price
    return chosen


@dataclass(frozen=True)
class PriceBook:
    """The prices one account pays at one instant, layered: negotiated over public over default.

    ``layers`` are searched in order (the account's own price list first, then the public one);
    in each layer the operator-specific price wins over the country price, which wins over the
    country ``*`` default rate.
    """

    currency: str
    layers: Sequence[Mapping[tuple[str, str, str], Price]] = field(default_factory=tuple)

    @classmethod
    def build(cls, currency: str, layers: Iterable[Iterable[Price]], at: datetime) -> PriceBook:
        frozen = tuple(MappingProxyType(current_prices(layer, at)) for layer in layers)
        return cls(currency=currency, layers=frozen)

    def unit_price(self, country: str, route: str = "standard",
                   operator: str | None = None) -> Decimal:
        """Price of one part to ``country`` on ``route``; ``BillingError(no_price)`` if none."""
        country = (country or "").upper()
        keys = [(country, route, operator or ""), (country, route, ""), (ANY_COUNTRY, route, "")]
        if operator:
            keys.insert(2, (ANY_COUNTRY, route, operator))
        for layer in self.layers:
            for key in keys:
                if key in layer:
                    return layer[key].unit_price
        raise BillingError(f"no price for {country or '?'} on route {route} in {self.currency}",
                           code="no_price", country=country, route=route)

    def cost(self, country: str, parts: int, route: str = "standard",
             operator: str | None = None) -> Decimal:
        """What ``parts`` message parts to ``country`` cost (parts × unit price)."""
        return self.unit_price(country, route, operator) * parts


@dataclass(frozen=True)
class PackState:
    """What the ledger needs to know of a pack to consume or expire it."""

    id: int
    remaining: Decimal
    expires_at: datetime | None
    purchased_at: datetime


Take = tuple[int, Decimal]
"""(pack id, amount) moved out of one pack."""


def consume(packs: Sequence[PackState], amount: Decimal) -> list[Take]:
    """How much to take from each pack to pay ``amount``: oldest purchase first.

    Returns (pack id, amount taken) pairs; their sum may be below ``amount`` when the packs run
    out (a post-paid account then goes negative, RULES.md: packs are used before invoicing).
    Packs past their expiry still pay: what is left in them after :func:`expirable` has run is
    exactly what was held for messages accepted before the expiry.
    """
    takes: list[Take] = []
    left = amount
    for pack in sorted(packs, key=lambda p: (p.purchased_at, p.id)):
        if left <= 0:
            break
        if pack.remaining <= 0:
            continue
        take = min(pack.remaining, left)
        takes.append((pack.id, take))
        left -= take
    return takes


def expirable(packs: Sequence[PackState], held: Decimal, now: datetime) -> list[Take]:
    """What expires at ``now``: the remaining credit of each dead pack, less what is held.

    Credits already reserved for accepted messages are treated as drawn from the oldest packs
    (the ones :func:`consume` will charge), so expiry never takes money promised to a message.
    """
    out: list[Take] = []
    unassigned_hold = max(held, Decimal(0))
    for pack in sorted(packs, key=lambda p: (p.purchased_at, p.id)):
        covered = min(pack.remaining, unassigned_hold)
        unassigned_hold -= covered
        free = pack.remaining - covered
        if free > 0 and pack.expires_at is not None and pack.expires_at <= now:
            out.append((pack.id, free))
    return out


def pack_expiry(purchased_at: datetime, policy: str = "fixed") -> datetime:
    """When a pack bought at ``purchased_at`` expires under ``policy`` (see EXPIRY_POLICIES)."""
    if policy == "fixed":
        return add_months(purchased_at, 12)
    if policy == "rolling":
        return purchased_at + timedelta(days=365)
    raise BillingError(f"unknown pack expiry policy {policy!r}", code="invalid_setting")


def add_months(when: datetime, months: int) -> datetime:
    """``when`` plus whole calendar months, clamped to the month's end (31 Jan + 1 → 28 Feb)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, _days_in_month(year, month))
    return when.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def can_spend(balance: Decimal, held: Decimal, amount: Decimal, credit_limit: Decimal) -> bool:
    """Whether ``amount`` more can be reserved: what is free may go down to ``-credit_limit``."""
    return balance - held - amount >= -credit_limit


def low_balance_state(available: Decimal, threshold: Decimal | None,
                      alerted: bool) -> tuple[bool, bool]:
    """(new alerted flag, whether to notify now): one notification per downward crossing.

    The flag stays set while credit is below the threshold and is cleared once it is back at or
    above it, so that thousands of messages sent below the threshold notify once, not each.
    """
    if threshold is None:
        return False, False
    below = available < threshold
    return below, below and not alerted
