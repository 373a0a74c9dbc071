"""What a text costs and how it travels: GSM-7 or UCS-2, its length, its parts, their bytes.

:func:`analyze` is the one question the hub asks before pricing a message. It answers with the
text that will really be sent (after optional transliteration), its encoding, its length in the
units operators count (GSM-7 septets, extension characters costing two; UTF-16 code units for
UCS-2), and the parts it is cut into. Parts never split an escape pair, a surrogate pair or a
grapheme cluster (flags, ZWJ emoji, skin tones, combining accents, ``\\r\\n``), because a part
boundary inside one shows up on the handset as garbage. The only exception is a single cluster
longer than a whole part, which is then cut between code points.

Capacities (3GPP TS 23.038/23.040, Octopush terms §3.5 and §27.3): one SMS holds 160 septets or
70 UCS-2 units; a concatenated SMS gives 6 octets to the UDH (``05 00 03 ref total seq``), leaving
153 septets or 67 units per part. The empty text is one GSM-7 part of length 0: that is what an
operator would bill for it; refusing empty messages is the caller's decision.

:func:`encode_parts` turns an analysis into SMPP ``short_message`` octets (data_coding 0 with
unpacked septets, or 8 with UTF-16BE; UDH and esm_class 0x40 when there are several parts), and
:func:`decode_short_message` reads the ``short_message`` of an inbound (MO) message back; both
live in :mod:`sms_core.smpp_parts` and are re-exported here.

Route restrictions (RULES.md, Octopush §27.2): ``gsm_only=True`` refuses any text that would need
UCS-2, and ``forbidden`` lists GSM-7 characters a route still refuses; "standard"/low-cost routes
are ``analyze(text, gsm_only=True, forbidden=LOW_COST_FORBIDDEN)``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import regex

from sms_core import gsm7
from sms_core import transliteration as _lookalikes
from sms_core.errors import EncodingError
from sms_core.smpp_parts import (
    DATA_CODING,
    ESM_CLASS_UDHI,  # noqa: F401  (still importable from here)
    GSM7,
    MAX_PARTS,
    UCS2,
    DecodedMessage,
    EncodedPart,
    decode_short_message,
    encode_parts,
    reassemble,
)

__all__ = [
    "GSM7",
    "LOW_COST_FORBIDDEN",
    "UCS2",
    "Analysis",
    "DecodedMessage",
    "EncodedPart",
    "analyze",
    "decode_short_message",
    "encode_parts",
    "reassemble",
    "transliterate",
    "units",
]

SINGLE_CAPACITY: Final = {GSM7: 160, UCS2: 70}
"""Units one unconcatenated SMS holds."""
PART_CAPACITY: Final = {GSM7: 153, UCS2: 67}
"""Units each part of a concatenated SMS holds, once the 6-octet UDH is taken."""
LOW_COST_FORBIDDEN: Final = frozenset("€")
"""Characters "standard"/low-cost routes refuse although GSM-7 holds them (Octopush §27.2)."""

transliterate = _lookalikes.transliterate

_ASTRAL_RE: Final = re.compile("[\U00010000-\U0010ffff]")
"""Characters beyond the BMP: a surrogate pair, two UCS-2 units."""
_CLUSTER_RE: Final = regex.compile(r"\X")
_ANCHOR_RE: Final = regex.compile(r"(?r)\p{GCB=Other}{2}")
"""Two neighbours of Grapheme_Cluster_Break "Other" (letters, digits, punctuation, most emoji):
no UAX #29 rule joins them, so a cluster boundary lies between them. Searched backwards."""
_FIRST_JOINER: Final = "\u0300"
"""Every character below the combining diacritical marks has Grapheme_Cluster_Break Other,
Control, CR or LF: between two of them only ``\\r\\n`` is not a boundary."""
_ANCHOR_WINDOW: Final = 24
"""How far before a cut to look for such a boundary before segmenting from the part start."""


