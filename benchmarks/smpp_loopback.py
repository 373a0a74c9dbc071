"""Raw SMPP loopback rate: an SMPP client against the local SMSC simulator, nothing else.

This is the physical ceiling the end-to-end hub benchmark is compared with: N submit_sm over one
transceiver bind with a window of outstanding requests, and the N delivery receipts coming
back. No driver logic, no routing, no database: only the SMPP stack and the simulator, both in
this process and on one event loop (one core).

Two clients are measured, one after the other, against the same simulator:

* ``session``: :class:`sms_core.dispatch.smpp_session.EsmeSession`, the stack the hub's driver
  uses (smpp34's Rust codec, asyncio transport);
* ``smpp34``: smpp34's own asyncio client (Rust codec and Rust/tokio session threads).

    python benchmarks/smpp_loopback.py                   # 20,000 messages, window 64, both
    python benchmarks/smpp_loopback.py --client session  # one of them
    python benchmarks/smpp_loopback.py --count 200       # a tiny run

Prints one line per figure and a final JSON line with all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import smpp34

from sms_core.dispatch import status
from sms_core.dispatch.sim import SimSettings, SmscSimulator
from sms_core.dispatch.smpp_session import EsmeSession

CLIENTS = ("session", "smpp34")
FIELDS: dict[str, Any] = {
    "source_addr": "BENCH", "source_addr_ton": 5, "registered_delivery": 1,
    "validity_period": "000001000000000R",
}  # fmt: skip


@dataclass
class Figures:
    client: str
    count: int
    window: int
    submit_seconds: float
    submits_per_second: float
    dlr_seconds: float
    dlrs_per_second: float
    errors: int


Submit = Callable[[int], Awaitable[bool]]


async def _submit_all(submit: Submit, count: int, window: int) -> int:
    """``window`` workers, each with one submit_sm outstanding, until ``count`` are answered.

    Workers rather than one task per message: thousands of parked tasks cost the event loop
    more than the protocol does, and would measure asyncio instead of SMPP.
    """
    numbers = iter(range(count))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for n in numbers:
            if not await submit(n):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(window)))
    return errors


async def _run(client: str, port: int, settings: SimSettings, count: int,
               window: int) -> tuple[float, float, float, int]:  # fmt: skip
    """(start, all answered, all receipts back, errors) for one client."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    received = 0

    def receipt() -> None:
        nonlocal received
        received += 1
        if received == count and not done.done():
            done.set_result(time.perf_counter())

    if client == "session":

        def on_deliver(pdu: smpp34.DeliverSm) -> int:
            if pdu.esm_class & 0x04:
                receipt()
            return status.ESME_ROK

        session = await EsmeSession.open("127.0.0.1", port, settings.system_id,
                                         settings.password, on_deliver=on_deliver)  # fmt: skip

        async def submit(n: int) -> bool:
            resp = await session.submit_sm(f"336{n % 10**8:08d}", b"Benchmark message",
                                           timeout=30, **FIELDS)  # fmt: skip
            return resp.is_success

        start = time.perf_counter()
        errors = await _submit_all(submit, count, window)
        answered = time.perf_counter()
        finished = await asyncio.wait_for(done, 120)
        await session.unbind()
        return start, answered, finished, errors

    library = smpp34.Client("127.0.0.1", port, settings.system_id, settings.password,
                            window_size=window, inbound_capacity=max(1024, count))  # fmt: skip
    smsc = await library.connect()

    async def read() -> None:
        while received < count:
            event = await smsc.next()
            if isinstance(event, smpp34.Disconnected):
                return
            if event.esm_class & 0x04:
                receipt()

    async def submit_library(n: int) -> bool:
        resp = await smsc.submit_sm(f"336{n % 10**8:08d}", b"Benchmark message", **FIELDS)
        return resp.is_success

    reader = asyncio.create_task(read())
    start = time.perf_counter()
    errors = await _submit_all(submit_library, count, window)
    answered = time.perf_counter()
    finished = await asyncio.wait_for(done, 120)
    await reader
    await smsc.unbind()
    # stop the library's runtime threads now: left running, they may call into the
    # interpreter while it finalizes (a crash at exit)
    stopped = library.stop()
    if asyncio.iscoroutine(stopped):
        await stopped
    return start, answered, finished, errors


async def measure(count: int, window: int, client: str = "session") -> Figures:
    settings = SimSettings(port=0, dlr_delay=0.0, delivery_ratio=1.0, record_wire=False)
    sim = SmscSimulator(settings)
    await sim.start()
    try:
        start, answered, finished, errors = await _run(client, sim.port, settings, count, window)
    finally:
        await sim.stop()
    submit_s, dlr_s = answered - start, finished - start
    return Figures(
        client, count, window, round(submit_s, 3), round(count / submit_s, 1),
        round(dlr_s, 3), round(count / dlr_s, 1), errors,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--client", choices=(*CLIENTS, "both"), default="both")
    args = parser.parse_args(argv)
    clients = CLIENTS if args.client == "both" else (args.client,)
    results = []
    for client in clients:
        figures = asyncio.run(measure(args.count, args.window, client))
        results.append(figures)
        label = "EsmeSession (smpp34 codec)" if client == "session" else (
            f"smpp34 {smpp34.__version__} client")
        print(f"{label} loopback, {figures.count} messages, window {args.window}")
        print(f"  submit_sm: {figures.submits_per_second:,.0f}/s ({figures.submit_seconds} s)")
        print(f"  receipts:  {figures.dlrs_per_second:,.0f}/s "
              f"(all back after {figures.dlr_seconds} s)")  # fmt: skip
    print(json.dumps([asdict(f) for f in results]))
    return results


if __name__ == "__main__":
    main()
    # smpp34's runtime threads (stopped, but not joined by the library) may still call into the
    # interpreter while it finalizes, which aborts the process now and then: the figures are
    # printed, so leave without finalizing
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
