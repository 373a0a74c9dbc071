"""STOP mentions in outgoing texts and STOP/START keywords in replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms_core.compliance import (
    SHORT_CODE_WORDING,
    classify_reply,
    ensure_stop_mention,
    has_stop_mention,
    link_wording,
    number_wording,
    short_code_wording,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Soldes -20% ce week-end ! STOP au 36180", True),
        ("Promo STOP SMS au 36180", True),
        ("Stop au 36105", True),
        ("stop au 36 180", True),
        ("STOP 36180", True),
        ("STOP: https://x.co/s/abc", True),
        ("Désinscription ? STOP : x.co/abc", True),
        ("Nouveautés. STOP SMS au +33 6 12 34 56 78", True),
        ("Répondez STOP pour ne plus recevoir nos offres", True),
        ("REPONDEZ stop", True),
        ("Reply STOP to unsubscribe", True),
        ("Soldes -20% ce week-end !", False),
        ("STOP", False),
        ("Non stop shopping 2 jours", False),
        ("Arrêt de bus 12", False),
        ("Stop à 20h", False),
        ("", False),
    ],
)
def test_has_stop_mention(text: str, expected: bool) -> None:
    assert has_stop_mention(text) is expected


def test_missing_mention_is_appended_and_counted() -> None:
    text, added = ensure_stop_mention("Soldes -20% !")
    assert text == "Soldes -20% !\nSTOP au 36180"
    assert added == len(SHORT_CODE_WORDING) == 14


def test_present_mention_is_left_alone() -> None:
    original = "Soldes -20% ! STOP au 36180"
    assert ensure_stop_mention(original) == (original, 0)


@pytest.mark.parametrize(
    ("wording", "suffix"),
    [
        (short_code_wording("36105"), "\nSTOP au 36105"),
        (number_wording("+33612345678"), "\nSTOP SMS au +33612345678"),
        (link_wording("https://x.co/s/42"), "\nSTOP: https://x.co/s/42"),
    ],
)
def test_wordings_are_mentions_and_idempotent(wording: str, suffix: str) -> None:
    once, added = ensure_stop_mention("Offre", wording)
    assert once == "Offre" + suffix
    assert added == len(suffix)
    assert ensure_stop_mention(once, wording) == (once, 0)


def test_a_wording_that_is_no_mention_is_refused() -> None:
    with pytest.raises(ValueError):
        ensure_stop_mention("Offre", "\nMerci")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("STOP", "stop"),
        ("Stop", "stop"),
        (" STOP. ", "stop"),
        ("stop!!!", "stop"),
        ("arrêt", "stop"),
        ("ARRET!", "stop"),
        ("Arrêter", "stop"),
        ("désabonner", "stop"),
        ("DÉSABONNEMENT", "stop"),
        ("STOPALL", "stop"),
        ("stop all", "stop"),
        ("Stop-All", "stop"),
        ("unsubscribe", "stop"),
        ("END", "stop"),
        ("quit", "stop"),
        ("Cancel", "stop"),
        ("opt-out", "stop"),
        ("OPTOUT", "stop"),
        ("revoke", "stop"),
        ("\n\tStop\n", "stop"),
        ("🛑 STOP 🛑", "stop"),
        ("START", "start"),
        ("start.", "start"),
        ("Unstop", "start"),
        ("YES", None),  # confirmations must not re-subscribe (see sms_core.optout)
        ("stop sending me things", None),
        ("Stop please", None),
        ("STOP STOP", None),
        ("Merci, à lundi", None),
        ("stopper", None),
        ("", None),
        ("!!!", None),
        ("STOP " * 100, None),
    ],
)
def test_classify_reply(reply: str, expected: str | None) -> None:
    assert classify_reply(reply) == expected


def test_keyword_lists_are_configurable() -> None:
    assert classify_reply("oui", start_words=frozenset({"OUI"})) == "start"
    assert classify_reply("halte", stop_words=frozenset({"HALTE"})) == "stop"


@given(st.text(max_size=200))
def test_ensuring_a_mention_is_idempotent(text: str) -> None:
    once, added = ensure_stop_mention(text)
    assert has_stop_mention(once)
    assert len(once) == len(text) + added
    assert ensure_stop_mention(once) == (once, 0)
