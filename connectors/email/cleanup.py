"""Reduce an email body to what its author typed: no quoted replies, signatures or footers.

Every character left becomes a billed SMS character, so the rules cut generously: everything
after a reply header ("On … wrote:", "Le … a écrit :", Outlook's "-----Original Message-----"
or "De : … Envoyé : …" block), after a signature delimiter (``-- ``) or a mobile client's
signature ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook for Android"…), after
the sender's cut marker (``#END``) and after a configured disclaimer is dropped; ``>`` quoted
lines are dropped wherever they are; whitespace is collapsed to single spaces and single line
breaks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_REPLY_HEADERS = (
    re.compile(r"^\s*On\b.{0,300}\bwrote\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Le\b.{0,300}\ba [ée]crit\s*:\s*$", re.IGNORECASE),
    re.compile(
        r"^\s*-{2,}\s*(original message|message d'origine|forwarded message|"
        r"message transf[ée]r[ée]|mensaje original)\s*-{2,}",
        re.IGNORECASE,
    ),
)
_HEADER_FROM = re.compile(r"^\s*\**\s*(from|de)\s*\**\s*:", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\**\s*(sent|date|envoy[ée]|to|[àa]|subject|objet|cc)\s*\**\s*:", re.IGNORECASE
)
_OUTLOOK_RULE = re.compile(r"^\s*_{8,}\s*$")
_SIGNATURES = (
    re.compile(r"^--\s*$"),
    re.compile(
        r"^\s*(sent from my|sent from (outlook|mail|yahoo|gmail)|sent with (proton|spark)|"
        r"get outlook for|envoy[ée] (de|depuis) (mon|ma|l'application|outlook|mail|yahoo|gmail)|"
        r"obtenir outlook pour|t[ée]l[ée]charger outlook pour)\b",
        re.IGNORECASE,
    ),
)
_INLINE_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


def clean_body(
    text: str, cut_markers: Sequence[str] = (), disclaimers: Sequence[re.Pattern[str]] = ()
) -> str:
    """The author's own text of a body, whitespace collapsed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = _cut_at_markers(text, cut_markers)
    lines = text.split("\n")
    lines = lines[: _reply_start(lines)]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    lines = lines[: _signature_start(lines)]
    return collapse_whitespace(_cut_at_disclaimer("\n".join(lines), disclaimers))


def collapse_whitespace(text: str) -> str:
    """Single spaces inside lines, no blank lines, no space at either end of a line."""
    lines = (_INLINE_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _cut_at_markers(text: str, markers: Sequence[str]) -> str:
    positions = [text.find(marker) for marker in markers if marker]
    found = [position for position in positions if position >= 0]
    return text[: min(found)] if found else text


def _reply_start(lines: list[str]) -> int:
    """Index of the first line of the quoted previous message, or ``len(lines)``."""
    for index, line in enumerate(lines):
        if _is_reply_header(line, lines[index + 1 : index + 3]):
            return index
    return len(lines)


def _is_reply_header(line: str, following: list[str]) -> bool:
    # Clients wrap long "On <date>, <name> <address> wrote:" lines; try the line joined with
    # the next one or two, but only when the line itself starts like a reply header.
    candidates = [line]
    if re.match(r"^\s*(on|le)\b", line, re.IGNORECASE):
        candidates += [" ".join([line, *following[:1]]), " ".join([line, *following[:2]])]
    if any(pattern.match(text) for pattern in _REPLY_HEADERS for text in candidates):
        return True
    if _HEADER_FROM.match(line):
        return any(_HEADER_NEXT.match(next_line) for next_line in following)
    if _OUTLOOK_RULE.match(line):
        return any(_HEADER_FROM.match(next_line) for next_line in following if next_line.strip())
    return False


def _signature_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if any(pattern.match(line) for pattern in _SIGNATURES):
            return index
    return len(lines)


def _cut_at_disclaimer(text: str, disclaimers: Sequence[re.Pattern[str]]) -> str:
    starts = [match.start() for pattern in disclaimers if (match := pattern.search(text))]
    return text[: min(starts)] if starts else text


def compile_disclaimers(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Compile configured disclaimer patterns (multiline: ``^`` is a line start)."""
    return tuple(re.compile(pattern, re.MULTILINE) for pattern in patterns)
