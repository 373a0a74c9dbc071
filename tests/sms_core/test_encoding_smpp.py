"""SMPP short_message octets: encode_parts() for MT, decode_short_message() for MO, round trips."""

from __future__ import annotations

import pytest

from sms_core import gsm7
from sms_core.encoding import (
    DecodedMessage,
    analyze,
    decode_short_message,
    encode_parts,
    reassemble,
)
from sms_core.errors import EncodingError


def test_single_gsm_part_is_unpacked_septets_with_escapes() -> None:
    [part] = encode_parts(analyze("Hi @ 5€ [x]"), reference=9)
    assert part.short_message == b"Hi \x00 5\x1b\x65 \x1b\x3cx\x1b\x3e"
    assert (part.data_coding, part.esm_class, part.sequence, part.total) == (0, 0, 1, 1)
    assert part.reference is None


def test_single_ucs2_part_is_utf16_big_endian_with_surrogates() -> None:
    [part] = encode_parts(analyze("Жa😀"), reference=1)
    assert part.short_message == bytes.fromhex("0416 0061 d83d de00")
    assert (part.data_coding, part.esm_class) == (8, 0)


def test_concatenated_parts_carry_the_udh_and_the_udhi_flag() -> None:
    analysis = analyze("a" * 200)
    parts = encode_parts(analysis, reference=0x2A)
    assert [p.short_message[:6] for p in parts] == [
        bytes([5, 0, 3, 0x2A, 2, 1]),
        bytes([5, 0, 3, 0x2A, 2, 2]),
    ]
    assert [len(p.short_message) - 6 for p in parts] == [153, 47]
    assert all(p.esm_class == 0x40 and p.data_coding == 0 for p in parts)
    assert [(p.sequence, p.total, p.reference) for p in parts] == [(1, 2, 42), (2, 2, 42)]


def test_concatenated_ucs2_parts_fill_134_octets_after_the_udh() -> None:
    parts = encode_parts(analyze("ж" * 100), reference=255)
    assert [len(p.short_message) for p in parts] == [6 + 134, 6 + 66]
    assert all(p.data_coding == 8 for p in parts)


def test_escape_pairs_never_straddle_parts_in_the_octets() -> None:
    parts = encode_parts(analyze("a" * 152 + "€" * 5), reference=3)
    assert not parts[0].short_message.endswith(b"\x1b")
    assert parts[1].short_message[6:8] == b"\x1b\x65"
    assert all(len(p.short_message) - 6 <= 153 for p in parts)


@pytest.mark.parametrize("reference", [-1, 256])
def test_the_reference_is_one_octet(reference: int) -> None:
    with pytest.raises(ValueError, match="reference"):
        encode_parts(analyze("hello"), reference=reference)


def test_more_parts_than_one_octet_counts_is_too_long() -> None:
    with pytest.raises(EncodingError) as caught:
        encode_parts(analyze("a" * 153 * 256), reference=1)
    assert caught.value.code == "too_long"


ROUND_TRIP_TEXTS = [
    "",
    "Votre RDV est confirmé à 14h30.",
    "Code {1234} | [ok] ~ ^ \\ € \f done",
    "a" * 152 + "€" * 20 + "\r\n" + "z" * 200,
    "Fête 🎉 " * 30,
    "x" * 65 + "🇫🇷" + "👨\u200d👩\u200d👧" * 20,
    "e\u0301" * 100,
    gsm7.BASIC.replace("\x1b", "") * 3,
]


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_encoded_parts_decode_back_to_the_sent_text(text: str) -> None:
    analysis = analyze(text)
    encoded = encode_parts(analysis, reference=77)
    decoded = [
        decode_short_message(p.short_message, p.data_coding, udhi=bool(p.esm_class & 0x40))
        for p in encoded
    ]
    assert [d.text for d in decoded] == analysis.parts
    assert reassemble(reversed(decoded)) == text
    if len(encoded) > 1:
        assert {(d.reference, d.total) for d in decoded} == {(77, len(encoded))}


@pytest.mark.parametrize(
    ("data", "data_coding", "text"),
    [
        (b"STOP", 0, "STOP"),
        (b"\x00\x01\x02\x7f", 0, "@£$à"),
        (b"\x1b\x65 \x1b\x28\x1b\x29", 0, "€ {}"),
        (b"\x1bA", 0, "A"),  # unknown extension code: the default-alphabet character
        (b"ok\x1b", 0, "ok "),  # trailing escape: a space
        (b"caf\xe9", 0, "café"),  # default alphabet sent as Latin-1 by some SMSCs
        (b"STOP", 1, "STOP"),
        (b"caf\xe9", 3, "café"),
        ("Стоп".encode("utf-16-be"), 8, "Стоп"),
        ("👍".encode("utf-16-be"), 8, "👍"),
        (b"\x00S\x00T", 0x18, "ST"),  # general coding group, UCS-2 with message class
        (b"STOP", 0x11, "STOP"),  # general coding group, GSM-7 with message class
        (b"STOP", 0xF1, "STOP"),  # data coding/message class group, GSM-7
        ("да".encode("iso8859-5"), 6, "да"),
    ],
)
def test_inbound_short_messages_decode_by_data_coding(
    data: bytes, data_coding: int, text: str
) -> None:
    assert decode_short_message(data, data_coding) == DecodedMessage(text)


@pytest.mark.parametrize("data_coding", [2, 4, 0xF4, 0x24, 0x14])
def test_binary_or_compressed_payloads_are_refused(data_coding: int) -> None:
    with pytest.raises(EncodingError) as caught:
        decode_short_message(b"\x01\x02", data_coding)
    assert caught.value.code == "undecodable"
    assert caught.value.details["data_coding"] == data_coding


@pytest.mark.parametrize(
    ("header", "reference", "total", "sequence"),
    [
        (bytes([5, 0, 3, 0xAB, 3, 2]), 0xAB, 3, 2),
        (bytes([6, 8, 4, 0x12, 0x34, 4, 1]), 0x1234, 4, 1),
        (bytes([8, 0x24, 1, 0x01, 0, 3, 9, 2, 2]), 9, 2, 2),  # another element comes first
        (bytes([3, 0x24, 1, 0x01]), None, 1, 1),  # a header without concatenation
    ],
    ids=["8-bit-ref", "16-bit-ref", "after-other-element", "no-concatenation"],
)
def test_inbound_udh_gives_the_part_position(
    header: bytes, reference: int | None, total: int, sequence: int
) -> None:
    decoded = decode_short_message(header + b"STOP", 0, udhi=True)
    assert decoded == DecodedMessage("STOP", reference, total, sequence)


@pytest.mark.parametrize("data", [b"", b"\x09\x00\x03"])
def test_a_header_longer_than_the_message_is_refused(data: bytes) -> None:
    with pytest.raises(EncodingError) as caught:
        decode_short_message(data, 0, udhi=True)
    assert caught.value.code == "bad_udh"


def test_reassemble_orders_parts_by_sequence() -> None:
    parts = [DecodedMessage("lo", 1, 2, 2), DecodedMessage("hel", 1, 2, 1)]
    assert reassemble(parts) == "hello"
