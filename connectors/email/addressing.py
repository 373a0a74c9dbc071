"""Recipient addresses: ``<number>[.<secret>]@<domain>`` → the number and the optional secret.

The number may be national (``0612345678``), international with ``+`` (``+33612345678``; ``+`` is
legal in a local part) or international without it (``33612345678``, because some clients refuse
``+`` in addresses). Separators ``-`` are tolerated. The secret, when present, follows the last
dot: numbers themselves never contain dots here, so the split is unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sms_core.errors import InvalidNumberError
from sms_core.phone import normalize

Normalizer = Callable[[str, str], str]
"""``(raw, region) -> E.164``, raising :class:`InvalidNumberError`: ``sms_core.phone.normalize``."""

_LOCAL_PART = re.compile(r"(?P<number>\+?[0-9][0-9-]{2,30})(?:\.(?P<secret>[A-Za-z0-9_-]{1,128}))?")


class AddressError(ValueError):
    """A recipient address this receiver does not handle; ``status`` is the SMTP reply."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class Recipient:
    """A parsed recipient address; ``number`` is still raw (the account's region reads it)."""

    address: str
    number: str
    secret: str | None


def parse_recipient(address: str, domain: str) -> Recipient:
    """Split an RCPT address, refusing other domains (no relaying) and non-number local parts."""
    local, at, rcpt_domain = address.strip().strip("<>").rpartition("@")
    if not at or rcpt_domain.lower().rstrip(".") != domain.lower():
        raise AddressError(f"550 5.7.1 <{address}>: relay not permitted, only @{domain} is served")
    local = local.strip('"')
    match = _LOCAL_PART.fullmatch(local)
    if match is None:
        raise AddressError(
            f"550 5.1.1 <{address}>: not a phone number (use <number>@{domain}"
            f" or <number>.<secret>@{domain})"
        )
    return Recipient(address, match["number"].replace("-", ""), match["secret"])


def normalize_number(raw: str, region: str, normalizer: Normalizer = normalize) -> str:
    """E.164 form of a local-part number; digits without ``+`` are retried as international.

    ``33612345678`` read nationally is not a French number; read as ``+33612345678`` it is. A
    national form (leading ``0``) is never reinterpreted, so ``0612345678`` keeps its region.
    """
    try:
        return normalizer(raw, region)
    except InvalidNumberError as national:
        if raw.startswith(("+", "0")):
            raise
        try:
            return normalizer("+" + raw, region)
        except InvalidNumberError as international:
            raise (international if international.code != "invalid_number" else national) from None
