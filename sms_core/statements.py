"""Monthly statements: consumption per country, route and source, built from ledger entries.

A statement is a plain JSON document; its SHA-256 over the canonical encoding (sorted keys, no
spaces) is what makes an issued statement checkable: recomputing it from the ledger must give
the same bytes. Post-paid accounts are invoiced from it (SMSFactor "Post Paid": the consumption
counter is authoritative); prepaid accounts download it as their history.
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


@dataclass(frozen=True)
class EntryView:
    """What a statement reads of one ledger entry."""

    kind: str
    amount: Decimal
    count: int
    country: str | None
    route: str | None
    source: str | None


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


def build(account_id: str, currency: str, period: str, opening: Decimal,
          entries: Iterable[EntryView]) -> dict[str, Any]:
    """The statement document of ``period`` from its entries and the balance before it."""
    items = list(entries)
    rows, other = _consumption(items)
    consumed = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
    closing = opening + sum((e.amount for e in items), Decimal(0))
    return {
        "account_id": account_id, "period": period, "currency": currency,
        "lines": rows,
        "totals": {"messages": sum(r["messages"] for r in rows), "amount": _fmt(consumed)},
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


def to_csv(document: dict[str, Any]) -> str:
    """The consumption lines as CSV, with a closing ``total`` line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in document["lines"]:
        writer.writerow([row[c] for c in CSV_COLUMNS])
    totals = document["totals"]
    writer.writerow(["total", "", "", totals["messages"], totals["amount"]])
    return out.getvalue()
