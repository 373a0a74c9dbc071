"""The credit store: prices for an account, and reserve → settle | refund against its balance.

Every function works inside the caller's transaction (the pipeline reserves in the same
transaction that inserts its messages) and writes O(1) rows per call, however many messages a
call covers. Each write first locks the paying account's balance row (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite the engine opens every transaction with ``BEGIN IMMEDIATE``, which already
serialises writers), so concurrent workers never overspend and never lose an entry.

A sub-account spends its parent's credits: the parent is the paying account everywhere here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from hub import notifications
from hub.models import Account, Balance, LedgerEntry, Pack, PriceRow
from hub.models.pricing import PUBLIC
from sms_core import billing
from sms_core.billing import PackState, PriceBook
from sms_core.errors import BillingError

ZERO = Decimal(0)

_BALANCES = cast(Table, Balance.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
_PACKS = cast(Table, Pack.__table__)

# the ledger's writes, built once: each call only binds its values
_ADD_ENTRY = insert(_ENTRIES)
_SET_TOTALS = update(_BALANCES).where(_BALANCES.c.account_id == bindparam("b_account"))
_LIVE_PACKS = (
    select(_PACKS.c.id, _PACKS.c.remaining, _PACKS.c.expires_at, _PACKS.c.purchased_at,
           _PACKS.c.reference)
    .where(_PACKS.c.account_id == bindparam("b_account"), _PACKS.c.remaining > 0)
    .order_by(_PACKS.c.purchased_at, _PACKS.c.id))
_SET_REMAINING = update(_PACKS).where(_PACKS.c.id == bindparam("b_id"))
_RENEW_ROLLING = update(_PACKS).where(
    _PACKS.c.account_id == bindparam("b_account"), _PACKS.c.policy == "rolling",
    _PACKS.c.remaining > 0, _PACKS.c.expires_at > bindparam("b_now"))

LowBalanceHook = Callable[[Session, str, Decimal, Decimal], None]
_low_balance_hooks: list[LowBalanceHook] = []
PurchaseHook = Callable[[Session, str], None]
_purchase_hooks: list[PurchaseHook] = []

NOT_REFUNDABLE = frozenset({
    "undeliverable", "delivery_failed", "unreachable", "not_delivered", "dlr_expired",
    "expired_after_submit", "operator_non_delivery",
})
"""Reasons that describe an operator's non-delivery: charged anyway (RULES.md § Billing)."""


def on_low_balance(hook: LowBalanceHook) -> LowBalanceHook:
    """Register ``hook(session, account_id, available, threshold)``, called once per crossing.

    It runs inside the transaction that crossed the threshold, so it should only record or
    enqueue work (an email, a webhook) and let the commit make it real.
    """
    _low_balance_hooks.append(hook)
    return hook


def on_purchase(hook: PurchaseHook) -> PurchaseHook:
    """Register ``hook(session, paying_account_id)``, called in the transaction of a purchase
    (work waiting for credits, such as refused calendar reminders, may go again)."""
    _purchase_hooks.append(hook)
    return hook


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _account(session: Session, account: Account | str) -> Account:
    if isinstance(account, Account):
        return account
    found = session.get(Account, account)
    if found is None:
        raise BillingError(f"unknown account {account!r}", code="unknown_account")
    return found


def _payer(session: Session, account: Account | str) -> tuple[Account, Account]:
    """(the account that acts, the account that pays); refuses closed accounts."""
    acting = _account(session, account)
    paying = acting if acting.parent_id is None else _account(session, acting.parent_id)
    for acc in (acting, paying):
        if acc.status == "closed" or acc.closed_at is not None:
            raise BillingError(f"account {acc.id} is closed", code="account_closed")
    return acting, paying


def _insert_ignore(session: Session, values: dict[str, object]) -> None:
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(maker(Balance).values(**values).on_conflict_do_nothing())


def lock_balance(session: Session, paying: Account) -> Balance:
    """The paying account's balance row, locked for the rest of the transaction (created once)."""
    stmt = (select(Balance).where(Balance.account_id == paying.id).with_for_update()
            .execution_options(populate_existing=True))
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        _insert_ignore(session, {
            "account_id": paying.id, "currency": paying.currency, "balance": ZERO,
            "held": ZERO, "credit_limit": ZERO, "low_alerted": False, "entries": 0,
            "updated_at": datetime.now(UTC),
        })
        row = session.execute(stmt).scalar_one()
    return row


@dataclass(frozen=True)
class Dimensions:
    """What a statement breaks consumption down by."""

    country: str | None = None
    route: str | None = None
    source: str | None = None


