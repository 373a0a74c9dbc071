"""analyze(): encoding choice, lengths, part boundaries, caps and route restrictions."""

from __future__ import annotations

import pytest

from sms_core.encoding import GSM7, LOW_COST_FORBIDDEN, UCS2, analyze, units
from sms_core.errors import EncodingError

FAMILY = "👨\u200d👩\u200d👧"  # 3 emoji + 2 ZWJ = 8 UTF-16 units, one grapheme cluster
FLAG_FR = "🇫🇷"  # two regional indicators = 4 units, one cluster
THUMB_TONE = "👍🏽"  # emoji + skin tone modifier = 4 units, one cluster
E_ACUTE_COMBINING = "e\u0301"  # 2 units, one cluster
CYR = "ж"  # any BMP character outside GSM-7

# (id, text, encoding, length, units per part)
CASES = [
    ("empty", "", GSM7, 0, [0]),
    ("gsm-160", "a" * 160, GSM7, 160, [160]),
    ("gsm-161", "a" * 161, GSM7, 161, [153, 8]),
    ("gsm-153x2", "a" * 306, GSM7, 306, [153, 153]),
    ("gsm-153x2+1", "a" * 307, GSM7, 307, [153, 153, 1]),
    ("gsm-153x3", "a" * 459, GSM7, 459, [153, 153, 153]),
    ("gsm-153x3+1", "a" * 460, GSM7, 460, [153, 153, 153, 1]),
    ("gsm-accents-basic", "é" * 160, GSM7, 160, [160]),
    ("ext-fills-160", "a" * 158 + "€", GSM7, 160, [160]),
    ("ext-tips-to-161", "a" * 159 + "€", GSM7, 161, [153, 8]),
    ("escape-at-boundary", "a" * 152 + "€" + "b" * 10, GSM7, 164, [152, 12]),
    ("escape-just-fits", "a" * 151 + "{" + "b" * 10, GSM7, 163, [153, 10]),
    ("all-extension", "[]" * 80, GSM7, 320, [152, 152, 16]),
    ("form-feed-costs-two", "\f" * 80, GSM7, 160, [160]),
    ("crlf-gsm-boundary", "a" * 152 + "\r\n" + "b" * 10, GSM7, 164, [152, 12]),
    ("ucs2-70", CYR * 70, UCS2, 70, [70]),
    ("ucs2-71", CYR * 71, UCS2, 71, [67, 4]),
    ("ucs2-67x2", CYR * 134, UCS2, 134, [67, 67]),
    ("ucs2-67x2+1", CYR * 135, UCS2, 135, [67, 67, 1]),
    ("ucs2-67x3", CYR * 201, UCS2, 201, [67, 67, 67]),
    ("emoji-fills-70", CYR * 68 + "😀", UCS2, 70, [70]),
    ("emoji-tips-to-71", CYR * 69 + "😀", UCS2, 71, [67, 4]),
    ("emoji-at-boundary", "x" * 66 + "😀" + "y" * 10, UCS2, 78, [66, 12]),
    ("flag-at-boundary", "x" * 65 + FLAG_FR + "y" * 10, UCS2, 79, [65, 14]),
    ("zwj-family-at-boundary", "x" * 62 + FAMILY + "y", UCS2, 71, [62, 9]),
    ("zwj-family-fits-70", "x" * 62 + FAMILY, UCS2, 70, [70]),
    ("skin-tone-at-boundary", "x" * 65 + THUMB_TONE + "y" * 10, UCS2, 79, [65, 14]),
    ("combining-at-boundary", "x" * 66 + E_ACUTE_COMBINING + "y" * 10, UCS2, 78, [66, 12]),
    ("crlf-ucs2-boundary", CYR * 66 + "\r\n" + CYR * 10, UCS2, 78, [66, 12]),
    ("backtick-is-not-gsm", "`", UCS2, 1, [1]),
]


