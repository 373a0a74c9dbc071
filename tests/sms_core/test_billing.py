"""Pure billing arithmetic: money, prices, packs, price-list CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sms_core import billing
from sms_core.billing import PackState, Price, PriceBook
from sms_core.errors import BillingError
from sms_core.pricing import format_price_csv, parse_price_csv

D = Decimal
T0 = datetime(2026, 1, 31, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    ("0.045", D("0.045")), (3, D(3)), (D("1.5"), D("1.5")), (" 2 ", D(2)), ("-1", D(-1)),
])
def test_money_accepts_exact_decimals(raw: Any, expected: Decimal) -> None:
    assert billing.money(raw) == expected


@pytest.mark.parametrize("raw", [0.1, True, None, "x", "1e400000", "Infinity", "0.0000001"])
def test_money_refuses_floats_and_garbage(raw: Any) -> None:
    with pytest.raises(BillingError) as err:
        billing.money(raw)
    assert err.value.code == "invalid_amount"


@pytest.mark.parametrize("raw", ["0", "-0.01", 0])
def test_positive_money_refuses_zero_and_negative(raw: Any) -> None:
    with pytest.raises(BillingError, match="positive"):
        billing.positive_money(raw)


@pytest.mark.parametrize(("raw", "ok"), [("eur", True), ("CHF", True), ("XYZ", False),
                                         ("EURO", False), ("", False)])
def test_currency_codes_come_from_iso_4217(raw: str, ok: bool) -> None:
    if ok:
        assert billing.currency_code(raw) == raw.upper()
    else:
        with pytest.raises(BillingError) as err:
            billing.currency_code(raw)
        assert err.value.code == "unknown_currency"


def _price(country: str, route: str, amount: str, days: int = 0, operator: str = "") -> Price:
    return Price(country, route, D(amount), T0 + timedelta(days=days), operator)


NEGOTIATED = [_price("FR", "standard", "0.030")]
PUBLIC = [
    _price("FR", "standard", "0.045"), _price("FR", "standard", "0.050", days=10),
    _price("FR", "premium", "0.065"), _price("FR", "premium", "0.060", operator="20801"),
    _price("*", "standard", "0.100"), _price("BE", "standard", "0.080", days=-5),
]


@pytest.mark.parametrize(("at_days", "country", "route", "operator", "expected"), [
    (0, "FR", "standard", None, "0.030"),       # negotiated beats public
    (0, "FR", "premium", None, "0.065"),
    (0, "FR", "premium", "20801", "0.060"),     # operator price
    (0, "FR", "premium", "20810", "0.065"),
    (0, "DE", "standard", None, "0.100"),       # default rate
    (0, "be", "standard", None, "0.080"),
])
def test_price_book_layers(at_days: int, country: str, route: str, operator: str | None,
                           expected: str) -> None:
    book = PriceBook.build("EUR", [NEGOTIATED, PUBLIC], T0 + timedelta(days=at_days))
    assert book.unit_price(country, route, operator) == D(expected)


@pytest.mark.parametrize(("at_days", "expected"), [(-1, None), (0, "0.045"), (9, "0.045"),
                                                   (10, "0.050"), (400, "0.050")])
def test_the_price_valid_at_acceptance_applies(at_days: int, expected: str | None) -> None:
    book = PriceBook.build("EUR", [[p for p in PUBLIC if p.country == "FR"]],
                           T0 + timedelta(days=at_days))
    if expected is None:
        with pytest.raises(BillingError) as err:
            book.unit_price("FR")
        assert err.value.code == "no_price"
    else:
        assert book.unit_price("FR") == D(expected)
        assert book.cost("FR", 3) == 3 * D(expected)


def _pack(pid: int, remaining: str, days: int, expires_days: int | None = None) -> PackState:
    expires = None if expires_days is None else T0 + timedelta(days=expires_days)
    return PackState(pid, D(remaining), expires, T0 + timedelta(days=days))


def test_consume_takes_the_oldest_pack_first() -> None:
    packs = [_pack(2, "5", days=3), _pack(1, "2", days=0), _pack(3, "0", days=-1)]
    assert billing.consume(packs, D(4)) == [(1, D(2)), (2, D(2))]
    assert billing.consume(packs, D(9)) == [(1, D(2)), (2, D(5))]


@pytest.mark.parametrize(("held", "expected"), [
    ("0", [(1, D(2)), (2, D(5))]), ("3", [(2, D(4))]), ("7", []), ("-1", [(1, D(2)), (2, D(5))]),
])
def test_expiry_spares_what_is_held(held: str, expected: list[tuple[int, Decimal]]) -> None:
    packs = [_pack(1, "2", 0, expires_days=5), _pack(2, "5", 1, expires_days=5),
             _pack(3, "9", 2, expires_days=50)]
    assert billing.expirable(packs, D(held), T0 + timedelta(days=5)) == expected


@pytest.mark.parametrize(("policy", "bought", "expires"), [
    ("fixed", datetime(2026, 1, 31, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC)),
    ("fixed", datetime(2028, 2, 29, tzinfo=UTC), datetime(2029, 2, 28, tzinfo=UTC)),
    ("rolling", datetime(2028, 1, 1, tzinfo=UTC), datetime(2028, 12, 31, tzinfo=UTC)),
])
def test_pack_expiry(policy: str, bought: datetime, expires: datetime) -> None:
    assert billing.pack_expiry(bought, policy) == expires


def test_add_months_clamps_to_month_end() -> None:
    assert billing.add_months(T0, 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert billing.add_months(T0, 11) == datetime(2026, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(("available", "alerted", "expected"), [
    ("10", False, (False, False)), ("4", False, (True, True)), ("3", True, (True, False)),
    ("5", True, (False, False)),
])
def test_low_balance_notifies_on_the_crossing_only(
        available: str, alerted: bool, expected: tuple[bool, bool]) -> None:
    assert billing.low_balance_state(D(available), D(5), alerted) == expected
    assert billing.low_balance_state(D(available), None, alerted) == (False, False)


HEADER = "country,route,operator,unit_price,currency,valid_from,price_list\n"


def test_price_csv_round_trips() -> None:
    text = HEADER + ("FR,standard,,0.045000,EUR,2026-01-01T00:00:00+00:00,public\n"
                     "*,premium,20801,0.100000,EUR,2026-02-01T00:00:00+00:00,acc_1\n")
    lines = parse_price_csv(text)
    assert [(p.country, p.route, p.operator, p.unit_price, p.price_list) for p in lines] == [
        ("FR", "standard", "", D("0.045"), "public"),
        ("*", "premium", "20801", D("0.1"), "acc_1"),
    ]
    assert parse_price_csv(format_price_csv(lines)) == [
        type(p)(**{**p.__dict__, "line": n}) for n, p in zip((3, 2), lines, strict=True)
    ][::-1]


@pytest.mark.parametrize(("row", "line", "reason"), [
    ("XX,standard,,0.1,EUR,2026-01-01", 3, "unknown country"),
    ("FR,gold,,0.1,EUR,2026-01-01", 3, "unknown route"),
    ("FR,standard,,-0.1,EUR,2026-01-01", 3, "negative"),
    ("FR,standard,,0.1,EUR,2026-01-01T10:00", 3, "time zone"),
    ("FR,standard,,0.1,EUR,yesterday", 3, "Invalid isoformat"),
    ("FR,standard,,0.1,XYZ,2026-01-01", 3, "unknown currency"),
    ("FR,standard,,0.1,EUR,2026-01-01,public,extra", 3, "more fields"),
    ("FR,standard,,0.5,EUR,2026-01-01", 3, "same price as line 2"),
])
def test_a_bad_price_row_is_named(row: str, line: int, reason: str) -> None:
    with pytest.raises(BillingError) as err:
        parse_price_csv(HEADER + "FR,standard,,0.045,EUR,2026-01-01\n" + row + "\n")
    assert err.value.code == "invalid_price_row"
    assert err.value.details["line"] == line
    assert reason in err.value.details["reason"]


def test_a_price_csv_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(BillingError, match="line 1: missing column"):
        parse_price_csv("country,route,price\nFR,standard,0.1\n")
