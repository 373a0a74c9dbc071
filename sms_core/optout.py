"""Opt-out: STOP mentions in outgoing marketing texts and STOP/START keywords in replies.

Outgoing: a marketing text must tell the recipient how to unsubscribe (000 §6.9, 002 special
terms §4, 003 §6). :func:`ensure_stop_mention` appends the route's wording when the text has none
and reports how many characters that added, because they are billed.

Incoming: a reply that is exactly one opt-out keyword (case, accents, surrounding spaces and
punctuation ignored) puts the number on the account's opt-out list; an opt-in keyword takes it off.
Like Twilio, only the bare keyword counts: "stop sending me things" is a conversation, not an
opt-out.

``YES`` is deliberately *not* an opt-in keyword here, although CTIA/Twilio list it: this hub's
connectors ask questions such as "reply YES to confirm your appointment", and a confirmation must
never re-subscribe someone who opted out. Re-subscribing takes ``START`` or ``UNSTOP``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

STOP_KEYWORDS = frozenset(
    {
        "STOP", "STOPALL", "STOP ALL", "ARRET", "ARRETER", "ARRETEZ", "UNSUBSCRIBE",
        "DESABONNER", "DESABONNEMENT", "DESINSCRIRE", "DESINSCRIPTION", "END", "QUIT",
        "CANCEL", "OPTOUT", "OPT OUT", "REVOKE",
    }
)  # fmt: skip
"""Opt-out keywords, written without accents in upper case (CTIA/Twilio list + French words)."""

START_KEYWORDS = frozenset({"START", "UNSTOP"})
"""Opt-in keywords (CTIA/Twilio minus ``YES``; see the module docstring)."""

ReplyKind = Literal["stop", "start"]

_EDGE_NOISE = re.compile(r"^[\W_]+|[\W_]+$")
_INNER_GAPS = re.compile(r"[\s\-_.]+")


def fold(text: str) -> str:
    """Upper case without accents (``"Arrêt"`` → ``"ARRET"``), for comparisons only."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.upper()


def classify_reply(
    text: str,
    *,
    stop_words: frozenset[str] = STOP_KEYWORDS,
    start_words: frozenset[str] = START_KEYWORDS,
) -> ReplyKind | None:
    """``"stop"``, ``"start"`` or None for an incoming reply.

    The whole reply must be one keyword; ``" STOP. "``, ``"Arrêt!"`` and ``"stop-all"`` count,
    ``"stop please"`` does not.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    word = _INNER_GAPS.sub(" ", _EDGE_NOISE.sub("", fold(text)))
    if word in stop_words:
        return "stop"
    if word in start_words:
        return "start"
    return None


SHORT_CODE_WORDING = "\nSTOP au 36180"
"""Default mention for short-code (premium) routes; the operator's short code receives STOPs."""

_STOP_MENTION = re.compile(
    r"""
    \bSTOP\b (?:\s+SMS)? \s* (?:AU|A|TO|AT|PAR|VIA|SUR|[:=]|->|→)? \s*
        (?: \+?\d[\d\s.]{1,18}\d            # a short code or a number: STOP au 36180
          | HTTPS?://                        # a link: STOP: https://…
          | WWW\.
          | [A-Z0-9-]+(?:\.[A-Z0-9-]+)+/     # a bare short link: STOP: x.co/abc
        )
    | \b(?:REPONDEZ|REPONDRE|REPONDS|ENVOYEZ|ENVOYER|ENVOIE|REPLY|TEXT|SEND)\s+STOP\b
    """,
    re.VERBOSE,
)


def has_stop_mention(text: str) -> bool:
    """True when ``text`` already tells how to opt out.

    Recognised: ``STOP au 36180``, ``STOP SMS au 36105``, ``Stop 36180``, ``STOP: https://…``,
    ``STOP : x.co/s``, ``Répondez STOP``, ``reply STOP`` — in any case, with or without accents.
    """
    return bool(_STOP_MENTION.search(fold(text)))


def short_code_wording(short_code: str = "36180") -> str:
    """``"\\nSTOP au <short code>"``: for routes whose replies reach an operator short code."""
    return f"\nSTOP au {short_code}"


def number_wording(number: str) -> str:
    """``"\\nSTOP SMS au <number>"``: for long-number routes where the sender receives replies."""
    return f"\nSTOP SMS au {number}"


def link_wording(url: str) -> str:
    """``"\\nSTOP: <url>"``: where replies are impossible (many routes outside France, 002 §4)."""
    return f"\nSTOP: {url}"


def ensure_stop_mention(text: str, wording: str = SHORT_CODE_WORDING) -> tuple[str, int]:
    """``(text with an opt-out mention, number of characters added)``.

    The text is returned unchanged, with 0, when it already has a mention. ``wording`` must itself
    be a mention (see :func:`has_stop_mention`), so that applying this twice never adds twice.
    """
    if not has_stop_mention(wording):
        raise ValueError(f"{wording!r} is not a STOP mention")
    if has_stop_mention(text):
        return text, 0
    return text + wording, len(wording)
