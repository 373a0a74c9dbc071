"""The SMPP 3.4 operator driver, on smpp34's asyncio client.

One :class:`SmppDriver` holds ``binds`` transceiver binds (SMPP sessions) to one SMSC and keeps
each up: every bind reconnects on its own with exponential backoff, and ``healthy`` is false
while no bind is up (a refused bind included). Each bind has its own ``window`` of outstanding
submit_sm; a submit goes to the healthy bind with the fewest outstanding, so a lost bind only
removes its share. All binds are paced by the route's one token bucket (the rate is the
account's), and receipts and MO arriving on any bind go to the same callbacks.
smpp34 runs the SMPP timers itself (enquire_link every 30 s, response timer); the driver adds
its own, shorter, ``submit_timeout`` so that a stuck SMSC costs seconds.

Inbound deliver_sm (receipts, MO) are read off the bind by a pump that never waits for the owner:
smpp34 buffers unread deliver_sm in a bounded channel (``inbound_capacity``), NAKs the next
one with ESME_RMSGQFUL once it is full and tears the session down on the one after, dropping
even its own "disconnected" event. A reader that awaited a database write per receipt therefore
killed the bind after ~1,000 receipts and never noticed. The pump moves events into the
driver's own queue at once; a separate handler task hands them to the owner. The supervisor
also watches ``client.is_alive()``, so a session the library dropped silently is re-bound.

What each submit_sm_resp means is decided in :mod:`sms_core.dispatch.status`:
throttling slows the bucket down and retries, transient errors retry a few times, permanent
errors end the message with the operator's code. A submit whose response never came (timeout,
connection lost) is sent again once the bind is back: at-least-once, and the outcome counts
those resends (``resent_after_disconnect``), which is at most one window per lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta, tzinfo
from typing import Any, Literal

import smpp34

from sms_core.dispatch import status
from sms_core.dispatch.inbound import MoAssembler
from sms_core.dispatch.protocol import InboundCallback, ReportCallback, deliver
from sms_core.dispatch.receipts import (
    IdFormat,
    is_receipt,
    normalize_operator_id,
    report_from_deliver_sm,
)
from sms_core.dispatch.throttle import TokenBucket, backoff
from sms_core.dispatch.types import OutboundSms, SubmitOutcome

log = logging.getLogger(__name__)

LIBRARY_SETTLE = 0.2
"""Seconds ``stop()`` waits after closing the bind: smpp34 tears the session down on its own
threads, and a completion landing on an event loop that ``asyncio.run`` already closed can
crash the interpreter."""

BindType = Literal["TRX", "TX", "RX"]


@dataclass(frozen=True)
class SmppSettings:
    """Everything needed to talk to one SMSC. Times are in seconds."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind_type: BindType = "TRX"
    window: int = 10
    """Outstanding submit_sm without a response, per bind; also the bound on duplicates after a
    crash (times ``binds``)."""
    binds: int = 1
    """SMPP sessions opened in parallel with the same credentials (operators usually allow a
    few per account)."""
    rate: float | None = None
    """Messages per second the operator sold us (None: as fast as the window allows)."""
    burst: int = 10
    submit_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    patience: float = 60.0
    """How long one message may wait for a bind, a throttled peer or retries before the driver
    gives up on it (transient failure: the dispatcher may fail over or retry later)."""
    transient_retries: int = 3
    submit_id_format: IdFormat = "auto"
    receipt_id_format: IdFormat = "auto"
    receipt_tz: tzinfo = UTC
    inbound_capacity: int = 16_384
    """deliver_sm smpp34 may buffer before the pump reads them (see the module docstring)."""
    liveness_interval: float = 0.5
    """Seconds between checks that the library still has the session."""


