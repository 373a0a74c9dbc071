"""The GSM 03.38 (3GPP TS 23.038) 7-bit default alphabet and its extension table.

Operators bill and split GSM-7 texts by septets, so every question "does this text fit" starts
here. The tables are kept as data plus a few precomputed lookups (a compiled character class,
``str.translate`` maps) so that checking or encoding a text is a handful of C-level calls rather
than a Python loop over its characters.

Texts travel in SMPP ``short_message`` as *unpacked* septets: one septet per octet, the escape
septet 0x1B before each extension character (SMPP 3.4 §5.2.19, data_coding 0).
"""

from __future__ import annotations

import re
from typing import Final

ESCAPE: Final = 0x1B
"""The septet that announces a character of the extension table."""

BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
"""The 128 characters of the default alphabet, indexed by septet value (0x1B is the escape)."""

EXTENSION: Final[dict[str, int]] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
"""Extension characters and the septet that follows the escape; each costs two septets."""

BASIC_CHARS: Final = frozenset(BASIC) - {"\x1b"}
EXTENSION_CHARS: Final = frozenset(EXTENSION)
GSM_CHARS: Final = BASIC_CHARS | EXTENSION_CHARS
"""Every character a GSM-7 text may hold (the bare escape is not one: it is framing)."""

SPACE_SEPTET: Final = 0x20


def _char_class(chars: frozenset[str]) -> str:
    return "".join(re.escape(c) for c in sorted(chars))


GSM_CLASS: Final = _char_class(GSM_CHARS)
"""The GSM-7 characters as the body of a regular-expression character class (``[...]``), valid
for both ``re`` and ``regex``."""

NON_GSM_RE: Final = re.compile(f"[^{GSM_CLASS}]")
"""Matches any character that forces UCS-2; ``search() is None`` means the text is GSM-7."""

EXTENSION_RE: Final = re.compile(f"[{_char_class(EXTENSION_CHARS)}]")
"""Matches the characters that cost two septets."""

_TO_SEPTETS: Final[dict[int, str]] = {
    **{ord(ch): chr(i) for i, ch in enumerate(BASIC) if i != ESCAPE},
    **{ord(ch): chr(ESCAPE) + chr(code) for ch, code in EXTENSION.items()},
}
_FROM_BASIC: Final[dict[int, str]] = {i: ch for i, ch in enumerate(BASIC) if i != ESCAPE}
_EXTENSION_AFTER_BASIC: Final[dict[str, str]] = {BASIC[code]: ch for ch, code in EXTENSION.items()}
"""Extension characters keyed by the default-alphabet character of their code, for decoding."""
_ESCAPED_RE: Final = re.compile("\x1b(.?)", re.DOTALL)


_GSM_LATIN1: Final = bytes(sorted(ord(c) for c in GSM_CHARS if ord(c) < 0x100))
_EXTENSION_LATIN1: Final = bytes(sorted(ord(c) for c in EXTENSION_CHARS if ord(c) < 0x100))


def foreign_chars(text: str) -> str:
    """The characters of ``text`` outside GSM-7, in order and with repeats; ``""`` for GSM-7.

    Most texts fit in Latin-1; for those the question is answered by ``bytes.translate`` with a
    256-entry table, several times faster than scanning the ``str`` with a regular expression.
    """
    raw = text.encode("latin-1", "ignore")
    if len(raw) == len(text):
        return raw.translate(None, _GSM_LATIN1).decode("latin-1")
    return "".join(NON_GSM_RE.findall(text))


def septet_count(text: str) -> int:
    """Septets a GSM-7 text occupies: one per character, two per extension character."""
    raw = text.encode("latin-1", "ignore")
    if len(raw) == len(text):
        return 2 * len(text) - len(raw.translate(None, _EXTENSION_LATIN1))
    return len(text) + len(EXTENSION_RE.findall(text))


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the default alphabet or its extension."""
    return not foreign_chars(text)


def encode(text: str) -> bytes:
    """Unpacked septets for ``text`` (one per octet, 0x1B before extension characters).

    Raises ``ValueError`` naming the first character outside GSM-7: callers decide the encoding
    first, so reaching this with a foreign character is a programming error.
    """
    bad = NON_GSM_RE.search(text)
    if bad is not None:
        raise ValueError(f"character {bad.group()!r} is not in the GSM-7 alphabet")
    return text.translate(_TO_SEPTETS).encode("latin-1")


def decode(data: bytes) -> str:
    """Text from unpacked septets, as an SMSC delivers GSM-7 in ``short_message``.

    Follows TS 23.038 §6.2.1.1 for the odd cases: an escape before a code the extension table
    does not define shows the default-alphabet character, a doubled or trailing escape shows a
    space. Octets with the high bit set are not septets: ``ValueError``.
    """
    if not data.isascii():
        raise ValueError("GSM-7 unpacked data holds an octet above 0x7F")
    text = data.decode("latin-1").translate(_FROM_BASIC)
    if "\x1b" in text:
        text = _ESCAPED_RE.sub(_unescape, text)
    return text


def _unescape(match: re.Match[str]) -> str:
    follower = match.group(1)
    if not follower or follower == "\x1b":
        return " "
    return _EXTENSION_AFTER_BASIC.get(follower, follower)
