"""Flood rules and the smishing URL deny list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sms_core.compliance import (
    ComplianceError,
    SentEntry,
    check_category_for_route,
    check_flood,
    find_denied_urls,
    text_hash,
)

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
TO = "+33612345678"


def entries(
    count: int, *, to: str = TO, every: timedelta = timedelta(minutes=3)
) -> list[SentEntry]:
    return [SentEntry(NOW - every * (i + 1), to, text_hash(f"message {i}")) for i in range(count)]


def test_under_the_limit_passes() -> None:
    check_flood(entries(14), TO, "new text", NOW)


def test_the_fifteenth_message_in_an_hour_is_the_last() -> None:
    with pytest.raises(ComplianceError) as info:
        check_flood(entries(15), TO, "new text", NOW)
    assert info.value.code == "flooding"
    # the oldest of the 15 was sent 45 min ago: one slot frees up in 15 minutes
    assert info.value.details["retry_after"] == 15 * 60


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        (entries(15, to="+33781234567"), "other recipients do not count"),
        (entries(15, every=timedelta(minutes=4)), "the oldest (60 min ago) is outside the hour"),
        ([SentEntry(NOW + timedelta(minutes=1), TO, "x")] * 20, "future entries are ignored"),
    ],
)
def test_what_does_not_count(history: list[SentEntry], reason: str) -> None:
    check_flood(history, TO, "t", NOW)


def test_limit_is_configurable() -> None:
    with pytest.raises(ComplianceError):
        check_flood(entries(3), TO, "new", NOW, max_per_hour=3)
    check_flood(entries(3), TO, "new", NOW, max_per_hour=4)


@pytest.mark.parametrize(
    ("age", "window", "refused"),
    [
        (timedelta(minutes=9), timedelta(minutes=10), True),
        (timedelta(minutes=10), timedelta(minutes=10), False),
        (timedelta(minutes=20), timedelta(minutes=30), True),
        (timedelta(seconds=0), timedelta(minutes=10), True),
    ],
)
def test_duplicate_text_window(age: timedelta, window: timedelta, refused: bool) -> None:
    history = [(NOW - age, TO, text_hash("Votre code: 1234"))]
    if refused:
        with pytest.raises(ComplianceError) as info:
            check_flood(history, TO, "Votre code: 1234", NOW, duplicate_window=window)
        assert info.value.code == "duplicate_text"
        assert info.value.details["retry_after"] == max(1, int((window - age).total_seconds()))
    else:
        check_flood(history, TO, "Votre code: 1234", NOW, duplicate_window=window)


def test_same_text_to_another_number_or_another_text_is_fine() -> None:
    history = [(NOW - timedelta(minutes=1), TO, text_hash("Bonjour"))]
    check_flood(history, "+33781234567", "Bonjour", NOW)
    check_flood(history, TO, "Bonsoir", NOW)


def test_text_hash_ignores_unicode_normalisation_form() -> None:
    assert text_hash("Cafe\u0301") == text_hash("Café")
    assert text_hash("a") != text_hash("b")


def test_marketing_on_alert_route_is_refused() -> None:
    with pytest.raises(ComplianceError) as info:
        check_category_for_route("marketing", "alert")
    assert info.value.code == "marketing_on_alert_route"
    check_category_for_route("alert", "alert")
    check_category_for_route("marketing", "premium")


DENIED = ["evil.example", "bit.ly", "xn--meli-43d.fr"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Colis bloqué: https://evil.example/track?id=1.", ["https://evil.example/track?id=1"]),
        ("Voir www.EVIL.example, merci", ["www.EVIL.example"]),
        ("Raccourci bit.ly/3abc", ["bit.ly/3abc"]),
        ("https://secure.login.evil.example/x", ["https://secure.login.evil.example/x"]),
        ("http://ameli.fr@evil.example/", ["http://ameli.fr@evil.example/"]),
        ("ameli.fr.evil.example/reset", ["ameli.fr.evil.example/reset"]),
        ("Compte: https://\u0430meli.fr/login", ["https://\u0430meli.fr/login"]),  # Cyrillic a
        ("Compte: https://xn--meli-43d.fr/", ["https://xn--meli-43d.fr/"]),
        ("https://notevil.example/ et https://evil.example.com/", []),
        ("Écrivez à bob@evil.example", []),
        ("Rendez-vous confirmé https://ameli.fr", []),
        ("", []),
    ],
)
def test_find_denied_urls(text: str, expected: list[str]) -> None:
    assert find_denied_urls(text, DENIED) == expected


def test_no_denied_domains_means_nothing_to_find() -> None:
    assert find_denied_urls("https://evil.example", []) == []
