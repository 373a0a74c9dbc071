"""HTML bodies → plain text fit for an SMS.

A small :class:`html.parser.HTMLParser` subclass rather than html2text: html2text writes Markdown
(``**bold**``, ``[label](url)``, ``#`` headings, escaped punctuation) and every one of those
characters would be billed in the SMS. Here tags only decide where line breaks go; link targets,
images, scripts, styles and quoted replies (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's
``divRplyFwdMsg``, Yahoo's ``yahoo_quoted``) and marked signatures are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    ]
)
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "blockquote"})
_QUOTE_MARKERS = tuple(
    [
        "gmail_quote",
        "yahoo_quoted",
        "divrplyfwdmsg",
        "moz-cite-prefix",
        "appendonsend",
        "gmail_signature",
        "moz-signature",
    ]
)
_VOID_TAGS = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"]
)
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")


class _TextExtractor(HTMLParser):
    """Collects text; a hidden element's whole subtree is skipped by counting its own tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        if tag not in _VOID_TAGS and (tag in _HIDDEN_TAGS or _is_quote(attrs)):
            self._skip_tag, self._skip_depth = tag, 1
            self.chunks.append("\n")
            return
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag == "li":
            self.chunks.append("- ")
        elif tag == "td" or tag == "th":
            self.chunks.append(" ")
        elif tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is None and tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
                    self.chunks.append("\n")
            return
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag == "pre" and self._pre:
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self.chunks.append(data if self._pre else _SPACES.sub(" ", data))


def _is_quote(attrs: list[tuple[str, str | None]]) -> bool:
    """Whether an element's class or id marks it as the quoted previous message."""
    for name, value in attrs:
        if name in ("class", "id") and value:
            lowered = value.lower()
            if any(marker in lowered for marker in _QUOTE_MARKERS):
                return True
    return False


def html_to_text(html: str) -> str:
    """Visible text of an HTML document, one line per block, without markup of any kind."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is very tolerant
        pass
    lines = (line.strip(" ") for line in "".join(parser.chunks).split("\n"))
    return "\n".join(line for line in lines if line)
