"""Properties of analyze() over generated texts mixing every hard case."""

from __future__ import annotations

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_core import gsm7
from sms_core.encoding import (
    GSM7,
    PART_CAPACITY,
    SINGLE_CAPACITY,
    analyze,
    decode_short_message,
    encode_parts,
    reassemble,
    transliterate,
    units,
)
from sms_core.transliteration import LOOKALIKES, transliterate_for_gsm

PIECES = [
    *"aZ09 .,!?\n",
    *"éàÇØ",
    *gsm7.EXTENSION,
    "\r\n",
    "\r",
    *"êç’–…\u00a0",
    "ж",
    "漢",
    "😀",
    "🇫🇷",
    "🇫",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "\u200d",
    "\u0301",
    "e\u0301",
    "\ufe0f",
    "한",
    "\u1100\u1161",
]
texts = st.lists(st.sampled_from(PIECES), max_size=400).map("".join)
long_texts = st.tuples(st.integers(min_value=0, max_value=170), st.sampled_from(PIECES), texts).map(
    lambda t: "a" * t[0] + t[1] * 3 + t[2]
)
"""Pad with plain letters so the hard pieces land on and around part boundaries."""

CLUSTER = regex.compile(r"\X")


def _cluster_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in CLUSTER.finditer(text)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, long_texts), st.booleans())
def test_parts_rebuild_the_text_within_capacity(text: str, translit: bool) -> None:
    result = analyze(text, transliterate=translit)
    assert "".join(result.parts) == result.text
    assert result.text in (text, transliterate(text))
    assert result.segments == len(result.parts) >= 1
    assert result.length == units(result.text, result.encoding)
    assert sum(result.part_lengths) == result.length
    assert max(result.part_lengths) <= result.part_capacity
    if result.segments == 1:
        assert result.length <= SINGLE_CAPACITY[result.encoding]
    else:
        assert result.length > SINGLE_CAPACITY[result.encoding]
        assert all(result.parts)
    assert (result.encoding == GSM7) == gsm7.is_gsm7(result.text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, long_texts))
def test_parts_end_on_cluster_boundaries_and_are_packed_greedily(text: str) -> None:
    result = analyze(text)
    capacity = PART_CAPACITY[result.encoding]
    spans = _cluster_spans(text)
    offset = 0
    for part in result.parts[:-1]:
        offset += len(part)
        cluster = next(span for span in spans if span[0] < offset <= span[1])
        if offset != cluster[1]:  # a cut inside a cluster: only when the cluster is too big
            assert units(text[cluster[0] : cluster[1]], result.encoding) > capacity
        else:  # the next cluster would not have fitted
            following = next(span for span in spans if span[0] == offset)
            grown = part + text[following[0] : following[1]]
            assert units(grown, result.encoding) > capacity


@settings(max_examples=150, deadline=None)
@given(st.one_of(texts, long_texts), st.integers(min_value=0, max_value=255))
def test_encoded_parts_round_trip(text: str, reference: int) -> None:
    result = analyze(text)
    encoded = encode_parts(result, reference)
    decoded = [
        decode_short_message(p.short_message, p.data_coding, udhi=p.esm_class == 0x40)
        for p in encoded
    ]
    assert reassemble(decoded) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*sorted(LOOKALIKES), *"abc é€\r\n"])).map("".join))
def test_texts_of_lookalikes_always_transliterate_to_gsm(text: str) -> None:
    result = analyze(text, transliterate=True)
    assert result.encoding == GSM7
    assert gsm7.is_gsm7(result.text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(max_size=60)))
def test_fast_alphabet_checks_agree_with_the_reference_scan(text: str) -> None:
    assert gsm7.foreign_chars(text) == "".join(gsm7.NON_GSM_RE.findall(text))
    gsm_only = "".join(c for c in text if c in gsm7.GSM_CHARS)
    assert gsm7.septet_count(gsm_only) == sum(
        2 if c in gsm7.EXTENSION_CHARS else 1 for c in gsm_only
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(max_size=60)))
def test_the_shortcut_verdict_matches_full_transliteration(text: str) -> None:
    """transliterate_for_gsm() may decide without transliterating; it must decide the same."""
    full = transliterate(text)
    outcome = transliterate_for_gsm(text, gsm7.foreign_chars(text))
    if gsm7.is_gsm7(full):
        assert (outcome.text, outcome.unsupported) == (full, ())
    else:
        assert outcome.text == text
        assert outcome.unsupported
        assert set(outcome.unsupported) <= set(full)
