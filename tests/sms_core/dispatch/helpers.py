"""Shared helpers for dispatch tests: a simulator, a driver pointed at it, and waiting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from sms_core import encoding
from sms_core.dispatch.sim import Faults, SimSettings, SmscSimulator
from sms_core.dispatch.smpp import SmppDriver, SmppSettings
from sms_core.dispatch.types import DeliveryReport, InboundSms, OutboundSms

T = TypeVar("T")

FAST = SimSettings(port=0, dlr_delay=0.05, delivery_ratio=1.0)


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one scenario in a fresh loop, bounded so that a hang fails instead of stalling."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def driver_settings(sim: SmscSimulator, **overrides: Any) -> SmppSettings:
    base = SmppSettings(
        host="127.0.0.1",
        port=sim.port,
        system_id=sim.settings.system_id,
        password=sim.settings.password,
        window=10,
        submit_timeout=2.0,
        connect_timeout=1.0,
        reconnect_initial=0.05,
        reconnect_max=0.5,
        patience=10.0,
        submit_id_format="hex",
        receipt_id_format="dec",
    )
    return replace(base, **overrides)


class Sink:
    """Collects what a driver hands to its owner."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.inbound: list[InboundSms] = []

    def report(self, report: DeliveryReport) -> None:
        self.reports.append(report)

    async def inbound_async(self, sms: InboundSms) -> None:
        self.inbound.append(sms)


@contextlib.asynccontextmanager
async def simulator(
    settings: SimSettings = FAST, faults: Faults | None = None
) -> AsyncIterator[SmscSimulator]:
    sim = SmscSimulator(settings, faults)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@contextlib.asynccontextmanager
async def driver(
    sim: SmscSimulator, name: str = "main", **overrides: Any
) -> AsyncIterator[tuple[SmppDriver, Sink]]:
    drv = SmppDriver(name, driver_settings(sim, **overrides))
    sink = Sink()
    drv.on_report = sink.report
    drv.on_inbound = sink.inbound_async
    await drv.start()
    try:
        yield drv, sink
    finally:
        await drv.stop()


def sms(n: int = 0, text: str = "Votre rendez-vous est demain à 10h", to: str = "") -> OutboundSms:
    """A message encoded the way the hub will encode it (sms_core.encoding)."""
    analysis = encoding.analyze(text)
    parts = encoding.encode_parts(analysis, reference=n % 256)
    return OutboundSms(
        message_id=f"m{n}",
        to=to or f"+336{n:08d}",
        sender="SHOP",
        parts=[p.short_message for p in parts],
        data_coding=parts[0].data_coding,
        esm_class=parts[0].esm_class,
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def gather(*aws: Awaitable[T]) -> list[T]:
    return list(await asyncio.gather(*aws))
