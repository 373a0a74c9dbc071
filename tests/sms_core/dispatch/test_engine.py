"""The dispatcher over real routes: failover, report de-duplication and ordering, replies."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sms_core.dispatch.engine import Dispatcher
from sms_core.dispatch.http import HttpSettings
from sms_core.dispatch.routing import Route
from sms_core.dispatch.sim import Faults
from sms_core.dispatch.types import DeliveryReport, InboundSms, OutboundSms, SubmitOutcome
from tests.sms_core.dispatch.fake_operator import OperatorState, fake_operator
from tests.sms_core.dispatch.helpers import FAST, driver_settings, run, simulator, sms, wait_until

FR = frozenset({"FR"})


def marketing(n: int) -> OutboundSms:
    return replace(sms(n), category="marketing", country="FR")


def test_failover_when_the_standard_route_is_down_keeps_the_standard_price() -> None:
    async def scenario() -> None:
        async with simulator() as sim:
            down = driver_settings(sim, password="wrong", connect_timeout=0.3)
            routes = [
                Route("std", down, "standard", countries=FR),
                Route("prem", driver_settings(sim), "premium", countries=FR),
            ]
            reports: list[DeliveryReport] = []
            dispatcher = Dispatcher(routes, on_report=reports.append)
            await dispatcher.start()
            try:
                outcomes = await dispatcher.submit_batch([marketing(n) for n in range(10)])
                health = {row["route"]: row for row in dispatcher.health()}
                await wait_until(lambda: len(reports) == 10)
            finally:
                await dispatcher.stop()
        assert all(o.ok for o in outcomes)
        assert {(o.route, o.billed_as) for o in outcomes} == {("prem", "standard")}
        assert all("failover to prem" in o.detail for o in outcomes)
        assert health["std"]["healthy"] is False and health["std"]["bind_failures"] >= 1
        assert health["prem"]["healthy"] is True and health["prem"]["quality"] == "premium"
        assert {r.route for r in reports} == {"prem"}

    run(scenario())


def test_transient_failure_on_the_first_route_fails_over_to_the_next() -> None:
    with fake_operator(OperatorState(always=503)) as (url, state):

        async def scenario() -> SubmitOutcome:
            async with simulator() as sim:
                http = HttpSettings(url, headers={"X-Api-Key": "k-123"}, retries=0)
                routes = [
                    Route("std-http", http, "standard"),
                    Route("prem", driver_settings(sim), "premium"),
                ]
                dispatcher = Dispatcher(routes)
                await dispatcher.start()
                try:
                    return await dispatcher.submit(marketing(1))
                finally:
                    await dispatcher.stop()

        outcome = run(scenario())
    assert len(state.requests) == 1
    assert (outcome.ok, outcome.route, outcome.billed_as, outcome.attempts) == (
        True,
        "prem",
        "standard",
        2,
    )


def test_permanent_refusal_does_not_fail_over() -> None:
    async def scenario() -> tuple[SubmitOutcome, int]:
        faults = Faults(reject={"33600000001": 0x0B})
        async with simulator(FAST, faults) as sim:
            routes = [Route("a", driver_settings(sim)), Route("b", driver_settings(sim))]
            dispatcher = Dispatcher(routes)
            await dispatcher.start()
            try:
                return await dispatcher.submit(marketing(1)), len(sim.accepted)
            finally:
                await dispatcher.stop()

    outcome, accepted = run(scenario())
    assert (outcome.ok, outcome.permanent, outcome.route, outcome.error_code) == (
        False,
        True,
        "a",
        "ESME_RINVDSTADR",
    )
    assert accepted == 0


def test_no_route_and_all_routes_down() -> None:
    async def scenario() -> tuple[SubmitOutcome, SubmitOutcome]:
        async with simulator() as sim:
            down = driver_settings(sim, password="wrong", connect_timeout=0.3)
            dispatcher = Dispatcher([Route("std", down, countries=FR)])
            await dispatcher.start()
            try:
                abroad = replace(marketing(1), country="DE")
                return await dispatcher.submit(abroad), await dispatcher.submit(marketing(2))
            finally:
                await dispatcher.stop()

    abroad, down = run(scenario())
    assert (abroad.error_code, abroad.permanent) == ("no_route", True)
    assert (down.error_code, down.permanent) == ("operator_unavailable", False)


def test_duplicate_and_early_receipts_reach_the_owner_once_and_after_the_outcome() -> None:
    async def scenario() -> None:
        faults = Faults(duplicate_dlr=True, dlr_before_resp=True)
        async with simulator(FAST, faults) as sim:
            known: set[str] = set()
            late: list[str] = []
            reports: list[DeliveryReport] = []

            def on_report(report: DeliveryReport) -> None:
                reports.append(report)
                if report.operator_id not in known:
                    late.append(report.operator_id)

            dispatcher = Dispatcher([Route("main", driver_settings(sim))], on_report=on_report)
            await dispatcher.start()

            async def send(n: int) -> None:
                outcome = await dispatcher.submit(sms(n))
                known.update(outcome.operator_ids)

            try:
                await asyncio.gather(*(send(n) for n in range(10)))
                await wait_until(lambda: sim.receipts_sent == 20)
                await wait_until(lambda: len(reports) == 10)
                await asyncio.sleep(0.1)
            finally:
                await dispatcher.stop()
            assert len(reports) == 10 and late == []
            assert dispatcher.duplicate_reports == 10
            assert len({r.operator_id for r in reports}) == 10

    run(scenario())


def test_replies_are_forwarded() -> None:
    async def scenario() -> list[InboundSms]:
        async with simulator() as sim:
            inbound: list[InboundSms] = []
            dispatcher = Dispatcher([Route("main", driver_settings(sim))])
            dispatcher.on_inbound = inbound.append
            await dispatcher.start()
            try:
                await sim.send_mo("33612345678", "36180", "Stop")
                await wait_until(lambda: len(inbound) == 1)
            finally:
                await dispatcher.stop()
            return inbound

    (reply,) = run(scenario())
    assert (reply.sender, reply.recipient, reply.text, reply.route) == (
        "+33612345678",
        "36180",
        "Stop",
        "main",
    )
