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
:func:`decode_short_message` reads the ``short_message`` of an inbound (MO) message back.

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

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"
SINGLE_CAPACITY: Final = {GSM7: 160, UCS2: 70}
"""Units one unconcatenated SMS holds."""
PART_CAPACITY: Final = {GSM7: 153, UCS2: 67}
"""Units each part of a concatenated SMS holds, once the 6-octet UDH is taken."""
DATA_CODING: Final = {GSM7: 0, UCS2: 8}
"""SMPP data_coding: 0 = SMSC default alphabet (GSM-7), 8 = UCS-2."""
MAX_PARTS: Final = 255
"""The 8-bit concatenation reference counts parts in one octet."""
ESM_CLASS_UDHI: Final = 0x40
"""esm_class bit telling the SMSC that short_message starts with a user data header."""
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


@dataclass(frozen=True, slots=True)
class EncodedPart:
    """One SMPP submit_sm's worth of a message: ``short_message`` and the fields that go with it."""

    short_message: bytes
    data_coding: int
    esm_class: int
    sequence: int
    total: int
    reference: int | None


def encode_parts(analysis: Analysis, reference: int) -> list[EncodedPart]:
    """The ``short_message`` octets of every part, with a concatenation UDH when there are several.

    ``reference`` (0–255) must be the same for all parts of one message and differ between
    messages in flight to the same recipient; the dispatcher owns that counter.
    """
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"the concatenation reference is one octet, not {reference}")
    total = analysis.segments
    if total > MAX_PARTS:
        raise EncodingError(
            f"{total} parts cannot be concatenated (at most {MAX_PARTS}).",
            code="too_long",
            segments=total,
            max_parts=MAX_PARTS,
            length=analysis.length,
        )
    payloads = [_payload(part, analysis.encoding) for part in analysis.parts]
    if total == 1:
        return [EncodedPart(payloads[0], analysis.data_coding, 0, 1, 1, None)]
    return [
        EncodedPart(
            bytes((5, 0, 3, reference, total, seq)) + payload,
            analysis.data_coding,
            ESM_CLASS_UDHI,
            seq,
            total,
            reference,
        )
        for seq, payload in enumerate(payloads, start=1)
    ]


def _payload(part: str, encoding: str) -> bytes:
    if encoding == GSM7:
        return gsm7.encode(part)
    return part.encode("utf-16-be")


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """The text of one inbound ``short_message`` and, for a part of a longer one, its place."""

    text: str
    reference: int | None = None
    total: int = 1
    sequence: int = 1


def decode_short_message(data: bytes, data_coding: int, udhi: bool = False) -> DecodedMessage:
    """Read an inbound (MO) ``short_message``.

    ``udhi`` is esm_class bit 0x40: the octets start with a user data header, whose 8- or 16-bit
    concatenation element is reported. GSM-7 is expected unpacked (one septet per octet, as SMPP
    carries it); a data_coding 0 payload with octets above 0x7F is read as Latin-1, which some
    SMSCs send under "default alphabet". Binary or unknown codings raise ``EncodingError``.
    """
    reference, total, sequence = None, 1, 1
    if udhi:
        header, data = _split_udh(data)
        reference, total, sequence = _concatenation(header)
    return DecodedMessage(_decode_text(data, data_coding), reference, total, sequence)


def _split_udh(data: bytes) -> tuple[bytes, bytes]:
    if not data or 1 + data[0] > len(data):
        raise EncodingError("The user data header is longer than the message.", code="bad_udh")
    return data[1 : 1 + data[0]], data[1 + data[0] :]


def _concatenation(header: bytes) -> tuple[int | None, int, int]:
    """(reference, total, sequence) from IEI 0x00 (8-bit ref) or 0x08 (16-bit ref), if present."""
    pos = 0
    while pos + 2 <= len(header):
        iei, size = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + size]
        if iei == 0x00 and size == 3 == len(value):
            return value[0], value[1], value[2]
        if iei == 0x08 and size == 4 == len(value):
            return int.from_bytes(value[:2], "big"), value[2], value[3]
        pos += 2 + size
    return None, 1, 1


_OCTET_CODECS: Final = {1: "ascii", 3: "latin-1", 6: "iso8859-5", 7: "iso8859-8"}
"""SMPP 3.4 §5.2.19 data_coding values with a plain 8-bit character set."""


def _decode_text(data: bytes, data_coding: int) -> str:
    alphabet = _alphabet(data_coding)
    if alphabet == GSM7:
        return gsm7.decode(data) if data.isascii() else data.decode("latin-1")
    if alphabet == UCS2:
        return data.decode("utf-16-be", errors="replace")
    if alphabet in _OCTET_CODECS.values():
        return data.decode(alphabet, errors="replace")
    raise EncodingError(
        f"data_coding 0x{data_coding:02X} carries no text this hub can read.",
        code="undecodable",
        data_coding=data_coding,
    )


def _alphabet(data_coding: int) -> str:
    """The character set a data_coding value announces (SMPP 3.4 §5.2.19, TS 23.038 §4)."""
    if data_coding in (0, 8):
        return GSM7 if data_coding == 0 else UCS2
    if data_coding in _OCTET_CODECS:
        return _OCTET_CODECS[data_coding]
    if 0x10 <= data_coding <= 0x7F and not data_coding & 0x20:
        return {0: GSM7, 2: UCS2}.get((data_coding >> 2) & 3, "binary")
    group = data_coding >> 4
    if group in (0xC, 0xD) or (group == 0xF and not data_coding & 0x04):
        return GSM7
    if group == 0xE:
        return UCS2
    return "binary"


def reassemble(parts: Iterable[DecodedMessage]) -> str:
    """The text of a concatenated inbound message from its parts, in sequence order."""
    return "".join(part.text for part in sorted(parts, key=lambda p: p.sequence))
