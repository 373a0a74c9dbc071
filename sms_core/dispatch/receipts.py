"""Delivery receipts: parsing the SMPP 3.4 Appendix B text, the TLVs, and matching their ids.

Operators are loose with the receipt text: field names change case (``Stat:``, ``DONE DATE:``),
some use underscores (``submit_date``), fields go missing, dates come with or without seconds.
So the text is read by looking for the known labels wherever they are, and the TLVs
(``receipted_message_id``, ``message_state``), when present, win over the text.

Operator ids are compared in one canonical form, see :func:`normalize_operator_id`. This module
does no I/O so that the HTTP webhook side can reuse it for operators that push DLRs over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final, Literal

from sms_core.dispatch.types import DeliveryReport, ReportState

IdFormat = Literal["auto", "hex", "dec", "text"]
"""How a peer writes its message ids: hexadecimal, decimal, opaque text, or guess ("auto")."""

TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_NETWORK_ERROR_CODE: Final = 0x0423
TLV_MESSAGE_STATE: Final = 0x0427

ESM_CLASS_TYPE_MASK: Final = 0x3C
ESM_CLASS_DELIVERY_RECEIPT: Final = 0x04
ESM_CLASS_INTERMEDIATE_NOTIFICATION: Final = 0x20

MESSAGE_STATES: Final[dict[int, ReportState]] = {
    1: "enroute",
    2: "delivered",
    3: "expired",
    4: "undeliverable",  # DELETED: the SMSC dropped it; it will never arrive
    5: "undeliverable",
    6: "accepted",
    7: "unknown",
    8: "rejected",
}
"""``message_state`` TLV values, SMPP 3.4 §5.2.28."""

STATS: Final[dict[str, ReportState]] = {
    "DELIVRD": "delivered",
    "DELIVERED": "delivered",
    "UNDELIV": "undeliverable",
    "UNDELIVERABLE": "undeliverable",
    "UNDELIVERED": "undeliverable",
    "FAILED": "undeliverable",
    "DELETED": "undeliverable",
    "EXPIRED": "expired",
    "REJECTD": "rejected",
    "REJECTED": "rejected",
    "UNKNOWN": "unknown",
    "ACCEPTD": "accepted",
    "ACCEPTED": "accepted",
    "ENROUTE": "enroute",
}
"""``stat:`` values of the receipt text (SMPP 3.4 Appendix B) and the spellings seen in the wild."""

_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_LABELS: Final = re.compile(
    r"(?<![A-Za-z0-9_])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)


def normalize_operator_id(raw: str, id_format: IdFormat = "auto") -> str:
    """The canonical key of an operator message id.

    Canonical form: a numeric id is its integer value written in decimal without leading zeros
    (``"1A2B"`` read as hex, ``"6699"`` and ``"006699"`` read as decimal all give ``"6699"``);
    any other id is lower-cased. Surrounding blanks and C-string NULs are dropped.

    ``id_format`` says how the peer writes ids. SMSCs commonly answer submit_sm with a hex id and
    write the same id in decimal in the receipt text, so a route sets one format for each side
    and both sides land on the same key. ``"auto"`` reads all-digit ids as decimal, other
    all-hex ids (``"1A2B"``, ``"0x1a2b"``) as hex, and anything else as text; an id that does
    not parse in the stated format falls back to text rather than being lost.
    """
    text = raw.strip().strip("\x00").strip()
    if not text:
        raise ValueError("an empty operator message id cannot be matched")
    base = _base(text, id_format)
    if base is None:
        return text.lower()
    digits = text[2:] if base == 16 and text[:2].lower() == "0x" else text
    try:
        return str(int(digits, base))
    except ValueError:
        return text.lower()


def _base(text: str, id_format: IdFormat) -> int | None:
    if id_format == "hex":
        return 16
    if id_format == "dec":
        return 10
    if id_format == "text":
        return None
    if text.isdigit():
        return 10
    body = text[2:] if text[:2].lower() == "0x" else text
    return 16 if body and set(body) <= _HEX_DIGITS else None


def map_stat(value: str) -> ReportState:
    """Our state for a receipt ``stat:`` value; an unreadable one is "unknown", not an error."""
    key = value.strip().upper()
    if key in STATS:
        return STATS[key]
    return next((state for stat, state in STATS.items() if key.startswith(stat[:5])), "unknown")


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of a receipt text, as written (absent fields are ``None``)."""

    id: str | None = None
    sub: str | None = None
    dlvrd: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    stat: str | None = None
    err: str | None = None
    text: str | None = None


