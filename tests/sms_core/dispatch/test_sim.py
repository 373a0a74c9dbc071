"""The simulator on its own: threaded use, the command line, bind refusal, where receipts go."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest
import smpp34

from sms_core.dispatch import smpp_wire as wire
from sms_core.dispatch import status
from sms_core.dispatch.receipts import TLV_MESSAGE_STATE, TLV_RECEIPTED_MESSAGE_ID
from sms_core.dispatch.sim import SimSettings, SimulatorThread
from tests.sms_core.dispatch.helpers import run, simulator, wait_until

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _bind_and_send(port: int, password: str = "secret") -> smpp34.SubmitSmResp:
    client = smpp34.Client("127.0.0.1", port, "smshub", password, connect_timeout_ms=1000)
    try:
        smsc = await client.connect()
        try:
            return await smsc.submit_sm("33612345678", b"hello", source_addr="SHOP")
        finally:
            await smsc.unbind()
    finally:
        client.stop()  # the library's session threads must not outlive the test


def test_simulator_thread_serves_a_client_in_another_loop() -> None:
    with SimulatorThread(SimSettings(port=0, dlr_delay=0.01)) as sim:
        resp = run(_bind_and_send(sim.port))
        assert resp.is_success and resp.message_id == "1A2B0000"
        assert len(sim.simulator.accepted) == 1


def test_wrong_password_is_refused() -> None:
    with SimulatorThread(SimSettings(port=0)) as sim:
        try:
            run(_bind_and_send(sim.port, password="nope"))
        except smpp34.SmppError:
            pass
        else:
            raise AssertionError("a wrong password was accepted")
        assert sim.simulator.refused_binds == 1


def test_command_line_starts_a_simulator() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sms_core.dispatch.sim", "--port", str(port), "--dlr-delay", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert f"127.0.0.1:{port}" in proc.stdout.readline()
        assert run(_bind_and_send(port)).is_success
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


def test_stop_is_prompt() -> None:
    sim = SimulatorThread(SimSettings(port=0))
    sim.start()
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    assert asyncio.run(_refused(sim.port))


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def _raw_bind(port: int, bind_type: wire.BindType) -> Stream:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(wire.encode_bind(bind_type, 1, "smshub", "secret"))
    assert wire.header(await _read(reader))[1] == status.ESME_ROK
    return reader, writer


async def _read(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readexactly(4), 2)
    return head + await asyncio.wait_for(reader.readexactly(int.from_bytes(head) - 4), 2)


async def _receive(stream: Stream) -> smpp34.DeliverSm:
    """The next deliver_sm on a raw bind, answered OK."""
    reader, writer = stream
    pdu = await _read(reader)
    command_id, _, sequence = wire.header(pdu)
    assert command_id == wire.DELIVER_SM
    writer.write(wire.encode_resp(wire.DELIVER_SM_RESP, sequence))
    decoded = wire.decode_message(pdu)
    assert isinstance(decoded, smpp34.DeliverSm)
    return decoded


def test_receipts_for_a_transmitter_wait_for_and_go_to_a_receiver() -> None:
    async def scenario() -> None:
        async with simulator(SimSettings(port=0, dlr_delay=0.0, delivery_ratio=1.0)) as sim:
            tx_reader, tx_writer = await _raw_bind(sim.port, "TX")
            submit = smpp34.SubmitSm("SHOP", "33612345678", b"hello", registered_delivery=1)
            tx_writer.write(submit.encode())
            resp = await _read(tx_reader)
            assert wire.resp_message_id(resp) == "1A2B0000"
            await asyncio.sleep(0.1)
            assert sim.receipts_sent == 0  # stored: nobody can receive it yet
            with pytest.raises(RuntimeError):
                await sim.send_mo("33612345678", "SHOP", "STOP")
            rx = await _raw_bind(sim.port, "RX")
            receipt = await _receive(rx)
            assert receipt.esm_class == 0x04 and receipt.destination_addr == "SHOP"
            assert receipt.short_message.startswith(b"id:439025664 sub:001 dlvrd:001 ")
            assert b" stat:DELIVRD err:000 text:hello" in receipt.short_message
            tlvs = {tlv.tag: tlv.value for tlv in receipt.tlvs}
            assert tlvs[TLV_RECEIPTED_MESSAGE_ID] == b"1A2B0000\0"
            assert tlvs[TLV_MESSAGE_STATE] == bytes([2])
            sent = asyncio.create_task(sim.send_mo("33612345678", "SHOP", "STOP"))
            mo = await _receive(rx)
            assert await sent == 1  # once the ESME has answered
            assert (mo.source_addr, mo.destination_addr, mo.short_message) == (
                "33612345678", "SHOP", b"STOP",
            )  # fmt: skip
            await wait_until(lambda: sim.receipts_sent == 1)
            assert sim.bound_sessions == 2
            tx_writer.close()
            rx[1].close()

    run(scenario())


def test_a_refused_receipt_is_offered_again() -> None:
    async def scenario() -> None:
        settings = SimSettings(port=0, dlr_delay=0.0, delivery_ratio=1.0, redeliver_after=0.05)
        async with simulator(settings) as sim:
            reader, writer = await _raw_bind(sim.port, "TRX")
            writer.write(
                smpp34.SubmitSm("SHOP", "33612345678", b"hi", registered_delivery=1).encode()
            )
            assert wire.header(await _read(reader))[0] == wire.SUBMIT_SM_RESP
            first = await _read(reader)
            writer.write(wire.encode_header(wire.DELIVER_SM_RESP, wire.header(first)[2],
                                            status.ESME_RMSGQFUL))  # fmt: skip
            again = await _receive((reader, writer))
            assert again.short_message == wire.decode_message(first).short_message
            await wait_until(lambda: sim.receipts_sent == 1)
            assert sim.receipts_refused == 1
            writer.close()

    run(scenario())
