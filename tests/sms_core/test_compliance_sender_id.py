"""Sender ID validation: format per country, numeric senders, protected names."""

from __future__ import annotations

import pytest

from sms_core.compliance import ComplianceError, SenderPolicy, SenderRules, validate_sender_id


@pytest.mark.parametrize(
    ("sender", "country", "expected"),
    [
        ("Boulangerie", "FR", "Boulangerie"),  # 11 characters
        ("ABC", "FR", "ABC"),
        ("Garage24", "FR", "Garage24"),
        ("24Garage", "FR", "24Garage"),
        ("36180", "FR", "36180"),  # French short code
        ("0612345678", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "FR", "+33612345678"),
        ("+447911123456", "GB", "+447911123456"),
        ("12345", "US", "12345"),
    ],
)
def test_valid_senders(sender: str, country: str, expected: str) -> None:
    assert validate_sender_id(sender, country) == expected


@pytest.mark.parametrize(
    ("sender", "country"),
    [
        ("AB", "FR"),  # too short
        ("Boulangeries", "FR"),  # 12 characters
        ("Le Fournil", "FR"),  # no spaces in France
        ("Le Fournil", "DE"),  # no spaces unless the country is known to allow them
        ("Café", "FR"),  # accents refused
        ("Shop-24", "FR"),  # special character
        ("Shop_24", "FR"),
        (" Fournil", "FR"),
        ("12345678", "FR"),  # all digits, neither a short code nor a number
        ("123", "FR"),
        ("Boutique", "US"),  # US carriers take no alphanumeric sender
        ("", "FR"),
        ("+33 1", "FR"),
    ],
)
def test_invalid_senders(sender: str, country: str) -> None:
    with pytest.raises(ComplianceError) as info:
        validate_sender_id(sender, country)
    assert info.value.code == "sender_invalid"


@pytest.mark.parametrize(
    ("sender", "code"),
    [
        ("SMS", "sender_forbidden"),
        ("info", "sender_forbidden"),
        ("NoReply", "sender_forbidden"),
        ("Ameli", "sender_authorization_required"),
        ("AMELI", "sender_authorization_required"),
        ("LaPoste", "sender_authorization_required"),
        ("Impots", "sender_authorization_required"),
    ],
)
def test_default_protected_names(sender: str, code: str) -> None:
    with pytest.raises(ComplianceError) as info:
        validate_sender_id(sender)
    assert info.value.code == code


SPACES_OK = {"BE": SenderRules(spaces_allowed=True)}


@pytest.mark.parametrize(
    ("sender", "valid"),
    [("Le Fournil", True), ("Le  Fournil", False), (" Fournil", False), ("Fournil ", False)],
)
def test_spaces_where_the_country_allows_them(sender: str, valid: bool) -> None:
    if valid:
        assert validate_sender_id(sender, "BE", rules=SPACES_OK) == sender
    else:
        with pytest.raises(ComplianceError):
            validate_sender_id(sender, "BE", rules=SPACES_OK)


def test_an_authorisation_lifts_isa_but_never_si() -> None:
    policy = SenderPolicy(authorized=frozenset({"ameli", "SMS"}))
    assert validate_sender_id("AMELI", policy=policy) == "AMELI"
    with pytest.raises(ComplianceError) as info:
        validate_sender_id("SMS", policy=policy)
    assert info.value.code == "sender_forbidden"


def test_lists_are_configurable_and_folded() -> None:
    policy = SenderPolicy(forbidden=frozenset({"Mégà Promo"}), authorization_required=frozenset())
    with pytest.raises(ComplianceError):
        validate_sender_id("MEGAPROMO", policy=policy)
    assert validate_sender_id("Ameli", policy=policy) == "Ameli"


def test_numeric_senders_skip_the_name_lists() -> None:
    policy = SenderPolicy(forbidden=frozenset({"36180"}))
    assert validate_sender_id("36180", policy=policy) == "36180"
