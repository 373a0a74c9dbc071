"""The dispatcher: drivers per route, concurrent batches, failover, reports and replies.

The hub's dispatcher process owns one :class:`Dispatcher`::

    dispatcher = Dispatcher(routes, rules, on_report=record_report, on_inbound=handle_reply)
    await dispatcher.start()
    outcomes = await dispatcher.submit_batch(messages)   # one SubmitOutcome per message, in order
    ...
    await dispatcher.stop()

Delivery semantics: **at least once**. The hub records an outcome after ``submit_batch``
returns; a crash between an operator's acceptance and that record makes the message look
unsent, and the sweeper sends it again. What can be sent twice that way is bounded by what was
in flight: at most one window (``SmppSettings.window``) per route, plus the parts resent after
a lost connection that each outcome reports in ``resent_after_disconnect``. The engine never
drops a message silently: every input gets an outcome.

Reports: duplicates (same route, operator id and state) are dropped; a report whose operator id
has not yet been returned in an outcome (the SMSC answered the receipt before the
submit_sm_resp) is held until that outcome has been returned, or ``early_report_grace``
seconds, so ``on_report`` normally sees ids the hub has already recorded. The hub should still
keep an unknown id for a later match rather than discard it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sms_core.dispatch.http import HttpDriver, HttpSettings
from sms_core.dispatch.protocol import (
    Driver,
    InboundCallback,
    ReportCallback,
    capacity,
    deliver,
)
from sms_core.dispatch.routing import Route, RouteChoice, Router, Rule, health_summary
from sms_core.dispatch.smpp import SmppDriver, SmppSettings
from sms_core.dispatch.types import DeliveryReport, InboundSms, OutboundSms, SubmitOutcome

DriverFactory = Callable[[Route], Driver]


def make_driver(route: Route) -> Driver:
    """The driver for a route, chosen by the type of its settings."""
    if isinstance(route.settings, SmppSettings):
        return SmppDriver(route.name, route.settings)
    if isinstance(route.settings, HttpSettings):
        return HttpDriver(route.name, route.settings)
    raise TypeError(f"route {route.name}: no driver for {type(route.settings).__name__}")


class _Lru:
    """A bounded set: remembers the last ``size`` keys."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[Any, None] = OrderedDict()

    def add(self, key: Any) -> bool:
        """Record ``key``; False when it was already there."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._keys


class Dispatcher:
    """Routes, submits and fails over; forwards reports and replies to the owner."""

    def __init__(
        self,
        routes: Sequence[Route],
        rules: Sequence[Rule] = (),
        *,
        on_report: ReportCallback | None = None,
        on_inbound: InboundCallback | None = None,
        driver_factory: DriverFactory = make_driver,
        early_report_grace: float = 5.0,
        memory: int = 200_000,
    ) -> None:
        self.router = Router(routes, rules)
        self.drivers: dict[str, Driver] = {r.name: driver_factory(r) for r in routes}
        self.on_report = on_report
        self.on_inbound = on_inbound
        self.early_report_grace = early_report_grace
        self.duplicate_reports = 0
        self.failovers = 0
        self._seen_reports = _Lru(memory)
        self._known_ids = _Lru(memory)
        self._parked: dict[tuple[str, str], list[DeliveryReport]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start every driver (binds happen concurrently); a route that is down stays down
        and is retried in the background, it does not stop the others."""
        for driver in self.drivers.values():
            driver.on_report = self._on_report
            driver.on_inbound = self._on_inbound
        await asyncio.gather(*(d.start() for d in self.drivers.values()))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(d.stop() for d in self.drivers.values()), return_exceptions=True)

    @property
    def capacity(self) -> int:
        """Submits the routes can have outstanding at once, all drivers together."""
        return sum(capacity(d) for d in self.drivers.values())

    def health(self) -> list[dict[str, Any]]:
        """Per-route health rows (quality, criteria, bind state, counters) for the API."""
        states = {name: _driver_health(d) for name, d in self.drivers.items()}
        return health_summary(self.router.routes.values(), states)

    async def submit_batch(self, messages: Sequence[OutboundSms]) -> list[SubmitOutcome]:
        """Submit all concurrently (each driver applies its window and rate); outcomes in the
        order of ``messages``. Never raises for operator trouble."""
        return list(await asyncio.gather(*(self.submit(m) for m in messages)))

    async def submit(self, sms: OutboundSms) -> SubmitOutcome:
        """One message over its first healthy route, failing over on transient failures."""
        plan = self.router.plan(sms, lambda name: self.drivers[name].healthy)
        if not plan:
            return self._unroutable(sms)
        outcome: SubmitOutcome | None = None
        attempts = 0
        for choice in plan:
            outcome = await self.drivers[choice.route.name].submit(sms)
            attempts += outcome.attempts
            if outcome.ok or outcome.permanent or outcome.operator_ids:
                break  # partly accepted parts cannot be re-sent elsewhere without duplicates
            self.failovers += 1
        assert outcome is not None
        if outcome.billed_as != choice.billed_as or outcome.attempts != attempts:
            outcome = replace(outcome, billed_as=choice.billed_as, attempts=attempts)
        return self._settle(outcome, choice)

    def _settle(self, outcome: SubmitOutcome, choice: RouteChoice) -> SubmitOutcome:
        for operator_id in outcome.operator_ids:
            key = (outcome.route, operator_id)
            self._known_ids.add(key)
            if key in self._parked:
                self._spawn(self._release(key))
        if choice.failover and outcome.ok:
            detail = f"failover to {choice.route.name} ({choice.route.quality})"
            return replace(outcome, detail=f"{outcome.detail}; {detail}".lstrip("; "))
        return outcome

    def _unroutable(self, sms: OutboundSms) -> SubmitOutcome:
        if not self.router.candidates(sms):
            return SubmitOutcome(
                sms.message_id,
                False,
                error_code="no_route",
                permanent=True,
                detail=f"no route serves country={sms.country} category={sms.category}",
            )
        return SubmitOutcome(
            sms.message_id,
            False,
            error_code="operator_unavailable",
            permanent=False,
            detail="every route for this message is down",
            attempts=0,
        )

    async def _on_report(self, report: DeliveryReport) -> None:
        if not self._seen_reports.add((report.route, report.operator_id, report.state)):
            self.duplicate_reports += 1
            return
        key = (report.route, report.operator_id)
        if key in self._known_ids:
            await deliver(self.on_report, report)
            return
        first = key not in self._parked
        self._parked.setdefault(key, []).append(report)
        if first:
            self._spawn(self._release(key, after=self.early_report_grace))

    async def _release(self, key: tuple[str, str], after: float = 0.0) -> None:
        if after:
            await asyncio.sleep(after)
        else:
            await asyncio.sleep(0)  # let the caller of submit() receive its outcome first
        for report in self._parked.pop(key, []):
            await deliver(self.on_report, report)

    async def _on_inbound(self, sms: InboundSms) -> None:
        await deliver(self.on_inbound, sms)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _driver_health(driver: Driver) -> dict[str, Any]:
    report = getattr(driver, "health", None)
    if callable(report):
        with contextlib.suppress(Exception):
            return dict(report())
    return {"healthy": driver.healthy}
