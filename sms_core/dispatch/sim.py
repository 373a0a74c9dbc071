"""A local SMSC simulator that speaks real SMPP 3.4, for ``smshub run`` and for tests.

Built on smpp34's ``Server`` behind :class:`~sms_core.dispatch.gate.Gate` (which checks bind
credentials and can cut connections). It answers submit_sm with hex message ids, sends delivery
receipts after a delay with a deterministic delivery ratio, can send MO replies on demand (a
STOP, say), and injects the faults real operators produce: throttling, missing responses,
disconnects in the middle of a window, a receipt before its submit_sm_resp, duplicate receipts.

Three ways to run it::

    python -m sms_core.dispatch.sim --port 2775          # standalone, until Ctrl-C
    sim = SmscSimulator(SimSettings(port=0)); await sim.start()   # in the caller's event loop
    with SimulatorThread(SimSettings(port=2775)) as sim: ...      # own loop, background thread
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import smpp34

from sms_core import encoding
from sms_core.dispatch import status
from sms_core.dispatch.gate import Credentials, Gate
from sms_core.dispatch.receipts import TLV_MESSAGE_STATE, TLV_RECEIPTED_MESSAGE_ID

ESM_CLASS_RECEIPT = 0x04
LIBRARY_SETTLE = 0.2
"""Seconds ``stop()`` waits after closing: smpp34 finishes tearing sessions down on its own
threads, and a completion that lands on an event loop already closed by ``asyncio.run`` can
take the interpreter down. Waiting here keeps every caller's teardown safe."""
T = TypeVar("T")


@dataclass
class Faults:
    """What goes wrong, and how often. Change the fields at any time; they apply at once."""

    throttle_ratio: float = 0.0
    """Share of submit_sm answered ESME_RTHROTTLED."""
    throttle_above_rate: float | None = None
    """Answer ESME_RTHROTTLED to submits beyond this many per second (sliding 1 s window)."""
    no_response_ratio: float = 0.0
    """Share of submit_sm never answered (the ESME must time out)."""
    disconnect_after: int | None = None
    """Cut every connection when this many more submit_sm have arrived (fires once)."""
    dlr_before_resp: bool = False
    """Send the receipt before the submit_sm_resp."""
    duplicate_dlr: bool = False
    """Send every receipt twice."""
    reject: dict[str, int] = field(default_factory=dict)
    """destination_addr → command_status to answer (e.g. ESME_RINVDSTADR for a dead number)."""


