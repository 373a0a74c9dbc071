"""Price lists stored in the database: import all or nothing, export, versions, price books."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub import ledger
from hub.db import make_sessionmaker, transaction
from hub.models import Account, PriceRow
from hub.pricing import export_prices, import_prices
from sms_core.errors import BillingError

HEADER = "country,route,operator,unit_price,currency,valid_from,price_list\n"
PRICES = HEADER + (
    "FR,standard,,0.045,EUR,2026-01-01,public\n"
    "FR,standard,,0.050,EUR,2026-07-01,public\n"
    "*,standard,,0.090,EUR,2026-01-01,public\n"
    "FR,standard,,0.030,EUR,2026-01-01,acc_big\n"
    "FR,standard,,0.060,CHF,2026-01-01,public\n"
)


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PriceRow)) or 0


def test_imported_prices_drive_the_price_book(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        assert import_prices(s, PRICES) == 5
        s.add_all([Account(id="acc_big", name="big"), Account(id="acc_small", name="small"),
                   Account(id="acc_sub", name="sub", parent_id="acc_big"),
                   Account(id="acc_ch", name="ch", currency="CHF")])
    with transaction(sessions) as s:
        march, august = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
        assert ledger.price_book(s, "acc_small", march).unit_price("FR") == Decimal("0.045")
        assert ledger.price_book(s, "acc_small", august).unit_price("FR") == Decimal("0.05")
        assert ledger.price_book(s, "acc_small", august).unit_price("DE") == Decimal("0.09")
        assert ledger.price_book(s, "acc_big", august).unit_price("FR") == Decimal("0.03")
        assert ledger.price_book(s, "acc_sub", august).unit_price("FR") == Decimal("0.03")
        assert ledger.price_book(s, "acc_ch", august).unit_price("FR") == Decimal("0.06")
        with pytest.raises(BillingError):
            ledger.price_book(s, "acc_ch", august).unit_price("DE")


def test_export_then_import_is_a_no_op(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        import_prices(s, PRICES)
        exported = export_prices(s)
        import_prices(s, exported)
        assert _count(s) == 5
        assert export_prices(s) == exported
        assert export_prices(s, "acc_big").count("\n") == 2


def test_a_bad_row_imports_nothing(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        import_prices(s, PRICES)
    bad = HEADER + "FR,standard,,0.010,EUR,2026-01-01,public\nFR,standard,,oops,EUR,2026-01-01\n"
    with pytest.raises(BillingError) as err, transaction(sessions) as s:
        import_prices(s, bad)
    assert (err.value.code, err.value.details["line"]) == ("invalid_price_row", 3)
    with transaction(sessions) as s:
        assert _count(s) == 5
        price = s.scalar(select(PriceRow.unit_price).where(
            PriceRow.price_list == "public", PriceRow.country == "FR",
            PriceRow.currency == "EUR").order_by(PriceRow.valid_from))
        assert price == Decimal("0.045")


def test_reimporting_a_key_replaces_its_price(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        import_prices(s, PRICES)
        import_prices(s, HEADER + "*,standard,,0.095,EUR,2026-01-01\n")
        assert _count(s) == 5
        s.add(Account(id="acc_x", name="x"))
        book = ledger.price_book(s, "acc_x", datetime(2026, 2, 1, tzinfo=UTC))
        assert book.unit_price("US") == Decimal("0.095")
