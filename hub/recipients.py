"""Recipients of a send: raw input to E.164 + country, and the one-message-per-recipient rule.

Normalising is the most expensive per-recipient step of a campaign (libphonenumber parses each
number in about 100 µs), so a number is parsed once: the same parse gives the E.164 form, the
SMS capability check and the country used for pricing and for the international block.

Most campaign numbers are French mobiles written ``+33612345678`` or ``06 12 34 56 78``: for
those shapes :func:`resolve` reads the digits itself and checks them against the same
libphonenumber metadata patterns that decide the number type (a few µs). Whatever it is not sure
of goes through the full parse, so its answers are exactly the full parse's (a property test
compares both on generated numbers). Recent results of the full parse are cached per raw
string and region.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from sms_core import phone
from sms_core.errors import InvalidNumberError

HOME_PLANS: dict[str, frozenset[str]] = {
    region: phone.FRENCH_PLAN_REGIONS for region in phone.FRENCH_PLAN_REGIONS
}
"""Regions sharing one national numbering plan count as domestic for each other: a French
account reaches the overseas departments (Réunion, Guadeloupe...) without an international
permission, as French operators do."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """A number that can receive SMS, and the country it belongs to (ISO 3166-1 alpha-2)."""

    number: str
    country: str


def resolve(raw: str, region: str) -> Recipient:
    """Parse ``raw`` once; raise ``InvalidNumberError`` (with ``fixed_line``, ``premium_rate``,
    ``toll_free``... as code) when it cannot receive an SMS."""
    found = french_mobile(raw, region) or _parsed(raw, region)
    return found if found is not None else resolve_fully(raw, region)


def resolve_fully(raw: str, region: str) -> Recipient:
    """:func:`resolve` through libphonenumber's full parse, for every shape of number."""
    number = phone.parse(raw, region)
    if phonenumbers.number_type(number) not in phone.SMS_CAPABLE_TYPES:
        phone.normalize(raw, region)  # raises the precise refusal for this number type
    country = phonenumbers.region_code_for_number(number) or "001"
    return Recipient(phone.e164(number), country)


@lru_cache(maxsize=16384)
def _parsed(raw: str, region: str) -> Recipient | None:
    """The accepted recipient of ``raw`` by the full parse; None when refused, so that the
    refusal is raised afresh by :func:`resolve_fully`.

    Only the full parse is cached: the shortcut costs less than a cache entry, and a campaign
    of distinct numbers would otherwise fill the cache with entries that outlive their chunk
    and make the garbage collector walk the whole heap again and again."""
    try:
        return resolve_fully(raw, region)
    except InvalidNumberError:
        return None


_SHAPE = re.compile(r"(?:\+33|0)(?:[ .\-]?[0-9]){9}")
_SEPARATORS = str.maketrans("", "", " .-")


def _pattern() -> re.Pattern[str] | None:
    """The national numbers libphonenumber calls French mobiles: the mobile pattern, within
    the general one, and none of the patterns it tries before the mobile one, in one
    expression (None when the metadata does not allow the shortcut)."""
    meta = PhoneMetadata.metadata_for_region("FR")
    if meta is None or meta.same_mobile_and_fixed_line_pattern or meta.mobile is None:
        return None
    for desc in (meta.general_desc, meta.mobile):
        if desc is None or desc.national_number_pattern is None or \
                9 not in (desc.possible_length or ()):
            return None
    before = [meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip,
              meta.personal_number, meta.pager, meta.uan, meta.voicemail, meta.fixed_line]
    excluded = "|".join(f"(?:{d.national_number_pattern})" for d in before
                        if d is not None and d.national_number_pattern)
    general = meta.general_desc.national_number_pattern  # type: ignore[union-attr]
    mobile = meta.mobile.national_number_pattern
    not_before = f"(?!(?:{excluded})$)" if excluded else ""
    return re.compile(f"{not_before}(?=(?:{general})$)(?:{mobile})")


_FRENCH_MOBILE = _pattern()


def french_mobile(raw: str, region: str) -> Recipient | None:
    """``raw`` as a French mobile when it is written ``+33`` or (region FR) ``0`` followed by
    nine digits, optionally separated by spaces, dots or dashes, and those digits are a mobile
    number for libphonenumber; None means "ask the full parse"."""
    if _FRENCH_MOBILE is None or len(raw) > 24 or not _SHAPE.fullmatch(raw):
        return None
    if raw[0] == "+":
        national = raw[3:] if len(raw) == 12 else raw[3:].translate(_SEPARATORS)
    elif region == "FR":
        national = raw[1:] if len(raw) == 10 else raw[1:].translate(_SEPARATORS)
    else:
        return None
    if not _FRENCH_MOBILE.fullmatch(national):
        return None
    return Recipient("+33" + national, "FR")


def domestic_countries(region: str, allowed: Collection[str] = ()) -> frozenset[str]:
    """Countries an account may send to: its home plan plus the ones it was allowed."""
    home = HOME_PLANS.get(region, frozenset({region}))
    return home | {code.upper() for code in allowed}
