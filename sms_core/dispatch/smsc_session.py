"""The SMSC end of SMPP 3.4: an asyncio server whose sessions answer ESMEs on the loop thread.

One :class:`SmscSession` (an ``asyncio.Protocol``) per TCP connection, no threads and no task
per PDU: ``data_received`` cuts the bytes into PDUs (:class:`~smpp_wire.Framer`), answers the
session PDUs itself (bind, enquire_link, unbind, generic_nack for anything it does not know) and
hands every submit_sm, decoded by smpp34's codec, to an :class:`SmscOwner` that answers it at
once (a message id or an error status) or leaves it unanswered. Everything written while one
read is handled goes out in a single ``transport.write``.

The owner pushes deliver_sm with :meth:`SmscSession.deliver_sm`, which numbers them and keeps
at most ``window`` outstanding (the rest wait in order); each returns a future of the
deliver_sm_resp command_status, failed with :class:`ConnectionError` if the connection goes
first (:meth:`SmscSession.send_deliver_sm` does the same with a plain callback).
:meth:`SmscSession.abort` and :meth:`SmscServer.abort_all` cut connections the way a network
failure does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import smpp34

from sms_core.dispatch import smpp_wire as wire
from sms_core.dispatch import status

SubmitAnswer = str | int | None
"""An owner's answer to a submit_sm: a message id (accepted), a non-zero command_status
(refused), or None (not now: :meth:`SmscSession.answer_submit` later, or never)."""
BindCheck = Callable[[wire.Bind], int]
"""Decides a bind from its credentials: ESME_ROK or the error status of the bind_*_resp."""
OnResp = Callable[[int | None], None]
"""Told the command_status of a deliver_sm_resp, or None when the connection went first."""

LINGER = 1.0
"""Seconds a refused or unbound connection stays half-closed for the peer to read the last
response and hang up first, before it is closed from this side."""
DEFAULT_WINDOW = 64
"""deliver_sm outstanding per session before further ones wait their turn."""


@dataclass(frozen=True)
class Credentials:
    """The one system_id and password an SMSC accepts."""

    system_id: str
    password: str

    def check(self, bind: wire.Bind) -> int:
        if bind.system_id != self.system_id:
            return status.ESME_RINVSYSID
        if bind.password != self.password:
            return status.ESME_RINVPASWD
        return status.ESME_ROK


class SmscOwner(Protocol):
    """What an :class:`SmscServer` tells the application behind it (the simulator)."""

    def session_bound(self, session: SmscSession) -> None:
        """A bind was accepted; the session can now submit and (RX/TRX) receive."""

    def session_closed(self, session: SmscSession) -> None:
        """A bound session's connection is gone (its outstanding deliver_sm already failed)."""

    def submit_received(self, session: SmscSession, submit: smpp34.SubmitSm) -> SubmitAnswer:
        """Answer a submit_sm; called inside ``data_received``, so it must not block."""


