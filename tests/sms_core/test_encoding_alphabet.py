"""The GSM 03.38 tables and transliterate()."""

from __future__ import annotations

import unicodedata

import pytest
import regex

from sms_core import gsm7
from sms_core.encoding import transliterate
from sms_core.transliteration import LOOKALIKES, SEED_TABLE, replacements

GSM_ACCENTED = "éèùìòÇØøÅåÄÖÑÜäöñüàÉÆæß"


def test_the_default_alphabet_has_128_distinct_septets() -> None:
    assert len(gsm7.BASIC) == 128
    assert len(set(gsm7.BASIC)) == 128
    assert len(gsm7.GSM_CHARS) == 127 + 10


@pytest.mark.parametrize(
    ("char", "septets"),
    [
        ("@", b"\x00"),
        ("Ç", b"\x09"),
        ("\n", b"\x0a"),
        ("Δ", b"\x10"),
        ("É", b"\x1f"),
        ("¤", b"\x24"),
        ("¡", b"\x40"),
        ("§", b"\x5f"),
        ("¿", b"\x60"),
        ("à", b"\x7f"),
        ("\f", b"\x1b\x0a"),
        ("^", b"\x1b\x14"),
        ("{", b"\x1b\x28"),
        ("}", b"\x1b\x29"),
        ("\\", b"\x1b\x2f"),
        ("[", b"\x1b\x3c"),
        ("~", b"\x1b\x3d"),
        ("]", b"\x1b\x3e"),
        ("|", b"\x1b\x40"),
        ("€", b"\x1b\x65"),
    ],
)
def test_characters_map_to_their_ts_23_038_septets(char: str, septets: bytes) -> None:
    assert gsm7.encode(char) == septets
    assert gsm7.decode(septets) == char
    assert gsm7.septet_count(char) == len(septets)


@pytest.mark.parametrize("char", ["`", "\t", "\x1b", "ê", "ç", "’", "😀", "\x00"])
def test_characters_outside_the_alphabet_are_refused(char: str) -> None:
    assert not gsm7.is_gsm7("abc" + char)
    with pytest.raises(ValueError, match="GSM-7"):
        gsm7.encode(char)


def test_octets_above_0x7f_are_not_septets() -> None:
    with pytest.raises(ValueError, match="0x7F"):
        gsm7.decode(b"\x80")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("À Á Â Ã", "A A A A"),
        ("È Ê Ë Ì Í Î Ï", "E E E I I I I"),
        ("Ò Ó Ô Õ Ù Ú Û Ý Ÿ Ð", "O O O O U U U Y Y D"),
        ("á â ã ê ë í î ï", "a a a e e i i i"),
        ("ó ô õ ú û ý ÿ ð", "o o o u u y y d"),
        ("ç œ Œ µ", "c oe OE u"),
        ("n° 5", "no 5"),
        ("‘single’ “double” „low” «guillemets»", '\'single\' "double" "low" "guillemets"'),
        ("a – b — c ‒ d − e", "a - b - c - d - e"),
        ("Attendez…", "Attendez..."),
        ("• item", "- item"),
        ("12\u00a0€ 5\u202f%\u2003x\u3000y\u205fz\u2009w", "12 € 5 % x y z w"),
        ("zero\u200bwidth\u200d\ufeffjoin\u2060", "zerowidthjoin"),
        ("Łódź, Kraków, Brașov, Tiếng Việt", "Lodz, Krakow, Brasov, Tieng Viet"),
        ("ǻ Ǿ", "å Ø"),  # accents dropped only down to a GSM letter
        ("e\u0301 a\u0300 c\u0327", "é à c"),  # decomposed input is composed first
        ("Ο ΚΑΙ Ρ", "O KAI P"),  # Greek capitals drawn like Latin ones
    ],
)
def test_transliterate_replaces_lookalikes(text: str, expected: str) -> None:
    assert transliterate(text) == expected
    assert gsm7.is_gsm7(expected)


@pytest.mark.parametrize(
    "text",
    [
        GSM_ACCENTED,
        "^ | \\ { } [ ] ~ €",
        "Plain ASCII text, with digits 0123 and @ £ $ ¥ § ¿ ¡",
        "漢字 русский עברית 😀 🇫🇷",
    ],
    ids=["gsm-accented", "extension", "ascii", "no-lookalike"],
)
def test_transliterate_leaves_gsm_and_unmatched_characters_alone(text: str) -> None:
    assert transliterate(text) == text
    assert replacements(text) == ()


def test_replacements_are_listed_once_in_order_of_appearance() -> None:
    assert replacements("ê’ê ç’") == (("ê", "e"), ("’", "'"), ("ç", "c"))
    assert replacements("e\u0301") == (("e\u0301", "é"),)


def test_the_table_only_maps_foreign_characters_to_gsm_ones() -> None:
    assert not set(LOOKALIKES) & gsm7.GSM_CHARS
    assert all(gsm7.is_gsm7(value) for value in LOOKALIKES.values())
    assert set(SEED_TABLE) <= set(LOOKALIKES)


def test_composing_a_lookalike_key_never_changes_its_replacement() -> None:
    """The fast path replaces table characters without composing the text first."""
    for key, value in LOOKALIKES.items():
        composed = unicodedata.normalize("NFC", key)
        assert composed == key or LOOKALIKES.get(composed) == value, key


JOINS_NOTHING = regex.compile(r"[\p{GCB=Other}\p{GCB=Control}\p{GCB=CR}\p{GCB=LF}]")


def test_characters_below_u0300_and_gsm_ones_never_join_a_cluster() -> None:
    """The splitter skips grapheme segmentation around such characters (only CR LF joins)."""
    below = "".join(map(chr, range(0x300)))
    assert len(JOINS_NOTHING.findall(below)) == 0x300
    assert all(JOINS_NOTHING.fullmatch(c) for c in gsm7.GSM_CHARS)
