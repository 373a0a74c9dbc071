"""SMPP 3.4 on the wire: framing, headers, and the PDUs both ends of a session exchange.

The message PDUs (submit_sm, deliver_sm, with their TLVs) are encoded and decoded by smpp34's
Rust codec; the session PDUs that are rare (the binds) by smpplib's codec. What is left here is
the 16-octet header every PDU starts with (SMPP 3.4 §3.2), the responses that carry nothing but
a header and an optional C-octet string (submit_sm_resp, deliver_sm_resp, enquire_link_resp,
unbind_resp, generic_nack), and a framer that cuts a byte stream into PDUs.

:mod:`sms_core.dispatch.smpp_session` (the ESME side) and :mod:`sms_core.dispatch.smsc_session`
(the SMSC side, for the simulator) both speak through this module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import smpp34
from smpplib import smpp as smpplib_smpp

from sms_core.dispatch.status import ESME_ROK

HEADER = struct.Struct(">IIII")
"""command_length, command_id, command_status, sequence_number."""
HEADER_SIZE = HEADER.size
MAX_PDU = 64 * 1024
"""Longest PDU accepted; anything longer is a broken or hostile peer."""
MAX_SEQUENCE = 0x7FFFFFFF

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
RESPONSE_BIT = 0x80000000


BindType = Literal["TRX", "TX", "RX"]
BIND_COMMANDS: dict[BindType, int] = {
    "TRX": BIND_TRANSCEIVER,
    "TX": BIND_TRANSMITTER,
    "RX": BIND_RECEIVER,
}
BIND_NAMES = {
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_RECEIVER: "bind_receiver",
}
BIND_TYPES: dict[int, BindType] = {command: kind for kind, command in BIND_COMMANDS.items()}


class WireError(Exception):
    """The peer sent bytes that are not SMPP; the connection cannot go on."""


@dataclass(frozen=True)
class Bind:
    """The fields of a bind_* request that an SMSC checks."""

    command_id: int
    sequence: int
    system_id: str
    password: str
    system_type: str

    @property
    def bind_type(self) -> BindType:
        return BIND_TYPES[self.command_id]


class Framer:
    """Cuts a TCP byte stream into whole PDUs (length-prefixed framing, SMPP 3.4 §3.2)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The PDUs completed by ``data``; a partial PDU stays buffered for the next call."""
        buffer = self._buffer
        buffer += data
        pdus: list[bytes] = []
        start, size = 0, len(buffer)
        while size - start >= 4:
            (length,) = struct.unpack_from(">I", buffer, start)
            if not HEADER_SIZE <= length <= MAX_PDU:
                raise WireError(f"PDU length {length} is not SMPP")
            if size - start < length:
                break
            pdus.append(bytes(buffer[start : start + length]))
            start += length
        if start:
            del buffer[:start]
        return pdus


def next_sequence(previous: int) -> int:
    """The sequence number after ``previous``: 1 to 0x7FFFFFFF, then 1 again (SMPP 3.4 §3.2)."""
    return previous % MAX_SEQUENCE + 1


def header(pdu: bytes) -> tuple[int, int, int]:
    """(command_id, command_status, sequence_number) of a whole PDU."""
    _, command_id, command_status, sequence = HEADER.unpack_from(pdu)
    return command_id, command_status, sequence


def encode_header(command_id: int, sequence: int, status: int = ESME_ROK) -> bytes:
    """A PDU without a body: enquire_link(_resp), unbind(_resp), generic_nack."""
    return HEADER.pack(HEADER_SIZE, command_id, status, sequence)


def encode_resp(command_id: int, sequence: int, status: int = ESME_ROK,
                message_id: str | None = "") -> bytes:  # fmt: skip
    """submit_sm_resp / deliver_sm_resp / bind_*_resp: the header and one C-octet string.

    A response with an error status carries no body (SMPP 3.4 §4.4.2), so ``message_id`` is
    left out then, as it is when it is None.
    """
    if status != ESME_ROK or message_id is None:
        return encode_header(command_id, sequence, status)
    body = message_id.encode("latin-1") + b"\0"
    return HEADER.pack(HEADER_SIZE + len(body), command_id, status, sequence) + body


def resp_message_id(pdu: bytes) -> str | None:
    """The message_id of a submit_sm_resp: its C-octet string body (None when empty)."""
    if len(pdu) <= HEADER_SIZE:
        return None
    body = pdu[HEADER_SIZE:]
    end = body.find(b"\0")
    return (body if end < 0 else body[:end]).decode("latin-1")


class _Sequence:
    """smpplib's PDU classes draw a sequence number from a client; ours is set afterwards."""

    sequence = 0

    def next_sequence(self) -> int:
        return 1


_SMPPLIB = _Sequence()


def encode_bind(bind_type: BindType, sequence: int, system_id: str, password: str,
                system_type: str = "", addr_ton: int = 0, addr_npi: int = 0,
                address_range: str = "") -> bytes:  # fmt: skip
    """A bind_transceiver / bind_transmitter / bind_receiver for interface version 3.4."""
    pdu = smpplib_smpp.make_pdu(
        BIND_NAMES[BIND_COMMANDS[bind_type]], client=_SMPPLIB, system_id=system_id,
        password=password, system_type=system_type, interface_version=0x34,
        addr_ton=addr_ton, addr_npi=addr_npi, address_range=address_range,
    )  # fmt: skip
    pdu.sequence = sequence
    return bytes(pdu.generate())


def decode_bind(pdu: bytes) -> Bind:
    """The credentials of a bind_* PDU; WireError when it is not one or is malformed."""
    command_id, _, sequence = header(pdu)
    if command_id not in BIND_NAMES:
        raise WireError(f"command 0x{command_id:08X} is not a bind")
    try:
        parsed = smpplib_smpp.parse_pdu(pdu, client=_SMPPLIB)
    except Exception as exc:  # smpplib raises its own and struct errors on short bodies
        raise WireError(f"malformed bind: {exc}") from exc
    return Bind(
        command_id, sequence,
        (parsed.system_id or b"").decode("latin-1"),
        (parsed.password or b"").decode("latin-1"),
        (parsed.system_type or b"").decode("latin-1"),
    )  # fmt: skip


def decode_message(pdu: bytes) -> smpp34.SubmitSm | smpp34.DeliverSm:
    """A submit_sm or deliver_sm, decoded by smpp34; WireError when malformed."""
    try:
        decoded = smpp34.decode(pdu)
    except smpp34.SmppError as exc:
        raise WireError(str(exc)) from exc
    if not isinstance(decoded, smpp34.SubmitSm | smpp34.DeliverSm):
        raise WireError(f"command 0x{header(pdu)[0]:08X} is not submit_sm or deliver_sm")
    return decoded
