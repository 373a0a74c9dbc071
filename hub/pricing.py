"""Price lists in the database: CSV import (all or nothing) and export.

Rows are versioned by ``valid_from``: importing a new price for a later date keeps the old one
for the messages accepted before it. Importing a row whose key (list, currency, country, route,
operator, valid_from) already exists replaces that price.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import PriceRow
from sms_core.pricing import PriceLine, format_price_csv, parse_price_csv


def import_prices(session: Session, text: str) -> int:
    """Store every price of the CSV ``text``; returns how many rows were written.

    The whole file is parsed before anything is written, and the writes share the caller's
    transaction, so a bad row (BillingError ``invalid_price_row`` naming its line) leaves the
    price list exactly as it was.
    """
    lines = parse_price_csv(text)
    existing = {_key(row): row for row in session.scalars(select(PriceRow))}
    for line in lines:
        row = existing.get(line.key)
        if row is None:
            session.add(PriceRow(
                price_list=line.price_list, currency=line.currency, country=line.country,
                route=line.route, operator=line.operator, unit_price=line.unit_price,
                valid_from=line.valid_from))
        else:
            row.unit_price = line.unit_price
    session.flush()
    return len(lines)


def export_prices(session: Session, price_list: str | None = None) -> str:
    """Every stored price (of one list when ``price_list`` is given) as importable CSV."""
    query = select(PriceRow)
    if price_list is not None:
        query = query.where(PriceRow.price_list == price_list)
    return format_price_csv(_line(row) for row in session.scalars(query))


def _line(row: PriceRow) -> PriceLine:
    return PriceLine(price_list=row.price_list, currency=row.currency, country=row.country,
                     route=row.route, operator=row.operator, unit_price=row.unit_price,
                     valid_from=row.valid_from)


def _key(row: PriceRow) -> tuple[str, str, str, str, str, object]:
    return _line(row).key