@pytest.mark.parametrize(
    ("text", "encoding", "length", "part_units"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_analyze_measures_and_splits(
    text: str, encoding: str, length: int, part_units: list[int]
) -> None:
    result = analyze(text)
    assert result.encoding == encoding
    assert result.length == length
    assert [units(p, encoding) for p in result.parts] == part_units
    assert result.part_lengths == tuple(part_units)
    assert result.segments == len(part_units)
    assert "".join(result.parts) == text == result.text


@pytest.mark.parametrize(
    ("text", "first_part"),
    [
        ("a" * 152 + "€" + "b" * 10, "a" * 152),
        ("x" * 66 + "😀" + "y" * 10, "x" * 66),
        ("x" * 65 + FLAG_FR + "y" * 10, "x" * 65),
        ("x" * 62 + FAMILY + "y", "x" * 62),
        ("x" * 66 + E_ACUTE_COMBINING + "y" * 5, "x" * 66),
        ("a" * 152 + "\r\nb" + "c" * 10, "a" * 152),
    ],
    ids=["escape", "surrogate", "flag", "zwj", "combining", "crlf"],
)
def test_the_unsplittable_unit_moves_whole_to_the_next_part(text: str, first_part: str) -> None:
    parts = analyze(text).parts
    assert parts[0] == first_part
    assert parts[1].startswith(text[len(first_part) : len(first_part) + 2])


def test_empty_text_is_one_gsm_part_of_length_zero() -> None:
    result = analyze("")
    assert (result.encoding, result.segments, result.length, result.parts) == (GSM7, 1, 0, [""])
    assert result.data_coding == 0


@pytest.mark.parametrize(
    ("cluster", "first_part_units"),
    [
        ("e" + "\u0301" * 100, 67),  # one cluster of 101 units, all BMP
        ("👨\u200d" * 30 + "👨", 66),  # one ZWJ cluster of 92 units: the cut keeps pairs whole
    ],
    ids=["combining-marks", "zwj-chain"],
)
def test_a_cluster_longer_than_a_part_is_cut_between_code_points(
    cluster: str, first_part_units: int
) -> None:
    result = analyze("ab" + cluster + "cd")
    assert result.parts[0] == "ab"
    assert units(result.parts[1], UCS2) == first_part_units
    assert all(units(p, UCS2) <= 67 for p in result.parts)
    assert "".join(result.parts) == "ab" + cluster + "cd"
    for part in result.parts:
        part.encode("utf-16-be")  # a lone surrogate would raise here


def test_capacity_and_data_coding_follow_the_encoding() -> None:
    single, multi = analyze("a" * 10), analyze(CYR * 100)
    assert (single.part_capacity, single.max_length, single.data_coding) == (160, 160, 0)
    assert (multi.part_capacity, multi.max_length, multi.data_coding) == (67, 134, 8)


FRENCH_ALERT = "Votre RDV chez le Dr Lefèvre est confirmé le 12/03 à 14h30. Où ? Ici."


@pytest.mark.parametrize(
    ("text", "transliterate", "encoding", "sent"),
    [
        (FRENCH_ALERT, False, GSM7, FRENCH_ALERT),
        (FRENCH_ALERT, True, GSM7, FRENCH_ALERT),
        ("Fête de Noël", False, UCS2, "Fête de Noël"),
        ("Fête de Noël", True, GSM7, "Fete de Noel"),
        ("Ça commence – l’été… ça", True, GSM7, "Ça commence - l'été... ca"),
        ("Fête 🎉", True, UCS2, "Fête 🎉"),
        ("Fête 🎉", False, UCS2, "Fête 🎉"),
        ("e\u0301te\u0301", True, GSM7, "été"),
    ],
)
def test_transliteration_is_applied_only_when_it_makes_the_text_gsm(
    text: str, transliterate: bool, encoding: str, sent: str
) -> None:
    result = analyze(text, transliterate=transliterate)
    assert result.encoding == encoding
    assert result.text == sent == "".join(result.parts)
    assert result.original == text
    assert result.transliterated == (sent != text)


def test_transliteration_reports_what_it_changed() -> None:
    result = analyze("Fête à Noël, ça va ? Fête !", transliterate=True)
    assert result.replacements == (("ê", "e"), ("ë", "e"), ("ç", "c"))
    assert result.unsupported == ()


def test_transliteration_refused_keeps_the_original_and_names_the_culprit() -> None:
    result = analyze("Fête d’été 🎉 ok", transliterate=True)
    assert result.text == "Fête d’été 🎉 ok"
    assert (result.transliterated, result.replacements) == (False, ())
    assert result.unsupported == ("🎉",)


def test_transliteration_saves_segments() -> None:
    text = "Rappel : votre commande n°42 est prête. " * 5
    assert analyze(text).segments == 3
    assert analyze(text, transliterate=True).segments == 2


def test_unsupported_lists_every_foreign_character_once() -> None:
    assert analyze("Fête à Noël 🎉 ê").unsupported == ("ê", "ë", "🎉")
    assert analyze("plain").unsupported == ()


@pytest.mark.parametrize(
    ("text", "max_parts"),
    [("a" * 460, 3), ("a" * 161, 1), (CYR * 135, 2), ("€" * 230, 3)],
)
def test_over_the_cap_is_a_too_long_error(text: str, max_parts: int) -> None:
    with pytest.raises(EncodingError) as caught:
        analyze(text, max_parts=max_parts)
    error = caught.value
    expected = analyze(text)
    assert error.code == "too_long"
    assert error.details["segments"] == expected.segments > max_parts
    assert error.details["max_parts"] == max_parts
    assert error.details["length"] == expected.length
    assert error.to_dict()["code"] == "too_long"


@pytest.mark.parametrize(("text", "max_parts"), [("a" * 459, 3), ("a" * 160, 1), ("", 1)])
def test_at_the_cap_is_accepted(text: str, max_parts: int) -> None:
    assert analyze(text, max_parts=max_parts).segments == max_parts


def test_the_cap_counts_transliterated_segments() -> None:
    text = "ê" * 160
    with pytest.raises(EncodingError):
        analyze(text, max_parts=1)
    assert analyze(text, transliterate=True, max_parts=1).text == "e" * 160


@pytest.mark.parametrize("max_parts", [0, -1, 256])
def test_a_nonsensical_cap_is_a_programming_error(max_parts: int) -> None:
    with pytest.raises(ValueError, match="max_parts"):
        analyze("hello", max_parts=max_parts)


@pytest.mark.parametrize(
    ("text", "kwargs", "refused"),
    [
        ("Fête 🎉", {"gsm_only": True}, ["ê", "🎉"]),
        ("Fête 🎉", {"gsm_only": True, "transliterate": True}, ["🎉"]),
        ("Prix : 5 €", {"gsm_only": True, "forbidden": LOW_COST_FORBIDDEN}, ["€"]),
        ("Prix : 5 € [promo]", {"forbidden": "€["}, ["€", "["]),
    ],
)
def test_route_restrictions_refuse_characters(
    text: str, kwargs: dict[str, object], refused: list[str]
) -> None:
    with pytest.raises(EncodingError) as caught:
        analyze(text, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "unsupported_character"
    assert caught.value.details["characters"] == refused
    for char in refused:
        assert repr(char) in caught.value.message


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        ("Prix : 5 €", {"gsm_only": True}),
        ("Fête", {"gsm_only": True, "transliterate": True}),
        ("Prix : 5 EUR", {"gsm_only": True, "forbidden": LOW_COST_FORBIDDEN}),
    ],
)
def test_route_restrictions_let_allowed_texts_through(text: str, kwargs: dict[str, object]) -> None:
    assert analyze(text, **kwargs).encoding == GSM7  # type: ignore[arg-type]


def test_a_refused_character_wins_over_a_too_long_text() -> None:
    with pytest.raises(EncodingError) as caught:
        analyze("🎉" * 200, max_parts=1, gsm_only=True)
    assert caught.value.code == "unsupported_character"
