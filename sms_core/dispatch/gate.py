"""The TCP front of the SMSC simulator: bind credentials, a wire tap and abrupt disconnects.

smpp34's Python ``Server`` accepts every bind and can only close a session politely (unbind),
but the simulator must refuse a wrong password and must be able to cut a connection in the
middle of a window the way a failing network does. So the simulator's public port is this small
asyncio proxy in front of an smpp34 ``Server`` on a private loopback port: it reads the bind
PDU (decoded and answered with smpplib's codec, never by hand), then forwards bytes both ways
PDU by PDU, keeping a decoded copy of every submit_sm for tests that look at the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import smpp34
from smpplib import consts as smpplib_consts
from smpplib import smpp as smpplib_smpp

BIND_COMMANDS = {"bind_transmitter", "bind_receiver", "bind_transceiver"}
SUBMIT_SM_ID = 0x00000004
MAX_PDU = 64 * 1024


class _Sequence:
    """smpplib's PDU classes draw sequence numbers from a client; the gate only answers."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


_SEQUENCE = _Sequence()


async def read_pdu(reader: asyncio.StreamReader) -> bytes:
    """One complete PDU (length-prefixed framing, SMPP 3.4 §3.2)."""
    head = await reader.readexactly(4)
    (length,) = struct.unpack(">L", head)
    if not 16 <= length <= MAX_PDU:
        raise ConnectionError(f"PDU length {length} is not SMPP")
    return head + await reader.readexactly(length - 4)


@dataclass
class Credentials:
    system_id: str
    password: str


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()


@dataclass
class Gate:
    """Listens on the public port and forwards checked sessions to ``upstream_port``."""

    host: str
    port: int
    upstream_port: int
    credentials: Credentials | None
    on_submit_pdu: Callable[[smpp34.SubmitSm], None] | None = None
    refusals: int = 0
    _links: set[_Link] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self.abort_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def abort_all(self) -> int:
        """Cut every connection at once (no unbind); returns how many were cut."""
        links = list(self._links)
        for link in links:
            link.abort()
        return len(links)

    def abort_one(self) -> bool:
        """Cut one forwarded connection (no unbind), as a failure of one link would."""
        link = next((link for link in self._links if link.upstream is not None), None)
        if link is None:
            return False
        link.abort()
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.add(link)
        try:
            first = await read_pdu(reader)
            refusal = self._refusal(first)
            if refusal is not None:
                self.refusals += 1
                await _answer_and_close(writer, refusal)
                return
            up_reader, link.upstream = await asyncio.open_connection(self.host, self.upstream_port)
            link.upstream.write(first)
            upstream = (
                self._forward(reader, link.upstream)
                if self.on_submit_pdu is not None
                else _splice(reader, link.upstream)
            )
            await asyncio.gather(upstream, _splice(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._links.discard(link)
            link.abort()

    def _refusal(self, pdu: bytes) -> bytes | None:
        """The bind_*_resp refusing this first PDU, or None when the session may go on."""
        try:
            parsed = smpplib_smpp.parse_pdu(pdu, client=_SEQUENCE)
        except Exception:
            return None
        if parsed is None or parsed.command not in BIND_COMMANDS or self.credentials is None:
            return None
        status = self._bind_status(parsed.system_id, parsed.password)
        if status == smpplib_consts.SMPP_ESME_ROK:
            return None
        resp = smpplib_smpp.make_pdu(
            f"{parsed.command}_resp",
            client=_SEQUENCE,
            sequence=parsed.sequence,
            status=status,
            system_id="SIM",
        )
        return bytes(resp.generate())

    def _bind_status(self, system_id: bytes | None, password: bytes | None) -> int:
        assert self.credentials is not None
        if (system_id or b"").decode("latin-1") != self.credentials.system_id:
            return int(smpplib_consts.SMPP_ESME_RINVSYSID)
        if (password or b"").decode("latin-1") != self.credentials.password:
            return int(smpplib_consts.SMPP_ESME_RINVPASWD)
        return int(smpplib_consts.SMPP_ESME_ROK)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to server PDU by PDU, keeping a decoded copy of each submit_sm."""
        try:
            while True:
                pdu = await read_pdu(reader)
                if self.on_submit_pdu is not None and _command_id(pdu) == SUBMIT_SM_ID:
                    decoded = smpp34.decode(pdu)
                    if isinstance(decoded, smpp34.SubmitSm):
                        self.on_submit_pdu(decoded)
                writer.write(pdu)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.transport.abort()


async def _splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes as they come (no framing: the cheap direction)."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


async def _answer_and_close(writer: asyncio.StreamWriter, pdu: bytes) -> None:
    """Send the refusal and close politely, so the peer reads it before seeing the end."""
    writer.write(pdu)
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()


def _command_id(pdu: bytes) -> int:
    return int(struct.unpack(">L", pdu[4:8])[0])
