"""Price lists as CSV: parse every row or none, and write them back in the same shape.

One row per price: ``country,route,operator,unit_price,currency,valid_from[,price_list]``.
``country`` is an ISO 3166 alpha-2 code or ``*`` for the default rate, ``operator`` may be empty,
``valid_from`` is an ISO date (midnight UTC) or an aware ISO datetime, ``price_list`` defaults to
``public``. A file with one bad row is refused as a whole, naming the line and the reason, so a
price list is never half imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from babel import Locale

from sms_core.billing import ANY_COUNTRY, currency_code, money, route_name
from sms_core.errors import BillingError

COLUMNS = ("country", "route", "operator", "unit_price", "currency", "valid_from", "price_list")
REQUIRED = frozenset({"country", "route", "unit_price", "currency", "valid_from"})
PUBLIC = "public"


@dataclass(frozen=True)
class PriceLine:
    """One parsed price row; ``line`` is its line number in the file (header is line 1)."""

    price_list: str
    currency: str
    country: str
    route: str
    operator: str
    unit_price: Decimal
    valid_from: datetime
    line: int = 0

    @property
    def key(self) -> tuple[str, str, str, str, str, datetime]:
        return (self.price_list, self.currency, self.country, self.route, self.operator,
                self.valid_from)


NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"})
"""CLDR territory codes that are regions or pseudo-locales, not countries."""


def _countries() -> frozenset[str]:
    codes = {str(code) for code in Locale("en").territories}
    return frozenset(c for c in codes if len(c) == 2 and c.isalpha()) - NOT_COUNTRIES


COUNTRIES = _countries()
"""ISO 3166 alpha-2 codes known to CLDR."""


def _bad(line: int, reason: str) -> BillingError:
    return BillingError(f"price list line {line}: {reason}", code="invalid_price_row",
                        line=line, reason=reason)


def _country(raw: str) -> str:
    code = raw.strip().upper()
    if code != ANY_COUNTRY and code not in COUNTRIES:
        raise ValueError(f"unknown country {raw!r}")
    return code


def _valid_from(raw: str) -> datetime:
    text = raw.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"valid_from {raw!r} needs a time zone")
    return when.astimezone(UTC)


def _line(row: dict[str, str], line: int) -> PriceLine:
    try:
        price = money(row.get("unit_price", ""), what="unit_price")
        if price < 0:
            raise ValueError("unit_price cannot be negative")
        return PriceLine(
            price_list=(row.get("price_list") or "").strip() or PUBLIC,
            currency=currency_code(row.get("currency")),
            country=_country(row.get("country") or ""),
            route=route_name(row.get("route")),
            operator=(row.get("operator") or "").strip(),
            unit_price=price,
            valid_from=_valid_from(row.get("valid_from") or ""),
            line=line,
        )
    except BillingError as exc:
        raise _bad(line, exc.message) from None
    except ValueError as exc:
        raise _bad(line, str(exc)) from None


def parse_price_csv(text: str) -> list[PriceLine]:
    """Every row of ``text`` as a :class:`PriceLine`, or BillingError(``invalid_price_row``).

    Duplicate keys (same list, currency, country, route, operator and valid_from) are refused
    too: which of the two prices was meant cannot be guessed.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {name.strip() for name in reader.fieldnames or ()}
    missing = REQUIRED - header
    if missing:
        raise _bad(1, f"missing column(s) {', '.join(sorted(missing))}")
    lines: list[PriceLine] = []
    seen: dict[tuple[str, str, str, str, str, datetime], int] = {}
    for row in reader:
        number = reader.line_num
        if None in row:
            raise _bad(number, "more fields than columns")
        clean = {k.strip(): (v or "") for k, v in row.items() if k is not None}
        if not any(v.strip() for v in clean.values()):
            continue
        parsed = _line(clean, number)
        if parsed.key in seen:
            raise _bad(number, f"same price as line {seen[parsed.key]}")
        seen[parsed.key] = number
        lines.append(parsed)
    return lines


def format_price_csv(lines: Iterable[PriceLine]) -> str:
    """The CSV :func:`parse_price_csv` reads, sorted so that exports diff cleanly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in sorted(lines, key=lambda p: p.key):
        writer.writerow([p.country, p.route, p.operator, format(p.unit_price, "f"), p.currency,
                         p.valid_from.astimezone(UTC).isoformat(), p.price_list])
    return out.getvalue()
