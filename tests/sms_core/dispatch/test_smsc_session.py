"""The SMSC session over real loopback sockets, driven by a raw ESME written with smpp_wire."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
import smpp34

from sms_core.dispatch import smpp_wire as wire
from sms_core.dispatch import status
from sms_core.dispatch.smsc_session import (
    BindCheck,
    Credentials,
    SmscServer,
    SmscSession,
    SubmitAnswer,
)
from tests.sms_core.dispatch.helpers import run

CREDENTIALS = Credentials("smshub", "secret")


class Owner:
    """Records what the server tells it; answers submits from ``answers`` (else accepts)."""

    def __init__(self) -> None:
        self.bound: list[SmscSession] = []
        self.closed: list[SmscSession] = []
        self.submits: list[tuple[int, smpp34.SubmitSm]] = []
        self.answers: dict[str, SubmitAnswer] = {}

    def session_bound(self, session: SmscSession) -> None:
        self.bound.append(session)

    def session_closed(self, session: SmscSession) -> None:
        self.closed.append(session)

    def submit_received(self, session: SmscSession, submit: smpp34.SubmitSm) -> SubmitAnswer:
        self.submits.append((submit.sequence_number, submit))
        return self.answers.get(submit.destination_addr, f"M{len(self.submits)}")


class Esme:
    """A raw ESME: writes PDUs and reads them back whole."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def send(self, *pdus: bytes) -> None:
        self.writer.write(b"".join(pdus))

    async def read(self) -> bytes:
        head = await asyncio.wait_for(self.reader.readexactly(4), 2)
        length = int.from_bytes(head, "big")
        return head + await asyncio.wait_for(self.reader.readexactly(length - 4), 2)

    async def closed(self) -> bool:
        """True once the SMSC has ended the connection (EOF or reset) with nothing more sent."""
        try:
            return await asyncio.wait_for(self.reader.read(), 2) == b""
        except ConnectionError:
            return True

    async def bind(self, bind_type: wire.BindType = "TRX", password: str = "secret") -> bytes:
        self.send(wire.encode_bind(bind_type, 1, "smshub", password))
        return await self.read()


@contextlib.asynccontextmanager
async def server(
    owner: Owner, credentials: Credentials | BindCheck | None = CREDENTIALS, window: int = 64
) -> AsyncIterator[SmscServer]:
    smsc = SmscServer(owner, credentials, window=window)
    await smsc.start()
    try:
        yield smsc
    finally:
        await smsc.stop()


@contextlib.asynccontextmanager
async def esme(smsc: SmscServer) -> AsyncIterator[Esme]:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
    try:
        yield Esme(reader, writer)
    finally:
        writer.close()


def submit_sm(sequence: int, destination: str = "33612345678") -> bytes:
    return smpp34.SubmitSm(
        "SHOP", destination, b"hello", registered_delivery=1, sequence_number=sequence
    ).encode()


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_bind_is_answered_with_the_system_id_and_told_to_the_owner() -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner) as smsc, esme(smsc) as client:
            resp = await client.bind("TRX")
            assert wire.header(resp) == (wire.BIND_TRANSCEIVER | wire.RESPONSE_BIT, 0, 1)
            assert resp[wire.HEADER_SIZE :] == b"SMSHUBSIM\0"
            await wait_for(lambda: len(owner.bound) == 1)
            [session] = owner.bound
            assert session.system_id == "smshub" and session.can_receive and session.can_transmit
            assert smsc.bound == [session] and smsc.refusals == 0

    run(scenario())


@pytest.mark.parametrize(
    ("system_id", "password", "expected"),
    [("nobody", "secret", status.ESME_RINVSYSID), ("smshub", "wrong", status.ESME_RINVPASWD)],
)
def test_bind_refused_with_the_code_then_closed(system_id: str, password: str,
                                                expected: int) -> None:  # fmt: skip
    async def scenario() -> None:
        owner = Owner()
        async with server(owner) as smsc, esme(smsc) as client:
            client.send(wire.encode_bind("TX", 7, system_id, password))
            resp = await client.read()
            assert wire.header(resp) == (wire.BIND_TRANSMITTER | wire.RESPONSE_BIT, expected, 7)
            assert len(resp) == wire.HEADER_SIZE  # an error response has no body
            assert await client.closed()
            assert smsc.refusals == 1 and owner.bound == []

    run(scenario())


