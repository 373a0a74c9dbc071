"""The filters SMS templates add to Jinja's: dates and times, phone numbers, amounts.

Dates are shown in the render's locale and time zone
(:class:`sms_core.template_sandbox.RenderState`), so one template serves recipients everywhere.
Babel's output is made SMS-friendly: its no-break spaces become plain spaces, since U+202F alone
would force the whole message into UCS-2. A value a filter cannot format raises
``TemplateError`` ``invalid_value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from sms_core.errors import TemplateError
from sms_core.phone import format_number
from sms_core.template_sandbox import DEFAULT_TZ, current_state

SAMPLE_DATETIME = datetime(2025, 3, 3, 14, 30, tzinfo=ZoneInfo(DEFAULT_TZ))
"""The instant that date filters show in previews: Monday 3 March 2025, 14:30."""

_SMS_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})


class Placeholder(str):
    """A stand-in value in previews: prints as ``[name]``, and ``.attr`` gives ``[name.attr]``."""

    __slots__ = ()

    def __getattr__(self, attr: str) -> Placeholder:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return Placeholder(f"{self[:-1]}.{attr}]")


def check_settings(locale: str, tz: str) -> None:
    """Refuse an unknown render zone or locale before rendering (``invalid_value``)."""
    _zone(tz)
    _locale(locale)


def _locale(name: str | None) -> Locale:
    """The Babel locale named by a filter argument, or the render's locale."""
    return _parse_locale(name or current_state().locale)


@lru_cache(maxsize=64)
def _parse_locale(name: str) -> Locale:
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise TemplateError(f"unknown locale {name!r}", code="invalid_value") from exc


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TemplateError(f"unknown time zone {name!r}", code="invalid_value") from exc


def _to_datetime(value: Any) -> datetime:
    """An aware datetime in the render's zone from a datetime, a date or an ISO 8601 string.

    Naive values are taken to be wall-clock time in the render's zone.
    """
    state = current_state()
    zone = _zone(state.tz)
    if isinstance(value, Placeholder) and state.preview:
        value = SAMPLE_DATETIME
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise TemplateError(f"{value!r} is not an ISO 8601 date", code="invalid_value") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if not isinstance(value, datetime):
        raise TemplateError(f"{value!r} is not a date or time", code="invalid_value")
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)


def _sms_text(text: str) -> str:
    """Babel output with its no-break spaces made plain: U+202F alone would force UCS-2."""
    return text.translate(_SMS_SPACES)


def filter_date(value: Any, locale: str | None = None, format: str = "full") -> str:
    """``{{ start | date }}`` → ``lundi 3 mars 2025``; format: full/long/medium/short or a
    CLDR pattern such as ``'d MMMM'``."""
    return _format_instant("date", value, locale, format)


def filter_time(value: Any, locale: str | None = None, format: str = "short") -> str:
    """``{{ start | time }}`` → ``14:30`` in the recipient's zone."""
    return _format_instant("time", value, locale, format)


def filter_datetime(value: Any, locale: str | None = None, format: str | None = None) -> str:
    """``{{ start | datetime }}`` → ``lundi 3 mars 2025, 14:30`` (full date, short time, joined
    the locale's way); ``format`` gives a named Babel format or a pattern instead."""
    return _format_instant("datetime", value, locale, format)


def _format_instant(kind: str, value: Any, locale: str | None, format: str | None) -> str:
    state = current_state()
    if isinstance(value, datetime | date | str):
        return _format_cached(kind, value, state.tz, locale or state.locale, format, state.preview)
    return _format_uncached(kind, value, locale, format)


@lru_cache(maxsize=4096)
def _format_cached(
    kind: str, value: Any, tz: str, locale: str, format: str | None, preview: bool
) -> str:
    """Cache in front of Babel: a batch of reminders repeats the same few instants.

    The key holds everything the text depends on: the value (naive and aware datetimes never
    compare equal), the render's zone and locale, the format and the preview flag.
    """
    return _format_uncached(kind, value, locale, format)


def _format_uncached(kind: str, value: Any, locale: str | None, format: str | None) -> str:
    when = _to_datetime(value)
    loc = str(_locale(locale))
    try:
        return _babel_format(kind, when, when.tzinfo, format, loc)
    except (ValueError, KeyError) as exc:
        raise TemplateError(f"bad {kind} format {format!r}: {exc}", code="invalid_value") from exc


def _babel_format(
    kind: str, when: datetime, zone: tzinfo | None, format: str | None, locale: str
) -> str:
    if kind == "date":
        text = babel_dates.format_date(when.date(), format or "full", locale=locale)
    elif kind == "time":
        text = babel_dates.format_time(when, format or "short", tzinfo=zone, locale=locale)
    elif format is not None:
        text = babel_dates.format_datetime(when, format, tzinfo=zone, locale=locale)
    else:
        day = babel_dates.format_date(when.date(), "full", locale=locale)
        clock = babel_dates.format_time(when, "short", tzinfo=zone, locale=locale)
        text = str(babel_dates.get_datetime_format("full", locale=locale)).format(clock, day)
    return _sms_text(text)


def filter_phone(value: Any, style: str = "national") -> str:
    """``{{ to | phone }}`` → ``06 12 34 56 78``; ``'international'`` or ``'e164'`` also."""
    try:
        return format_number(str(value), style)
    except ValueError as exc:
        raise TemplateError(str(exc), code="invalid_value") from exc


def filter_money(value: Any, currency: str = "EUR", locale: str | None = None) -> str:
    """``{{ total | money }}`` → ``1 234,56 €`` (plain spaces, see :func:`_sms_text`)."""
    try:
        amount = Decimal(str(value))
        text = babel_numbers.format_currency(amount, currency, locale=_locale(locale))
    except (InvalidOperation, ValueError) as exc:
        raise TemplateError(f"{value!r} is not an amount", code="invalid_value") from exc
    return _sms_text(text)


CUSTOM_FILTERS: Mapping[str, Callable[..., str]] = {
    "date": filter_date,
    "time": filter_time,
    "datetime": filter_datetime,
    "phone": filter_phone,
    "money": filter_money,
}
"""Filters added to Jinja's allow-listed built-ins."""
