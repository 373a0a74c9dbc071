"""Flood rules: how many messages one recipient may get per hour, and repeated identical texts.

About fifteen SMS to the same line within an hour is the reasonable ceiling; operators reject
similar texts sent again and again to one line (000 §6.10). The check is a pure function over the
account's recent history, which the hub loads from its store: this module never sees a database.
Both limits are parameters so that accounts can be configured.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from sms_core.errors import ComplianceError

MAX_PER_HOUR = 15
"""Messages per recipient per rolling hour per account (000 §6.10)."""

DUPLICATE_WINDOW = timedelta(minutes=10)
"""An identical text to the same number within this delay is refused as a duplicate."""

_HOUR = timedelta(hours=1)


class SentEntry(NamedTuple):
    """One message of the account's recent history; plain tuples of the same shape work too."""

    sent_at: datetime
    to: str
    text_hash: str
    """:func:`text_hash` of the text that was sent."""


def text_hash(text: str) -> str:
    """A stable digest of a text, so history can be kept without the texts themselves.

    The text is NFC-normalised first: the same words typed on two keyboards hash alike.
    """
    normalised = unicodedata.normalize("NFC", text)
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def check_flood(
    history: Iterable[SentEntry | tuple[datetime, str, str]],
    to: str,
    text: str,
    now: datetime,
    *,
    max_per_hour: int = MAX_PER_HOUR,
    duplicate_window: timedelta = DUPLICATE_WINDOW,
) -> None:
    """Raise ``ComplianceError`` ``duplicate_text`` or ``flooding`` if sending now is abuse.

    ``history`` holds the account's recent messages (any order; older entries are ignored);
    ``to`` is the E.164 recipient. The error's details give ``retry_after`` (seconds) when waiting
    would help.
    """
    digest = text_hash(text)
    recent: list[datetime] = []
    for sent_at, recipient, sent_hash in history:
        age = now - sent_at
        if recipient != to or not timedelta(0) <= age < _HOUR:
            continue
        if sent_hash == digest and age < duplicate_window:
            raise ComplianceError(
                f"the same text was sent to {to} {int(age.total_seconds())} s ago",
                code="duplicate_text",
                retry_after=_seconds(duplicate_window - age),
            )
        recent.append(sent_at)
    if len(recent) >= max_per_hour:
        oldest_to_expire = sorted(recent)[len(recent) - max_per_hour]
        raise ComplianceError(
            f"{len(recent)} messages were sent to {to} in the last hour (limit {max_per_hour})",
            code="flooding",
            retry_after=_seconds(oldest_to_expire + _HOUR - now),
        )


def _seconds(delay: timedelta) -> int:
    """A delay rounded up to whole seconds, at least 1."""
    return max(1, -int(-delay.total_seconds() // 1))
