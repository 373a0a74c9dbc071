"""A local SMSC simulator that speaks real SMPP 3.4, for ``smshub run`` and for tests.

Built on :class:`~sms_core.dispatch.smsc_session.SmscServer` (asyncio sessions over smpp34's
codec, all on the caller's loop). It checks bind credentials, answers submit_sm with hex message
ids, sends delivery receipts after a delay with a deterministic delivery ratio, can send MO
replies on demand (a STOP, say), and injects the faults real operators produce: throttling,
missing responses, disconnects in the middle of a window, a receipt before its submit_sm_resp,
duplicate receipts.

A submit_sm with no fault to apply is answered inside the read that brought it; receipts wait
in one deque in due order, drained by one timer, so nothing costs a task per message.

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
import threading
import time
import zlib
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar

import smpp34

from sms_core import encoding
from sms_core.dispatch import status
from sms_core.dispatch.receipts import TLV_MESSAGE_STATE, TLV_RECEIPTED_MESSAGE_ID
from sms_core.dispatch.smsc_session import Credentials, SmscServer, SmscSession, SubmitAnswer

ESM_CLASS_RECEIPT = 0x04
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
    dlr_delay: float = 0.2
    delivery_ratio: float = 0.98
    seed: int = 1
    first_message_id: int = 0x1A2B0000
    record_wire: bool = True
    """Keep the decoded smpp34.SubmitSm of every submit_sm received (``wire_submits``)."""
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
    """The simulator in the caller's asyncio loop: ``await start()``, ``await stop()``.

    It is the :class:`~sms_core.dispatch.smsc_session.SmscOwner` of its server: the server calls
    ``session_bound``, ``session_closed`` and ``submit_received``.
    """

    def __init__(self, settings: SimSettings | None = None, faults: Faults | None = None) -> None:
        self.settings = settings or SimSettings()
        self.faults = faults or Faults()
        self.accepted: list[ReceivedSubmit] = []
        self.wire_submits: list[smpp34.SubmitSm] = []
        self.receipts_sent = 0
        self.receipts_refused = 0
        """Receipts the ESME answered with an error; they are kept and sent again."""
        self.throttled = 0
        self.unanswered = 0
        self.disconnects = 0
        self._random = random.Random(self.settings.seed)
        self._next_id = self.settings.first_message_id
        credentials = Credentials(self.settings.system_id, self.settings.password)
        self._server = SmscServer(self, credentials if self.settings.check_credentials else None)
        self._due: deque[tuple[float, str, ReceivedSubmit]] = deque()
        """Receipts to send: (due on the loop clock, system_id, submit), in due order."""
        self._due_timer: asyncio.TimerHandle | None = None
        self._pending: deque[_Receipt] = deque()
        """Receipts with nowhere to go yet (store and forward), sent on the next bind."""
        self._retry_timer: asyncio.TimerHandle | None = None
        self._recent: deque[float] = deque()
        self._stamp = (0, b"")
        self._mo_reference = 0
        self.port = self.settings.port

    @property
    def refused_binds(self) -> int:
        return self._server.refusals

    @property
    def bound_sessions(self) -> int:
        return len(self._server.bound)

    async def start(self) -> None:
        """Listen; returns once a client can connect."""
        self.port = await self._server.start(self.settings.host, self.settings.port)

    async def stop(self) -> None:
        """Close every connection and the listener; unanswered submits and unsent receipts are
        dropped."""
        for timer in (self._due_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        self._due_timer = self._retry_timer = None
        self._due.clear()
        self._pending.clear()
        await self._server.stop()

    async def disconnect_all(self) -> int:
        """Cut every ESME connection abruptly, as a network failure would."""
        self.disconnects += 1
        return self._server.abort_all()

    async def disconnect_one(self) -> bool:
        """Cut one ESME connection abruptly; the others stay up."""
        self.disconnects += 1
        session = next(iter(self._server.bound), None)
        if session is None:
            return False
        session.abort()
        return True

    async def send_mo(self, sender: str, recipient: str, text: str) -> int:
        """Deliver a mobile-originated message to a bound receiver; returns the parts sent.

        Long texts go out as concatenated parts with a UDH, like a handset would send them.
        """
        session = next((s for s in self._server.bound if s.can_receive), None)
        if session is None:
            raise RuntimeError("no ESME is bound as a receiver")
        self._mo_reference = (self._mo_reference + 1) % 256
        parts = encoding.encode_parts(encoding.analyze(text), self._mo_reference)
        for part in parts:
            pdu = smpp34.DeliverSm(
                sender, recipient, part.short_message, source_addr_ton=1, source_addr_npi=1,
                esm_class=part.esm_class, data_coding=part.data_coding,
            ).encode()  # fmt: skip
            await session.deliver_sm(pdu)
        return len(parts)

    # -- the server's owner -----------------------------------------------------------------

    def session_bound(self, session: SmscSession) -> None:
        if self._pending and session.can_receive:
            self._flush_pending()

    def session_closed(self, session: SmscSession) -> None:
        """Nothing to do: receipts on their way to it come back through their futures."""

    def submit_received(self, session: SmscSession, submit: smpp34.SubmitSm) -> SubmitAnswer:
        if self.settings.record_wire:
            self.wire_submits.append(submit)
        faults = self.faults
        if faults.disconnect_after is not None and self._cut_now():
            self.disconnects += 1
            self._server.abort_all()
            return None
        if faults.reject and submit.destination_addr in faults.reject:
            return faults.reject[submit.destination_addr]
        if (faults.throttle_above_rate is not None and self._over_rate()) or self._chance(
            faults.throttle_ratio
        ):
            self.throttled += 1
            return status.ESME_RTHROTTLED
        if self._chance(faults.no_response_ratio):
            self.unanswered += 1
            return None
        return self._accept(session, submit)

    # -- faults -----------------------------------------------------------------------------

    def _cut_now(self) -> bool:
        assert self.faults.disconnect_after is not None
        self.faults.disconnect_after -= 1
        if self.faults.disconnect_after > 0:
            return False
        self.faults.disconnect_after = None
        return True

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

    # -- accepting and receipts -------------------------------------------------------------

    def _accept(self, session: SmscSession, sm: smpp34.SubmitSm) -> str:
        message_id = f"{self._next_id:X}"
        self._next_id += 1
        submit = ReceivedSubmit(
            message_id, session.id, sm.source_addr, sm.destination_addr, sm.short_message,
            sm.data_coding, sm.esm_class, sm.registered_delivery,
        )  # fmt: skip
        self.accepted.append(submit)
        if submit.registered_delivery:
            if self.faults.dlr_before_resp:
                self._send_receipt(self._receipt(submit, session.system_id))
            else:
                self._schedule_receipt(session.system_id, submit)
        return message_id

    def _schedule_receipt(self, system_id: str, submit: ReceivedSubmit) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.settings.dlr_delay
        self._due.append((due, system_id, submit))
        if self._due_timer is None:
            self._due_timer = loop.call_at(due, self._send_due)

    def _send_due(self) -> None:
        """Send every receipt that is due, in one go, and set the timer for the next one."""
        loop = asyncio.get_running_loop()
        now, due = loop.time(), self._due
        while due and due[0][0] <= now:
            _, system_id, submit = due.popleft()
            self._send_receipt(self._receipt(submit, system_id))
        self._due_timer = loop.call_at(due[0][0], self._send_due) if due else None

    def _delivered(self, message_id: str) -> bool:
        """Fate of a message from the seed and its id alone, so that a run is repeatable
        whatever order concurrent submits arrive in."""
        draw = zlib.crc32(f"{self.settings.seed}:{message_id}".encode()) / 0x1_0000_0000
        return draw < self.settings.delivery_ratio

    def _receipt(self, submit: ReceivedSubmit, system_id: str) -> _Receipt:
        delivered = self._delivered(submit.message_id)
        stamp = self._now_stamp()
        text = _DELIVERED_TEXT if delivered else _UNDELIVERED_TEXT
        short_message = text % (
            int(submit.message_id, 16),
            stamp,
            stamp,
            submit.short_message[:20].translate(_DOTS),
        )
        tlvs = []
        if self.settings.receipt_tlvs:
            tlvs = [
                smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, submit.message_id.encode() + b"\0"),
                _STATE_DELIVERED if delivered else _STATE_UNDELIVERABLE,
            ]
        pdu = smpp34.DeliverSm(
            submit.destination_addr, submit.source_addr, short_message[:254],
            esm_class=ESM_CLASS_RECEIPT, tlvs=tlvs,
        ).encode()  # fmt: skip
        return _Receipt(system_id, submit.session_id, pdu)

    def _now_stamp(self) -> bytes:
        """YYMMDDhhmmss (UTC) for the receipt dates, formatted once per second."""
        second = int(time.time())
        if self._stamp[0] != second:
            self._stamp = (second, time.strftime("%y%m%d%H%M%S", time.gmtime(second)).encode())
        return self._stamp[1]

    def _send_receipt(self, receipt: _Receipt) -> None:
        """Send a receipt to the submitting session, or to another receiver bound with the same
        system_id, or keep it for later (store and forward, as SMSCs do when the ESME is away)."""
        session = self._receiver(receipt)
        if session is None:
            self._pending.append(receipt)
            return
        for _ in range(2 if self.faults.duplicate_dlr else 1):
            session.send_deliver_sm(receipt.pdu, partial(self._answered, receipt))

    def _receiver(self, receipt: _Receipt) -> SmscSession | None:
        sessions = self._server.sessions
        session = sessions.get(receipt.session_id)
        if session is not None and session.can_receive:
            return session
        return next(
            (s for s in sessions.values() if s.can_receive and s.system_id == receipt.system_id),
            None,
        )

    def _answered(self, receipt: _Receipt, command_status: int | None) -> None:
        if command_status == status.ESME_ROK:
            self.receipts_sent += 1
            return
        if command_status is not None:
            self.receipts_refused += 1  # e.g. ESME_RMSGQFUL: offer it again shortly
        self._pending.append(receipt)
        if self._retry_timer is None:
            loop = asyncio.get_running_loop()
            self._retry_timer = loop.call_later(self.settings.redeliver_after, self._retry)

    def _retry(self) -> None:
        self._retry_timer = None
        self._flush_pending()

    def _flush_pending(self) -> None:
        """Offer every stored receipt again; those with still no receiver stay stored."""
        pending, self._pending = self._pending, deque()
        for receipt in pending:
            self._send_receipt(receipt)


class _Receipt(NamedTuple):
    """An encoded deliver_sm receipt and where it should go."""

    system_id: str
    session_id: str
    pdu: bytes


_RECEIPT_TEXT = b"id:%%d sub:001 dlvrd:%s submit date:%%s done date:%%s stat:%s err:%s text:%%s"
_DELIVERED_TEXT = _RECEIPT_TEXT % (b"001", b"DELIVRD", b"000")
_UNDELIVERED_TEXT = _RECEIPT_TEXT % (b"000", b"UNDELIV", b"001")
_DOTS = bytes(b if 0x20 <= b <= 0x7E else 0x2E for b in range(256))
"""A bytes.translate table: printable ASCII kept, anything else shown as a dot."""
_STATE_DELIVERED = smpp34.Tlv(TLV_MESSAGE_STATE, bytes([2]))
_STATE_UNDELIVERABLE = smpp34.Tlv(TLV_MESSAGE_STATE, bytes([5]))


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