class SmscSession(asyncio.Protocol):
    """One ESME connection, from its bind to its close."""

    def __init__(self, server: SmscServer, session_id: str) -> None:
        self.server = server
        self.id = session_id
        self.bind: wire.Bind | None = None
        self.window = server.window
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._framer = wire.Framer()
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._sequence = 0
        self._outstanding: dict[int, OnResp] = {}
        self._waiting: deque[tuple[bytes, OnResp]] = deque()

    @property
    def system_id(self) -> str:
        return self.bind.system_id if self.bind is not None else ""

    @property
    def bound(self) -> bool:
        return self.bind is not None and not self.closed

    @property
    def can_receive(self) -> bool:
        """Bound as a receiver or transceiver (deliver_sm may be sent)."""
        bind = self.bind
        return bind is not None and not self.closed and bind.command_id != wire.BIND_TRANSMITTER

    @property
    def can_transmit(self) -> bool:
        bind = self.bind
        return bind is not None and not self.closed and bind.command_id != wire.BIND_RECEIVER

    @property
    def outstanding(self) -> int:
        """deliver_sm sent and not yet answered, plus those waiting for a free slot."""
        return len(self._outstanding) + len(self._waiting)

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            pdus = self._framer.feed(data)
        except wire.WireError:
            self._send_and_close(wire.encode_header(wire.GENERIC_NACK, 0, status.ESME_RINVCMDLEN))
            return
        out = self._out
        unpack = wire.HEADER.unpack_from
        for pdu in pdus:
            _, command_id, command_status, sequence = unpack(pdu)
            if command_id == wire.SUBMIT_SM and self.bind is not None:
                self._submit(pdu, sequence, out)
            elif command_id == wire.DELIVER_SM_RESP or command_id == wire.GENERIC_NACK:
                self._resolve(sequence, command_status)
            else:
                self._session_pdu(pdu, command_id, sequence)
            if self.closed:
                return
        if out:
            self._flush()

    def eof_received(self) -> bool:
        return False  # nothing more will come: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._out.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._fail_outstanding()
        self.server._forget(self)
        if self.bind is not None:
            self.server.owner.session_closed(self)

    def pause_writing(self) -> None:
        """The ESME is not reading: stop reading its requests until it catches up."""
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    # -- the owner's side -------------------------------------------------------------------

    def deliver_sm(self, pdu: bytes) -> asyncio.Future[int]:
        """Send an encoded deliver_sm (its sequence number is replaced); the future gets the
        deliver_sm_resp command_status, or ConnectionError if the connection is lost first."""
        future: asyncio.Future[int] = self._loop.create_future()

        def settle(command_status: int | None) -> None:
            if future.done():
                return
            if command_status is None:
                future.set_exception(ConnectionError(f"session {self.id} lost"))
            else:
                future.set_result(command_status)

        self.send_deliver_sm(pdu, settle)
        return future

    def send_deliver_sm(self, pdu: bytes, on_resp: OnResp) -> None:
        """:meth:`deliver_sm` without a future, for senders of many (receipts): ``on_resp`` is
        called with the status (or None), from ``data_received`` or ``connection_lost``."""
        if not self.can_receive:
            self._loop.call_soon(on_resp, None)
        elif len(self._outstanding) < self.window:
            self._send_deliver(pdu, on_resp)
        else:
            self._waiting.append((pdu, on_resp))

    def answer_submit(self, sequence: int, answer: SubmitAnswer) -> None:
        """Answer a submit_sm the owner left unanswered in ``submit_received``."""
        if self.closed or answer is None:
            return
        self._out.append(_submit_resp(sequence, answer))
        self._schedule_flush()

    def abort(self) -> None:
        """Cut the connection at once, without unbind: the ESME sees a network failure."""
        self.closed = True
        self._out.clear()
        if self._transport is not None:
            self._transport.abort()

    # -- internals --------------------------------------------------------------------------

    def _submit(self, pdu: bytes, sequence: int, out: list[bytes]) -> None:
        assert self.bind is not None
        if self.bind.command_id == wire.BIND_RECEIVER:
            out.append(wire.encode_header(wire.SUBMIT_SM_RESP, sequence, status.ESME_RINVBNDSTS))
            return
        try:
            submit = wire.decode_message(pdu)
        except wire.WireError:
            out.append(wire.encode_header(wire.SUBMIT_SM_RESP, sequence, status.ESME_RINVCMDLEN))
            return
        assert isinstance(submit, smpp34.SubmitSm)
        answer = self.server.owner.submit_received(self, submit)
        if answer is not None and not self.closed:
            out.append(_submit_resp(sequence, answer))

    def _session_pdu(self, pdu: bytes, command_id: int, sequence: int) -> None:
        if command_id in wire.BIND_NAMES:
            self._bind(pdu, command_id, sequence)
        elif self.bind is None:
            self.server.refusals += 1
            self._send_and_close(
                wire.encode_header(wire.GENERIC_NACK, sequence, status.ESME_RINVBNDSTS)
            )
        elif command_id == wire.ENQUIRE_LINK:
            self._out.append(wire.encode_header(wire.ENQUIRE_LINK_RESP, sequence))
        elif command_id == wire.UNBIND:
            self._send_and_close(wire.encode_header(wire.UNBIND_RESP, sequence))
        elif command_id & wire.RESPONSE_BIT:
            pass  # an answer to nothing we asked (enquire_link_resp, late resp): ignore
        else:
            self._out.append(wire.encode_header(wire.GENERIC_NACK, sequence, status.ESME_RINVCMDID))

    def _bind(self, pdu: bytes, command_id: int, sequence: int) -> None:
        resp_id = command_id | wire.RESPONSE_BIT
        if self.bind is not None:
            self._out.append(wire.encode_header(resp_id, sequence, status.ESME_RALYBND))
            return
        try:
            bind = wire.decode_bind(pdu)
        except wire.WireError:
            self.server.refusals += 1
            self._send_and_close(wire.encode_header(resp_id, sequence, status.ESME_RBINDFAIL))
            return
        command_status = self.server.check_bind(bind)
        if command_status != status.ESME_ROK:
            self.server.refusals += 1
            self._send_and_close(wire.encode_header(resp_id, sequence, command_status))
            return
        self.bind = bind
        self._out.append(wire.encode_resp(resp_id, sequence, message_id=self.server.system_id))
        self._flush()
        self.server.owner.session_bound(self)

    def _send_and_close(self, pdu: bytes) -> None:
        """The last PDU of the session: flushed, then a half-close, then a close."""
        self._out.append(pdu)
        self._flush()
        self.closed = True
        transport = self._transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._loop.call_later(LINGER, transport.close)
        else:
            transport.close()

    def _send_deliver(self, pdu: bytes, on_resp: OnResp) -> None:
        self._sequence = sequence = wire.next_sequence(self._sequence)
        self._outstanding[sequence] = on_resp
        self._out.append(pdu[:12] + sequence.to_bytes(4, "big") + pdu[16:])
        self._schedule_flush()

    def _resolve(self, sequence: int, command_status: int) -> None:
        on_resp = self._outstanding.pop(sequence, None)
        if on_resp is None:
            return
        waiting = self._waiting
        while waiting and len(self._outstanding) < self.window:
            self._send_deliver(*waiting.popleft())
        on_resp(command_status)

    def _fail_outstanding(self) -> None:
        callbacks = [*self._outstanding.values(), *(on_resp for _, on_resp in self._waiting)]
        self._outstanding.clear()
        self._waiting.clear()
        for on_resp in callbacks:
            on_resp(None)

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._out and self._transport is not None and not self.closed:
            out = self._out
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()