@dataclass(slots=True)
class Analysis:
    """The text that will be sent and what it costs.

    ``parts`` concatenate to ``text``; ``text`` is ``original`` unless transliteration was
    requested *and* made the text GSM-7 (``transliterated``; ``replacements`` says what changed).
    ``unsupported`` lists the characters that force UCS-2 (those without a look-alike when
    transliteration was requested).

    Treat it as a value. It is not ``frozen`` only because a frozen dataclass's ``__init__``
    costs more than the rest of analysing a typical short text.
    """

    text: str
    encoding: str
    length: int
    segments: int
    parts: list[str]
    original: str
    transliterated: bool = False
    replacements: tuple[tuple[str, str], ...] = ()
    unsupported: tuple[str, ...] = ()

    @property
    def data_coding(self) -> int:
        """SMPP data_coding for the parts: 0 for GSM-7, 8 for UCS-2."""
        return DATA_CODING[self.encoding]

    @property
    def part_capacity(self) -> int:
        """Units each part may hold: 160/70 alone, 153/67 when concatenated."""
        table = SINGLE_CAPACITY if self.segments == 1 else PART_CAPACITY
        return table[self.encoding]

    @property
    def max_length(self) -> int:
        """Units the current number of segments could hold (what a counter shows as the limit)."""
        return self.part_capacity * self.segments

    @property
    def part_lengths(self) -> tuple[int, ...]:
        """Units in each part."""
        return tuple(units(part, self.encoding) for part in self.parts)


def units(text: str, encoding: str) -> int:
    """Length in the units operators count: septets for GSM-7, UTF-16 code units for UCS-2."""
    if encoding == GSM7:
        return gsm7.septet_count(text)
    return len(text.encode("utf-16-le")) >> 1


def analyze(
    text: str,
    transliterate: bool = False,
    max_parts: int | None = None,
    *,
    gsm_only: bool = False,
    forbidden: Iterable[str] = (),
) -> Analysis:
    """Encoding, length and parts of ``text`` as it will be sent.

    ``transliterate`` replaces characters outside GSM-7 by look-alikes, but only when that makes
    the whole text GSM-7; otherwise the original goes unchanged as UCS-2. ``max_parts`` caps the
    segments (the hub's default is 3): over it, :class:`EncodingError` ``too_long``, never a
    silent cut. ``gsm_only`` and ``forbidden`` express route restrictions: a character outside
    GSM-7 or listed in ``forbidden`` raises :class:`EncodingError` ``unsupported_character``.
    """
    _check_cap(max_parts)
    analysis = _choose_text(text, transliterate)
    if gsm_only or forbidden:
        _check_route(analysis, gsm_only, frozenset(forbidden))
    if max_parts is not None and analysis.segments > max_parts:
        raise EncodingError(
            f"The text needs {analysis.segments} SMS parts; at most {max_parts} are allowed.",
            code="too_long",
            segments=analysis.segments,
            max_parts=max_parts,
            length=analysis.length,
            encoding=analysis.encoding,
        )
    return analysis


def _check_cap(max_parts: int | None) -> None:
    if max_parts is not None and not 1 <= max_parts <= MAX_PARTS:
        raise ValueError(f"max_parts must be between 1 and {MAX_PARTS}, not {max_parts}")


def _choose_text(text: str, transliterate: bool) -> Analysis:
    """Measure the text, or its transliteration when that one is GSM-7.

    One scan finds the characters outside GSM-7; it decides the encoding and feeds both the
    transliteration and the ``unsupported`` report.
    """
    foreign = gsm7.foreign_chars(text)
    if not foreign:
        return _measure(text, GSM7, original=text)
    if transliterate:
        result = _lookalikes.transliterate_for_gsm(text, foreign)
        if not result.unsupported:
            return _measure(result.text, GSM7, original=text, replacements=result.replacements)
        return _measure(text, UCS2, original=text, unsupported=result.unsupported)
    return _measure(text, UCS2, original=text, unsupported=_unique(foreign))


def _unique(chars: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(chars))


