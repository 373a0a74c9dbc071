"""When a marketing SMS may reach a recipient: weekly windows, public holidays, time zones.

French rules (RULES.md; 002 §6.2, 000 §6.11): marketing is sent Monday–Friday 08:00–20:00 and
Saturday 10:00–20:00, never on Sundays or public holidays; outside those hours it is *postponed*,
not refused. Alerts are never postponed. The recipient's local time decides.

The rules are data: :data:`COUNTRY_RULES` maps a country (ISO alpha-2, as
``phonenumbers.region_code_for_number`` gives it) to :class:`SendingRules`. French overseas
departments and collectivities keep the French week but get their own time zone and holiday
subdivision (Réunion adds 20 December, Martinique 22 May…). A country missing from the table
gets :func:`default_rules`: the French week — the strictest of the sources — with that country's
public holidays when the ``holidays`` package knows them. Pass ``rules=`` to override per account
or deployment.

When a country spans several zones and nothing says which one the recipient lives in, the
message waits until the window is open in *all* of them (stricter default, RULES.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from babel.core import get_global

from sms_core.errors import ComplianceError, InvalidNumberError
from sms_core.phone import lookup

Window = tuple[time, time]
"""A daily sending window ``[start, end)`` in the recipient's wall-clock time."""

CATEGORIES = frozenset({"alert", "marketing"})
"""Every message is one of these (RULES.md)."""

MAX_DAYS_AHEAD = 400
"""How far ahead a window is searched before giving up (a year plus margin)."""


@dataclass(frozen=True, slots=True)
class SendingRules:
    """Weekly marketing windows, holiday calendar and time zone of one country."""

    week: Mapping[int, tuple[Window, ...]]
    """Weekday (Monday = 0) → windows; a missing or empty weekday has no window."""
    holiday_country: str | None = None
    """Country code for the ``holidays`` package; None for no holidays."""
    holiday_subdiv: str | None = None
    time_zone: str | None = None
    """IANA zone; None means "derive it from the number or the country's zones"."""


FRENCH_WEEK: Mapping[int, tuple[Window, ...]] = {
    **{day: ((time(8), time(20)),) for day in range(5)},
    5: ((time(10), time(20)),),
}
"""Mon–Fri 08:00–20:00, Sat 10:00–20:00, never Sunday (002 §6.2, 000 §6.11)."""


def _french(subdiv: str | None, zone: str) -> SendingRules:
    return SendingRules(FRENCH_WEEK, "FR", subdiv, zone)


COUNTRY_RULES: Mapping[str, SendingRules] = {
    "FR": _french(None, "Europe/Paris"),
    "GP": _french("971", "America/Guadeloupe"),
    "MQ": _french("972", "America/Martinique"),
    "GF": _french("973", "America/Cayenne"),
    "RE": _french("974", "Indian/Reunion"),
    "YT": _french("976", "Indian/Mayotte"),
    "BL": _french("BL", "America/St_Barthelemy"),
    "MF": _french("MF", "America/Marigot"),
    "PM": _french("PM", "America/Miquelon"),
    "NC": _french("NC", "Pacific/Noumea"),
    "PF": _french("PF", "Pacific/Tahiti"),
    "WF": _french("WF", "Pacific/Wallis"),
}
"""Built-in rules per country: metropolitan France and the overseas territories."""


@lru_cache(maxsize=256)
def default_rules(country: str) -> SendingRules:
    """Rules for a country absent from the table: French week, the country's own holidays."""
    supported = holidays.list_supported_countries()
    return SendingRules(FRENCH_WEEK, country if country in supported else None)


def rules_for(country: str, table: Mapping[str, SendingRules] | None = None) -> SendingRules:
    """The rules that apply to ``country`` in ``table`` (default :data:`COUNTRY_RULES`)."""
    table = COUNTRY_RULES if table is None else table
    return table.get(country.upper()) or default_rules(country.upper())