def parse_receipt_text(text: str) -> ReceiptText:
    """Split an Appendix B receipt into its fields, tolerating case, order and missing fields.

    A field runs from its label to the next label; ``text:`` runs to the end. When a label is
    repeated, its first value counts.
    """
    fields: dict[str, str] = {}
    open_name, open_at = "", 0
    for match in _LABELS.finditer(text):
        if open_name:
            fields[open_name] = text[open_at : match.start()].strip()
            open_name = ""
        name = _FIELD_NAMES[match.group(1).lower().replace(" ", "").replace("_", "")]
        if name in fields:
            continue
        if name == "text":
            fields[name] = text[match.end() :].strip()
            break
        open_name, open_at = name, match.end()
    if open_name:
        fields[open_name] = text[open_at:].strip()
    return ReceiptText(**fields)


_FIELD_NAMES: Final = {
    "id": "id", "sub": "sub", "dlvrd": "dlvrd", "submitdate": "submit_date",
    "donedate": "done_date", "stat": "stat", "err": "err", "text": "text",
}  # fmt: skip
_DATE_LENGTHS: Final = frozenset({10, 12, 14})


def parse_receipt_date(value: str | None, tz: tzinfo = UTC) -> datetime | None:
    """``YYMMDDhhmm``, ``YYMMDDhhmmss`` or ``YYYYMMDDhhmmss`` as an aware datetime, else None.

    Separators are ignored (``2026-11-21 10:30``). Two-digit years follow ``strptime``'s
    ``%y``: 69–99 are 19xx, 00–68 are 20xx. Receipts carry no time zone; the route says which
    one its SMSC writes (UTC by default).
    """
    if not value:
        return None
    digits = value if value.isdigit() else "".join(ch for ch in value if ch.isdigit())
    if len(digits) not in _DATE_LENGTHS or not digits.isascii():
        return None
    if len(digits) == 14:
        year, rest = int(digits[:4]), digits[4:]
    else:
        short = int(digits[:2])
        year, rest = (2000 + short if short < 69 else 1900 + short), digits[2:]
    try:
        return datetime(
            year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]),
            int(rest[8:10]) if len(rest) == 10 else 0, tzinfo=tz,
        )  # fmt: skip
    except ValueError:
        return None


def is_receipt(esm_class: int, tlvs: Mapping[int, bytes]) -> bool:
    """Whether a deliver_sm is a delivery receipt rather than a mobile-originated message."""
    kind = esm_class & ESM_CLASS_TYPE_MASK
    return kind != 0 or TLV_RECEIPTED_MESSAGE_ID in tlvs


def report_from_deliver_sm(
    short_message: bytes,
    tlvs: Mapping[int, bytes],
    *,
    submit_id_format: IdFormat = "auto",
    receipt_id_format: IdFormat = "auto",
    tz: tzinfo = UTC,
    route: str = "",
) -> DeliveryReport | None:
    """The delivery report a receipt deliver_sm carries, or None when it names no message.

    ``receipted_message_id`` is written like the submit_sm_resp id (SMPP 3.4 §5.3.2.12), so it
    is read with ``submit_id_format``; the id in the text uses ``receipt_id_format``.
    """
    text = short_message.decode("latin-1")
    fields = parse_receipt_text(text)
    operator_id = _operator_id(fields, tlvs, submit_id_format, receipt_id_format)
    if operator_id is None:
        return None
    return DeliveryReport(
        operator_id=operator_id,
        state=_state(fields, tlvs),
        error=_error(fields, tlvs),
        submitted_at=parse_receipt_date(fields.submit_date, tz),
        done_at=parse_receipt_date(fields.done_date, tz),
        raw=text,
        route=route,
    )


def _operator_id(
    fields: ReceiptText, tlvs: Mapping[int, bytes], submit_fmt: IdFormat, receipt_fmt: IdFormat
) -> str | None:
    tlv = tlvs.get(TLV_RECEIPTED_MESSAGE_ID)
    if tlv is not None and tlv.strip(b"\x00 "):
        return normalize_operator_id(tlv.decode("latin-1"), submit_fmt)
    if fields.id:
        return normalize_operator_id(fields.id.split()[0], receipt_fmt)
    return None


def _state(fields: ReceiptText, tlvs: Mapping[int, bytes]) -> ReportState:
    tlv = tlvs.get(TLV_MESSAGE_STATE)
    if tlv:
        return MESSAGE_STATES.get(int.from_bytes(tlv, "big"), "unknown")
    return map_stat(fields.stat) if fields.stat else "unknown"


def _error(fields: ReceiptText, tlvs: Mapping[int, bytes]) -> str | None:
    err = (fields.err or "").strip()
    if err and err.strip("0"):
        return err
    network = tlvs.get(TLV_NETWORK_ERROR_CODE)
    if network and len(network) == 3 and int.from_bytes(network[1:], "big"):
        return f"network:{network[0]}:{int.from_bytes(network[1:], 'big')}"
    return None
