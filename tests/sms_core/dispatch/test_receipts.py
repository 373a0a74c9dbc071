"""Delivery receipt parsing and operator id matching, table-driven with real-world receipts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import smpp34

from sms_core.dispatch import receipts
from sms_core.dispatch.receipts import (
    map_stat,
    normalize_operator_id,
    parse_receipt_date,
    parse_receipt_text,
    report_from_deliver_sm,
)


@pytest.mark.parametrize(
    ("raw", "id_format", "canonical"),
    [
        ("1A2B", "auto", "6699"),
        ("1a2b", "auto", "6699"),
        ("0x1A2B", "auto", "6699"),
        ("6699", "auto", "6699"),
        ("006699", "auto", "6699"),
        ("00001A2B", "hex", "6699"),
        ("6699", "dec", "6699"),
        ("1234", "hex", "4660"),  # all digits, but the route says hex
        (" 1A2B\x00", "hex", "6699"),
        ("b3c5f0e2-7d1a-4c2e-9f1b-2a3c4d5e6f70", "auto", "b3c5f0e2-7d1a-4c2e-9f1b-2a3c4d5e6f70"),
        ("MSG-00042", "auto", "msg-00042"),
        ("ABC", "text", "abc"),
        ("XYZ", "hex", "xyz"),  # not hex after all: kept as text rather than lost
    ],
)
def test_normalize_operator_id(raw: str, id_format: receipts.IdFormat, canonical: str) -> None:
    assert normalize_operator_id(raw, id_format) == canonical


def test_hex_submit_id_and_decimal_receipt_id_meet() -> None:
    assert normalize_operator_id("1A2B", "hex") == normalize_operator_id("6699", "dec")


def test_empty_id_is_refused() -> None:
    with pytest.raises(ValueError):
        normalize_operator_id(" \x00")


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", "delivered"),
        ("delivrd", "delivered"),
        ("DELIVERED", "delivered"),
        ("UNDELIV", "undeliverable"),
        ("UNDELIVERABLE", "undeliverable"),
        ("EXPIRED", "expired"),
        ("REJECTD", "rejected"),
        ("DELETED", "undeliverable"),
        ("UNKNOWN", "unknown"),
        ("ACCEPTD", "accepted"),
        ("ENROUTE", "enroute"),
        ("garbage", "unknown"),
    ],
)
def test_map_stat(stat: str, state: str) -> None:
    assert map_stat(stat) == state


RECEIPTS = [
    # (text, fields expected: id, stat, err, submit_date, done_date)
    (
        "id:0123456789 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
        "stat:DELIVRD err:000 text:Votre RDV demain",
        ("0123456789", "DELIVRD", "000", "2401151230", "2401151231"),
    ),
    (
        "id:6699 sub:001 dlvrd:000 submit date:240115123005 done date:240115123110 "
        "stat:UNDELIV err:001 text:",
        ("6699", "UNDELIV", "001", "240115123005", "240115123110"),
    ),
    (
        "ID:AB12CD SUB:001 DLVRD:001 SUBMIT DATE:2401151230 DONE DATE:2401151231 STAT:DELIVRD "
        "ERR:000 TEXT:Hi",
        ("AB12CD", "DELIVRD", "000", "2401151230", "2401151231"),
    ),
    (
        "id:77 submit_date:2401151230 done_date:2401151231 stat:EXPIRED err:0",
        ("77", "EXPIRED", "0", "2401151230", "2401151231"),
    ),
    ("id:42 stat:REJECTD", ("42", "REJECTD", None, None, None)),
    (
        "stat:DELIVRD id:99 err:000 text:id:1 stat:UNDELIV",  # text may contain labels
        ("99", "DELIVRD", "000", None, None),
    ),
]


@pytest.mark.parametrize(("text", "expected"), RECEIPTS)
def test_parse_receipt_text(text: str, expected: tuple[str | None, ...]) -> None:
    fields = parse_receipt_text(text)
    assert (fields.id, fields.stat, fields.err, fields.submit_date, fields.done_date) == expected


@pytest.mark.parametrize(
    ("value", "when"),
    [
        ("2401151230", datetime(2024, 1, 15, 12, 30, tzinfo=UTC)),
        ("240115123005", datetime(2024, 1, 15, 12, 30, 5, tzinfo=UTC)),
        ("20240115123005", datetime(2024, 1, 15, 12, 30, 5, tzinfo=UTC)),
        ("2413991230", None),
        ("12", None),
        (None, None),
    ],
)
def test_parse_receipt_date(value: str | None, when: datetime | None) -> None:
    assert parse_receipt_date(value) == when


def test_report_from_text_only() -> None:
    report = report_from_deliver_sm(
        b"id:6699 sub:001 dlvrd:000 submit date:2401151230 done date:2401151231 stat:UNDELIV "
        b"err:001 text:hello",
        {},
        receipt_id_format="dec",
    )
    assert report is not None
    assert report.operator_id == "6699"
    assert report.state == "undeliverable"
    assert report.error == "001"
    assert report.final
    assert report.done_at == datetime(2024, 1, 15, 12, 31, tzinfo=UTC)


def test_tlvs_win_over_text() -> None:
    report = report_from_deliver_sm(
        b"id:1 stat:UNDELIV err:000",
        {receipts.TLV_RECEIPTED_MESSAGE_ID: b"1A2B\x00", receipts.TLV_MESSAGE_STATE: b"\x02"},
        submit_id_format="hex",
        receipt_id_format="dec",
    )
    assert report is not None
    assert (report.operator_id, report.state, report.error) == ("6699", "delivered", None)


@pytest.mark.parametrize(("value", "state"), list(receipts.MESSAGE_STATES.items()))
def test_message_state_tlv(value: int, state: str) -> None:
    report = report_from_deliver_sm(
        b"", {receipts.TLV_RECEIPTED_MESSAGE_ID: b"10", 0x0427: bytes([value])}
    )
    assert report is not None and report.state == state


def test_network_error_code_when_err_is_zero() -> None:
    report = report_from_deliver_sm(
        b"id:5 stat:UNDELIV err:000", {receipts.TLV_NETWORK_ERROR_CODE: b"\x03\x00\x1b"}
    )
    assert report is not None and report.error == "network:3:27"


def test_receipt_without_any_id_is_none() -> None:
    assert report_from_deliver_sm(b"stat:DELIVRD err:000", {}) is None


def test_tlv_tags_match_the_library() -> None:
    library = smpp34._smpp34  # the typed home of the constants smpp34 re-exports
    assert receipts.TLV_RECEIPTED_MESSAGE_ID == library.TLV_RECEIPTED_MESSAGE_ID
    assert receipts.TLV_MESSAGE_STATE == library.TLV_MESSAGE_STATE
    assert receipts.TLV_NETWORK_ERROR_CODE == library.TLV_NETWORK_ERROR_CODE


@pytest.mark.parametrize(
    ("esm_class", "tlvs", "expected"),
    [
        (0x04, {}, True),
        (0x20, {}, True),
        (0x00, {}, False),
        (0x40, {}, False),
        (0x00, {receipts.TLV_RECEIPTED_MESSAGE_ID: b"1"}, True),
    ],
)
def test_is_receipt(esm_class: int, tlvs: dict[int, bytes], expected: bool) -> None:
    assert receipts.is_receipt(esm_class, tlvs) is expected


@pytest.mark.parametrize(
    ("text", "submit_date", "done_date"),
    [
        ("id:1 submitdate:2611211030 donedate:261121103059 stat:DELIVRD", "2611211030",
         "261121103059"),
        ("id:1 SUBMIT_DATE:20261121103000 Done Date:2611211031 stat:DELIVRD", "20261121103000",
         "2611211031"),
    ],
)
def test_date_labels_are_read_with_or_without_a_separator(
    text: str, submit_date: str, done_date: str
) -> None:
    fields = parse_receipt_text(text)
    assert (fields.submit_date, fields.done_date, fields.stat) == (submit_date, done_date,
                                                                   "DELIVRD")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2611211030", datetime(2026, 11, 21, 10, 30, tzinfo=UTC)),
        ("261121103059", datetime(2026, 11, 21, 10, 30, 59, tzinfo=UTC)),
        ("20261121103059", datetime(2026, 11, 21, 10, 30, 59, tzinfo=UTC)),
        ("991231235959", datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("26-11-21 10:30", datetime(2026, 11, 21, 10, 30, tzinfo=UTC)),
        ("261321103059", None),  # month 13
        ("2611211030599", None),  # 13 digits
        ("", None),
        ("²⁶¹¹²¹¹⁰³⁰", None),  # digits, but not ASCII ones
    ],
)
def test_receipt_dates(value: str, expected: datetime | None) -> None:
    assert parse_receipt_date(value) == expected
