"""The SMPP driver against the simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sms_core import encoding
from sms_core.dispatch import status
from sms_core.dispatch.engine import Dispatcher
from sms_core.dispatch.routing import Route
from sms_core.dispatch.sim import Faults, SimSettings
from sms_core.dispatch.smpp import SmppDriver, relative_validity, source_address
from sms_core.dispatch.types import DeliveryReport
from tests.sms_core.dispatch.helpers import (
    FAST,
    driver,
    driver_settings,
    gather,
    run,
    simulator,
    sms,
    wait_until,
)


def test_relative_validity_and_source_addresses() -> None:
    assert relative_validity(timedelta(hours=24)) == "000001000000000R"
    assert relative_validity(timedelta(minutes=90)) == "000000013000000R"
    assert source_address("SHOP") == ("SHOP", 5, 0)
    assert source_address("36180") == ("36180", 3, 0)
    assert source_address("+33612345678") == ("33612345678", 1, 1)


def test_submit_and_receipts_match_across_hex_and_decimal_ids() -> None:
    async def scenario() -> None:
        settings = SimSettings(port=0, dlr_delay=0.05, delivery_ratio=1.0, receipt_tlvs=False)
        async with simulator(settings) as sim, driver(sim) as (drv, sink):
            assert drv.healthy
            outcomes = await gather(*(drv.submit(sms(n)) for n in range(20)))
            assert all(o.ok and len(o.operator_ids) == 1 for o in outcomes)
            await wait_until(lambda: len(sink.reports) == 20)
            submitted = {o.operator_ids[0] for o in outcomes}
            assert {r.operator_id for r in sink.reports} == submitted
            assert all(r.state == "delivered" and r.route == "main" for r in sink.reports)
            # the simulator really answered in hex and wrote decimal in the receipt text
            first = sim.accepted[0].message_id
            assert any(c.isalpha() for c in first)
            assert any(f"id:{int(first, 16)} " in str(r.raw) for r in sink.reports)

    run(scenario())


def test_receipt_tlvs_and_deterministic_delivery_ratio() -> None:
    async def scenario() -> list[str]:
        settings = SimSettings(port=0, dlr_delay=0.02, delivery_ratio=0.5, seed=7)
        async with simulator(settings) as sim, driver(sim) as (drv, sink):
            outcomes = await gather(*(drv.submit(sms(n)) for n in range(20)))
            await wait_until(lambda: len(sink.reports) == 20)
            assert {r.operator_id for r in sink.reports} == {o.operator_ids[0] for o in outcomes}
            by_id = {r.operator_id: r.state for r in sink.reports}
            return [by_id[o.operator_ids[0]] for o in outcomes]

    first, second = run(scenario()), run(scenario())
    assert set(first) == {"delivered", "undeliverable"}
    assert sorted(first) == sorted(second)


def test_bind_failure_makes_the_driver_unhealthy() -> None:
    async def scenario() -> None:
        async with (
            simulator() as sim,
            driver(sim, password="wrong", connect_timeout=0.3, patience=0.5) as (drv, _),
        ):
            assert not drv.healthy
            assert drv.stats.bind_failures >= 1
            assert sim.refused_binds >= 1
            outcome = await drv.submit(sms(1))
            assert not outcome.ok and not outcome.permanent
            assert outcome.error_code == "operator_unavailable"
            assert sim.accepted == []

    run(scenario())


def test_permanent_error_surfaces_the_operator_code() -> None:
    async def scenario() -> None:
        faults = Faults(reject={"33600000001": status.ESME_RINVDSTADR})
        async with simulator(FAST, faults) as sim, driver(sim) as (drv, _):
            bad, good = await gather(drv.submit(sms(1)), drv.submit(sms(2)))
            assert not bad.ok and bad.permanent
            assert bad.error_code == "ESME_RINVDSTADR"
            assert bad.attempts == 1
            assert good.ok

    run(scenario())


def test_concatenated_message_is_one_submit_sm_per_part_with_udh_intact() -> None:
    async def scenario() -> None:
        text = "Rappel : " + "votre commande est prete, " * 15
        message = sms(3, text)
        assert len(message.parts) == encoding.analyze(text).segments == 3
        async with simulator() as sim, driver(sim) as (drv, sink):
            outcome = await drv.submit(message)
            assert outcome.ok and len(outcome.operator_ids) == 3
            assert [s.short_message for s in sim.accepted] == message.parts
            assert all(
                s.esm_class == 0x40 and s.short_message[:3] == b"\x05\x00\x03" for s in sim.accepted
            )
            assert [s.short_message[5] for s in sim.accepted] == [1, 2, 3]
            wire = sim.wire_submits
            assert {w.validity_period for w in wire} == {"000001000000000R"}
            assert {w.registered_delivery for w in wire} == {1}
            assert {w.destination_addr for w in wire} == {"33600000003"}
            await wait_until(lambda: len(sink.reports) == 3)

    run(scenario())


def test_ucs2_message_keeps_its_data_coding() -> None:
    async def scenario() -> None:
        async with simulator() as sim, driver(sim) as (drv, _):
            outcome = await drv.submit(sms(4, "Merci 🙏 à demain"))
            assert outcome.ok
            assert sim.accepted[0].data_coding == 8
            assert sim.accepted[0].short_message.decode("utf-16-be") == "Merci 🙏 à demain"

    run(scenario())


def test_throttling_slows_down_and_everything_gets_through() -> None:
    async def scenario() -> None:
        faults = Faults(throttle_above_rate=100)
        async with simulator(FAST, faults) as sim, driver(sim, window=20) as (drv, _):
            outcomes = await gather(*(drv.submit(sms(n)) for n in range(250)))
            assert all(o.ok for o in outcomes)
            assert sim.throttled > 0 and drv.stats.throttled == sim.throttled
            assert drv.rate is not None and drv.rate < 1000
            assert len(sim.accepted) == 250

    run(scenario(), timeout=30)


def test_missing_responses_are_retried_after_the_submit_timeout() -> None:
    async def scenario() -> None:
        faults = Faults(no_response_ratio=0.2)
        async with simulator(FAST, faults) as sim, driver(sim, submit_timeout=0.3) as (drv, _):
            outcomes = await gather(*(drv.submit(sms(n)) for n in range(30)))
            assert all(o.ok for o in outcomes)
            assert drv.stats.timeouts == sim.unanswered > 0
            assert sum(o.resent_after_disconnect for o in outcomes) == sim.unanswered

    run(scenario())


def test_disconnect_with_fifty_in_flight_loses_nothing() -> None:
    async def scenario() -> None:
        faults = Faults(disconnect_after=60)
        async with simulator(FAST, faults) as sim, driver(sim, window=50) as (drv, sink):
            outcomes = await gather(*(drv.submit(sms(n)) for n in range(150)))
            assert all(o.ok for o in outcomes), [o.detail for o in outcomes if not o.ok]
            assert sim.disconnects == 1 and drv.stats.disconnects == 1
            assert drv.healthy
            received = {s.destination_addr for s in sim.accepted}
            assert received == {f"336{n:08d}" for n in range(150)}
            duplicates = len(sim.accepted) - 150
            resent = sum(o.resent_after_disconnect for o in outcomes)
            assert duplicates <= resent <= 50
            print(f"disconnect: {duplicates} duplicates, {resent} resent")
            await wait_until(lambda: len(sink.reports) >= 150)

    run(scenario())


def test_receipt_before_submit_response_still_matches() -> None:
    async def scenario() -> None:
        faults = Faults(dlr_before_resp=True)
        async with simulator(FAST, faults) as sim, driver(sim) as (drv, sink):
            outcomes = await gather(*(drv.submit(sms(n)) for n in range(5)))
            await wait_until(lambda: len(sink.reports) == 5)
            assert {r.operator_id for r in sink.reports} == {o.operator_ids[0] for o in outcomes}
            assert sim.receipts_sent == 5

    run(scenario())


def test_mo_reply_reaches_on_inbound() -> None:
    async def scenario() -> None:
        async with simulator() as sim, driver(sim) as (drv, sink):
            await sim.send_mo("33612345678", "SHOP", "STOP")
            long_reply = "Je ne suis pas disponible, merci de décaler 🙏 " * 3
            assert await sim.send_mo("33612345678", "SHOP", long_reply) > 1
            await wait_until(lambda: len(sink.inbound) == 2)
            stop, long = sink.inbound
            assert (stop.sender, stop.recipient, stop.text) == ("+33612345678", "SHOP", "STOP")
            assert long.text == long_reply
            assert drv.stats.reports == 0

    run(scenario())


def test_driver_reconnects_after_the_smsc_comes_back() -> None:
    async def scenario() -> None:
        async with simulator() as sim, driver(sim) as (drv, _):
            await sim.disconnect_all()
            await wait_until(lambda: drv.stats.disconnects == 1)
            await wait_until(lambda: drv.healthy)
            assert (await drv.submit(sms(9))).ok

    run(scenario())


def test_route_with_three_binds_spreads_submits_and_survives_losing_one() -> None:
    async def scenario() -> None:
        count = 600
        async with simulator(FAST) as sim:
            settings = driver_settings(sim, binds=3, window=20)
            reports: list[DeliveryReport] = []
            dispatcher = Dispatcher([Route("multi", settings, "premium")], on_report=reports.append)
            await dispatcher.start()
            try:
                drv = dispatcher.drivers["multi"]
                assert isinstance(drv, SmppDriver)
                await wait_until(lambda: drv.binds_up == 3)
                await wait_until(lambda: sim.bound_sessions == 3)  # same credentials

                async def cut_one_bind() -> None:
                    await wait_until(lambda: len(sim.accepted) >= count // 3)
                    assert await sim.disconnect_one()

                outcomes, _ = await asyncio.gather(
                    dispatcher.submit_batch([sms(n) for n in range(count)]), cut_one_bind()
                )
                await wait_until(lambda: drv.stats.disconnects == 1)
                await wait_until(lambda: drv.binds_up == 3)
                health = {row["route"]: row for row in dispatcher.health()}["multi"]
                ids = {o.operator_ids[0] for o in outcomes if o.ok}
                await wait_until(lambda: ids <= {r.operator_id for r in reports}, timeout=10)
            finally:
                await dispatcher.stop()
        assert len(outcomes) == count and {o.message_id for o in outcomes} == {
            f"m{n}" for n in range(count)
        }
        assert all(o.ok and len(o.operator_ids) == 1 for o in outcomes), [
            o.detail for o in outcomes if not o.ok
        ]
        assert len(ids) == count
        per_id = Counter(r.operator_id for r in reports)
        assert all(per_id[i] == 1 for i in ids)
        received = {s.destination_addr for s in sim.accepted}
        assert received == {f"336{n:08d}" for n in range(count)}
        assert len(sim.accepted) - count <= sum(o.resent_after_disconnect for o in outcomes)
        sessions = Counter(s.session_id for s in sim.accepted)
        assert len(sessions) >= 3  # the three binds (and any that replaced the lost one)
        assert sum(n >= count // 10 for n in sessions.values()) >= 3
        assert health["healthy"] is True and health["binds_up"] == 3
        assert len(health["binds"]) == 3
        assert sum(b["disconnects"] for b in health["binds"]) == 1
        assert all(b["submitted"] > 0 for b in health["binds"])

    run(scenario(), timeout=40)
