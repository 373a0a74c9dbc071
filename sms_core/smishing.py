"""Anti-smishing: links in a text that point to a denied domain or one of its subdomains.

Platforms check the URLs of outgoing texts against deny lists (003 §6). Links are found loosely —
with or without a scheme, ``www.`` or a bare ``domain.tld/path`` — because a miss costs more than a
false candidate: only candidates whose host is on the list are reported. Hosts are compared after
IDNA encoding and lower-casing, and the host is the real one (``https://bank.fr@evil.example/`` is
``evil.example``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_CANDIDATE = re.compile(
    r"""(?:https?://|www\.)[^\s<>"']+             # explicit links
      | (?<![@\w.-])(?:[\w-]+\.)+[^\W\d_]{2,63}\b(?:[/:?#][^\s<>"']*)?   # bare domain.tld/path
    """,
    re.VERBOSE | re.IGNORECASE,
)
_TRAILING_PUNCTUATION = ".,;:!?)]}»"


def normalise_host(host: str) -> str:
    """Lower-case ASCII (IDNA) form of a host name, without a trailing dot."""
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def find_denied_urls(text: str, denied_domains: Iterable[str]) -> list[str]:
    """The links in ``text`` whose host is a denied domain or a subdomain of one, in order."""
    denied = {normalise_host(domain) for domain in denied_domains if domain.strip()}
    if not denied or not text:
        return []
    found: list[str] = []
    for match in _CANDIDATE.finditer(text):
        link = match.group(0).rstrip(_TRAILING_PUNCTUATION)
        host = host_of(link)
        if host and _is_denied(host, denied):
            found.append(link)
    return found


def host_of(link: str) -> str | None:
    """The host a link really points to, normalised; None when it has none."""
    with_scheme = link if re.match(r"(?i)https?://", link) else f"http://{link}"
    try:
        host = urlsplit(with_scheme).hostname
    except ValueError:
        return None
    return normalise_host(host) if host else None


def _is_denied(host: str, denied: set[str]) -> bool:
    labels = host.split(".")
    return any(".".join(labels[i:]) in denied for i in range(len(labels)))
