"""sms_core.phone: normalisation, refusals with their codes, look-up and extraction from text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_core.errors import InvalidNumberError
from sms_core.phone import extract_numbers, format_number, lookup, normalize

MESSY_FRENCH_MOBILES = [
    "0612345678",
    "06 12 34 56 78",
    "06.12.34.56.78",
    "06-12-34-56-78",
    "0033 6 12 34 56 78",
    "+33 (0)6 12 34 56 78",
    "+33612345678",
    "+33 6 12 34 56 78",
    "  06 12 34 56 78  ",
    "０６１２３４５６７８",  # full-width digits
    "(06) 12 34 56 78",
]


@pytest.mark.parametrize("raw", MESSY_FRENCH_MOBILES)
def test_messy_french_forms_normalise_to_e164(raw: str) -> None:
    assert normalize(raw) == "+33612345678"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0692 12 34 56", "FR", "+262692123456"),  # Réunion mobile typed the French way
        ("0693 12 34 56", "FR", "+262693123456"),
        ("0639 01 23 45", "FR", "+262639012345"),  # Mayotte
        ("0690 00 12 34", "FR", "+590690001234"),  # Guadeloupe
        ("0696 20 12 34", "FR", "+596696201234"),  # Martinique
        ("0694 20 12 34", "FR", "+594694201234"),  # Guyane
        ("+262 692 12 34 56", "FR", "+262692123456"),
        ("0692123456", "RE", "+262692123456"),
        ("0612345678", "RE", "+33612345678"),  # a metropolitan mobile typed in Réunion
        ("07 81 23 45 67", "FR", "+33781234567"),
        ("+1 650 253 0000", "FR", "+16502530000"),  # fixed-line-or-mobile is accepted
        ("+44 7911 123456", "FR", "+447911123456"),
        ("+49 1512 3456789", None, "+4915123456789"),
    ],
)
def test_overseas_and_foreign_mobiles(raw: str, region: str | None, expected: str) -> None:
    assert normalize(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("01 23 45 67 89", "fixed_line"),
        ("0262 12 34 56", "fixed_line"),  # Réunion landline
        ("08 99 12 34 56", "premium_rate"),
        ("08 00 12 34 56", "toll_free"),
        ("08 10 12 34 56", "not_mobile"),  # shared cost
        ("09 12 34 56 78", "not_mobile"),  # VoIP (internet box)
        ("", "invalid_number"),
        ("   ", "invalid_number"),
        ("hello", "invalid_number"),
        ("06 12 34", "invalid_number"),
        ("+33 6 92 12 34 56", "invalid_number"),  # +33 written explicitly: no plan guessing
        ("061234567891234", "invalid_number"),
        ("+999 123456", "invalid_number"),
        ("0" * 200, "invalid_number"),
        ("12/03/2025", "invalid_number"),
    ],
)
def test_refusals_carry_a_precise_code(raw: str, code: str) -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize(raw)
    assert info.value.code == code
    assert info.value.status == 422


def test_non_string_input_is_an_invalid_number() -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize(612345678)  # type: ignore[arg-type]
    assert info.value.code == "invalid_number"


def test_mobile_only_false_keeps_landlines() -> None:
    assert normalize("01 23 45 67 89", mobile_only=False) == "+33123456789"


@pytest.mark.parametrize(
    ("raw", "country", "kind", "carrier", "zones"),
    [
        ("06 12 34 56 78", "FR", "mobile", "SFR", ("Europe/Paris",)),
        ("0692 12 34 56", "RE", "mobile", "SFR", ("Indian/Mayotte", "Indian/Reunion")),
        ("0690 00 12 34", "GP", "mobile", "SFR/Rife", ("America/Guadeloupe",)),
        ("0694 20 12 34", "GF", "mobile", "Orange", ("America/Cayenne",)),
        ("01 23 45 67 89", "FR", "fixed_line", None, ("Europe/Paris",)),
        ("+1 650 253 0000", "US", "fixed_line_or_mobile", None, ("America/Los_Angeles",)),
    ],
)
def test_lookup_describes_the_number(
    raw: str, country: str, kind: str, carrier: str | None, zones: tuple[str, ...]
) -> None:
    info = lookup(raw)
    assert (info.country, info.type, info.carrier, info.time_zones) == (
        country,
        kind,
        carrier,
        zones,
    )
    assert info.e164 == normalize(raw, mobile_only=False)
    assert info.is_mobile == (kind != "fixed_line")


def test_lookup_formats() -> None:
    info = lookup("+33612345678")
    assert info.national == "06 12 34 56 78"
    assert info.international == "+33 6 12 34 56 78"
    assert info.country_code == 33


def test_lookup_refuses_invalid_numbers() -> None:
    with pytest.raises(InvalidNumberError):
        lookup("12345")


@pytest.mark.parametrize(
    ("raw", "style", "expected"),
    [
        ("+33612345678", "national", "06 12 34 56 78"),
        ("0612345678", "international", "+33 6 12 34 56 78"),
        ("06 12 34 56 78", "e164", "+33612345678"),
        ("not a number", "national", "not a number"),
    ],
)
def test_format_number(raw: str, style: str, expected: str) -> None:
    assert format_number(raw, style) == expected


def test_format_number_rejects_unknown_style() -> None:
    with pytest.raises(ValueError):
        format_number("+33612345678", "fancy")


EXTRACTION_CASES = [
    ("RDV Mme Dupont 06 12 34 56 78", ["+33612345678"]),
    ("Tel: +33 7 81 23 45 67 / fixe 01 23 45 67 89", ["+33781234567"]),
    ("Appeler 06.12.34.56.78 ou 07 81 23 45 67", ["+33612345678", "+33781234567"]),
    ("06 12 34 56 78/07 81 23 45 67", ["+33612345678", "+33781234567"]),
    ("Mme Dupont0612345678 confirmé", ["+33612345678"]),
    ("tel:0612345678", ["+33612345678"]),
    ("Tél.06.12.34.56.78", ["+33612345678"]),
    ("0612345678 rappel 06 12 34 56 78 (même)", ["+33612345678"]),
    ("Coiffure 0692 12 34 56 St-Denis", ["+262692123456"]),
    ("Client +44 7911 123456 (UK)", ["+447911123456"]),
    ("0033 6 12 34 56 78 ou +33 (0)7 81 23 45 67", ["+33612345678", "+33781234567"]),
    ("Le 12/03/2025 à 14h30", []),
    ("RDV 2025-03-12 14:30:00", []),
    ("Total 1 234 567,89 € TTC", []),
    ("Livraison 75011 Paris", []),
    ("commande n°123456789", []),
    ("Commande n° 0612345678 expédiée", []),
    ("Ticket #0612345678", []),
    ("Réf: 0612345678", []),
    ("SIRET 12345678901234", []),
    ("Fixe seulement 01 23 45 67 89", []),
    ("", []),
    ("Portable n° 06 12 34 56 78", ["+33612345678"]),
    ("Dossier 0612345678 / Tel 0781234567", ["+33781234567"]),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION_CASES)
def test_extract_numbers_from_appointment_texts(text: str, expected: list[str]) -> None:
    assert extract_numbers(text) == expected


def test_extract_numbers_can_keep_every_valid_type() -> None:
    text = "Tel: +33 7 81 23 45 67 / fixe 01 23 45 67 89 / vert 0800 12 34 56"
    assert extract_numbers(text, mobile_only=False) == [
        "+33781234567",
        "+33123456789",
        "+33800123456",
    ]


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["6", "7"]),
    digits=st.text(alphabet="0123456789", min_size=8, max_size=8),
    separator=st.sampled_from(["", " ", ".", "-"]),
    international=st.booleans(),
)
def test_written_forms_of_a_mobile_agree(
    prefix: str, digits: str, separator: str, international: bool
) -> None:
    national = "0" + prefix + digits
    pairs = [national[i : i + 2] for i in range(0, 10, 2)]
    try:
        expected = normalize(national)
    except InvalidNumberError:
        return  # an unassigned range
    metropolitan = expected.startswith("+33")  # 0690… is Guadeloupe: +590, never +33
    written = separator.join(pairs)
    if international and metropolitan:
        written = "+33 " + written[1:]
    assert normalize(written) == expected
    assert normalize(expected) == expected  # E.164 is a fixed point
    assert extract_numbers(f"RDV {written} demain") == [expected]
