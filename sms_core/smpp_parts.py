"""The SMPP byte form of a message: ``short_message`` octets, data_coding and the UDH.

:func:`encode_parts` turns an :class:`sms_core.encoding.Analysis` into SMPP ``short_message``
octets (data_coding 0 with unpacked septets, or 8 with UTF-16BE; a concatenation UDH
``05 00 03 ref total seq`` and esm_class 0x40 when there are several parts), and
:func:`decode_short_message` reads the ``short_message`` of an inbound (MO) message back;
:func:`reassemble` joins the parts of a concatenated one.

The wire facts the analysis depends on (alphabet names and their data_coding values, the
255-part ceiling of an 8-bit concatenation reference) live here and are re-exported by
:mod:`sms_core.encoding`, where callers import all of this from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sms_core import gsm7
from sms_core.errors import EncodingError

if TYPE_CHECKING:
    from sms_core.encoding import Analysis

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"
DATA_CODING: Final = {GSM7: 0, UCS2: 8}
"""SMPP data_coding: 0 = SMSC default alphabet (GSM-7), 8 = UCS-2."""
MAX_PARTS: Final = 255
"""The 8-bit concatenation reference counts parts in one octet."""
ESM_CLASS_UDHI: Final = 0x40
"""esm_class bit telling the SMSC that short_message starts with a user data header."""


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
