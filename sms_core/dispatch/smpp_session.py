"""One SMPP 3.4 session from the ESME side, on the caller's asyncio loop.

:class:`EsmeSession` is an :class:`asyncio.Protocol`: it binds, sends submit_sm and matches each
submit_sm_resp to its request by sequence number, answers the peer's deliver_sm, enquire_link
and unbind, keeps the link alive with its own enquire_link, and reports the end of the
connection once. PDUs are encoded and decoded by :mod:`sms_core.dispatch.smpp_wire` (smpp34's
codec for submit_sm / deliver_sm).

Everything runs in the event loop's thread: a submit is one encode and one ``transport.write``,
a response one dictionary lookup and one future, and a read of many PDUs one ``data_received``
call. (smpp34's own session layer hands every PDU between its threads and the loop, which costs
more than the protocol itself.)

Window and pacing are the driver's (:mod:`sms_core.dispatch.smpp`); the session only refuses to
go on without a bind and fails every pending request when the connection ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import smpp34

from sms_core.dispatch import smpp_wire as wire
from sms_core.dispatch import status

log = logging.getLogger(__name__)

DeliverHandler = Callable[[smpp34.DeliverSm], int]
"""Called for every deliver_sm as it is read; returns the command_status to answer (ESME_ROK,
or ESME_RMSGQFUL to have the SMSC offer it again later)."""


class SubmitResp(NamedTuple):
    """A submit_sm_resp: the status, and the SMSC's message id when accepted."""

    command_status: int
    message_id: str | None

    @property
    def is_success(self) -> bool:
        return self.command_status == status.ESME_ROK


class _Request(NamedTuple):
    """A request waiting for its response: submit_sm's get a :class:`SubmitResp`, the others
    (bind, unbind, enquire_link) their command_status."""

    future: asyncio.Future[Any]
    timer: asyncio.TimerHandle | None
    submit: bool


class SessionError(Exception):
    """The session cannot do what was asked."""


class BindRefused(SessionError):
    """The SMSC answered the bind with an error status."""

    def __init__(self, command_status: int) -> None:
        super().__init__(f"bind refused with command_status 0x{command_status:08X}")
        self.command_status = command_status


class ConnectionLost(SessionError):
    """The connection ended before the answer came."""


