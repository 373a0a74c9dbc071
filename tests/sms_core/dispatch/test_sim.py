"""The simulator on its own: threaded use, the command line, bind refusal."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import smpp34

from sms_core.dispatch.sim import SimSettings, SimulatorThread
from tests.sms_core.dispatch.helpers import run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _bind_and_send(port: int, password: str = "secret") -> smpp34.SubmitSmResp:
    client = smpp34.Client("127.0.0.1", port, "smshub", password, connect_timeout_ms=1000)
    smsc = await client.connect()
    try:
        return await smsc.submit_sm("33612345678", b"hello", source_addr="SHOP")
    finally:
        await smsc.unbind()


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
