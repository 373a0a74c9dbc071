"""Settings of the email-to-SMS connector: the receiver's, the outbound relay's and an account's.

The hub builds :class:`EmailSettings` from its ``SMSHUB_EMAIL_`` namespace and
:class:`RelaySettings` from ``SMSHUB_EMAIL_RELAY_``; :class:`EmailAccount` comes from the
directory (one per hub account that enabled email to SMS). All three are frozen: a running
receiver never sees its configuration change under its feet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from connectors.base import Category

_T = TypeVar("_T")

SubjectMode = Literal["ignore", "prepend", "fallback", "text"]
"""How the subject takes part in the SMS text.

``ignore``: never; ``prepend``: subject, a line break, then the body; ``fallback``: the subject
only when the body is empty after cleaning; ``text``: always the subject alone.
"""

DEFAULT_DISCLAIMERS: tuple[str, ...] = (
    r"(?i)^\s*(this|the information in this) (e-?mail|message)( and any attachments?)?"
    r" (is|are|contains?|may contain) (strictly )?(confidential|privileged)",
    r"(?i)^\s*ce (message|courriel|mail|e-?mail)( et toutes les pièces jointes)?"
    r" (est|sont|peut contenir|contient)[^\n]*(confidenti|privil)",
    r"(?i)^\s*(please consider the environment|pensez à l'environnement|avant d'imprimer)",
)
"""Starts of common confidentiality / environment footers; a match cuts the text from there."""


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """The receiver: which domain it answers for, its limits and how it cleans text."""

    domain: str = "sms.localhost"
    """Recipients must be ``<number>[.<secret>]@<domain>``; other domains are refused (no relay)."""

    hostname: str | None = None
    """Name announced in the SMTP greeting; the machine's FQDN when unset."""

    default_region: str = "FR"
    """Region used to read national numbers (``0612345678``) when the account sets none."""

    max_recipients: int = 20
    """RCPT commands accepted per email; the next one gets ``452 4.5.3``."""

    max_message_size: int = 2 * 1024 * 1024
    """Bytes of DATA accepted (announced as SIZE); beyond, ``552``."""

    rate_burst: int = 30
    """Emails a sender (and an account) may send in a burst before being slowed down."""

    rate_per_minute: float = 30.0
    """Sustained emails per minute per sender and per account (token bucket refill)."""

    tls_cert_file: str | None = None
    """PEM certificate enabling STARTTLS; with ``tls_key_file``."""

    tls_key_file: str | None = None

    auth_require_tls: bool = True
    """SMTP AUTH only after STARTTLS, so that passwords never cross the network in clear."""

    allow_insecure_auth_on_loopback: bool = False
    """Development/tests: allow AUTH without TLS when the client connects from loopback."""

    require_from_header_match: bool = True
    """The ``From:`` header must also be an authorised sender of the same account (DATA time)."""

    subject_mode: SubjectMode = "fallback"
    subject_separator: str = "\n"

    cut_markers: tuple[str, ...] = ("#END",)
    """A line starting with one of these ends the text (the sender's explicit cut)."""

    disclaimer_patterns: tuple[str, ...] = DEFAULT_DISCLAIMERS
    """Regular expressions (multiline); the text is cut where the first one matches."""

    category: Category = "alert"
    """Category of SMS made from emails, unless the account says otherwise."""

    feedback_refusals: bool = True
    """Email the (authorised) sender why recipients were refused after the email was accepted."""

    feedback_from: str | None = None
    """From address of notices; ``postmaster@<domain>`` when unset."""

    @classmethod
    def from_namespace(cls, values: Mapping[str, str]) -> EmailSettings:
        """From the hub's ``SMSHUB_EMAIL_*`` namespace (``relay_*`` keys are the relay's)."""
        return _build(cls, {k: v for k, v in values.items() if not k.startswith("relay_")})


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """The outbound SMTP relay that carries notices back to senders."""

    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    """Issue STARTTLS before anything else (required by most submission relays on 587)."""
    use_ssl: bool = False
    """Implicit TLS (port 465)."""
    timeout: float = 10.0

    @classmethod
    def from_namespace(cls, values: Mapping[str, str]) -> RelaySettings | None:
        """From ``SMSHUB_EMAIL_RELAY_*``; None (no notices) when ``relay_host`` is not set."""
        relay = {k[len("relay_") :]: v for k, v in values.items() if k.startswith("relay_")}
        return _build(cls, relay) if relay.get("host") else None


@dataclass(frozen=True, slots=True)
class EmailAccount:
    """What the receiver needs to know about one hub account.

    ``senders`` holds addresses (``alice@garage-martin.fr``) and whole domains
    (``*@garage-martin.fr``). ``secret`` is the token a sender may put in the recipient address
    (``0612345678.<secret>@domain``) instead of authenticating.
    """

    account: str
    senders: tuple[str, ...] = ()
    secret: str | None = None
    sender_id: str | None = None
    category: Category | None = None
    region: str | None = None
    transliterate: bool = False
    max_parts: int = 3
    truncate: bool = False
    """Cut over-long texts to the part cap (with an ellipsis) instead of refusing them."""
    summary: bool = False
    """Email the sender a summary of what was accepted for every email."""
    forward_replies: bool = False
    """Forward SMS replies (MO) to the mailbox that sent the original email."""
    delivery_notices: bool = False
    """Email the sender when one of its SMS finally fails (undeliverable, expired, failed)."""


def _build(cls: type[_T], values: Mapping[str, str]) -> _T:
    """A settings dataclass from text values, converted by field type; typos are errors."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings: {', '.join(sorted(unknown))}")
    return cls(**{name: _convert(name, hints[name], raw) for name, raw in values.items()})


def _convert(name: str, kind: Any, raw: str) -> Any:
    """Text → the field's type. Tuples are one item per line, or comma separated on one line."""
    options = get_args(kind)
    if get_origin(kind) is Literal:
        if raw not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}, not {raw!r}")
        return raw
    if type(None) in options:  # Optional[X]: empty text means None
        inner = next(option for option in options if option is not type(None))
        return None if raw == "" else _convert(name, inner, raw)
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind in (int, float):
        return kind(raw)
    if get_origin(kind) is tuple:
        items = raw.splitlines() if "\n" in raw else raw.split(",")
        return tuple(item.strip() for item in items if item.strip())
    return raw
