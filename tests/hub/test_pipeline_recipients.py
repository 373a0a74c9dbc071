"""The fast path for French mobiles answers exactly what libphonenumber's full parse answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.recipients import Recipient, french_mobile, resolve, resolve_fully
from sms_core import phone
from sms_core.errors import InvalidNumberError

PREFIXES = ["+33", "0", "0033", "+33 ", "+33 0", "+262", "+32", "33", "", "+", "00"]
SEPARATORS = ["", "", "", " ", ".", "-", "  ", "/", "(", ")", "\t"]


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """Numbers as people type them: mostly French mobiles, with near misses of every kind."""
    if draw(st.booleans()):
        prefix = draw(st.sampled_from(["+33", "0", "+33 "]))
        digits = draw(st.sampled_from("67")) + draw(st.text("0123456789", min_size=8,
                                                            max_size=8))
        separator = draw(st.sampled_from(["", " ", ".", "-"]))
        pairs = [digits[0]] + [digits[i:i + 2] for i in range(1, 9, 2)]
        return prefix + separator.join(pairs)
    prefix = draw(st.sampled_from(PREFIXES))
    lead = draw(st.sampled_from(["6", "7", "1", "3", "8", "9", "0", "69", "63", "73"]))
    digits = lead + draw(st.text("0123456789", min_size=7, max_size=10))
    noisy = st.sampled_from(SEPARATORS)
    body = "".join((draw(noisy) if draw(st.integers(0, 4)) == 0 else "") + d for d in digits)
    return draw(st.sampled_from(["", "", "", " "])) + prefix + body


def outcome(resolver: Callable[[str, str], Recipient], raw: str,
            region: str) -> Recipient | str:
    try:
        return resolver(raw, region)
    except InvalidNumberError as exc:
        return exc.code


@settings(max_examples=1500, deadline=None)
@given(raw=written_numbers(), region=st.sampled_from(["FR", "BE", "RE", "GP"]))
def test_the_fast_path_agrees_with_the_full_parse(raw: str, region: str) -> None:
    fast = french_mobile(raw, region)
    full = outcome(resolve_fully, raw, region)
    if fast is not None:
        assert fast == full
        assert fast.number == phone.normalize(raw, region)
    assert outcome(resolve, raw, region) == full
    assert outcome(resolve, raw, region) == full  # cached answers are the same


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("+33612345678", "FR", "+33612345678"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("07.81.23.45.67", "FR", "+33781234567"),
    ("+33 7 81 23 45 67", "BE", "+33781234567"),
])
def test_common_french_mobiles_take_the_fast_path(raw: str, region: str, expected: str) -> None:
    assert french_mobile(raw, region) == Recipient(expected, "FR")


@pytest.mark.parametrize(("raw", "region"), [
    ("0692123456", "FR"),  # Réunion, reached through the French plan's other codes
    ("0612345678", "BE"),  # a national number of another region
    ("+33 1 42 68 53 00", "FR"),  # a landline
    ("0612 345 678 9", "FR"),
])
def test_other_numbers_go_through_the_full_parse(raw: str, region: str) -> None:
    assert french_mobile(raw, region) is None