@dataclass(frozen=True)
class SimSettings:
    """How the simulator presents itself. ``port=0`` picks a free port (see ``.port``)."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smshub"
    password: str = "secret"
    check_credentials: bool = True
    gate: bool = True
    """Front the server with the gate; without it binds are not checked and disconnect faults
    do nothing, but nothing stands between client and smpp34 (used for raw benchmarks)."""
    dlr_delay: float = 0.2
    delivery_ratio: float = 0.98
    seed: int = 1
    first_message_id: int = 0x1A2B0000
    record_wire: bool = True
    """Keep a decoded copy of every submit_sm that crossed the gate (``wire_submits``)."""
    receipt_tlvs: bool = True
    """Also carry receipted_message_id (hex, like the submit_sm_resp) and message_state."""
    redeliver_after: float = 0.5
    """Seconds before receipts an ESME refused (queue full) are offered again."""


@dataclass(frozen=True)
class ReceivedSubmit:
    """One accepted submit_sm as the SMSC saw it."""

    message_id: str
    session_id: str
    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int
    esm_class: int
    registered_delivery: int


class SmscSimulator:
    """The simulator in the caller's asyncio loop: ``await start()``, ``await stop()``."""

    def __init__(self, settings: SimSettings | None = None, faults: Faults | None = None) -> None:
        self.settings = settings or SimSettings()
        self.faults = faults or Faults()
        self.accepted: list[ReceivedSubmit] = []
        self.wire_submits: list[smpp34.SubmitSm] = []
        self.receipts_sent = 0
        self.receipts_refused = 0
        """Receipts the ESME answered with an error; they are kept and sent again."""
        self._retrying = False
        self.throttled = 0
        self.unanswered = 0
        self.disconnects = 0
        self._random = random.Random(self.settings.seed)
        self._next_id = self.settings.first_message_id
        self._sessions: dict[str, smpp34.Esme] = {}
        self._held: list[smpp34.SubmitSmEvent] = []
        self._pending_receipts: deque[tuple[str, dict[str, Any]]] = deque()
        self._recent: deque[float] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: smpp34.Server | None = None
        self._gate: Gate | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._mo_reference = 0
        self.port = self.settings.port

    @property
    def refused_binds(self) -> int:
        return self._gate.refusals if self._gate is not None else 0

    @property
    def bound_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        """Listen; returns once a client can connect."""
        inner_port = _free_port(self.settings.host) if self.settings.gate else self.settings.port
        if not self.settings.gate and inner_port == 0:
            inner_port = _free_port(self.settings.host)
        self._server = smpp34.Server(self.settings.host, inner_port, system_id="SMSHUBSIM")
        await self._server.start()
        self.port = inner_port
        if self.settings.gate:
            credentials = Credentials(self.settings.system_id, self.settings.password)
            self._gate = Gate(
                self.settings.host,
                self.settings.port,
                inner_port,
                credentials if self.settings.check_credentials else None,
                on_submit_pdu=self.wire_submits.append if self.settings.record_wire else None,
            )
            self.port = await self._gate.start()
        self._loop_task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Close every connection and the listeners; unanswered submits are dropped."""
        if self._gate is not None:
            await self._gate.stop()
        for task in [*self._tasks, *([self._loop_task] if self._loop_task else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        self._held.clear()
        self._sessions.clear()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        await asyncio.sleep(LIBRARY_SETTLE)

    async def disconnect_all(self) -> int:
        """Cut every ESME connection abruptly, as a network failure would."""
        self.disconnects += 1
        return self._gate.abort_all() if self._gate is not None else 0

    async def disconnect_one(self) -> bool:
        """Cut one ESME connection abruptly; the others stay up."""
        self.disconnects += 1
        return self._gate.abort_one() if self._gate is not None else False

    async def send_mo(self, sender: str, recipient: str, text: str) -> int:
        """Deliver a mobile-originated message to a bound receiver; returns the parts sent.

        Long texts go out as concatenated parts with a UDH, like a handset would send them.
        """
        esme = self._receiver()
        if esme is None:
            raise RuntimeError("no ESME is bound as a receiver")
        self._mo_reference = (self._mo_reference + 1) % 256
        parts = encoding.encode_parts(encoding.analyze(text), self._mo_reference)
        for part in parts:
            await esme.deliver_sm(
                recipient,
                part.short_message,
                source_addr=sender,
                source_addr_ton=1,
                source_addr_npi=1,
                esm_class=part.esm_class,
                data_coding=part.data_coding,
            )
        return len(parts)

    def _receiver(self, session_id: str | None = None) -> smpp34.Esme | None:
        if session_id is not None and session_id in self._sessions:
            return self._sessions[session_id]
        return next((e for e in self._sessions.values() if e.can_receive), None)

    async def _serve(self) -> None:
        assert self._server is not None
        while True:
            try:
                event = await self._server.next()
            except smpp34.SmppError:
                return
            if isinstance(event, smpp34.Esme):
                self._sessions[event.session_id] = event
                self._spawn(self._flush_pending())
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                await self._on_submit(event)

    async def _on_submit(self, event: smpp34.SubmitSmEvent) -> None:
        if self._cut_now():
            self.disconnects += 1
            if self._gate is not None:
                self._gate.abort_all()
            self._held.append(event)
            return
        answer = self._fault_status(event)
        if answer is None:
            self.unanswered += 1
            self._held.append(event)
        elif answer != status.ESME_ROK:
            event.reject(answer)
        else:
            await self._accept(event)

    def _cut_now(self) -> bool:
        if self.faults.disconnect_after is None:
            return False
        self.faults.disconnect_after -= 1
        if self.faults.disconnect_after > 0:
            return False
        self.faults.disconnect_after = None
        return True

    def _fault_status(self, event: smpp34.SubmitSmEvent) -> int | None:
        """The command_status to answer, or None to leave the submit unanswered."""
        if event.destination_addr in self.faults.reject:
            return self.faults.reject[event.destination_addr]
        if self._over_rate() or self._chance(self.faults.throttle_ratio):
            self.throttled += 1
            return status.ESME_RTHROTTLED
        if self._chance(self.faults.no_response_ratio):
            return None
        return status.ESME_ROK

    def _chance(self, ratio: float) -> bool:
        return ratio > 0 and self._random.random() < ratio

    def _over_rate(self) -> bool:
        limit = self.faults.throttle_above_rate
        if limit is None:
            return False
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        if len(self._recent) >= limit:
            return True
        self._recent.append(now)
        return False

    async def _accept(self, event: smpp34.SubmitSmEvent) -> None:
        message_id = f"{self._next_id:X}"
        self._next_id += 1
        submit = ReceivedSubmit(
            message_id,
            event.session_id,
            event.source_addr,
            event.destination_addr,
            event.short_message,
            event.data_coding,
            event.esm_class,
            event.registered_delivery,
        )
        if self.faults.dlr_before_resp and submit.registered_delivery:
            await self._send_receipts(submit)
            event.accept(message_id)
        else:
            event.accept(message_id)
            if submit.registered_delivery:
                self._spawn(self._delayed_receipts(submit))
        self.accepted.append(submit)

    async def _delayed_receipts(self, submit: ReceivedSubmit) -> None:
        await asyncio.sleep(self.settings.dlr_delay)
        await self._send_receipts(submit)

    async def _send_receipts(self, submit: ReceivedSubmit) -> None:
        receipt = self._receipt(submit)
        for _ in range(2 if self.faults.duplicate_dlr else 1):
            await self._deliver(submit.session_id, receipt)

    def _delivered(self, message_id: str) -> bool:
        """Fate of a message from the seed and its id alone, so that a run is repeatable
        whatever order concurrent submits arrive in."""
        draw = random.Random(f"{self.settings.seed}:{message_id}").random()
        return draw < self.settings.delivery_ratio

    def _receipt(self, submit: ReceivedSubmit) -> dict[str, Any]:
        delivered = self._delivered(submit.message_id)
        stamp = datetime.now(UTC).strftime("%y%m%d%H%M%S")
        text = (
            f"id:{int(submit.message_id, 16)} sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{stamp} done date:{stamp} stat:{'DELIVRD' if delivered else 'UNDELIV'} "
            f"err:{'000' if delivered else '001'} text:{_printable(submit.short_message[:20])}"
        )
        tlvs = []
        if self.settings.receipt_tlvs:
            tlvs = [
                smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, submit.message_id.encode() + b"\0"),
                smpp34.Tlv(TLV_MESSAGE_STATE, bytes([2 if delivered else 5])),
            ]
        return {
            "destination_addr": submit.source_addr,
            "short_message": text.encode("ascii", "replace")[:254],
            "source_addr": submit.destination_addr,
            "esm_class": ESM_CLASS_RECEIPT,
            "tlvs": tlvs,
        }

    async def _deliver(self, session_id: str, receipt: dict[str, Any]) -> None:
        """Send a receipt to the submitting session, or keep it for later (store and forward, as
        SMSCs do when the ESME is away or answers "queue full")."""
        esme = self._receiver(session_id)
        if esme is None:
            self._pending_receipts.append((session_id, receipt))
            return
        try:
            resp = await esme.deliver_sm(**receipt)
        except smpp34.SmppError:
            self._pending_receipts.append((session_id, receipt))
            return
        if resp.is_success:
            self.receipts_sent += 1
            return
        self.receipts_refused += 1
        self._pending_receipts.append((session_id, receipt))
        self._spawn(self._retry_pending())

    async def _retry_pending(self) -> None:
        """The ESME refused a receipt (ESME_RMSGQFUL): try the stored ones again shortly."""
        if self._retrying:
            return
        self._retrying = True
        try:
            await asyncio.sleep(self.settings.redeliver_after)
        finally:
            self._retrying = False
        await self._flush_pending()

    async def _flush_pending(self) -> None:
        for _ in range(len(self._pending_receipts)):
            if not self._pending_receipts:
                return  # another flush took them
            session_id, receipt = self._pending_receipts.popleft()
            await self._deliver(session_id, receipt)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread, for synchronous callers.

    ``smshub run`` uses this: ``sim = SimulatorThread(SimSettings(port=2775)); sim.start()``.
    """

    def __init__(self, settings: SimSettings | None = None, faults: Faults | None = None) -> None:
        self.simulator = SmscSimulator(settings, faults)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smsc-sim", daemon=True)

    @property
    def port(self) -> int:
        return self.simulator.port

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._call(self.simulator.start()).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self.simulator.stop()).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    def send_mo(self, sender: str, recipient: str, text: str, timeout: float = 10.0) -> int:
        return self._call(self.simulator.send_mo(sender, recipient, text)).result(timeout)

    def disconnect_all(self, timeout: float = 10.0) -> int:
        return self._call(self.simulator.disconnect_all()).result(timeout)

    def _call(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _printable(data: bytes) -> str:
    return "".join(ch if " " <= ch <= "~" else "." for ch in data.decode("latin-1"))


def _free_port(host: str) -> int:
    """A currently free loopback port for the private smpp34 listener (it cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _parse_args(argv: list[str] | None) -> tuple[SimSettings, Faults]:
    parser = argparse.ArgumentParser(description="Local SMPP 3.4 SMSC simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="smshub")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--dlr-delay", type=float, default=0.2, help="seconds")
    parser.add_argument("--delivery-ratio", type=float, default=0.98)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throttle-ratio", type=float, default=0.0)
    parser.add_argument("--throttle-above-rate", type=float, default=None, help="submits/s")
    args = parser.parse_args(argv)
    settings = SimSettings(
        host=args.host,
        port=args.port,
        system_id=args.system_id,
        password=args.password,
        dlr_delay=args.dlr_delay,
        delivery_ratio=args.delivery_ratio,
        seed=args.seed,
        record_wire=False,
    )
    faults = Faults(
        throttle_ratio=args.throttle_ratio, throttle_above_rate=args.throttle_above_rate
    )
    return settings, faults


async def _run(settings: SimSettings, faults: Faults) -> None:
    sim = SmscSimulator(settings, faults)
    await sim.start()
    print(
        f"SMSC simulator listening on {settings.host}:{sim.port} "
        f"(system_id={settings.system_id!r})",
        flush=True,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    settings, faults = _parse_args(argv)
    asyncio.run(_run(settings, faults))


if __name__ == "__main__":
    main()
