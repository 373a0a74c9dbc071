"""MIME → the clean text of the SMS.

Emails arrive in every state: wrong or unknown charsets, HTML only, attachments, broken MIME.
Parsing uses the ``compat32`` policy, which records defects instead of raising, and every
decoding step falls back (ultimately to replacement characters) so that no email can crash the
receiver. The text/plain alternative is preferred; HTML is converted by :mod:`.markup`;
attachments and forwarded ``message/*`` parts are never read. The body is then cleaned by
:mod:`.cleanup` and combined with the subject as :class:`ContentOptions` says.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32

from connectors.email.cleanup import clean_body, collapse_whitespace, compile_disclaimers
from connectors.email.markup import html_to_text
from connectors.email.settings import EmailSettings, SubjectMode

_SUPERSETS = {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252", "iso8859-9": "cp1254"}
"""Charsets that senders declare while writing their Windows superset (as browsers assume):
``“quotes”`` from Outlook labelled iso-8859-1 are really windows-1252 bytes 0x93/0x94."""

_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|tr|réf|ref|aw|wg)\s*(\[\d+\])?\s*:\s*)+", re.I)


@dataclass(frozen=True, slots=True)
class ContentOptions:
    """How a body becomes text; built once from :class:`EmailSettings`."""

    subject_mode: SubjectMode = "fallback"
    subject_separator: str = "\n"
    cut_markers: tuple[str, ...] = ("#END",)
    disclaimers: tuple[re.Pattern[str], ...] = field(default=())

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> ContentOptions:
        return cls(
            subject_mode=settings.subject_mode,
            subject_separator=settings.subject_separator,
            cut_markers=settings.cut_markers,
            disclaimers=compile_disclaimers(settings.disclaimer_patterns),
        )


def parse_message(data: bytes) -> Message:
    """Parse raw DATA without ever raising: defects are recorded on the message."""
    return message_from_bytes(data, policy=compat32)


def header_text(message: Message, name: str) -> str:
    """A header decoded from RFC 2047 words; undecodable words are kept as they came."""
    raw = message.get(name)
    if raw is None:
        return ""
    raw = str(raw)
    try:
        decoded = str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, HeaderParseError):
        decoded = raw
    return collapse_whitespace(decoded.replace("\n", " ").replace("\r", " "))


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode a body in its declared charset, guessing sensibly when it lies or is unknown."""
    codec = _codec(charset)
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        pass
    if codec == "utf-8":
        return _utf8_or_cp1252(data)
    try:
        return data.decode(codec, errors="replace")
    except LookupError:  # a bytes-to-bytes codec such as "base64" declared as a charset
        return data.decode("utf-8", errors="replace")


def _utf8_or_cp1252(data: bytes) -> str:
    """Bytes that are not valid UTF-8: damaged UTF-8 if any multi-byte sequence decoded, else
    the Windows Western text that undeclared 8-bit email nearly always is."""
    damaged = data.decode("utf-8", errors="replace")
    if any(ord(char) > 0x7F and char != "\ufffd" for char in damaged):
        return damaged
    return data.decode("cp1252", errors="replace")


def _codec(charset: str | None) -> str:
    if not charset:
        return "utf-8"
    try:
        name = codecs.lookup(charset.strip().strip('"')).name
    except (LookupError, ValueError):
        return "utf-8"
    return _SUPERSETS.get(name, name)


def _leaf_parts(message: Message) -> Iterator[Message]:
    """Inline leaf parts in order, never descending into attached or forwarded messages."""
    if message.is_multipart():
        for part in message.get_payload():
            if isinstance(part, Message) and part.get_content_maintype() != "message":
                yield from _leaf_parts(part)
    else:
        yield message


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or part.get_filename() is not None


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def body_text(message: Message) -> str:
    """The body as plain text: the first inline text/plain part, else the first HTML one."""
    parts = [p for p in _leaf_parts(message) if not _is_attachment(p)]
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.get_content_type() == wanted:
                text = _part_text(part)
                return html_to_text(text) if wanted == "text/html" else text
    if not message.is_multipart() and message.get_content_maintype() == "multipart":
        return _part_text(message)  # e.g. a multipart without boundary: read it as text
    return ""


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (``Re:``, ``TR:``, ``Fwd:``...)."""
    return _REPLY_PREFIX.sub("", subject).strip()


def compose(subject: str, body: str, options: ContentOptions) -> str:
    """Combine subject and cleaned body according to the subject mode."""
    subject = clean_subject(subject)
    mode = options.subject_mode
    if mode == "text" or (mode == "fallback" and not body):
        return subject
    if mode == "prepend" and subject:
        return f"{subject}{options.subject_separator}{body}" if body else subject
    return body


def message_text(message: Message, options: ContentOptions) -> str:
    """The SMS text an email asks for (may be empty: the caller refuses it)."""
    body = clean_body(body_text(message), options.cut_markers, options.disclaimers)
    return compose(header_text(message, "Subject"), body, options).strip()