class EsmeSession(asyncio.Protocol):
    """A bound ESME session; make one with :meth:`open`."""

    def __init__(
        self,
        on_deliver: DeliverHandler | None = None,
        *,
        enquire_interval: float = 30.0,
        response_timeout: float = 10.0,
    ) -> None:
        self.on_deliver = on_deliver
        self.enquire_interval = enquire_interval
        self.response_timeout = response_timeout
        self.bound = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_reason = ""
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._framer = wire.Framer()
        self._sequence = 0
        self._pending: dict[int, _Request] = {}
        self._received_at = self._loop.time()
        self._keepalive: asyncio.TimerHandle | None = None

    # -- opening and closing --------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        bind_type: wire.BindType = "TRX",
        system_type: str = "",
        connect_timeout: float = 5.0,
        on_deliver: DeliverHandler | None = None,
        enquire_interval: float = 30.0,
        response_timeout: float = 10.0,
    ) -> EsmeSession:
        """Connect and bind; :class:`BindRefused`, :class:`ConnectionLost` or OSError if not."""
        loop = asyncio.get_running_loop()

        def factory() -> EsmeSession:
            return cls(on_deliver, enquire_interval=enquire_interval,
                       response_timeout=response_timeout)  # fmt: skip

        _, session = await asyncio.wait_for(
            loop.create_connection(factory, host, port), connect_timeout
        )
        try:
            await session._bind(bind_type, system_id, password, system_type, connect_timeout)
        except BaseException:
            session.abort()
            raise
        return session

    async def _bind(self, bind_type: wire.BindType, system_id: str, password: str,
                    system_type: str, timeout: float) -> None:  # fmt: skip
        sequence = self._next_sequence()
        future = self._expect(sequence, timeout)
        self._write(wire.encode_bind(bind_type, sequence, system_id, password, system_type))
        try:
            command_status = await future
        except TimeoutError as exc:
            raise ConnectionLost("no bind response") from exc
        if command_status != status.ESME_ROK:
            raise BindRefused(command_status)
        self.bound = True
        self._schedule_keepalive()

    @property
    def alive(self) -> bool:
        return self.bound and not self.closed.done()

    async def unbind(self, timeout: float = 2.0) -> None:
        """Unbind politely and close; gives up (and closes anyway) after ``timeout``."""
        if self.alive:
            sequence = self._next_sequence()
            future = self._expect(sequence, timeout)
            self._write(wire.encode_header(wire.UNBIND, sequence))
            with contextlib.suppress(SessionError, TimeoutError):
                await future
        self.bound = False
        if self._transport is not None:
            self._transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    def abort(self) -> None:
        """Drop the connection at once (no unbind)."""
        if self._transport is not None:
            self._transport.abort()

    # -- submitting -----------------------------------------------------------------------

    def submit_sm(self, destination_addr: str, short_message: bytes, *, timeout: float,
                  **fields: Any) -> asyncio.Future[SubmitResp]:  # fmt: skip
        """Send one submit_sm; the future gets its response, TimeoutError after ``timeout``
        seconds, or :class:`ConnectionLost`. ``fields`` are submit_sm's other fields by name
        (source_addr, source_addr_ton, esm_class, data_coding, tlvs…)."""
        if not self.alive:
            raise ConnectionLost(self.close_reason or "not bound")
        sequence = self._next_sequence()
        pdu = smpp34.SubmitSm(
            fields.pop("source_addr", ""), destination_addr, short_message,
            sequence_number=sequence, **fields,
        ).encode()  # fmt: skip
        future: asyncio.Future[SubmitResp] = self._expect(sequence, timeout, submit=True)
        self._write(pdu)
        return future

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._received_at = self._loop.time()
        try:
            pdus = self._framer.feed(data)
        except wire.WireError as exc:
            self._fail(str(exc))
            return
        for pdu in pdus:
            self._handle(pdu)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bound = False
        if not self.close_reason:
            self.close_reason = f"connection lost: {exc}" if exc else "connection closed"
        if self._keepalive is not None:
            self._keepalive.cancel()
        pending, self._pending = self._pending, {}
        for future, timer, _ in pending.values():
            if timer is not None:
                timer.cancel()
            if not future.done():
                future.set_exception(ConnectionLost(self.close_reason))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- inside -----------------------------------------------------------------------------

    def _handle(self, pdu: bytes) -> None:
        command_id, command_status, sequence = wire.header(pdu)
        if command_id & wire.RESPONSE_BIT:
            entry = self._pending.pop(sequence, None)
            if entry is None:
                return  # answered after its timeout: the submit was already given up
            future, timer, submit = entry
            if timer is not None:
                timer.cancel()
            if future.done():
                return
            if command_id == wire.GENERIC_NACK:
                command_status = command_status or status.ESME_RSYSERR
            if not submit:
                future.set_result(command_status)
            elif command_id == wire.SUBMIT_SM_RESP and command_status == status.ESME_ROK:
                future.set_result(SubmitResp(command_status, wire.resp_message_id(pdu)))
            else:
                future.set_result(SubmitResp(command_status, None))
        elif command_id == wire.DELIVER_SM:
            self._write(wire.encode_resp(wire.DELIVER_SM_RESP, sequence, self._deliver(pdu)))
        elif command_id == wire.ENQUIRE_LINK:
            self._write(wire.encode_header(wire.ENQUIRE_LINK_RESP, sequence))
        elif command_id == wire.UNBIND:
            self._write(wire.encode_header(wire.UNBIND_RESP, sequence))
            self.close_reason = "unbound by the SMSC"
            self.bound = False
            if self._transport is not None:
                self._transport.close()
        else:
            self._write(wire.encode_header(wire.GENERIC_NACK, sequence, status.ESME_RINVCMDID))

    def _deliver(self, pdu: bytes) -> int:
        try:
            message = wire.decode_message(pdu)
        except wire.WireError as exc:
            log.warning("malformed deliver_sm answered with an error: %s", exc)
            return status.ESME_RSYSERR
        if not isinstance(message, smpp34.DeliverSm) or self.on_deliver is None:
            return status.ESME_RSYSERR
        try:
            return self.on_deliver(message)
        except Exception:
            log.exception("deliver_sm handler failed")
            return status.ESME_RSYSERR

    def _expect(self, sequence: int, timeout: float | None, *,
                submit: bool = False) -> asyncio.Future[Any]:  # fmt: skip
        future: asyncio.Future[Any] = self._loop.create_future()
        timer = (self._loop.call_later(timeout, self._expire, sequence)
                 if timeout is not None else None)  # fmt: skip
        self._pending[sequence] = _Request(future, timer, submit)
        return future

    def _expire(self, sequence: int) -> None:
        entry = self._pending.pop(sequence, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(TimeoutError(f"no response to sequence {sequence}"))

    def _next_sequence(self) -> int:
        self._sequence = wire.next_sequence(self._sequence)
        return self._sequence

    def _write(self, pdu: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionLost(self.close_reason or "connection closed")
        self._transport.write(pdu)

    def _fail(self, reason: str) -> None:
        self.close_reason = reason
        log.warning("SMPP session dropped: %s", reason)
        self.abort()

    def _schedule_keepalive(self) -> None:
        self._keepalive = self._loop.call_later(self.enquire_interval, self._enquire)

    def _enquire(self) -> None:
        """enquire_link when the link has been silent for a whole interval; a peer that does
        not answer within ``response_timeout`` is taken for dead."""
        if not self.alive:
            return
        if self._loop.time() - self._received_at >= self.enquire_interval:
            sequence = self._next_sequence()
            future = self._expect(sequence, self.response_timeout)
            future.add_done_callback(self._enquire_answered)
            with contextlib.suppress(ConnectionLost):
                self._write(wire.encode_header(wire.ENQUIRE_LINK, sequence))
        self._schedule_keepalive()

    def _enquire_answered(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        if isinstance(future.exception(), TimeoutError):
            self._fail("no enquire_link_resp")

