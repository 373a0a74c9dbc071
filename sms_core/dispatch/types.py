"""Value types shared by every driver, the router and the dispatcher.

They are plain frozen dataclasses so that the hub can build them from database rows and record
them back without knowing anything about SMPP or HTTP. Operator message ids are always stored in
their canonical form (see :func:`sms_core.dispatch.receipts.normalize_operator_id`), so that an
id returned by a submit and the id carried by its delivery report compare equal as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

DATA_CODING_GSM7: Final = 0
"""GSM 03.38 default alphabet, one unpacked septet per octet."""
DATA_CODING_LATIN1: Final = 3
DATA_CODING_UCS2: Final = 8
ESM_CLASS_UDHI: Final = 0x40
"""esm_class bit telling the peer that ``short_message`` starts with a user data header."""

ReportState = Literal[
    "delivered", "undeliverable", "expired", "rejected", "unknown", "accepted", "enroute"
]
REPORT_STATES: Final[frozenset[str]] = frozenset(
    {"delivered", "undeliverable", "expired", "rejected", "unknown", "accepted", "enroute"}
)
FINAL_STATES: Final[frozenset[str]] = frozenset(
    {"delivered", "undeliverable", "expired", "rejected"}
)
"""States after which no further report is expected for an operator id."""

DEFAULT_VALIDITY: Final = timedelta(hours=24)
"""RULES.md § Delivery: no DLR after 24 h means undeliverable, and the operator stops trying."""


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """One message ready for an operator.

    ``parts`` are the exact ``short_message`` octets, UDH included when concatenated, as
    produced by ``sms_core.encoding.encode_parts``. Drivers send them as they are and never
    re-split, so the part count that was priced is the part count that is sent.
    """

    message_id: str
    to: str
    sender: str
    parts: list[bytes]
    data_coding: int = DATA_CODING_GSM7
    esm_class: int = 0
    validity: timedelta = DEFAULT_VALIDITY
    registered_delivery: bool = True
    category: str = "alert"
    country: str | None = None
    operator: str | None = None
    """Destination network when the hub knows it (``sms_core.phone``); routing rules may use it."""

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"message {self.message_id} has no parts to send")


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """What happened to one message at the operator.

    ``ok`` means every part was accepted and ``operator_ids`` holds one canonical id per part,
    in part order. When ``ok`` is false, ``permanent`` tells whether trying again (later, or on
    another route) can help; ``error_code`` is the operator's code (``ESME_RINVDSTADR``,
    ``http_400``...) or one of ours (``operator_unavailable``, ``timeout``).
    ``billed_as`` is the quality the customer pays for: the first route chosen, even when the
    message failed over to a better one (RULES.md: failover to premium at the standard price).
    """

    message_id: str
    ok: bool
    operator_ids: list[str] = field(default_factory=list)
    error_code: str | None = None
    permanent: bool = False
    route: str = ""
    detail: str = ""
    billed_as: str | None = None
    attempts: int = 1
    """submit attempts over all parts and routes; above the part count means a resend happened."""
    resent_after_disconnect: int = 0
    """parts sent again because the bind dropped before their response: possible duplicates."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A delivery receipt (DLR), as parsed from the operator's deliver_sm or webhook."""

    operator_id: str
    state: ReportState
    error: str | None = None
    submitted_at: datetime | None = None
    done_at: datetime | None = None
    raw: str | dict[str, Any] = ""
    route: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A mobile-originated message (a reply such as STOP), reassembled when it came in parts."""

    sender: str
    recipient: str
    text: str
    received_at: datetime
    operator_id: str | None = None
    route: str = ""
