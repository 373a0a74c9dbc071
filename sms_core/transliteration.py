"""Look-alike replacements that keep a text in GSM-7 (Octopush terms §27.4).

A single ``ê`` or curly apostrophe turns a 160-character SMS into a 70-character UCS-2 one, so
platforms offer to replace characters outside GSM-7 with GSM characters that read the same. The
table holds the explicit replacements of §27.4 and the usual typographic ones (quotes, dashes,
ellipsis, exotic spaces, zero-width characters), and is completed by decomposing the accented
Latin letters: the accent is dropped only as far as needed to reach a GSM letter, so ``ǻ``
becomes ``å`` (in GSM) rather than ``a``.

Deliberate departures from the letter of §27.4: ``^``, ``|`` and ``\\`` are GSM-7 extension
characters and stay as they are; everything GSM-7 already holds (é è ù ì ò Ç Ø ø Å å Ä Ö Ñ Ü ä ö
ñ ü à É Æ æ ß) is never touched. Characters without a look-alike (emoji, CJK, Arabic…) are left
alone; deciding what to send then is :func:`sms_core.encoding.analyze`'s job.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Final, NamedTuple

import regex

from sms_core.gsm7 import GSM_CHARS, GSM_CLASS, foreign_chars

SEED_TABLE: Final[dict[str, str]] = {
    **dict.fromkeys("ÀÁÂÃ", "A"),
    **dict.fromkeys("ÈÊË", "E"),
    **dict.fromkeys("ÌÍÎÏ", "I"),
    "Ð": "D",
    **dict.fromkeys("ÒÓÔÕ", "O"),
    **dict.fromkeys("ÙÚÛ", "U"),
    **dict.fromkeys("ÝŸ", "Y"),
    **dict.fromkeys("áâã", "a"),
    **dict.fromkeys("êë", "e"),
    "œ": "oe",
    "Œ": "OE",
    **dict.fromkeys("íîï", "i"),
    "ð": "d",
    **dict.fromkeys("óôõ", "o"),
    **dict.fromkeys("úû", "u"),
    "µ": "u",
    **dict.fromkeys("ýÿ", "y"),
    "ç": "c",
    "Þ": "Th",
    "þ": "th",
    "°": "o",
    "¨": '"',
    "´": "'",
    "`": "'",
}
"""§27.4 of the Octopush terms, less the characters GSM-7 already holds."""

TYPOGRAPHIC_TABLE: Final[dict[str, str]] = {
    **dict.fromkeys("‘’‚‛′‹›", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    "…": "...",
    "•": "-",
    "⁄": "/",
    "¦": "|",
    "ˆ": "^",
    "˜": "~",
    "\t": " ",
    **dict.fromkeys("\u00a0\u202f\u205f\u3000", " "),
    **{chr(cp): " " for cp in range(0x2000, 0x200B)},
    **dict.fromkeys("\u2028\u2029", "\n"),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
}
"""Quotes, dashes, ellipsis, bullets, Unicode spaces to ASCII; zero-width characters removed."""

LETTER_TABLE: Final[dict[str, str]] = {
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ĳ": "IJ", "ĳ": "ij",
    "Ŀ": "L", "ŀ": "l", "ſ": "s", "Ŋ": "N", "ŋ": "n", "Ŧ": "T", "ŧ": "t",
    # Greek capitals drawn like Latin ones (the others, Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ, are GSM-7).
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
"""Letters with no Unicode decomposition but an obvious GSM twin."""

_DECOMPOSED_RANGES: Final = (range(0x00C0, 0x0250), range(0x1E00, 0x1F00))
"""Latin-1, Latin Extended-A/B and Latin Extended Additional (Vietnamese, Welsh…)."""


def _nearest_gsm(char: str) -> str | None:
    """The GSM letter ``char`` becomes when accents are dropped from the outside in."""
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    if not marks or not all(unicodedata.combining(m) for m in marks):
        return None
    for keep in range(len(marks) - 1, -1, -1):
        candidate = unicodedata.normalize("NFC", base + marks[:keep])
        if len(candidate) == 1 and candidate in GSM_CHARS:
            return candidate
    return None


def _decomposed_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for span in _DECOMPOSED_RANGES:
        for char in map(chr, span):
            if char not in GSM_CHARS and (twin := _nearest_gsm(char)) is not None:
                table[char] = twin
    return table


LOOKALIKES: Final[dict[str, str]] = {
    **_decomposed_table(),
    **LETTER_TABLE,
    **SEED_TABLE,
    **TYPOGRAPHIC_TABLE,
}
"""Every single-character replacement; no key is GSM-7 and every value is made of GSM-7."""

_MARKS_AFTER_GSM_RE: Final = regex.compile(f"(?<=[{GSM_CLASS}])\\p{{M}}+")
"""Combining marks left on a GSM letter once composition found no precomposed form (``q́``)."""
_FOREIGN_UNIT_RE: Final = regex.compile(f"[^{GSM_CLASS}]\\p{{M}}*|[{GSM_CLASS}]\\p{{M}}+")
"""What one replacement is reported for: a non-GSM character or a GSM one carrying marks, with
the combining marks that follow it (so ``e`` + U+0301 is reported as a whole)."""


class Transliterated(NamedTuple):
    """The outcome of trying to make a text GSM-7."""

    text: str
    """What to send: the transliteration if it is GSM-7, otherwise the original text."""
    replacements: tuple[tuple[str, str], ...]
    """``(original, replacement)`` pairs applied, each once, in order of first appearance."""
    unsupported: tuple[str, ...]
    """Characters with no look-alike, which keep the text in UCS-2; empty on success."""


def transliterate(text: str) -> str:
    """``text`` with every character that has a GSM-7 look-alike replaced by it.

    Decomposed accents are composed first (``e`` + U+0301 is ``é``, which GSM-7 has), then the
    table applies, then marks still sitting on a GSM letter are dropped. Characters without a
    look-alike are kept, so the result may still need UCS-2.
    """
    foreign = dict.fromkeys(foreign_chars(text))
    if not all(char in LOOKALIKES for char in foreign):
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
            foreign = dict.fromkeys(foreign_chars(text))
        text = _replace_known(text, foreign)
        return _MARKS_AFTER_GSM_RE.sub("", text) if foreign_chars(text) else text
    return _replace_known(text, foreign)


def replacements(text: str) -> tuple[tuple[str, str], ...]:
    """What :func:`transliterate` changes in ``text`` (shown to users so that nothing changes
    behind their back): ``(original, replacement)`` pairs, each once, in order of appearance."""
    foreign = dict.fromkeys(foreign_chars(text))
    if all(char in LOOKALIKES for char in foreign):
        return tuple((char, LOOKALIKES[char]) for char in foreign)
    found: dict[str, str] = {}
    for unit in _FOREIGN_UNIT_RE.findall(text):
        if unit not in found and (new := transliterate(unit)) != unit:
            found[unit] = new
    return tuple(found.items())


def transliterate_for_gsm(text: str, foreign: Iterable[str]) -> Transliterated:
    """Transliterate ``text`` if that makes it GSM-7; ``foreign`` are its characters outside
    GSM-7 (from :func:`sms_core.gsm7.foreign_chars`, so the caller's scan is not repeated).

    The common case, every foreign character in the table, costs one ``str.replace`` per distinct
    character. A composed text holding a character that is neither in the table nor a combining
    mark cannot become GSM-7, which is seen without transliterating anything.
    """
    unique = dict.fromkeys(foreign)
    missing = [char for char in unique if char not in LOOKALIKES]
    if not missing:
        changes = tuple((char, LOOKALIKES[char]) for char in unique)
        return Transliterated(_replace_known(text, unique), changes, ())
    hopeless = _without_marks(missing)
    if not hopeless or not unicodedata.is_normalized("NFC", text):
        result = transliterate(text)
        left = dict.fromkeys(foreign_chars(result))
        if not left:
            return Transliterated(result, replacements(text), ())
        hopeless = _without_marks(left) or tuple(left)
    return Transliterated(text, (), hopeless)


def _without_marks(chars: Iterable[str]) -> tuple[str, ...]:
    """The characters that are not combining marks (marks on a GSM letter get dropped)."""
    return tuple(char for char in chars if not unicodedata.category(char).startswith("M"))


def _replace_known(text: str, chars: Iterable[str]) -> str:
    """Replace each of ``chars`` that has a look-alike (``str.replace`` per character is far
    cheaper than ``str.translate`` with a dict, which raises a KeyError per unmapped char)."""
    for char in chars:
        if char in LOOKALIKES:
            text = text.replace(char, LOOKALIKES[char])
    return text