def _post(session: Session, bal: Balance, kind: str, *, amount: Decimal = ZERO,
          hold: Decimal = ZERO, reference: str, count: int = 1, spender: str | None = None,
          reason: str | None = None, dims: Dimensions | None = None, pack_id: int | None = None,
          now: datetime | None = None) -> None:
    """Append one entry and apply it to the locked balance row: the only writer of both.

    Both are written at once by two statements, not left to the ORM's flush (whose unit of work
    cost more than the rest of a settle), and ``bal`` takes the new totals as its stored state.
    """
    if not reference or len(reference) > 96:
        raise BillingError("a ledger reference of 1–96 characters is required",
                           code="invalid_reference")
    dims = dims or Dimensions()
    when = _now(now)
    session.execute(_ADD_ENTRY, {
        "account_id": bal.account_id, "spender_id": spender, "kind": kind, "amount": amount,
        "hold": hold, "count": count, "reference": reference, "reason": reason,
        "country": dims.country, "route": dims.route, "source": dims.source,
        "pack_id": pack_id, "created_at": when,
    })
    before = bal.available
    totals: dict[str, Any] = {"balance": bal.balance + amount, "held": bal.held + hold,
                              "entries": bal.entries + 1, "updated_at": when}
    after = totals["balance"] - totals["held"]
    notify = False
    if after != before:
        totals["low_alerted"], notify = billing.low_balance_state(after, bal.low_threshold,
                                                                  bal.low_alerted)
    session.execute(_SET_TOTALS, {"b_account": bal.account_id, **totals})
    for key, value in totals.items():
        set_committed_value(bal, key, value)
    if notify and bal.low_threshold is not None:
        notifications.record_low_balance(session, bal.account_id, bal.available,
                                         bal.low_threshold, bal.currency)
        for hook in list(_low_balance_hooks):
            hook(session, bal.account_id, bal.available, bal.low_threshold)


