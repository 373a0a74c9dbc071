"""Make the text fit the account's part cap, or say clearly why it cannot.

The rule (docs/RULES.md) is "over the cap: a clear error, never silent truncation"; an account
may opt in to truncation, which is then visible: the text ends with an ellipsis. The cut is made
between grapheme clusters (``regex``'s ``\\X``), so a flag, a ZWJ emoji or an accented letter
written with a combining mark is never split, and preferably at a word boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from sms_core.encoding import Analysis, analyze
from sms_core.errors import EncodingError

_GRAPHEME = regex.compile(r"\X")
_WORD_LOOKBACK = 20
"""How many characters a cut may move back to fall on a space instead of inside a word."""


@dataclass(frozen=True, slots=True)
class FittedText:
    text: str
    segments: int
    encoding: str
    truncated: bool


def fit_text(text: str, *, transliterate: bool, max_parts: int, truncate: bool) -> FittedText:
    """The text as it will be submitted; raises ``EncodingError`` (``too_long``) when over."""
    try:
        analysis = analyze(text, transliterate=transliterate, max_parts=max_parts)
        return FittedText(text, analysis.segments, analysis.encoding, truncated=False)
    except EncodingError as error:
        if error.code != "too_long" or not truncate:
            raise
    full = analyze(text, transliterate=transliterate)
    ellipsis = "…" if full.encoding == "UCS-2" else "..."
    clusters = _GRAPHEME.findall(text)
    kept = _longest_prefix(clusters, ellipsis, transliterate, max_parts)
    cut = _at_word_boundary("".join(clusters[:kept])) + ellipsis
    analysis = analyze(cut, transliterate=transliterate, max_parts=max_parts)
    return FittedText(cut, analysis.segments, analysis.encoding, truncated=True)


def _fits(candidate: str, transliterate: bool, max_parts: int) -> Analysis | None:
    try:
        return analyze(candidate, transliterate=transliterate, max_parts=max_parts)
    except EncodingError:
        return None


def _longest_prefix(clusters: list[str], ellipsis: str, transliterate: bool, cap: int) -> int:
    """Largest number of leading clusters that still fit with the ellipsis (binary search)."""
    low, high = 0, len(clusters)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = "".join(clusters[:middle]).rstrip() + ellipsis
        if _fits(candidate, transliterate, cap) is not None:
            low = middle
        else:
            high = middle - 1
    return low


def _at_word_boundary(prefix: str) -> str:
    """Cut back to the last space when one is near, so that no word is left half-written."""
    space = max(prefix.rfind(" "), prefix.rfind("\n"))
    if space >= 0 and len(prefix) - space <= _WORD_LOOKBACK:
        return prefix[:space].rstrip()
    return prefix.rstrip()
