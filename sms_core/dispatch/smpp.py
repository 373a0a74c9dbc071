"""The SMPP 3.4 operator driver: binds, window, pacing, retries, receipts and replies.

One :class:`SmppDriver` holds ``binds`` SMPP sessions (transceiver by default) to one SMSC and
keeps each up: every bind reconnects on its own with exponential backoff, and ``healthy`` is
false while no bind is up (a refused bind included). Each bind has its own ``window`` of
outstanding submit_sm; a submit goes to the healthy bind with the fewest outstanding, so a lost
bind only removes its share. All binds are paced by the route's one token bucket (the rate is
the account's), and receipts and MO arriving on any bind go to the same callbacks.

The sessions are :class:`~sms_core.dispatch.smpp_session.EsmeSession` on this loop (smpp34's
codec underneath): enquire_link every ``enquire_interval`` seconds of silence, a peer that
stops answering is dropped and re-bound, and a submit whose response does not come within
``submit_timeout`` is given up on this bind.

Inbound deliver_sm (receipts, MO) are queued as they are read and acknowledged at once; a
handler task hands them to the owner in arrival order. When the owner falls behind by more
than ``inbound_capacity`` deliver_sm, the next ones are answered ESME_RMSGQFUL: the SMSC keeps
them and offers them again later, so a slow database never loses a receipt nor the bind.

What each submit_sm_resp means is decided in :mod:`sms_core.dispatch.status`:
throttling slows the bucket down and retries, transient errors retry a few times, permanent
errors end the message with the operator's code. A submit whose response never came (timeout,
connection lost) is sent again once a bind is back: at-least-once, and the outcome counts
those resends (``resent_after_disconnect``), which is at most one window per lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass
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
from sms_core.dispatch.smpp_session import BindRefused, ConnectionLost, EsmeSession, SubmitResp
from sms_core.dispatch.throttle import TokenBucket, backoff
from sms_core.dispatch.types import OutboundSms, SubmitOutcome

log = logging.getLogger(__name__)

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
    """deliver_sm read and not yet handed to the owner before the next ones are answered
    ESME_RMSGQFUL (see the module docstring)."""
    enquire_interval: float = 30.0
    """Seconds of silence on a bind before an enquire_link checks that the peer is there."""


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


class _Bind:
    """One SMPP session slot of a driver: its window, its session when up, its counters."""

    def __init__(self, index: int, window: int) -> None:
        self.index = index
        self.window = asyncio.Semaphore(window)
        self.session: EsmeSession | None = None
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
        return self.session is not None and self.session.alive

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
        self._events: asyncio.Queue[smpp34.DeliverSm] = asyncio.Queue()
        self._handler: asyncio.Task[None] | None = None

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
    def capacity(self) -> int:
        """submit_sm that may be outstanding at once, over every bind."""
        return self.settings.window * self.settings.binds

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
            await asyncio.gather(*(s.unbind() for s in sessions), return_exceptions=True)
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
    ) -> SubmitResp | Literal["unsent", "unknown"]:
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
    ) -> SubmitResp | Literal["unsent", "unknown"]:
        session = bind.session
        if session is None or not session.alive:
            return "unsent"
        try:
            answer = session.submit_sm(
                sms.to.removeprefix("+"), part, timeout=self.settings.submit_timeout,
                **_submit_fields(sms),
            )  # fmt: skip
        except ConnectionLost:
            self._update_bound()
            return "unsent"
        self.stats.submitted += 1
        bind.submitted += 1
        bind.in_flight += 1
        try:
            return await answer
        except TimeoutError:
            self.stats.timeouts += 1
            self.stats.last_error = "submit_sm_resp timeout"
        except ConnectionLost as exc:
            self.stats.lost_responses += 1
            self.stats.last_error = f"submit_sm failed: {exc}"
            self._update_bound()
        finally:
            bind.in_flight -= 1
        return "unknown"

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
        """Bind, wait until the bind is lost, back off, bind again: until ``stop()``."""
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
                await asyncio.shield(session.closed)
            finally:
                if bind.session is session and not self._stopping:  # else stop() unbinds it
                    bind.session = None
                self._update_bound()
            if not self._stopping:
                self.stats.disconnects += 1
                bind.disconnects += 1
                self.stats.last_error = bind.last_error = session.close_reason
                log.warning("route %s: SMPP bind %d lost (%s), reconnecting", self.name,
                            bind.index, session.close_reason)  # fmt: skip

    async def _connect(self, bind: _Bind) -> EsmeSession | None:
        s = self.settings
        try:
            return await EsmeSession.open(
                s.host, s.port, s.system_id, s.password, bind_type=s.bind_type,
                system_type=s.system_type, connect_timeout=s.connect_timeout,
                on_deliver=self._queue_deliver, enquire_interval=s.enquire_interval,
                response_timeout=s.submit_timeout,
            )  # fmt: skip
        except (BindRefused, ConnectionLost, OSError, TimeoutError) as exc:
            reason = (status.name(exc.command_status) if isinstance(exc, BindRefused)
                      else str(exc) or type(exc).__name__)  # fmt: skip
            self.stats.bind_failures += 1
            bind.bind_failures += 1
            self.stats.last_error = bind.last_error = f"bind failed: {reason}"
            log.warning("route %s: bind to %s:%s failed: %s", self.name, s.host, s.port, reason)
            return None

    def _queue_deliver(self, pdu: smpp34.DeliverSm) -> int:
        """Take a deliver_sm off the wire (the session acknowledges it with what this returns)."""
        if self._events.qsize() >= self.settings.inbound_capacity:
            self.stats.last_error = "inbound queue full: deliver_sm deferred (ESME_RMSGQFUL)"
            return status.ESME_RMSGQFUL
        self._events.put_nowait(pdu)
        return status.ESME_ROK

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

    async def _on_deliver(self, event: smpp34.DeliverSm) -> None:
        tlvs = {tlv.tag: tlv.value for tlv in event.tlvs}
        if is_receipt(event.esm_class, tlvs):
            report = report_from_deliver_sm(
                event.short_message,
                tlvs,
                submit_id_format=self.settings.submit_id_format,
                receipt_id_format=self.settings.receipt_id_format,
                tz=self.settings.receipt_tz,
                route=self.name,
            )
            if report is not None:
                self.stats.reports += 1
                await deliver(self.on_report, report)
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


def _submit_fields(sms: OutboundSms) -> dict[str, Any]:
    """submit_sm fields besides the destination and the part: addresses typed, validity
    relative, the UDH flag as the encoder set it."""
    source, ton, npi = _source(sms.sender)
    return {
        "source_addr": source,
        "source_addr_ton": ton,
        "source_addr_npi": npi,
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "esm_class": sms.esm_class,
        "data_coding": sms.data_coding,
        "registered_delivery": 1 if sms.registered_delivery else 0,
        "validity_period": _validity(sms.validity),
    }


_source = functools.lru_cache(maxsize=1024)(source_address)
_validity = functools.lru_cache(maxsize=64)(relative_validity)