def test_bind_check_callback_decides() -> None:
    async def scenario() -> None:
        seen: list[wire.Bind] = []

        def check(bind: wire.Bind) -> int:
            seen.append(bind)
            return status.ESME_RBINDFAIL if bind.bind_type == "RX" else status.ESME_ROK

        async with server(Owner(), check) as smsc:
            async with esme(smsc) as client:
                assert wire.header(await client.bind("RX"))[1] == status.ESME_RBINDFAIL
                assert await client.closed()
            async with esme(smsc) as client:
                assert wire.header(await client.bind("TX"))[1] == status.ESME_ROK
            assert [b.bind_type for b in seen] == ["RX", "TX"]
            assert seen[0].system_id == "smshub" and seen[0].password == "secret"

    run(scenario())


def test_first_pdu_must_be_a_bind() -> None:
    async def scenario() -> None:
        async with server(Owner()) as smsc, esme(smsc) as client:
            client.send(wire.encode_header(wire.ENQUIRE_LINK, 3))
            assert wire.header(await client.read()) == (
                wire.GENERIC_NACK, status.ESME_RINVBNDSTS, 3,
            )  # fmt: skip
            assert await client.closed()
            assert smsc.refusals == 1

    run(scenario())


def test_enquire_link_unknown_command_and_a_second_bind() -> None:
    async def scenario() -> None:
        async with server(Owner()) as smsc, esme(smsc) as client:
            await client.bind()
            client.send(
                wire.encode_header(wire.ENQUIRE_LINK, 2),
                wire.encode_header(0x00000103, 3),  # data_sm: not spoken here
                wire.encode_bind("TRX", 4, "smshub", "secret"),
            )
            assert wire.header(await client.read()) == (wire.ENQUIRE_LINK_RESP, 0, 2)
            assert wire.header(await client.read()) == (wire.GENERIC_NACK, status.ESME_RINVCMDID, 3)
            resp = await client.read()
            assert wire.header(resp) == (wire.BIND_TRANSCEIVER | wire.RESPONSE_BIT,
                                         status.ESME_RALYBND, 4)  # fmt: skip

    run(scenario())


@pytest.mark.parametrize("length", [8, 70_000])
def test_a_malformed_length_closes_the_connection(length: int) -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner) as smsc, esme(smsc) as client:
            await client.bind()
            client.send(wire.HEADER.pack(length, wire.SUBMIT_SM, 0, 5))
            assert wire.header(await client.read()) == (wire.GENERIC_NACK,
                                                        status.ESME_RINVCMDLEN, 0)
            assert await client.closed()
            await wait_for(lambda: len(owner.closed) == 1)
            assert owner.submits == []

    run(scenario())


def test_unbind_is_answered_then_the_connection_closes() -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner) as smsc, esme(smsc) as client:
            await client.bind()
            client.send(wire.encode_header(wire.UNBIND, 9))
            assert wire.header(await client.read()) == (wire.UNBIND_RESP, 0, 9)
            assert await client.closed()
            await wait_for(lambda: len(owner.closed) == 1 and not smsc.sessions)
            assert smsc.bound == []

    run(scenario())


