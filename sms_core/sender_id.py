"""Sender ID (OADC) validation: alphanumeric names, short codes, long numbers, protected names.

Alphanumeric senders are 3–11 characters, ASCII letters and digits, at least one letter
(000 §27.7). Spaces are allowed only where the country allows them; France allows none and
refuses all-digit IDs except short codes (003 §6). Some countries accept no alphanumeric sender
at all (US, Canada): there only numbers work.

Numeric senders are a separate case: a short code of the lengths the country uses, or a valid
phone number (returned in E.164).

The AF2M keeps evolving lists of protected senders (003 §6): *SI* ("strictement interdit", never
allowed) and *ISA* ("interdit sauf autorisation", allowed with the brand's signed authorisation).
:class:`SenderPolicy` holds both lists plus the names an account has been authorised to use. The
defaults are a small, conservative starting point — generic words that only serve to hide who is
writing, and the institutions and carriers most impersonated in French smishing — meant to be
replaced by the deployment's copy of the AF2M lists. Matching is on the folded name (upper case,
no accents, no spaces) and exact: a list entry names a sender, not a substring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sms_core.errors import ComplianceError, InvalidNumberError
from sms_core.optout import fold
from sms_core.phone import e164, parse


@dataclass(frozen=True, slots=True)
class SenderRules:
    """What a country's operators accept as sender."""

    spaces_allowed: bool = True
    alphanumeric_allowed: bool = True
    short_code_lengths: frozenset[int] = frozenset(range(3, 9))


SENDER_RULES: Mapping[str, SenderRules] = {
    "FR": SenderRules(spaces_allowed=False, short_code_lengths=frozenset({5})),
    "US": SenderRules(alphanumeric_allowed=False, short_code_lengths=frozenset({5, 6})),
    "CA": SenderRules(alphanumeric_allowed=False, short_code_lengths=frozenset({5, 6})),
}
"""Per-country sender rules; other countries get :data:`DEFAULT_SENDER_RULES`."""

DEFAULT_SENDER_RULES = SenderRules(spaces_allowed=False)
"""Unknown countries: no spaces (the stricter reading of 000 §27.7 vs 003 §6)."""

DEFAULT_FORBIDDEN = frozenset(
    {
        "SMS", "INFO", "INFOS", "ALERTE", "ALERT", "TEST", "NOREPLY", "NEPASREPONDRE",
        "UNKNOWN", "INCONNU", "ANONYME", "MESSAGE", "SERVICE", "SECURITE", "SECURITY",
        "VERIFY", "VERIFICATION", "URGENT", "BANQUE", "BANK", "SUPPORT", "ADMIN",
    }
)  # fmt: skip
"""SI by default: generic names that tell the recipient nothing about who writes."""

DEFAULT_AUTHORIZATION_REQUIRED = frozenset(
    {
        "AMELI", "CPAM", "CAF", "IMPOTS", "DGFIP", "URSSAF", "ANTS", "FRANCETRAVAIL",
        "POLEEMPLOI", "MONCOMPTECPF", "CPF", "GOUV", "GOUVFR", "POLICE", "GENDARMERIE",
        "LAPOSTE", "COLISSIMO", "CHRONOPOST", "DHL", "UPS", "FEDEX", "ORANGE", "SFR",
        "BOUYGUES", "FREE", "FREEMOBILE", "EDF", "ENGIE", "CREDITAGRI", "BNPPARIBAS",
        "SOCGEN", "LCL", "CIC", "BOURSORAMA", "PAYPAL", "NETFLIX", "AMAZON", "APPLE",
        "MICROSOFT", "GOOGLE", "CRITAIR", "ANTAI",
    }
)  # fmt: skip
"""ISA by default: administrations, carriers, banks and brands most used in smishing."""


def _folded_set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(name).replace(" ", "") for name in names)


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """The deny and authorisation lists applied to alphanumeric senders."""

    forbidden: frozenset[str] = DEFAULT_FORBIDDEN
    authorization_required: frozenset[str] = DEFAULT_AUTHORIZATION_REQUIRED
    authorized: frozenset[str] = frozenset()
    """Names this account holds an authorisation for (lifts ISA, never SI)."""
    _folded: tuple[frozenset[str], frozenset[str], frozenset[str]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        folded = tuple(
            _folded_set(names)
            for names in (self.forbidden, self.authorization_required, self.authorized)
        )
        object.__setattr__(self, "_folded", folded)

    def check(self, sender: str) -> None:
        """Raise ``sender_forbidden`` or ``sender_authorization_required`` when listed."""
        key = fold(sender).replace(" ", "")
        forbidden, restricted, authorized = self._folded
        if key in forbidden:
            raise ComplianceError(f"sender {sender!r} is forbidden", code="sender_forbidden")
        if key in restricted and key not in authorized:
            raise ComplianceError(
                f"sender {sender!r} needs the brand's signed authorisation",
                code="sender_authorization_required",
            )


DEFAULT_POLICY = SenderPolicy()

_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_NUMERIC = re.compile(r"\+?[\d ]+")


def validate_sender_id(
    sender: str,
    country: str = "FR",
    *,
    policy: SenderPolicy = DEFAULT_POLICY,
    rules: Mapping[str, SenderRules] | None = None,
) -> str:
    """Check a sender for messages to ``country``; return it as it will be submitted.

    Alphanumeric senders come back unchanged, numeric ones without spaces (long numbers in
    E.164). Raises ``ComplianceError`` with code ``sender_invalid``, ``sender_forbidden`` or
    ``sender_authorization_required``. ``rules`` replaces :data:`SENDER_RULES`.
    """
    if not isinstance(sender, str) or not sender:
        raise ComplianceError("a sender ID cannot be empty", code="sender_invalid")
    country_rules = (SENDER_RULES if rules is None else rules).get(
        country.upper(), DEFAULT_SENDER_RULES
    )
    if _NUMERIC.fullmatch(sender) and any(ch.isdigit() for ch in sender):
        return _validate_numeric(sender, country, country_rules)
    _validate_alphanumeric(sender, country, country_rules)
    policy.check(sender)
    return sender


def _validate_alphanumeric(sender: str, country: str, rules: SenderRules) -> None:
    def invalid(reason: str) -> ComplianceError:
        return ComplianceError(f"sender {sender!r} {reason}", code="sender_invalid")

    if not rules.alphanumeric_allowed:
        raise invalid(f"is alphanumeric, which operators in {country} do not accept")
    if not 3 <= len(sender) <= 11:
        raise invalid("must be 3 to 11 characters long")
    if not _ALPHANUMERIC.fullmatch(sender):
        raise invalid("may only hold letters A–Z and digits, single spaces between words")
    if " " in sender and not rules.spaces_allowed:
        raise invalid(f"contains a space, which is not allowed in {country}")
    if not any(ch.isalpha() for ch in sender):
        raise invalid("needs at least one letter")


def _validate_numeric(sender: str, country: str, rules: SenderRules) -> str:
    digits = sender.replace(" ", "")
    if not digits.startswith("+") and len(digits) in rules.short_code_lengths:
        return digits
    try:
        return e164(parse(digits, country))
    except InvalidNumberError as exc:
        raise ComplianceError(
            f"sender {sender!r} is neither a short code of {country} nor a valid phone number",
            code="sender_invalid",
        ) from exc