def _measure(
    text: str,
    encoding: str,
    *,
    original: str,
    replacements: tuple[tuple[str, str], ...] = (),
    unsupported: tuple[str, ...] = (),
) -> Analysis:
    doubles = _double_unit_offsets(text, encoding)
    length = len(text) + len(doubles)
    parts = [text] if length <= SINGLE_CAPACITY[encoding] else _split(text, encoding, doubles)
    return Analysis(
        text=text,
        encoding=encoding,
        length=length,
        segments=len(parts),
        parts=parts,
        original=original,
        transliterated=bool(replacements),
        replacements=replacements,
        unsupported=unsupported,
    )


def _check_route(analysis: Analysis, gsm_only: bool, forbidden: frozenset[str]) -> None:
    refused = list(analysis.unsupported) if gsm_only else []
    if forbidden:
        refused += [c for c in _unique(analysis.text) if c in forbidden]
    if refused:
        names = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in refused)
        raise EncodingError(
            f"This route does not accept the characters {names}.",
            code="unsupported_character",
            characters=refused,
        )


def _double_unit_offsets(text: str, encoding: str) -> list[int]:
    """Offsets of the characters that cost two units, in order: extension characters in GSM-7,
    astral characters (surrogate pairs) in UCS-2. Usually none, found without a scan."""
    if encoding == GSM7:
        if gsm7.septet_count(text) == len(text):
            return []
        pattern = gsm7.EXTENSION_RE
    else:
        if len(text.encode("utf-16-le")) == 2 * len(text):
            return []
        pattern = _ASTRAL_RE
    return [match.start() for match in pattern.finditer(text)]


def _split(text: str, encoding: str, doubles: list[int]) -> list[str]:
    """Cut ``text`` into parts that fit, each ending on a grapheme cluster boundary.

    GSM-7 holds no character that joins a grapheme cluster except in ``\\r\\n``, so only UCS-2
    texts need the segmenter, and then only around each cut.
    """
    capacity = PART_CAPACITY[encoding]
    boundary = _crlf_boundary if encoding == GSM7 else _cluster_boundary
    units_before = [offset + index for index, offset in enumerate(doubles)]
    parts: list[str] = []
    start, size = 0, len(text)
    while start < size:
        end = _fit(start, capacity, doubles, units_before) if doubles else start + capacity
        if end < size:
            end = boundary(text, start, end)
        parts.append(text[start:end])
        start = end
    return parts


def _fit(start: int, capacity: int, doubles: list[int], units_before: list[int]) -> int:
    """The furthest ``end`` such that ``text[start:end]`` costs at most ``capacity`` units.

    ``doubles`` are the offsets of the two-unit characters and ``units_before[i]`` the units
    that precede the i-th of them. Units up to an offset only grow with it, so one bisection
    finds how many two-unit characters fit; the end follows by arithmetic.
    """
    skipped = bisect_left(doubles, start)
    budget = start + skipped + capacity
    fitting = bisect_right(units_before, budget - 2, skipped)
    end = budget - fitting
    return min(end, doubles[fitting]) if fitting < len(doubles) else end


def _crlf_boundary(text: str, start: int, end: int) -> int:
    """Keep ``\\r\\n`` together, the only multi-character cluster a GSM-7 text can hold."""
    if text[end - 1] == "\r" and text[end] == "\n" and end - 1 > start:
        return end - 1
    return end


def _cluster_boundary(text: str, start: int, end: int) -> int:
    """The last grapheme cluster boundary in ``(start, end]``.

    Below U+0300 (Latin, punctuation, controls) only ``\\r\\n`` joins two characters, so a
    cut between two such characters is settled at once. Otherwise segmentation restarts from a
    known boundary close to the cut (see ``_ANCHOR_RE``), or from the part start. If the cluster
    at ``start`` alone is longer than the part, ``end`` stays where it is: the cluster is cut
    between code points, which keeps surrogate pairs whole.
    """
    if text[end - 1] < _FIRST_JOINER and text[end] < _FIRST_JOINER:
        return _crlf_boundary(text, start, end)
    anchor = _ANCHOR_RE.search(text, max(start, end - _ANCHOR_WINDOW), end + 1)
    origin = start if anchor is None else anchor.start() + 1
    last = origin
    for cluster in _CLUSTER_RE.finditer(text, origin):
        if cluster.end() > end:
            break
        last = cluster.end()
    return last if last > start else end