def test_submits_answered_in_one_read_with_ids_statuses_or_later() -> None:
    async def scenario() -> None:
        owner = Owner()
        owner.answers = {"33600000002": status.ESME_RTHROTTLED, "33600000003": None}
        async with server(owner) as smsc, esme(smsc) as client:
            await client.bind()
            client.send(*(submit_sm(10 + n, f"3360000000{n}") for n in range(1, 5)))
            first, second, fourth = [await client.read() for _ in range(3)]
            assert wire.header(first) == (wire.SUBMIT_SM_RESP, 0, 11)
            assert wire.resp_message_id(first) == "M1"
            assert wire.header(second) == (wire.SUBMIT_SM_RESP, status.ESME_RTHROTTLED, 12)
            assert wire.resp_message_id(second) is None
            assert wire.header(fourth) == (wire.SUBMIT_SM_RESP, 0, 14)
            assert [s.destination_addr for _, s in owner.submits][2] == "33600000003"
            assert owner.submits[0][1].registered_delivery == 1
            owner.bound[0].answer_submit(13, "LATE")
            late = await client.read()
            assert wire.header(late) == (wire.SUBMIT_SM_RESP, 0, 13)
            assert wire.resp_message_id(late) == "LATE"

    run(scenario())


def test_a_receiver_cannot_submit() -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner) as smsc, esme(smsc) as client:
            await client.bind("RX")
            client.send(submit_sm(2))
            assert wire.header(await client.read()) == (wire.SUBMIT_SM_RESP,
                                                        status.ESME_RINVBNDSTS, 2)  # fmt: skip
            assert owner.submits == []
            assert not owner.bound[0].can_transmit and owner.bound[0].can_receive

    run(scenario())


def test_deliver_sm_numbered_windowed_and_answered() -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner, window=2) as smsc, esme(smsc) as client:
            await client.bind()
            await wait_for(lambda: len(owner.bound) == 1)
            session = owner.bound[0]
            pdu = smpp34.DeliverSm("33612345678", "SHOP", b"STOP").encode()
            futures = [session.deliver_sm(pdu) for _ in range(3)]
            first, second = await client.read(), await client.read()
            assert [wire.header(p)[2] for p in (first, second)] == [1, 2]
            decoded = wire.decode_message(first)
            assert isinstance(decoded, smpp34.DeliverSm) and decoded.short_message == b"STOP"
            assert session.outstanding == 3  # two on the wire, one waiting for a slot
            client.send(wire.encode_resp(wire.DELIVER_SM_RESP, 2, status.ESME_RMSGQFUL))
            assert await asyncio.wait_for(futures[1], 2) == status.ESME_RMSGQFUL
            third = await client.read()
            assert wire.header(third)[:2] == (wire.DELIVER_SM, 0) and wire.header(third)[2] == 3
            client.send(
                wire.encode_resp(wire.DELIVER_SM_RESP, 1),
                wire.encode_header(wire.GENERIC_NACK, 3, status.ESME_RINVCMDID),
            )
            assert await asyncio.gather(futures[0], futures[2]) == [0, status.ESME_RINVCMDID]
            assert session.outstanding == 0

    run(scenario())


def test_connection_loss_fails_outstanding_deliveries() -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner, window=1) as smsc, esme(smsc) as client:
            await client.bind()
            await wait_for(lambda: len(owner.bound) == 1)
            session = owner.bound[0]
            pdu = smpp34.DeliverSm("33612345678", "SHOP", b"hi").encode()
            futures = [session.deliver_sm(pdu) for _ in range(2)]
            await client.read()
            client.writer.transport.abort()
            for future in futures:
                with pytest.raises(ConnectionError):
                    await asyncio.wait_for(future, 2)
            await wait_for(lambda: owner.closed == [session])
            with pytest.raises(ConnectionError):
                await session.deliver_sm(pdu)

    run(scenario())


def test_abort_cuts_without_unbind() -> None:
    async def scenario() -> None:
        owner = Owner()
        async with server(owner) as smsc, esme(smsc) as one, esme(smsc) as two:
            await one.bind()
            await two.bind()
            await wait_for(lambda: len(owner.bound) == 2)
            owner.bound[0].abort()
            assert await one.closed()
            two.send(wire.encode_header(wire.ENQUIRE_LINK, 5))
            assert wire.header(await two.read()) == (wire.ENQUIRE_LINK_RESP, 0, 5)
            assert smsc.abort_all() == 1
            assert await two.closed()
            await wait_for(lambda: len(owner.closed) == 2 and not smsc.sessions)

    run(scenario())
