"""Raw SMPP loopback rate: smpp34's client against the local SMSC simulator, nothing else.

This is the physical ceiling the end-to-end hub benchmark is compared with: N submit_sm over one
transceiver bind with a window of outstanding requests, and the N delivery receipts coming
back. No driver logic, no routing, no database: only the library and the simulator.

    python benchmarks/smpp_loopback.py                  # 20,000 messages, window 64
    python benchmarks/smpp_loopback.py --count 200      # a tiny run

Prints one line per figure and a final JSON line with all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass

import smpp34

from sms_core.dispatch.sim import SimSettings, SmscSimulator


@dataclass
class Figures:
    count: int
    window: int
    submit_seconds: float
    submits_per_second: float
    dlr_seconds: float
    dlrs_per_second: float
    errors: int


async def _submit_all(smsc: smpp34.Smsc, count: int, window: int) -> int:
    """``window`` workers, each with one submit_sm outstanding, until ``count`` are answered.

    Workers rather than one task per message: thousands of parked tasks cost the event loop
    more than the protocol does, and would measure asyncio instead of SMPP.
    """
    numbers = iter(range(count))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for n in numbers:
            resp = await smsc.submit_sm(
                f"336{n % 10**8:08d}",
                b"Benchmark message",
                source_addr="BENCH",
                source_addr_ton=5,
                registered_delivery=1,
                validity_period="000001000000000R",
            )
            if not resp.is_success:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(window)))
    return errors


async def _collect_receipts(smsc: smpp34.Smsc, count: int, done: asyncio.Future[float]) -> None:
    received = 0
    while received < count:
        event = await smsc.next()
        if isinstance(event, smpp34.Disconnected):
            break
        if event.esm_class & 0x04:
            received += 1
    done.set_result(time.perf_counter())


async def measure(count: int, window: int) -> Figures:
    settings = SimSettings(port=0, dlr_delay=0.0, delivery_ratio=1.0)
    sim = SmscSimulator(settings)
    await sim.start()
    client = smpp34.Client(
        "127.0.0.1", sim.port, settings.system_id, settings.password, window_size=window,
        inbound_capacity=max(1024, count),
    )  # fmt: skip
    smsc = await client.connect()
    try:
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        reader = asyncio.create_task(_collect_receipts(smsc, count, done))
        start = time.perf_counter()
        errors = await _submit_all(smsc, count, window)
        submitted = time.perf_counter()
        finished = await asyncio.wait_for(done, 120)
        await reader
    finally:
        await smsc.unbind()
        await sim.stop()
    submit_s, dlr_s = submitted - start, finished - start
    return Figures(
        count, window, round(submit_s, 3), round(count / submit_s, 1),
        round(dlr_s, 3), round(count / dlr_s, 1), errors,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=64)
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.count, args.window))
    print(f"smpp34 {smpp34.__version__} loopback, {figures.count} messages, window {args.window}")
    print(f"submit_sm: {figures.submits_per_second:,.0f}/s ({figures.submit_seconds} s)")
    print(f"receipts:  {figures.dlrs_per_second:,.0f}/s (all back after {figures.dlr_seconds} s)")
    print(json.dumps(asdict(figures)))
    return figures


if __name__ == "__main__":
    main()