@dataclass
class DriverStats:
    """Counters for the route health API and for tests."""

    submitted: int = 0
    accepted_parts: int = 0
    throttled: int = 0
    resent: int = 0
    """parts sent again after a response that never came: the possible duplicates."""
    timeouts: int = 0
    lost_responses: int = 0
    disconnects: int = 0
    bind_failures: int = 0
    reports: int = 0
    inbound: int = 0
    inbound_queued: int = 0
    """deliver_sm read off the bind and not yet handed to the owner."""
    last_error: str | None = None


@dataclass
class _Part:
    """How one part went: the operator id, or why it failed."""

    operator_id: str | None = None
    error: str | None = None
    permanent: bool = False
    attempts: int = 0
    resent: int = 0
    detail: str = ""


@dataclass
class _Session:
    client: smpp34.Client
    smsc: smpp34.Smsc
    lost: asyncio.Event = field(default_factory=asyncio.Event)


class _Bind:
    """One SMPP session slot of a driver: its window, its session when up, its counters."""

    def __init__(self, index: int, window: int) -> None:
        self.index = index
        self.window = asyncio.Semaphore(window)
        self.session: _Session | None = None
        self.supervisor: asyncio.Task[None] | None = None
        self.attempted = False
        self.in_flight = 0
        self.load = 0
        """submits waiting for or holding this bind's window."""
        self.submitted = 0
        self.disconnects = 0
        self.bind_failures = 0
        self.last_error: str | None = None

    @property
    def up(self) -> bool:
        return self.session is not None and not self.session.lost.is_set()

    def health(self) -> dict[str, Any]:
        return {
            "bind": self.index,
            "up": self.up,
            "window_in_use": self.in_flight,
            "submitted": self.submitted,
            "disconnects": self.disconnects,
            "bind_failures": self.bind_failures,
            "last_error": self.last_error,
        }


def relative_validity(validity: timedelta) -> str:
    """SMPP 3.4 §7.1.1 relative time ``YYMMDDhhmmss000R``; 24 h is ``000001000000000R``."""
    seconds = int(validity.total_seconds())
    if not 0 < seconds < 100 * 86400:
        raise ValueError(f"validity {validity} is outside what a relative time can say")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def source_address(sender: str) -> tuple[str, int, int]:
    """(address, TON, NPI) for a sender: alphanumeric, short code or international number."""
    digits = sender.removeprefix("+")
    if not digits.isdigit():
        return sender, 5, 0  # alphanumeric (GSM 03.38 coded)
    if len(digits) <= 8 and not sender.startswith("+"):
        return digits, 3, 0  # network-specific short code
    return digits, 1, 1  # international, E.164


