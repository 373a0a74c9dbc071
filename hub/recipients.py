"""Recipients of a send: raw input to E.164 + country, and the one-message-per-recipient rule.

Normalising is the most expensive per-recipient step of a campaign (libphonenumber parses each
number), so a number is parsed once: the same parse gives the E.164 form, the SMS capability
check and the country used for pricing and for the international block.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import phonenumbers

from sms_core import phone

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
    number = phone.parse(raw, region)
    if phonenumbers.number_type(number) not in phone.SMS_CAPABLE_TYPES:
        phone.normalize(raw, region)  # raises the precise refusal for this number type
    country = phonenumbers.region_code_for_number(number) or "001"
    return Recipient(phone.e164(number), country)


def domestic_countries(region: str, allowed: Collection[str] = ()) -> frozenset[str]:
    """Countries an account may send to: its home plan plus the ones it was allowed."""
    home = HOME_PLANS.get(region, frozenset({region}))
    return home | {code.upper() for code in allowed}