def _submit_resp(sequence: int, answer: str | int) -> bytes:
    if isinstance(answer, str):
        return wire.encode_resp(wire.SUBMIT_SM_RESP, sequence, status.ESME_ROK, answer)
    return wire.encode_header(wire.SUBMIT_SM_RESP, sequence, answer)


class SmscServer:
    """Listens for ESMEs and keeps their sessions; ``await start()`` / ``await stop()``."""

    def __init__(
        self,
        owner: SmscOwner,
        credentials: Credentials | BindCheck | None = None,
        *,
        system_id: str = "SMSHUBSIM",
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self.owner = owner
        self.system_id = system_id
        """Sent back in every bind_*_resp."""
        self.window = window
        self.refusals = 0
        """Binds refused (bad credentials, malformed, or a first PDU that was not a bind)."""
        self.sessions: dict[str, SmscSession] = {}
        """Every open connection, bound or not, by session id."""
        if isinstance(credentials, Credentials):
            self.check_bind: BindCheck = credentials.check
        else:
            self.check_bind = credentials or (lambda bind: status.ESME_ROK)
        self.port = 0
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> list[SmscSession]:
        return [s for s in self.sessions.values() if s.bound]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen (``port=0`` picks a free one); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
        self.abort_all()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def abort_all(self) -> int:
        """Cut every connection at once (no unbind); returns how many were cut."""
        sessions = list(self.sessions.values())
        open_ones = sum(not session.closed for session in sessions)
        for session in sessions:
            session.abort()
        return open_ones

    def _session(self) -> SmscSession:
        session = SmscSession(self, str(next(self._ids)))
        self.sessions[session.id] = session
        return session

    def _forget(self, session: SmscSession) -> None:
        self.sessions.pop(session.id, None)