def next_send_time(
    when: datetime,
    category: str,
    country: str = "FR",
    tz: str | None = None,
    *,
    to: str | None = None,
    rules: Mapping[str, SendingRules] | None = None,
) -> datetime:
    """The first instant at or after ``when`` at which a message of ``category`` may be sent.

    Returns ``when`` itself (same object) when sending is allowed then, and always for alerts.
    Otherwise the start of the next window, expressed in ``when``'s time zone. ``tz`` names the
    recipient's zone when it is known; ``to`` (an E.164 number) makes the number decide the
    country and, for countries without a fixed zone, the zone.
    """
    _check_arguments(when, category)
    if category == "alert":
        return when
    zone_hints: tuple[str, ...] = ()
    if to is not None:
        country, zone_hints = _country_and_zones(to, country)
    country_rules = rules_for(country, rules)
    zones = recipient_zones(country, country_rules, tz, zone_hints)
    instant = _first_common_instant(when, country_rules, zones)
    return when if instant == when else instant.astimezone(when.tzinfo)


def is_send_allowed(
    when: datetime, category: str, country: str = "FR", tz: str | None = None
) -> bool:
    """True when a message of ``category`` may be sent at ``when``."""
    return next_send_time(when, category, country, tz) == when


def _check_arguments(when: datetime, category: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("next_send_time needs an aware datetime")
    if category not in CATEGORIES:
        raise ComplianceError(
            f"unknown message category {category!r}; use one of {sorted(CATEGORIES)}",
            code="category_invalid",
        )


def _country_and_zones(to: str, fallback_country: str) -> tuple[str, tuple[str, ...]]:
    """Country and time zones a number belongs to, the given country when it says nothing."""
    try:
        info = lookup(to, fallback_country)
    except InvalidNumberError:
        return fallback_country, ()
    country = info.country if info.country and info.country.isalpha() else fallback_country
    return country, info.time_zones


def recipient_zones(
    country: str,
    country_rules: SendingRules,
    tz: str | None = None,
    number_zones: Sequence[str] = (),
) -> tuple[ZoneInfo, ...]:
    """The zone(s) the recipient may be in: explicit ``tz``, the country's fixed zone, the
    number's zones, or every zone of the country (Babel's CLDR territory data), in that order."""
    names: Sequence[str]
    if tz:
        names = (tz,)
    elif country_rules.time_zone:
        names = (country_rules.time_zone,)
    elif number_zones:
        names = number_zones
    else:
        names = get_global("territory_zones").get(country.upper(), ()) or ("UTC",)
    try:
        return tuple(dict.fromkeys(ZoneInfo(name) for name in names))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone in {list(names)}") from exc


def _first_common_instant(
    when: datetime, rules: SendingRules, zones: Sequence[ZoneInfo]
) -> datetime:
    """Earliest instant ≥ ``when`` (in UTC) that lies in a window in every zone."""
    instant = when.astimezone(UTC)
    for _ in range(64):
        candidates = [_next_in_zone(instant, rules, zone) for zone in zones]
        latest = max(candidates)
        if latest == instant:
            return instant
        instant = latest
    raise ComplianceError(
        "the sending windows of the recipient's time zones never overlap", code="no_send_window"
    )


def _next_in_zone(instant: datetime, rules: SendingRules, zone: ZoneInfo) -> datetime:
    """Earliest UTC instant ≥ ``instant`` inside a window of ``rules`` in ``zone``."""
    first_day = instant.astimezone(zone).date()
    for offset in range(MAX_DAYS_AHEAD):
        day = first_day + timedelta(days=offset)
        if _is_holiday(day, rules):
            continue
        for start, end in rules.week.get(day.weekday(), ()):
            opens, closes = _wall(day, start, zone), _wall(day, end, zone)
            if instant < closes:
                return max(instant, opens)
    raise ComplianceError("no sending window in the coming year", code="no_send_window")


def _wall(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``; a time skipped by DST moves forward."""
    local = datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(UTC)


def _is_holiday(day: date, rules: SendingRules) -> bool:
    if rules.holiday_country is None:
        return False
    return day in _calendar(rules.holiday_country, rules.holiday_subdiv)


@lru_cache(maxsize=64)
def _calendar(country: str, subdiv: str | None) -> holidays.HolidayBase:
    """One holiday calendar per (country, subdivision); it fills new years lazily."""
    return holidays.country_holidays(country, subdiv=subdiv)


def holiday_name(
    day: date, country: str = "FR", rules: Mapping[str, SendingRules] | None = None
) -> str | None:
    """The public holiday on ``day`` for ``country``, None on an ordinary day.

    Lets the hub explain a postponement ("postponed: Whit Monday").
    """
    country_rules = rules_for(country, rules)
    if not _is_holiday(day, country_rules):
        return None
    assert country_rules.holiday_country is not None
    return _calendar(country_rules.holiday_country, country_rules.holiday_subdiv).get(day)
