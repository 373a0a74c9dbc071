"""The ESME session against a scripted SMSC on a real loopback socket.

The peer here is a few lines of asyncio that answer exactly as each test needs (out of order,
late, never, with a generic_nack...), so every rule of the session is checked on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
import smpp34

from sms_core.dispatch import smpp_wire as wire
from sms_core.dispatch import status
from sms_core.dispatch.smpp_session import BindRefused, ConnectionLost, EsmeSession
from tests.sms_core.dispatch.helpers import run

Script = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class Peer:
    """A listening SMSC whose answer to each PDU after the bind is ``script``."""

    def __init__(self, script: Script | None = None, bind_status: int = status.ESME_ROK) -> None:
        self.script = script
        self.bind_status = bind_status
        self.received: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Peer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.transport.abort()
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        framer = wire.Framer()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                for pdu in framer.feed(data):
                    self.received.append(pdu)
                    command_id, _, sequence = wire.header(pdu)
                    if command_id in wire.BIND_NAMES:
                        writer.write(wire.encode_resp(command_id | wire.RESPONSE_BIT, sequence,
                                                      self.bind_status, "PEER"))  # fmt: skip
                    elif self.script is not None:
                        await self.script(pdu, writer)

    def commands(self) -> list[int]:
        return [wire.header(pdu)[0] for pdu in self.received]


async def _accept_all(pdu: bytes, writer: asyncio.StreamWriter) -> None:
    command_id, _, sequence = wire.header(pdu)
    if command_id == wire.SUBMIT_SM:
        writer.write(wire.encode_resp(wire.SUBMIT_SM_RESP, sequence, message_id=f"ID{sequence}"))
    elif command_id == wire.ENQUIRE_LINK:
        writer.write(wire.encode_header(wire.ENQUIRE_LINK_RESP, sequence))
    elif command_id == wire.UNBIND:
        writer.write(wire.encode_header(wire.UNBIND_RESP, sequence))


async def _open(peer: Peer, **options: object) -> EsmeSession:
    return await EsmeSession.open("127.0.0.1", peer.port, "smshub", "secret", **options)  # type: ignore[arg-type]


def test_bind_then_responses_matched_by_sequence_even_out_of_order() -> None:
    held: list[int] = []

    async def reversed_answers(pdu: bytes, writer: asyncio.StreamWriter) -> None:
        command_id, _, sequence = wire.header(pdu)
        if command_id != wire.SUBMIT_SM:
            return await _accept_all(pdu, writer)
        held.append(sequence)
        if len(held) == 3:
            for seq in reversed(held):
                writer.write(wire.encode_resp(wire.SUBMIT_SM_RESP, seq, message_id=f"ID{seq}"))

    async def scenario() -> None:
        async with Peer(reversed_answers) as peer:
            session = await _open(peer)
            answers = [session.submit_sm(f"3361234567{n}", b"hi", timeout=2, source_addr="S")
                       for n in range(3)]  # fmt: skip
            results = await asyncio.gather(*answers)
            assert [r.message_id for r in results] == [f"ID{s}" for s in held]
            assert all(r.is_success for r in results)
            submits = [wire.decode_message(p) for p in peer.received
                       if wire.header(p)[0] == wire.SUBMIT_SM]  # fmt: skip
            assert [s.destination_addr for s in submits] == [f"3361234567{n}" for n in range(3)]
            await session.unbind()
            assert wire.UNBIND in peer.commands() and not session.alive

    run(scenario())


@pytest.mark.parametrize("status", [status.ESME_RINVPASWD, status.ESME_RINVSYSID])
def test_a_refused_bind_raises_with_the_status(status: int) -> None:
    async def scenario() -> None:
        async with Peer(bind_status=status) as peer:
            with pytest.raises(BindRefused) as refused:
                await _open(peer)
            assert refused.value.command_status == status

    run(scenario())


def test_an_error_status_and_a_generic_nack_come_back_as_failed_responses() -> None:
    async def refuse(pdu: bytes, writer: asyncio.StreamWriter) -> None:
        command_id, _, sequence = wire.header(pdu)
        if command_id == wire.SUBMIT_SM and sequence % 2:
            writer.write(wire.encode_header(wire.GENERIC_NACK, sequence, status.ESME_RINVCMDLEN))
        elif command_id == wire.SUBMIT_SM:
            writer.write(wire.encode_resp(wire.SUBMIT_SM_RESP, sequence, status.ESME_RTHROTTLED))

    async def scenario() -> None:
        async with Peer(refuse) as peer:
            session = await _open(peer)
            first = await session.submit_sm("33612345678", b"a", timeout=2)
            second = await session.submit_sm("33612345678", b"b", timeout=2)
            statuses = {first.command_status, second.command_status}
            assert statuses == {status.ESME_RINVCMDLEN, status.ESME_RTHROTTLED}
            assert not first.is_success and first.message_id is None
            session.abort()

    run(scenario())


def test_an_unanswered_submit_times_out_and_its_late_answer_is_ignored() -> None:
    async def late(pdu: bytes, writer: asyncio.StreamWriter) -> None:
        command_id, _, sequence = wire.header(pdu)
        if command_id == wire.SUBMIT_SM:
            await asyncio.sleep(0.3)
            writer.write(wire.encode_resp(wire.SUBMIT_SM_RESP, sequence, message_id="LATE"))

    async def scenario() -> None:
        async with Peer(late) as peer:
            session = await _open(peer)
            with pytest.raises(TimeoutError):
                await session.submit_sm("33612345678", b"a", timeout=0.1)
            await asyncio.sleep(0.4)  # the late response arrives and changes nothing
            assert session.alive
            session.abort()

    run(scenario())


def test_a_lost_connection_fails_every_pending_submit_and_ends_the_session() -> None:
    async def cut_on_third(pdu: bytes, writer: asyncio.StreamWriter) -> None:
        if wire.header(pdu)[0] == wire.SUBMIT_SM and wire.header(pdu)[2] >= 4:
            writer.transport.abort()

    async def scenario() -> None:
        async with Peer(cut_on_third) as peer:
            session = await _open(peer)
            answers = [session.submit_sm("33612345678", b"x", timeout=5) for _ in range(3)]
            for answer in answers:
                with pytest.raises(ConnectionLost):
                    await answer
            await asyncio.wait_for(session.closed, 1)
            assert not session.alive
            with pytest.raises(ConnectionLost):
                session.submit_sm("33612345678", b"x", timeout=5)

    run(scenario())


def test_deliver_sm_is_handed_over_and_answered_with_the_handlers_status() -> None:
    answers: list[int] = []

    async def scenario() -> None:
        async with Peer() as peer:
            seen: list[smpp34.DeliverSm] = []

            def handler(pdu: smpp34.DeliverSm) -> int:
                seen.append(pdu)
                return status.ESME_ROK if len(seen) == 1 else status.ESME_RMSGQFUL

            session = await _open(peer, on_deliver=handler)
            writer = peer.writers[0]
            for seq in (7, 8):
                writer.write(smpp34.DeliverSm("33612345678", "SHOP", b"STOP", esm_class=0,
                                              sequence_number=seq).encode())  # fmt: skip
            writer.write(wire.encode_header(wire.ENQUIRE_LINK, 9))
            writer.write(wire.encode_header(0x00000103, 10))  # data_sm: not supported here
            for _ in range(100):
                if len(peer.received) >= 5:
                    break
                await asyncio.sleep(0.01)
            resps = [wire.header(p) for p in peer.received[1:]]
            answers.extend(status for _, status, _ in resps)
            assert [(c, s) for c, _, s in resps] == [
                (wire.DELIVER_SM_RESP, 7), (wire.DELIVER_SM_RESP, 8),
                (wire.ENQUIRE_LINK_RESP, 9), (wire.GENERIC_NACK, 10),
            ]  # fmt: skip
            assert [p.short_message for p in seen] == [b"STOP", b"STOP"]
            session.abort()

    run(scenario())
    assert answers == [status.ESME_ROK, status.ESME_RMSGQFUL, status.ESME_ROK,
                       status.ESME_RINVCMDID]


def test_a_silent_link_is_probed_and_a_peer_that_never_answers_is_dropped() -> None:
    async def mute(pdu: bytes, writer: asyncio.StreamWriter) -> None:
        return None

    async def scenario() -> None:
        async with Peer(_accept_all) as alive_peer:
            session = await _open(alive_peer, enquire_interval=0.05, response_timeout=0.2)
            await asyncio.sleep(0.4)
            assert session.alive and wire.ENQUIRE_LINK in alive_peer.commands()
            session.abort()
        async with Peer(mute) as dead_peer:
            session = await _open(dead_peer, enquire_interval=0.05, response_timeout=0.1)
            await asyncio.wait_for(session.closed, 2)
            assert session.close_reason == "no enquire_link_resp"

    run(scenario())


def test_an_unbind_from_the_smsc_is_answered_and_closes_the_session() -> None:
    async def scenario() -> None:
        async with Peer() as peer:
            session = await _open(peer)
            peer.writers[0].write(wire.encode_header(wire.UNBIND, 42))
            await asyncio.wait_for(session.closed, 1)
            assert session.close_reason == "unbound by the SMSC"
            assert wire.header(peer.received[-1]) == (wire.UNBIND_RESP, 0, 42)

    run(scenario())


def test_bytes_that_are_not_smpp_drop_the_connection() -> None:
    async def scenario() -> None:
        async with Peer() as peer:
            session = await _open(peer)
            peer.writers[0].write(b"\x00\x00\x00\x03garbage")
            await asyncio.wait_for(session.closed, 1)
            assert "not SMPP" in session.close_reason

    run(scenario())
