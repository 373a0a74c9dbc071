"""Large batches over loopback SMPP: every message gets an outcome and a receipt, in bounded time.

Regression: the driver used to read deliver_sm only as fast as its owner recorded them; past
~1,000 unread receipts the SMPP library NAKed one and then dropped the bind without telling,
and the driver waited for a re-bind that never came (2,000-message batches stalled at ~1,375).
Now the driver reads everything, and defers (ESME_RMSGQFUL) what its owner cannot keep up with.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sms_core.dispatch.engine import Dispatcher
from sms_core.dispatch.routing import Route
from sms_core.dispatch.sim import SimSettings, SimulatorThread
from sms_core.dispatch.types import DeliveryReport
from tests.sms_core.dispatch.helpers import driver_settings, run, sms, wait_until

COUNT = 5_000


def test_five_thousand_messages_all_get_an_outcome_and_a_receipt_with_a_slow_owner() -> None:
    reports: list[DeliveryReport] = []

    async def record(report: DeliveryReport) -> None:
        await asyncio.sleep(0.0005)  # the owner writes to a database: slower than the wire
        reports.append(report)

    async def scenario(sim: SimulatorThread) -> None:
        settings = driver_settings(sim.simulator, window=50, patience=15.0)
        dispatcher = Dispatcher([Route("main", settings)], on_report=record)
        await dispatcher.start()
        try:
            started = time.monotonic()
            outcomes = await dispatcher.submit_batch([sms(n) for n in range(COUNT)])
            assert [o.message_id for o in outcomes] == [f"m{n}" for n in range(COUNT)]
            failed = [o.detail for o in outcomes if not o.ok]
            assert not failed, failed[:3]
            await wait_until(lambda: len(reports) >= COUNT, timeout=45.0)
            elapsed = time.monotonic() - started
            ids = Counter(o.operator_ids[0] for o in outcomes)
            assert len(ids) == COUNT
            assert Counter(r.operator_id for r in reports) == ids
            assert {r.state for r in reports} == {"delivered"}
            [health] = dispatcher.health()
            assert health["healthy"] and health["disconnects"] == 0
            print(f"{COUNT} messages and receipts in {elapsed:.1f} s")
        finally:
            await dispatcher.stop()

    with SimulatorThread(SimSettings(port=0, dlr_delay=0.05, delivery_ratio=1.0)) as sim:
        run(scenario(sim), timeout=60.0)  # a guard against hanging; speed is benchmarks' job
        destinations = Counter(s.destination_addr for s in sim.simulator.accepted)
        assert len(destinations) == COUNT and set(destinations.values()) == {1}
        assert sim.simulator.receipts_sent == COUNT


def test_an_owner_far_behind_defers_receipts_and_loses_neither_them_nor_the_bind() -> None:
    """An event loop blocked long enough for receipts to pile up past the (here tiny) inbound
    capacity: the driver answers the excess ESME_RMSGQFUL, the simulator offers those receipts
    again, every one arrives, and the bind is never dropped."""
    reports: list[DeliveryReport] = []

    def record(report: DeliveryReport) -> None:
        if not reports:
            time.sleep(1.0)  # blocks the whole loop while the SMSC keeps sending
        reports.append(report)

    async def scenario(sim: SimulatorThread) -> None:
        settings = driver_settings(sim.simulator, window=50, inbound_capacity=16)
        dispatcher = Dispatcher([Route("main", settings)], on_report=record)
        await dispatcher.start()
        try:
            outcomes = await dispatcher.submit_batch([sms(n) for n in range(300)])
            assert all(o.ok for o in outcomes), [o.detail for o in outcomes if not o.ok][:3]
            ids = {i for o in outcomes for i in o.operator_ids}
            await wait_until(lambda: {r.operator_id for r in reports} >= ids, timeout=10.0)
            [health] = dispatcher.health()
            assert health["disconnects"] == 0 and health["healthy"]
        finally:
            await dispatcher.stop()

    settings = SimSettings(port=0, dlr_delay=0.0, delivery_ratio=1.0, redeliver_after=0.05)
    with SimulatorThread(settings) as sim:
        run(scenario(sim), timeout=20.0)
        assert sim.simulator.receipts_refused > 0