class SmppDriver:
    """A :class:`~sms_core.dispatch.protocol.Driver` for one SMPP route."""

    def __init__(self, name: str, settings: SmppSettings) -> None:
        self.name = name
        self.settings = settings
        self.on_report: ReportCallback | None = None
        self.on_inbound: InboundCallback | None = None
        self.stats = DriverStats()
        if settings.binds < 1:
            raise ValueError(f"route {name}: binds must be at least 1, not {settings.binds}")
        self._bucket = TokenBucket(settings.rate, settings.burst)
        self._binds = [_Bind(i, settings.window) for i in range(settings.binds)]
        self._bound = asyncio.Event()
        self._attempted = asyncio.Event()
        self._started = False
        self._stopping = False
        self._mo = MoAssembler()
        self._events: asyncio.Queue[smpp34.DeliverSmEvent] = asyncio.Queue()
        self._handler: asyncio.Task[None] | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def healthy(self) -> bool:
        return not self._stopping and any(b.up for b in self._binds)

    @property
    def binds_up(self) -> int:
        return sum(b.up for b in self._binds)

    @property
    def rate(self) -> float | None:
        """The rate the bucket currently allows (lower than nominal after throttling)."""
        return self._bucket.rate

    @property
    def window_in_use(self) -> int:
        """submit_sm sent and not yet answered, over every bind."""
        return sum(b.in_flight for b in self._binds)

    def health(self) -> dict[str, Any]:
        """A JSON-ready summary for the route health API."""
        self.stats.inbound_queued = self._events.qsize()
        return {
            "route": self.name,
            "kind": "smpp",
            "healthy": self.healthy,
            "rate": self._bucket.rate,
            "nominal_rate": self._bucket.nominal,
            "window": self.settings.window,
            "window_in_use": self.window_in_use,
            **vars(self.stats),
            "binds_up": self.binds_up,
            "binds": [b.health() for b in self._binds],
        }

    async def start(self) -> None:
        """Begin binding in the background; returns after the first attempt either way."""
        if self._started:
            return
        self._started = True
        self._stopping = False
        self._handler = asyncio.create_task(self._handle_events(), name=f"smpp-{self.name}-in")
        for bind in self._binds:
            bind.supervisor = asyncio.create_task(
                self._supervise(bind), name=f"smpp-{self.name}-{bind.index}"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), self.settings.connect_timeout + 1)

    async def stop(self) -> None:
        """Unbind politely and stop reconnecting."""
        self._stopping = True
        supervisors = [b.supervisor for b in self._binds if b.supervisor is not None]
        for task in supervisors:
            task.cancel()
        await asyncio.gather(*supervisors, return_exceptions=True)
        sessions = []
        for bind in self._binds:
            bind.supervisor = None
            if bind.session is not None:
                sessions.append(bind.session)
                bind.session = None
        self._bound.clear()
        self._started = False
        if sessions:
            await asyncio.gather(*(_close(s, unbind=True) for s in sessions))
            await asyncio.sleep(LIBRARY_SETTLE)
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._handler is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._events.join(), self.settings.submit_timeout)
            self._handler.cancel()
            await asyncio.gather(self._handler, return_exceptions=True)
            self._handler = None

    async def submit(self, sms: OutboundSms) -> SubmitOutcome:
        """Send every part of ``sms`` in order; one submit_sm per part, UDH untouched."""
        deadline = asyncio.get_running_loop().time() + self.settings.patience
        ids: list[str] = []
        attempts = resent = 0
        for part in sms.parts:
            result = await self._submit_part(sms, part, deadline)
            attempts += result.attempts
            resent += result.resent
            if result.operator_id is None:
                return self._outcome(sms, ids, attempts, resent, result)
            ids.append(result.operator_id)
        return self._outcome(sms, ids, attempts, resent, None)

    def _outcome(
        self,
        sms: OutboundSms,
        ids: list[str],
        attempts: int,
        resent: int,
        failure: _Part | None,
    ) -> SubmitOutcome:
        detail = f"{len(ids)}/{len(sms.parts)} parts accepted"
        if resent:
            detail += f"; {resent} resent after a lost response (possible duplicate)"
        if failure is not None:
            detail = f"{failure.detail}; {detail}"
        return SubmitOutcome(
            message_id=sms.message_id,
            ok=failure is None,
            operator_ids=ids,
            error_code=failure.error if failure else None,
            permanent=failure.permanent if failure else False,
            route=self.name,
            detail=detail,
            attempts=attempts,
            resent_after_disconnect=resent,
        )

    async def _submit_part(self, sms: OutboundSms, part: bytes, deadline: float) -> _Part:
        result = _Part()
        transient = 0
        loop = asyncio.get_running_loop()
        while True:
            bind = await self._wait_bound(deadline)
            if bind is None:
                result.error, result.detail = "operator_unavailable", "no bind within patience"
                return result
            await self._bucket.acquire()
            result.attempts += 1
            resp = await self._send(bind, sms, part)
            if resp == "unsent":
                result.attempts -= 1
                continue
            if resp == "unknown":
                if loop.time() >= deadline:
                    result.error, result.detail = "timeout", "no submit_sm_resp within patience"
                    return result
                result.resent += 1
                self.stats.resent += 1
                continue
            verdict = status.verdict(resp.command_status)
            if verdict == "ok":
                result.operator_id = self._operator_id(resp.message_id)
                self.stats.accepted_parts += 1
                return result
            code = status.name(resp.command_status)
            if verdict == "throttle":
                self._bucket.slow_down()
                self.stats.throttled += 1
            elif verdict == "transient":
                transient += 1
                await asyncio.sleep(min(0.1 * 2**transient, 2.0))
            if (
                verdict == "permanent"
                or transient > self.settings.transient_retries
                or loop.time() >= deadline
            ):
                result.error, result.permanent = code, verdict == "permanent"
                result.detail = f"operator answered {code}"
                self.stats.last_error = code
                return result

    async def _send(
        self, bind: _Bind, sms: OutboundSms, part: bytes
    ) -> smpp34.SubmitSmResp | Literal["unsent", "unknown"]:
        """One submit_sm within the window.

        "unsent" when the bind was already lost (nothing went out: no duplicate possible),
        "unknown" when the request went out but its response never came (it may have been
        accepted: sending it again may duplicate it).
        """
        bind.load += 1
        try:
            async with bind.window:
                return await self._send_in_window(bind, sms, part)
        finally:
            bind.load -= 1

    async def _send_in_window(
        self, bind: _Bind, sms: OutboundSms, part: bytes
    ) -> smpp34.SubmitSmResp | Literal["unsent", "unknown"]:
        session = bind.session
        if session is None or session.lost.is_set():
            return "unsent"
        self.stats.submitted += 1
        bind.submitted += 1
        bind.in_flight += 1
        try:
            return await asyncio.wait_for(
                session.smsc.submit_sm(**_submit_fields(sms, part)),
                self.settings.submit_timeout,
            )
        except TimeoutError:
            self.stats.timeouts += 1
            self.stats.last_error = "submit_sm_resp timeout"
        except smpp34.SmppError as exc:
            self.stats.lost_responses += 1
            self.stats.last_error = f"submit_sm failed: {exc}"
            if not await session.client.is_alive():
                self._mark_lost(session)
        finally:
            bind.in_flight -= 1
        return "unknown"

    def _mark_lost(self, session: _Session) -> None:
        """Stop using a dead bind at once; its supervisor notices it too and reconnects."""
        session.lost.set()
        self._update_bound()

    def _update_bound(self) -> None:
        if any(b.up for b in self._binds):
            self._bound.set()
        else:
            self._bound.clear()

    def _operator_id(self, raw: str | None) -> str:
        if not raw:
            return ""
        return normalize_operator_id(raw, self.settings.submit_id_format)

    async def _wait_bound(self, deadline: float) -> _Bind | None:
        """The healthy bind with the fewest submits outstanding or queued on its window."""
        while not self._stopping:
            up = [b for b in self._binds if b.up]
            if up:
                return min(up, key=lambda b: b.load)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bound.wait(), remaining)
        return None

    async def _supervise(self, bind: _Bind) -> None:
        """Bind, read until the bind is lost, back off, bind again: until ``stop()``."""
        delays = backoff(self.settings.reconnect_initial, self.settings.reconnect_max)
        while not self._stopping:
            session = await self._connect(bind)
            bind.attempted = True
            if all(b.attempted for b in self._binds):
                self._attempted.set()
            if session is None:
                await asyncio.sleep(next(delays))
                continue
            delays = backoff(self.settings.reconnect_initial, self.settings.reconnect_max)
            bind.session = session
            self._update_bound()
            try:
                await self._read(bind, session)
            finally:
                if bind.session is session:
                    bind.session = None
                self._mark_lost(session)
            if not self._stopping:
                self.stats.disconnects += 1
                bind.disconnects += 1
                log.warning("route %s: SMPP bind %d lost, reconnecting", self.name, bind.index)
                await _close(session, unbind=False)

    async def _connect(self, bind: _Bind) -> _Session | None:
        s = self.settings
        client = smpp34.Client(
            s.host,
            s.port,
            s.system_id,
            s.password,
            bind_type=s.bind_type,
            system_type=s.system_type,
            window_size=s.window,
            inbound_capacity=s.inbound_capacity,
            connect_timeout_ms=int(s.connect_timeout * 1000),
        )
        try:
            smsc = await client.connect()
        except (smpp34.SmppError, OSError) as exc:
            self.stats.bind_failures += 1
            bind.bind_failures += 1
            self.stats.last_error = bind.last_error = f"bind failed: {exc}"
            log.warning("route %s: bind to %s:%s failed: %s", self.name, s.host, s.port, exc)
            with contextlib.suppress(Exception):
                await client.stop()
            return None
        return _Session(client, smsc)

    async def _read(self, bind: _Bind, session: _Session) -> None:
        """Pump deliver_sm into the driver's queue until the session ends or is found dead.

        The pump of a dead session is left running, never cancelled: cancelling an awaited
        ``next()`` can drop a receipt the library already acknowledged, and a session the
        library dropped may still hold some. It ends on the library's "disconnected" event, or
        at ``stop()``.
        """
        pump = asyncio.create_task(self._pump(session), name=f"smpp-{self.name}-{bind.index}-pump")
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)
        while not pump.done():
            await asyncio.wait({pump}, timeout=self.settings.liveness_interval)
            if pump.done() or session.lost.is_set():
                return
            if not await session.client.is_alive():
                self.stats.last_error = bind.last_error = "bind dropped by the SMPP library"
                return

    async def _pump(self, session: _Session) -> None:
        """Only read: the library NAKs and then drops the bind when its buffer is full."""
        while True:
            try:
                event = await session.smsc.next()
            except smpp34.SmppError:
                return
            if not isinstance(event, smpp34.DeliverSmEvent):
                return
            self._events.put_nowait(event)

    async def _handle_events(self) -> None:
        """Hand queued deliver_sm to the owner, one at a time, in arrival order."""
        while True:
            event = await self._events.get()
            try:
                await self._on_deliver(event)
            except Exception:
                log.exception("route %s: deliver_sm handling failed", self.name)
            finally:
                self._events.task_done()

    async def _on_deliver(self, event: smpp34.DeliverSmEvent) -> None:
        tlvs = {tlv.tag: tlv.value for tlv in event.tlvs}
        if is_receipt(event.esm_class, tlvs):
            report = report_from_deliver_sm(
                event.short_message,
                tlvs,
                submit_id_format=self.settings.submit_id_format,
                receipt_id_format=self.settings.receipt_id_format,
                tz=self.settings.receipt_tz,
            )
            if report is not None:
                self.stats.reports += 1
                await deliver(self.on_report, replace(report, route=self.name))
            return
        inbound = self._mo.feed(
            event.source_addr,
            event.destination_addr,
            event.short_message,
            event.data_coding,
            event.esm_class,
            tlvs,
            self.name,
        )
        if inbound is not None:
            self.stats.inbound += 1
            await deliver(self.on_inbound, inbound)


def _submit_fields(sms: OutboundSms, part: bytes) -> dict[str, Any]:
    """submit_sm arguments for one part: addresses typed, validity relative, UDH as given."""
    source, ton, npi = source_address(sms.sender)
    return {
        "destination_addr": sms.to.removeprefix("+"),
        "short_message": part,
        "source_addr": source,
        "source_addr_ton": ton,
        "source_addr_npi": npi,
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "esm_class": sms.esm_class,
        "data_coding": sms.data_coding,
        "registered_delivery": 1 if sms.registered_delivery else 0,
        "validity_period": relative_validity(sms.validity),
    }


async def _close(session: _Session, *, unbind: bool) -> None:
    """Best-effort teardown; a dead peer must not hold up a stop."""
    if unbind:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.smsc.unbind(), 2)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(session.client.stop(), 2)
