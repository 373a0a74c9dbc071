"""Phone numbers: E.164 normalisation, number type, operator, time zone, extraction from text.

Everything goes through ``phonenumbers`` (libphonenumber's metadata), with two additions that
French users need:

* **The French numbering plan spans several country codes.** A number from Réunion typed the way
  every French person types it, ``0692 12 34 56``, is ``+262 692 12 34 56``; libphonenumber reads it
  with region ``FR`` as ``+33 692…``, which is not a valid number. When a number typed in national
  form (no ``+`` or ``00``) is invalid for its region and the region belongs to the French plan, the
  other codes of the plan (+33, +262, +590, +594, +596) are tried with the same national digits.
* **Only numbers that can receive an SMS are accepted** by :func:`normalize`. Refusals carry a
  precise ``code`` so the API can say why:

  ==================  =================================================================
  ``invalid_number``  unparseable, impossible or unassigned number
  ``fixed_line``      a landline (``01``–``05`` in France)
  ``premium_rate``    premium-rate service (``089x``)
  ``toll_free``       free-phone (``080x``)
  ``not_mobile``      every other non-mobile type: shared cost (``081x``), VoIP (``09``),
                      personal numbers, pagers, UAN, voicemail access, unknown type
  ==================  =================================================================

  ``FIXED_LINE_OR_MOBILE`` (the US, Canada and others, where the plan does not tell them apart) is
  accepted: refusing it would refuse whole countries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import (
    CountryCodeSource,
    NumberParseException,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberMatcher,
    PhoneNumberType,
    carrier,
    timezone,
)

from sms_core.errors import InvalidNumberError

DEFAULT_REGION = "FR"
"""Region assumed for numbers typed without a country code."""

MAX_INPUT_LENGTH = 64
"""Longer inputs are refused before parsing: no phone number is written with more characters."""

FRENCH_PLAN_REGIONS = frozenset({"FR", "RE", "YT", "GP", "BL", "MF", "MQ", "GF"})
"""Regions whose numbers are all dialled nationally as ``0`` + nine digits."""

FRENCH_PLAN_CODES = (33, 262, 590, 594, 596)
"""Country codes sharing the French ten-digit national numbering plan."""

SMS_CAPABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
"""Number types :func:`normalize` accepts by default."""

_REFUSAL_CODES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.TOLL_FREE: "toll_free",
}

_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}

_NATIONAL_SOURCES = frozenset(
    {CountryCodeSource.FROM_DEFAULT_COUNTRY, CountryCodeSource.UNSPECIFIED}
)


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What the number itself tells about a recipient (no network look-up involved)."""

    e164: str
    country: str | None
    """ISO 3166-1 alpha-2 region (``"FR"``, ``"RE"``), ``"001"`` for non-geographic numbers."""
    country_code: int
    type: str
    """libphonenumber's type in snake case: ``"mobile"``, ``"fixed_line"``, ``"voip"``…"""
    carrier: str | None
    """Operator the number range was originally allocated to (portability is not visible)."""
    time_zones: tuple[str, ...]
    national: str
    international: str

    @property
    def is_mobile(self) -> bool:
        """True when the number can receive SMS (mobile, or fixed-line-or-mobile)."""
        return self.type in {"mobile", "fixed_line_or_mobile"}


def parse(raw: str, region: str | None = DEFAULT_REGION) -> PhoneNumber:
    """Parse ``raw`` into a *valid* number of any type, or raise ``InvalidNumberError``."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT_LENGTH:
        raise InvalidNumberError(f"{raw!r} is not a phone number", raw=str(raw)[:MAX_INPUT_LENGTH])
    try:
        number = phonenumbers.parse(raw, region, keep_raw_input=True)
    except NumberParseException as exc:
        raise InvalidNumberError(f"{raw!r} is not a phone number", raw=raw) from exc
    if phonenumbers.is_valid_number(number):
        return number
    alternative = _french_plan_alternative(number, region)
    if alternative is None:
        raise InvalidNumberError(f"{raw!r} is not a valid phone number", raw=raw)
    return alternative


def _french_plan_alternative(number: PhoneNumber, region: str | None) -> PhoneNumber | None:
    """The same national digits under another code of the French plan, when that is valid."""
    if region not in FRENCH_PLAN_REGIONS or number.country_code_source not in _NATIONAL_SOURCES:
        return None
    digits = phonenumbers.national_significant_number(number)
    for code in FRENCH_PLAN_CODES:
        candidate = PhoneNumber(country_code=code, national_number=int(digits))
        if code != number.country_code and phonenumbers.is_valid_number(candidate):
            return candidate
    return None


def type_name(number: PhoneNumber) -> str:
    """libphonenumber's number type as a snake-case string (``"mobile"``, ``"toll_free"``…)."""
    return _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")


