"""Marketing send windows: French week, public holidays, DST switches, overseas time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_core.compliance import (
    COUNTRY_RULES,
    FRENCH_WEEK,
    SendingRules,
    holiday_name,
    is_send_allowed,
    next_send_time,
)
from sms_core.errors import ComplianceError

PARIS = ZoneInfo("Europe/Paris")


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PARIS_CASES = [
    # (when, expected, why)
    ("2025-03-03 10:00", "2025-03-03 10:00", "Monday inside the window"),
    ("2025-03-03 08:00", "2025-03-03 08:00", "the window opens at 08:00 sharp"),
    ("2025-03-03 07:59", "2025-03-03 08:00", "too early on a weekday"),
    ("2025-03-03 19:59", "2025-03-03 19:59", "last minute of the day"),
    ("2025-03-03 20:00", "2025-03-04 08:00", "20:00 is already closed"),
    ("2025-03-07 22:00", "2025-03-08 10:00", "Friday night goes to Saturday 10:00"),
    ("2025-03-08 09:00", "2025-03-08 10:00", "Saturday opens at 10:00"),
    ("2025-03-08 15:00", "2025-03-08 15:00", "Saturday afternoon is open"),
    ("2025-03-08 20:30", "2025-03-10 08:00", "Saturday evening goes to Monday"),
    ("2025-03-09 12:00", "2025-03-10 08:00", "never on Sunday"),
    ("2025-04-19 20:30", "2025-04-22 08:00", "Easter Monday skipped"),
    ("2025-06-07 21:00", "2025-06-10 08:00", "Whit Monday skipped"),
    ("2025-04-30 20:15", "2025-05-02 08:00", "1 May skipped"),
    ("2025-05-08 09:00", "2025-05-09 08:00", "8 May skipped"),
    ("2025-05-28 21:00", "2025-05-30 08:00", "Ascension Thursday (moving) skipped"),
    ("2026-05-13 21:00", "2026-05-15 08:00", "Ascension moves: 14 May in 2026"),
    ("2025-07-12 21:00", "2025-07-15 08:00", "14 July on a Monday"),
    ("2025-12-24 20:00", "2025-12-26 08:00", "Christmas skipped"),
    ("2025-12-31 20:00", "2026-01-02 08:00", "New Year's Day skipped"),
]


@pytest.mark.parametrize(("when", "expected", "why"), PARIS_CASES)
def test_french_marketing_window(when: str, expected: str, why: str) -> None:
    assert next_send_time(paris(when), "marketing") == paris(expected), why


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # Spring forward: Sunday 30 March 2025. Saturday 20:30 CET → Monday 08:00 CEST.
        ("2025-03-29 19:30", "2025-03-31 06:00"),
        # Fall back: Sunday 26 October 2025. Saturday 21:00 CEST → Monday 08:00 CET.
        ("2025-10-25 19:00", "2025-10-27 07:00"),
        # Friday before each switch: the window still closes at 20:00 local.
        ("2025-03-28 18:59", "2025-03-28 18:59"),
        ("2025-10-24 18:00", "2025-10-25 08:00"),
    ],
)
def test_dst_switch_weekends(when: str, expected: str) -> None:
    result = next_send_time(utc(when), "marketing")
    assert result == utc(expected)
    assert result.tzinfo is UTC, "the answer is expressed in the caller's zone"


def test_allowed_instant_is_returned_as_is() -> None:
    when = paris("2025-03-04 11:00")
    assert next_send_time(when, "marketing") is when
    assert is_send_allowed(when, "marketing")
    assert not is_send_allowed(paris("2025-03-09 11:00"), "marketing")


@pytest.mark.parametrize("when", ["2025-03-09 03:00", "2025-12-25 12:00", "2025-03-03 23:00"])
def test_alerts_are_never_postponed(when: str) -> None:
    instant = paris(when)
    assert next_send_time(instant, "alert") is instant


OVERSEAS_CASES = [
    # (country, tz, when UTC, expected UTC, why)
    ("RE", None, "2025-03-03 05:00", "2025-03-03 05:00", "09:00 in Réunion while Paris sleeps"),
    ("RE", None, "2025-03-03 03:00", "2025-03-03 04:00", "Réunion opens at 04:00 UTC"),
    ("RE", None, "2025-12-19 19:30", "2025-12-22 04:00", "20 Dec is a holiday in Réunion"),
    ("FR", None, "2025-12-19 19:30", "2025-12-20 09:00", "but not in Paris"),
    ("MQ", None, "2025-03-03 11:00", "2025-03-03 12:00", "07:00 in Martinique"),
    ("MQ", None, "2025-05-22 00:30", "2025-05-23 12:00", "22 May is a holiday in Martinique"),
    ("GP", None, "2025-05-27 00:30", "2025-05-28 12:00", "27 May is a holiday in Guadeloupe"),
    ("GF", None, "2025-06-09 12:00", "2025-06-11 11:00", "10 June in Guyane after Whit Monday"),
    ("YT", None, "2025-03-03 04:30", "2025-03-03 05:00", "Mayotte is UTC+3"),
    ("FR", "America/Cayenne", "2025-03-03 10:00", "2025-03-03 11:00", "explicit zone wins"),
]


@pytest.mark.parametrize(("country", "tz", "when", "expected", "why"), OVERSEAS_CASES)
def test_overseas_departments(
    country: str, tz: str | None, when: str, expected: str, why: str
) -> None:
    assert next_send_time(utc(when), "marketing", country, tz) == utc(expected), why


@pytest.mark.parametrize(
    ("to", "when", "expected"),
    [
        ("+262692123456", "2025-03-03 05:00", "2025-03-03 05:00"),  # Réunion number
        ("+33612345678", "2025-03-03 05:00", "2025-03-03 07:00"),
        ("+16502530000", "2025-03-03 14:00", "2025-03-03 16:00"),  # Los Angeles, 08:00 PST
    ],
)
def test_the_number_decides_country_and_zone(to: str, when: str, expected: str) -> None:
    assert next_send_time(utc(when), "marketing", to=to) == utc(expected)


def test_multi_zone_country_waits_for_every_zone() -> None:
    # 15:00 UTC is 10:00 in New York but 05:00 in Honolulu: wait for 08:00 in Hawaii.
    assert next_send_time(utc("2025-03-03 15:00"), "marketing", "US") == utc("2025-03-03 18:00")


def test_country_outside_the_table_uses_its_own_holidays() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    unity_day = datetime(2025, 10, 3, 12, tzinfo=berlin)  # a Friday
    assert next_send_time(unity_day, "marketing", "DE") == datetime(2025, 10, 4, 10, tzinfo=berlin)


def test_rules_can_be_overridden() -> None:
    every_day = {day: ((time(9), time(18)),) for day in range(7)}
    rules = {**COUNTRY_RULES, "FR": SendingRules(every_day, None, None, "Europe/Paris")}
    sunday = paris("2025-03-09 12:00")
    assert next_send_time(sunday, "marketing", rules=rules) is sunday
    assert next_send_time(paris("2025-03-09 18:30"), "marketing", rules=rules) == paris(
        "2025-03-10 09:00"
    )


def test_windows_that_never_overlap_are_reported() -> None:
    one_hour = {day: ((time(8), time(9)),) for day in range(7)}
    rules = {"KI": SendingRules(one_hour)}  # Kiribati spans UTC+12 to UTC+14
    with pytest.raises(ComplianceError) as info:
        next_send_time(utc("2025-03-03 00:00"), "marketing", "KI", rules=rules)
    assert info.value.code == "no_send_window"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        next_send_time(datetime(2025, 3, 3, 12), "marketing")


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ComplianceError) as info:
        next_send_time(paris("2025-03-03 12:00"), "promo")
    assert info.value.code == "category_invalid"


def test_french_week_shape() -> None:
    assert FRENCH_WEEK[5] == ((time(10), time(20)),)
    assert 6 not in FRENCH_WEEK


@pytest.mark.parametrize(
    ("day", "country", "expected"),
    [
        (date(2025, 6, 9), "FR", "Pentecost Monday"),
        (date(2025, 12, 20), "RE", "Abolition of Slavery"),
        (date(2025, 12, 20), "FR", None),
        (date(2025, 3, 4), "FR", None),
    ],
)
def test_holiday_name(day: date, country: str, expected: str | None) -> None:
    assert holiday_name(day, country) == expected


@settings(max_examples=300, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    country=st.sampled_from(["FR", "RE", "MQ", "GF", "YT"]),
)
def test_the_answer_is_the_first_allowed_instant(instant: datetime, country: str) -> None:
    result = next_send_time(instant, "marketing", country)
    assert result >= instant
    assert result - instant < timedelta(days=5)  # at most a long weekend with holidays
    assert next_send_time(result, "marketing", country) == result
    if result != instant:
        just_before = result - timedelta(seconds=1)
        assert next_send_time(just_before, "marketing", country) == result
        local = result.astimezone(ZoneInfo(COUNTRY_RULES[country].time_zone or "UTC"))
        assert local.time() in {time(8), time(10)}