def _count(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise BillingError(f"count must be a positive integer, got {count!r}",
                           code="invalid_count")
    return count


def price_book(session: Session, account: Account | str, at: datetime | None = None) -> PriceBook:
    """The prices ``account`` pays at ``at`` (now by default), in the account's currency.

    The account's negotiated list (named by the paying account's id) is searched before the
    public list; in each, operator price → country price → default rate (country ``*``).
    """
    acting = _account(session, account)
    payer = acting.parent_id or acting.id
    rows = session.execute(
        select(PriceRow).where(PriceRow.currency == acting.currency,
                               PriceRow.price_list.in_([payer, PUBLIC]))
    ).scalars()
    layers: dict[str, list[billing.Price]] = {payer: [], PUBLIC: []}
    for row in rows:
        layers[row.price_list].append(billing.Price(
            country=row.country, route=row.route, unit_price=row.unit_price,
            valid_from=row.valid_from, operator=row.operator))
    return PriceBook.build(acting.currency, [layers[payer], layers[PUBLIC]], _now(at))


def reserve(session: Session, account: Account | str, amount: Decimal, *, reference: str,
            count: int = 1, country: str | None = None, route: str | None = None,
            source: str | None = None, now: datetime | None = None) -> None:
    """Hold ``amount`` for ``count`` accepted messages, or raise ``insufficient_credits``.

    Packs past their validity are expired first, so a reservation never spends dead credit.
    """
    amount, count = billing.positive_money(amount), _count(count)
    acting, paying = _payer(session, account)
    bal = lock_balance(session, paying)
    _expire_account(session, bal, _now(now))
    if not billing.can_spend(bal.balance, bal.held, amount, bal.credit_limit):
        raise BillingError(
            f"insufficient credits: {amount} {bal.currency} needed, "
            f"{bal.available + bal.credit_limit} available",
            code="insufficient_credits", needed=str(amount),
            available=str(bal.available + bal.credit_limit), currency=bal.currency)
    _post(session, bal, "reserve", hold=amount, reference=reference, count=count,
          spender=acting.id, dims=Dimensions(country, route, source), now=now)


def settle(session: Session, account_id: Account | str, amount: Decimal, *, reference: str,
           count: int = 1, country: str | None = None, route: str | None = None,
           source: str | None = None, now: datetime | None = None) -> None:
    """Turn held credit into a charge when messages are submitted (oldest pack pays first).

    A charge larger than what is held (a message that was never reserved) must fit in the
    free credit like a reservation would.
    """
    amount, count = billing.positive_money(amount), _count(count)
    acting, paying = _payer(session, account_id)
    bal = lock_balance(session, paying)
    released = min(amount, max(bal.held, ZERO))
    extra = amount - released
    if extra and not billing.can_spend(bal.balance, bal.held, extra, bal.credit_limit):
        raise BillingError(f"insufficient credits to charge {amount} {bal.currency}",
                           code="insufficient_credits", needed=str(extra),
                           currency=bal.currency)
    when = _now(now)
    _post(session, bal, "charge", amount=-amount, hold=-released, reference=reference,
          count=count, spender=acting.id, dims=Dimensions(country, route, source), now=when)
    _draw_packs(session, bal.account_id, amount)
    _renew_rolling(session, bal.account_id, when)


def refund(session: Session, account_id: Account | str, amount: Decimal, *, reference: str,
           reason: str, count: int = 1, country: str | None = None, route: str | None = None,
           source: str | None = None, now: datetime | None = None) -> None:
    """Give back in full what messages the platform could not send had cost.

    Held credit is released first (the usual case: dispatch gave up, route down, expired before
    submit); anything beyond it is credited back. An operator's non-delivery is never refunded.
    """
    amount, count = billing.positive_money(amount), _count(count)
    if not reason or reason.lower() in NOT_REFUNDABLE:
        raise BillingError(f"no refund for {reason!r}: the operator accepted the message",
                           code="not_refundable")
    acting = _account(session, account_id)
    paying = acting if acting.parent_id is None else _account(session, acting.parent_id)
    bal = lock_balance(session, paying)
    released = min(amount, max(bal.held, ZERO))
    dims = Dimensions(country, route, source)
    if released:
        _post(session, bal, "release", hold=-released, reference=reference, count=count,
              spender=acting.id, reason=reason, dims=dims, now=now)
    if amount - released:
        _post(session, bal, "refund", amount=amount - released, reference=reference,
              count=count, spender=acting.id, reason=reason, dims=dims, now=now)


def purchase(session: Session, account: Account | str, amount: Decimal, *, reference: str,
             expires_at: datetime | None = None, policy: str = "fixed",
             currency: str | None = None, now: datetime | None = None) -> Pack:
    """Add a pack of credits to the paying account (valid per ``policy`` unless ``expires_at``).

    Under the ``rolling`` policy a purchase also renews every live rolling pack. A post-paid
    account in debt repays it first: only the rest of the pack remains to spend (and expire).
    """
    amount = billing.positive_money(amount)
    _, paying = _payer(session, account)
    if currency is not None and billing.currency_code(currency) != paying.currency:
        raise BillingError(f"account {paying.id} is billed in {paying.currency}, not {currency}",
                           code="currency_mismatch")
    when = _now(now)
    bal = lock_balance(session, paying)
    debt = min(amount, max(-bal.balance, ZERO))
    pack = Pack(account_id=paying.id, amount=amount, remaining=amount - debt, reference=reference,
                policy=policy, purchased_at=when,
                expires_at=expires_at or billing.pack_expiry(when, policy))
    session.add(pack)
    session.flush()
    _renew_rolling(session, paying.id, when)
    _post(session, bal, "purchase", amount=amount, reference=reference, pack_id=pack.id,
          now=when)
    for hook in list(_purchase_hooks):
        hook(session, paying.id)
    return pack


def adjust(session: Session, account: Account | str, amount: Decimal, *, reference: str,
           reason: str, now: datetime | None = None) -> None:
    """An administrator's correction (±): a debit takes from packs and must fit the limit."""
    amount = billing.money(amount)
    if not amount:
        raise BillingError("an adjustment cannot be zero", code="invalid_amount")
    _, paying = _payer(session, account)
    bal = lock_balance(session, paying)
    if amount < 0 and not billing.can_spend(bal.balance, bal.held, -amount, bal.credit_limit):
        raise BillingError("adjustment exceeds the available credit",
                           code="insufficient_credits")
    _post(session, bal, "adjustment", amount=amount, reference=reference, reason=reason,
          now=now)
    if amount < 0:
        _draw_packs(session, paying.id, -amount)


def balance(session: Session, account: Account | str) -> Decimal:
    """What the paying account may still spend from its own credit: balance − held."""
    acting = _account(session, account)
    row = session.get(Balance, acting.parent_id or acting.id, populate_existing=True)
    return row.available if row is not None else ZERO.quantize(billing.QUANTUM)


def spendable(session: Session, account: Account | str) -> Decimal:
    """What a reservation may still take: the balance plus a post-paid credit limit."""
    acting = _account(session, account)
    row = session.get(Balance, acting.parent_id or acting.id, populate_existing=True)
    return row.available + row.credit_limit if row is not None else balance(session, acting)


def _live_packs(session: Session, account_id: str) -> list[tuple[PackState, str]]:
    """The account's packs with credit left, oldest first, each with its reference (pending
    changes to packs, such as a purchase, are flushed first)."""
    session.flush()
    return [(PackState(*row[:4]), row[4])
            for row in session.execute(_LIVE_PACKS, {"b_account": account_id})]


def _set_remaining(session: Session, pack_id: int, remaining: Decimal) -> None:
    """Write a pack's ``remaining`` by a statement of its own (no ORM flush); the pack object
    this session may hold takes it as its stored value."""
    session.execute(_SET_REMAINING, {"b_id": pack_id, "remaining": remaining})
    held = session.identity_map.get(identity_key(Pack, pack_id))
    if held is not None:
        set_committed_value(held, "remaining", remaining)


def _draw_packs(session: Session, account_id: str, amount: Decimal) -> None:
    """Take ``amount`` from the account's packs, oldest first."""
    states = [state for state, _ in _live_packs(session, account_id)]
    left = {state.id: state.remaining for state in states}
    for pack_id, take in billing.consume(states, amount):
        _set_remaining(session, pack_id, left[pack_id] - take)


def _renew_rolling(session: Session, account_id: str, now: datetime) -> None:
    """Live rolling packs expire a validity after ``now`` (a statement on the table: packs held
    as objects by the session keep their former expiry, as they did before)."""
    session.execute(_RENEW_ROLLING, {"b_account": account_id, "b_now": now,
                                     "expires_at": billing.pack_expiry(now, "rolling")})


def _expire_account(session: Session, bal: Balance, now: datetime) -> Decimal:
    dead = session.execute(
        select(func.count()).select_from(Pack)
        .where(Pack.account_id == bal.account_id, Pack.remaining > 0, Pack.expires_at <= now)
    ).scalar_one()
    if not dead:
        return ZERO
    packs = _live_packs(session, bal.account_id)
    left = {state.id: state.remaining for state, _ in packs}
    references = {state.id: reference for state, reference in packs}
    total = ZERO
    for pack_id, free in billing.expirable([state for state, _ in packs], bal.held, now):
        _set_remaining(session, pack_id, left[pack_id] - free)
        total += free
        _post(session, bal, "expiry", amount=-free, reference=references[pack_id],
              pack_id=pack_id, reason="pack_expired", now=now)
    return total


def expire_packs(session: Session, now: datetime | None = None) -> Decimal:
    """Expire the unspent credit of every pack past its validity; returns the total expired.

    A scheduled job: each account is locked and expired in turn inside the caller's
    transaction, writing one ``expiry`` entry per pack.
    """
    when = _now(now)
    accounts = session.execute(
        select(Pack.account_id).where(Pack.remaining > 0, Pack.expires_at <= when).distinct()
    ).scalars().all()
    total = ZERO
    for account_id in sorted(accounts):
        bal = lock_balance(session, _account(session, account_id))
        total += _expire_account(session, bal, when)
    return total


def set_credit_limit(session: Session, account: Account | str, limit: Decimal) -> None:
    """Make the paying account post-paid (``limit`` > 0) or prepaid again (0)."""
    value = billing.money(limit, what="credit limit")
    if value < 0:
        raise BillingError("a credit limit cannot be negative", code="invalid_amount")
    _, paying = _payer(session, account)
    lock_balance(session, paying).credit_limit = value


def set_low_balance_threshold(session: Session, account: Account | str,
                              threshold: Decimal | None) -> None:
    """Notify once each time available credit falls below ``threshold`` (None: never)."""
    value = None if threshold is None else billing.money(threshold, what="threshold")
    _, paying = _payer(session, account)
    bal = lock_balance(session, paying)
    bal.low_threshold = value
    bal.low_alerted = value is not None and bal.available < value


def country_allowed(account: Account, country: str) -> bool:
    """Whether ``account`` may send to ``country``: its home country, or one it was allowed.

    International sending is blocked by default (RULES.md § Numbers); ``allowed_countries`` in
    the account settings lists ISO codes, ``"*"`` allowing every country.
    """
    settings = account.settings or {}
    home = str(settings.get("region") or "FR").upper()
    allowed = {str(c).upper() for c in settings.get("allowed_countries") or ()}
    code = (country or "").upper()
    return code == home or code in allowed or "*" in allowed


def verify(session: Session, account: Account | str) -> bool:
    """Whether the balance row equals the sum of the ledger (the store's invariant)."""
    acting = _account(session, account)
    payer = acting.parent_id or acting.id
    row = session.get(Balance, payer, populate_existing=True)
    sums = session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0),
               func.coalesce(func.sum(LedgerEntry.hold), 0), func.count())
        .where(LedgerEntry.account_id == payer)
    ).one()
    if row is None:
        return sums[2] == 0
    return (row.balance, row.held, row.entries) == (Decimal(sums[0]), Decimal(sums[1]), sums[2])