def e164(number: PhoneNumber) -> str:
    """The number in E.164 (``+33612345678``)."""
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize(raw: str, region: str | None = DEFAULT_REGION, *, mobile_only: bool = True) -> str:
    """``raw`` as E.164, refusing numbers that cannot receive an SMS.

    ``region`` is the country assumed for nationally written numbers (``06 12 34 56 78``). With
    ``mobile_only=False`` every valid number is returned whatever its type (used to store a
    landline as contact data, never to send).
    """
    number = parse(raw, region)
    if mobile_only:
        kind = phonenumbers.number_type(number)
        if kind not in SMS_CAPABLE_TYPES:
            code = _REFUSAL_CODES.get(kind, "not_mobile")
            name = _TYPE_NAMES.get(kind, "unknown").replace("_", " ")
            raise InvalidNumberError(
                f"{raw!r} is a {name} number, which cannot receive SMS",
                code=code,
                raw=raw,
                number=e164(number),
            )
    return e164(number)


def lookup(raw: str, region: str | None = DEFAULT_REGION, *, lang: str = "fr") -> NumberInfo:
    """Everything the number tells: country, type, original operator, time zones, formats.

    Any valid number is described, mobile or not; only invalid ones raise.
    """
    number = parse(raw, region)
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return NumberInfo(
        e164=e164(number),
        country=phonenumbers.region_code_for_number(number),
        country_code=number.country_code or 0,
        type=type_name(number),
        carrier=carrier.name_for_number(number, lang) or None,
        time_zones=zones,
        national=phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        international=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
    )


def format_number(raw: str, style: str = "national", region: str | None = DEFAULT_REGION) -> str:
    """A number for humans: ``"national"`` (``06 12 34 56 78``), ``"international"`` or ``"e164"``.

    Input that is not a valid number is returned unchanged: formatting is cosmetic and must not
    turn a displayable text into an error.
    """
    styles = {
        "national": PhoneNumberFormat.NATIONAL,
        "international": PhoneNumberFormat.INTERNATIONAL,
        "e164": PhoneNumberFormat.E164,
    }
    if style not in styles:
        raise ValueError(f"unknown phone format {style!r}; use one of {sorted(styles)}")
    try:
        number = parse(raw, region)
    except InvalidNumberError:
        return raw
    return phonenumbers.format_number(number, styles[style])


_REFERENCE_BEFORE = re.compile(
    r"(?:#|\b(?:r[ée]f(?:[ée]rence)?|commande|cde|facture|order|dossier|"
    r"ticket|colis|suivi|siret|siren)\s*(?:n[°o])?)\s*[.:]?\s*$",
    re.IGNORECASE,
)
"""Text just before a candidate that makes it a reference, not a phone number (``#0612…``,
``commande n°0612…``). A phone is still found after ``tél. :`` or ``portable n°``."""

_CONTEXT_CHARS = 30


def extract_numbers(
    text: str, region: str | None = DEFAULT_REGION, *, mobile_only: bool = True
) -> list[str]:
    """Phone numbers written in free text, as E.164, de-duplicated, in order of appearance.

    Built for calendar events and email subjects: ``"RDV Mme Dupont 06 12 34 56 78"``.
    libphonenumber's matcher (leniency ``POSSIBLE``, so that numbers glued to words such as
    ``Dupont0612345678`` are seen) proposes candidates; dates, times, prices and postcodes are
    already left out by it. On top of that, a candidate is kept only if it is written with an
    international prefix or the national trunk ``0`` (a bare ``123456789`` is an order number far
    more often than a phone), is not introduced as a reference (``#``, ``n°``, ``commande``…),
    and is a valid number — a mobile one unless ``mobile_only`` is false.
    """
    found: dict[str, None] = {}
    for start, raw in _candidates(text, region):
        if not _looks_dialled(raw) or _is_reference(text, start):
            continue
        try:
            found.setdefault(normalize(raw, region, mobile_only=mobile_only))
        except InvalidNumberError:
            continue
    return list(found)


def _candidates(text: str, region: str | None) -> Iterator[tuple[int, str]]:
    """(offset, raw string) of every possible number libphonenumber sees in ``text``."""
    if not isinstance(text, str) or not text:
        return
    matcher = PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        yield match.start, match.raw_string


def _is_reference(text: str, start: int) -> bool:
    """True when the words before offset ``start`` introduce a reference, not a phone."""
    return _REFERENCE_BEFORE.search(text[max(0, start - _CONTEXT_CHARS) : start]) is not None


def _looks_dialled(raw: str) -> bool:
    """True when ``raw`` starts with ``+``, an international ``00`` or the national ``0``."""
    digits = phonenumbers.normalize_digits_only(raw)
    return raw.lstrip().startswith(("+", "＋")) or digits.startswith("0")
