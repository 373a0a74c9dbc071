"""Monthly statements: consumption per country, route and source, built from ledger entries.

A statement is a plain JSON document; its SHA-256 over the canonical encoding (sorted keys, no
spaces) is what makes an issued statement checkable: recomputing it from the ledger must give
the same bytes. Post-paid accounts are invoiced from it (SMSFactor "Post Paid": the consumption
counter is authoritative); prepaid accounts download it as their history.

Version 2 documents (``"version": 2``) add what a post-paid invoice needs besides usage: the
subscription fee lines of the month (``fees``: period fees and pro-rata of upgrades, invoiced
here and never taken from SMS credits), ``subtotals`` (usage, fees) with ``totals.amount`` = usage
+ fees, and ``by_account``: consumption per (sub-)account that spent. Documents issued before
carry no version and are rebuilt as version 1, so that they still verify byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sms_core.billing import add_months
from sms_core.errors import BillingError

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CSV_COLUMNS = ("country", "route", "source", "messages", "amount")
ACCOUNT_COLUMNS = ("account_id", "messages", "amount")
VERSION = 2
"""Version of the documents built now; issued ones are re-built in the version they carry."""


@dataclass(frozen=True)
class EntryView:
    """What a statement reads of one ledger entry."""

    kind: str
    amount: Decimal
    count: int
    country: str | None
    route: str | None
    source: str | None
    spender: str | None = None


@dataclass(frozen=True)
class FeeView:
    """One subscription fee line (``kind`` ``period`` or ``prorata``) due in the month."""

    kind: str
    plan: str
    cycle: str
    amount: Decimal
    period_start: datetime
    period_end: datetime


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month ``YYYY-MM`` in UTC, or BillingError(invalid_period)."""
    match = PERIOD.match(period or "")
    if not match:
        raise BillingError(f"period {period!r} is not YYYY-MM", code="invalid_period")
    start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return start, add_months(start, 1)


def _consumption(entries: Iterable[EntryView]) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
    lines: dict[tuple[str, str, str], list[Any]] = {}
    other = {"purchases": Decimal(0), "expired": Decimal(0), "adjustments": Decimal(0)}
    for e in entries:
        if e.kind in ("charge", "refund"):
            key = (e.country or "", e.route or "", e.source or "")
            line = lines.setdefault(key, [0, Decimal(0)])
            sign = 1 if e.kind == "charge" else -1
            line[0] += sign * e.count
            line[1] -= e.amount
        elif e.kind == "purchase":
            other["purchases"] += e.amount
        elif e.kind == "expiry":
            other["expired"] -= e.amount
        elif e.kind == "adjustment":
            other["adjustments"] += e.amount
    rows = [{"country": k[0], "route": k[1], "source": k[2], "messages": v[0],
             "amount": _fmt(v[1])} for k, v in sorted(lines.items())]
    return rows, other


def _by_account(entries: Iterable[EntryView], payer: str) -> list[dict[str, Any]]:
    spent: dict[str, list[Any]] = {}
    for e in entries:
        if e.kind in ("charge", "refund"):
            line = spent.setdefault(e.spender or payer, [0, Decimal(0)])
            line[0] += e.count if e.kind == "charge" else -e.count
            line[1] -= e.amount
    return [{"account_id": k, "messages": v[0], "amount": _fmt(v[1])}
            for k, v in sorted(spent.items())]


def _fee_line(fee: FeeView) -> dict[str, Any]:
    return {"kind": fee.kind, "plan": fee.plan, "cycle": fee.cycle, "amount": _fmt(fee.amount),
            "period_start": fee.period_start.isoformat(),
            "period_end": fee.period_end.isoformat()}


def build(account_id: str, currency: str, period: str, opening: Decimal,
          entries: Iterable[EntryView], fees: Iterable[FeeView] = (),
          version: int = VERSION) -> dict[str, Any]:
    """The statement document of ``period`` from its entries, its subscription fees and the
    balance before it. Fees are invoiced, not ledger movements: they change no balance."""
    items = list(entries)
    rows, other = _consumption(items)
    consumed = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
    closing = opening + sum((e.amount for e in items), Decimal(0))
    if version == 1:
        return {
            "account_id": account_id, "period": period, "currency": currency,
            "lines": rows,
            "totals": {"messages": sum(r["messages"] for r in rows), "amount": _fmt(consumed)},
            "purchases": _fmt(other["purchases"]), "expired": _fmt(other["expired"]),
            "adjustments": _fmt(other["adjustments"]),
            "opening_balance": _fmt(opening), "closing_balance": _fmt(closing),
        }
    if version != VERSION:
        raise BillingError(f"unknown statement version {version!r}", code="invalid_statement")
    fee_lines = [_fee_line(f) for f in fees]
    fee_total = sum((Decimal(f["amount"]) for f in fee_lines), Decimal(0))
    return {
        "version": VERSION, "account_id": account_id, "period": period, "currency": currency,
        "lines": rows, "fees": fee_lines,
        "subtotals": {"usage": _fmt(consumed), "fees": _fmt(fee_total)},
        "totals": {"messages": sum(r["messages"] for r in rows),
                   "amount": _fmt(consumed + fee_total)},
        "by_account": _by_account(items, account_id),
        "purchases": _fmt(other["purchases"]), "expired": _fmt(other["expired"]),
        "adjustments": _fmt(other["adjustments"]),
        "opening_balance": _fmt(opening), "closing_balance": _fmt(closing),
    }


def _fmt(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")), "f")


def canonical(document: dict[str, Any]) -> str:
    """The one byte-exact JSON text of ``document`` that its hash covers."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(document).encode("utf-8")).hexdigest()


def to_csv(document: dict[str, Any], part: str = "lines") -> str:
    """The statement as CSV, closed by a ``total`` line.

    ``lines``: the consumption lines, then one line per subscription fee (``fee``, its kind,
    ``<plan> <cycle> <start>/<end>`` in the source column, no message count), so that the total
    is usage + fees. ``accounts``: consumption per (sub-)account (``account_id,messages,amount``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    totals = document["totals"]
    if part == "accounts":
        writer.writerow(ACCOUNT_COLUMNS)
        for row in document.get("by_account", ()):
            writer.writerow([row[c] for c in ACCOUNT_COLUMNS])
        usage = document.get("subtotals", {}).get("usage", totals["amount"])
        writer.writerow(["total", totals["messages"], usage])
        return out.getvalue()
    if part != "lines":
        raise BillingError(f"unknown statement part {part!r}", code="invalid_query")
    writer.writerow(CSV_COLUMNS)
    for row in document["lines"]:
        writer.writerow([row[c] for c in CSV_COLUMNS])
    for fee in document.get("fees", ()):
        span = f"{fee['period_start'][:10]}/{fee['period_end'][:10]}"
        writer.writerow(["fee", fee["kind"], f"{fee['plan']} {fee['cycle']} {span}", "",
                         fee["amount"]])
    writer.writerow(["total", "", "", totals["messages"], totals["amount"]])
    return out.getvalue()
