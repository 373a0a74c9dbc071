"""The dispatcher process: an RQ SimpleWorker whose jobs hand batches of ids to operator drivers.

The drivers (SMPP binds, HTTP sessions) live on one asyncio loop in a background thread for the
whole life of the process (:class:`DispatchRuntime`), so a job never pays for a bind. A send job
loads its ``accepted`` messages, turns them into :class:`OutboundSms` (parts encoded once by
``sms_core.encoding``), submits them concurrently (the driver applies its window and rate), and
records the outcomes as they come back, by group commit, before the job is acknowledged.
A crash therefore loses at most the outcomes of the last group in flight; those messages are
still ``accepted`` and the sweeper sends them again (at-least-once for that small window).

The runtime also writes a heartbeat key in Redis; the sweeper treats a started job whose worker
has no heartbeat as dead and re-enqueues its messages. With each heartbeat it publishes the
health of its routes (:func:`publish_health`, a JSON key with the same time to live), which the
web app serves at ``GET /api/v1/routes``: a dead dispatcher's routes turn stale, then vanish.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Generic, NamedTuple, TypeVar, cast

from rq import SimpleWorker
from sqlalchemy import select

from hub.config import Settings
from hub.db import PartlyWritten, one_of, reading, write_priority
from hub.models import Message
from hub.queues import DISPATCH_QUEUES, sending_queues
from hub.receipts import Line, Sent, record_outcomes, record_report, record_reports
from hub.replies import record_inbound
from hub.services import Services, build_services
from hub.sweeper import HEARTBEAT_PREFIX
from sms_core.dispatch.protocol import Driver, capacity
from sms_core.dispatch.types import DeliveryReport, InboundSms, OutboundSms, SubmitOutcome
from sms_core.encoding import analyze, encode_parts

log = logging.getLogger(__name__)

DEFAULT_SENDER = "SMSHUB"
"""Sender used when neither the message nor the account chose one (operators may replace it)."""

T = TypeVar("T")

GROUP_LIMIT = 500
"""Outcomes, or receipts, recorded per transaction at most."""

ROUTE_HEALTH_PREFIX = "smshub:routes:"
"""Redis key prefix of each dispatcher's route health report (followed by the worker name)."""

BATCH_DEADLINE = 300.0
"""Seconds a job waits for its outcomes. A submit still unanswered then is abandoned by this
job (its message stays ``accepted``; the sweeper sends it again), so a stalled route cannot hold
a worker forever."""


class GroupCommit(Generic[T]):
    """Group commit on a database thread, used from the event loop.

    An item is written at once when no write of this group is under way; the items added
    while one is under way go together in the next write (at most ``limit``). A lone alert is
    recorded without waiting for company, and under load the groups grow with the rate, so the
    cost per transaction is shared by many. ``write`` runs on ``executor``; what it raises is
    kept in ``failures``.
    """

    def __init__(self, executor: concurrent.futures.Executor,
                 write: Callable[[list[T]], None], limit: int = GROUP_LIMIT) -> None:  # fmt: skip
        self.failures: list[BaseException] = []
        self._executor = executor
        self._write = write
        self._limit = limit
        self._pending: list[T] = []
        self._writing: asyncio.Future[None] | None = None

    def add(self, item: T) -> None:
        self._pending.append(item)
        if self._writing is None and len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)  # with the rest of this turn

    async def drain(self) -> None:
        """Return once everything added so far is written (or failed)."""
        self._flush()
        while self._writing is not None:
            await asyncio.wait([self._writing])
            self._flush()

    def _flush(self) -> None:
        if self._writing is not None or not self._pending:
            return
        group, self._pending = self._pending[:self._limit], self._pending[self._limit:]
        self._writing = asyncio.wrap_future(self._executor.submit(self._write, group))
        self._writing.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writing = None
        if not future.cancelled() and future.exception() is not None:
            self.failures.append(cast(BaseException, future.exception()))
        self._flush()


class DispatchRuntime:
    """Drivers on a long-lived event loop in a daemon thread, usable from synchronous jobs."""

    def __init__(self, services: Services, driver: Driver, *, name: str = "",
                 heartbeat_ttl: float = 15.0) -> None:
        self.services = services
        self.driver = driver
        self.name = name
        self.heartbeat_ttl = heartbeat_ttl
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="dispatch-loop",
                                        daemon=True)
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dispatch-db")
        """Writes the submit outcomes."""
        self._receipts_db = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="dispatch-receipts-db") if write_priority() else self._db
        """Writes receipts and inbound messages. In a priority process (``smshub alerts``) it is
        a thread of its own, so an alert's submit is recorded while the previous alert's receipt
        waits for its write turn; elsewhere it is the outcomes' thread, as a second writer
        thread would compete with the first for the interpreter while holding the write lock."""
        self._references = itertools.cycle(range(256))
        self._stopping = threading.Event()
        self._reports = GroupCommit(self._receipts_db, self._record_group)
        self._accepted: Counter[str] = Counter()
        """Messages accepted per route since the start (for the throughput in the health)."""
        self._last_health: tuple[float, Counter[str]] = (time.monotonic(), Counter())

    def start(self, timeout: float = 15.0) -> None:
        """Start the loop, the drivers and the heartbeat."""
        self.driver.on_report = self._on_report
        self.driver.on_inbound = self._on_inbound
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.driver.start(), self.loop).result(timeout)
        if self.name and self.services.redis is not None:
            threading.Thread(target=self._beat, name="dispatch-heartbeat", daemon=True).start()

    def lower_priority(self, nice: int) -> None:
        """Add ``nice`` to the calling thread and the event loop's (the CPU work: jobs,
        encoding, SMPP), not to the threads that write to the database (nor the heartbeat's).

        A bulk writer holds SQLite's write turn while it writes; starved of processor time by
        its niceness, it kept an alert waiting behind it for tens of milliseconds (priority
        inversion). On Linux niceness is per thread; elsewhere the whole process is niced, as
        :func:`hub.roles.lower_priority` does."""
        for executor in {self._db, self._receipts_db}:  # their thread, started at full priority
            executor.submit(lambda: None).result()
        asyncio.run_coroutine_threadsafe(_nice(nice), self.loop).result()
        os.nice(nice)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        try:
            asyncio.run_coroutine_threadsafe(self.driver.stop(), self.loop).result(timeout)
            asyncio.run_coroutine_threadsafe(self._reports.drain(), self.loop).result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            self._db.shutdown(wait=True)
            self._receipts_db.shutdown(wait=True)

    def send_and_record(self, messages: Sequence[OutboundSms], sent: dict[str, Sent],
                        deadline: float = BATCH_DEADLINE) -> int:
        """Submit ``messages`` and record their outcomes in groups; returns once every outcome
        is recorded (or ``deadline`` s passed). One hop to the loop for the whole batch: the
        loop groups outcomes as they complete and hands each group straight to the database
        thread, so no thread wakes up per message. Returns how many messages got no outcome
        (still in flight or not yet sent at the deadline: left ``accepted`` for the sweeper)."""
        coro = self._send_and_record(messages, sent, deadline)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _send_and_record(self, messages: Sequence[OutboundSms], sent: dict[str, Sent],
                               deadline: float) -> int:
        """Outcomes are recorded by :class:`GroupCommit` as they come back."""
        loop = asyncio.get_running_loop()
        outcomes: GroupCommit[tuple[Sent, SubmitOutcome]] = GroupCommit(
            self._db, functools.partial(record_outcomes, self.services))
        answered = 0

        def collect(outcome: SubmitOutcome) -> None:
            nonlocal answered
            answered += 1
            if outcome.ok:
                self._accepted[outcome.route] += 1
            outcomes.add((sent[outcome.message_id], outcome))

        queue = iter(messages)

        async def submitter() -> None:
            for sms in queue:
                try:
                    outcome = await self.driver.submit(sms)
                except Exception:  # left accepted: the sweeper sends it again
                    log.exception("submit of message %s failed", sms.message_id)
                    continue
                collect(outcome)

        # a pool of submitters a little larger than the drivers' windows, rather than a task
        # per message: thousands of tasks parked on a window cost more than sending does
        size = 2 * capacity(self.driver)
        submitters = [loop.create_task(submitter()) for _ in range(min(size, len(messages)))]
        _, stuck = await asyncio.wait(submitters, timeout=deadline) if submitters else ((), ())
        for task in stuck:
            task.cancel()
        if stuck:
            await asyncio.wait(stuck)
        await outcomes.drain()
        if outcomes.failures:
            raise outcomes.failures[0]
        return len(messages) - answered

    def next_reference(self) -> int:
        """Concatenation reference for the next multi-part message (one octet, rotating)."""
        return next(self._references)

    async def _on_report(self, report: DeliveryReport) -> None:
        """Recorded by group commit, as outcomes are. Never waits for the database, so the
        driver keeps reading the bind."""
        self._reports.add(report)

    def _record_group(self, batch: list[DeliveryReport]) -> None:
        try:
            record_reports(self.services, batch)
        except Exception as exc:  # one bad receipt must not cost the others
            # the receipts of transactions that committed are stored: not a second time
            rest = batch[exc.written:] if isinstance(exc, PartlyWritten) else batch
            log.exception("recording %d receipts together failed; the %d not stored one by one",
                          len(batch), len(rest))
            for report in rest:
                try:
                    record_report(self.services, report)
                except Exception:
                    log.exception("receipt %s on %s not recorded", report.operator_id,
                                  report.route)

    async def _on_inbound(self, sms: InboundSms) -> None:
        await asyncio.wrap_future(self._receipts_db.submit(record_inbound, self.services, sms))

    def health(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """One row per route: name, quality, healthy, window in use, inbound queued, last
        error, the driver's counters, and the throughput (messages accepted per second since
        the previous call)."""
        rows = asyncio.run_coroutine_threadsafe(_driver_rows(self.driver),
                                                self.loop).result(timeout)
        accepted = self._accepted.copy()
        now = time.monotonic()
        since, before = self._last_health
        self._last_health = (now, accepted)
        elapsed = max(now - since, 1e-6)
        for row in rows:
            route = str(row.get("route", ""))
            row["throughput"] = round((accepted[route] - before[route]) / elapsed, 1)
        return rows

    def _beat(self) -> None:
        assert self.services.redis is not None
        key = HEARTBEAT_PREFIX + self.name
        while not self._stopping.is_set():
            try:
                self.services.redis.set(key, "1", px=int(self.heartbeat_ttl * 1000))
            except Exception:  # a Redis hiccup must not kill the heartbeat thread
                log.exception("dispatcher heartbeat failed")
            try:
                publish_health(self.services.redis, self.name, self.health(),
                               ttl=self.heartbeat_ttl, interval=self.heartbeat_ttl / 3)
            except Exception:
                log.exception("route health not published")
            self._stopping.wait(self.heartbeat_ttl / 3)


async def _nice(increment: int) -> None:
    os.nice(increment)


async def _driver_rows(driver: Driver) -> list[dict[str, Any]]:
    """The driver's own health (a dispatcher's list of routes, or one driver's dict), read on
    the loop that owns it."""
    report = getattr(driver, "health", None)
    found: Any = report() if callable(report) else None
    if isinstance(found, dict):
        found = [found]
    if not isinstance(found, list):
        found = [{"route": getattr(driver, "name", ""), "healthy": driver.healthy}]
    return [dict(row) for row in found]


HEALTH_FIELDS = ("route", "quality", "kind", "healthy", "window", "window_in_use",
                 "inbound_queued", "throughput", "last_error")
"""What every published route row carries (None when its driver does not say); the driver's
other figures (counters, rates) go under ``counters``."""


def publish_health(redis: Any, dispatcher: str, rows: Sequence[dict[str, Any]], *,
                   ttl: float, interval: float) -> dict[str, Any]:
    """Write a dispatcher's route health to Redis for ``ttl`` seconds; returns the report."""
    routes = []
    for row in rows:
        shaped = {name: row.get(name) for name in HEALTH_FIELDS}
        shaped["route"] = str(shaped["route"] or "")
        shaped["healthy"] = bool(shaped["healthy"])
        shaped["counters"] = {k: v for k, v in row.items() if k not in HEALTH_FIELDS
                              and isinstance(v, int | float) and not isinstance(v, bool)}
        routes.append(shaped)
    report = {"dispatcher": dispatcher, "reported_at": time.time(), "interval": interval,
              "routes": routes}
    redis.set(ROUTE_HEALTH_PREFIX + dispatcher, json.dumps(report), px=int(ttl * 1000))
    return report


def read_health(redis: Any) -> list[dict[str, Any]]:
    """Every live dispatcher's last report (keys expire with their dispatcher)."""
    keys = sorted(redis.scan_iter(match=ROUTE_HEALTH_PREFIX + "*", count=100))
    reports = []
    for raw in redis.mget(keys) if keys else []:
        if raw is not None:
            reports.append(json.loads(raw))
    return reports


_current: DispatchRuntime | None = None


def install(runtime: DispatchRuntime | None) -> None:
    """Make ``runtime`` the one the job functions of this process use."""
    global _current
    _current = runtime


def current() -> DispatchRuntime:
    if _current is None:
        raise RuntimeError("this worker has no dispatcher runtime: run `smshub dispatcher`")
    return _current


class Row(NamedTuple):
    """The columns of a message that sending it needs (no ORM object per message)."""

    id: str
    account_id: str
    to: str
    sender: str | None
    text: str
    segments: int
    category: str
    country: str | None
    cost: Decimal
    attempts: int
    route: str | None
    source: str | None


_ROW_COLUMNS = tuple(getattr(Message, name) for name in Row._fields)


def load_batch(services: Services, ids: Sequence[str]) -> list[Row]:
    """The messages of ``ids`` still waiting to be sent (a re-delivered job skips the rest)."""
    with reading(services.sessions) as session:
        # by primary key only (see hub.states.move_each: SQLite would scan the status index)
        query = select(Message.status, *_ROW_COLUMNS).where(one_of(session, Message.id, ids))
        return [Row(*row[1:]) for row in session.execute(query) if row[0] == "accepted"]


@functools.lru_cache(maxsize=4096)
def _encoded(text: str, reference: int) -> tuple[tuple[bytes, ...], int, int]:
    """(parts, data_coding, esm_class) of a text: a campaign sends one text to many numbers,
    so it is analysed and split once."""
    parts = encode_parts(analyze(text), reference)
    return tuple(p.short_message for p in parts), parts[0].data_coding, parts[0].esm_class


def outbound(message: Row | Message, reference: int, default_sender: str = DEFAULT_SENDER,
             ) -> OutboundSms:
    """The operator-ready form of a message; its parts are encoded exactly as they were priced."""
    parts, data_coding, esm_class = _encoded(message.text, reference)
    return OutboundSms(
        message_id=message.id, to=message.to, sender=message.sender or default_sender,
        parts=list(parts), data_coding=data_coding, esm_class=esm_class,
        category=message.category, country=message.country,
    )


def send_batch(runtime: DispatchRuntime, ids: Sequence[str]) -> int:
    """Send the accepted messages among ``ids``; returns how many were handed to a driver.

    Outcomes are recorded by group commit as they complete (each write takes what completed
    during the previous one, at most :data:`GROUP_LIMIT`), so one slow message never holds back
    the record of the others; the job ends when all are recorded. Each message records the
    sender it was submitted with (the default one when it had none).
    """
    messages = load_batch(runtime.services, ids)
    if not messages:
        return 0
    batch = [outbound(m, runtime.next_reference() if m.segments > 1 else 0) for m in messages]
    sent = {m.id: Sent(m.id, m.account_id, m.cost, m.attempts, sms.sender,
                       Line(m.country, m.route, m.source))
            for m, sms in zip(messages, batch, strict=True)}
    unanswered = runtime.send_and_record(batch, sent, BATCH_DEADLINE)
    if unanswered:
        log.warning("%d submits unanswered after %.0f s; left for the sweeper",
                    unanswered, BATCH_DEADLINE)
    return len(batch)


def default_driver(settings: Settings) -> Driver:
    """The dispatch engine with one SMPP route to the configured SMSC (the embedded simulator
    by default; ``SMSHUB_SMPP_HOST/PORT/SYSTEM_ID/PASSWORD`` point it elsewhere), over
    ``SMSHUB_SMPP_BINDS`` parallel binds (1 by default: ``smshub run`` starts several
    dispatchers, each with its own)."""
    from sms_core.dispatch.engine import Dispatcher
    from sms_core.dispatch.routing import Route
    from sms_core.dispatch.smpp import SmppSettings

    extra = settings.namespace("smpp")
    smpp = SmppSettings(
        host=extra.get("host", "127.0.0.1"),
        port=int(extra.get("port", settings.smsc_port)),
        system_id=extra.get("system_id", "smshub"),
        password=extra.get("password", "secret"),
        window=int(extra.get("window", 100)),
        binds=int(extra.get("binds", 1)),
    )
    engine = Dispatcher([Route("default", smpp, quality="premium")])
    return cast(Driver, engine)


def run_dispatcher(settings: Settings, *, driver: Driver | None = None, burst: bool = False,
                   heartbeat_ttl: float = 15.0, queues: Sequence[str] = DISPATCH_QUEUES,
                   nice: int = 0, **worker_options: Any) -> None:
    """The dispatcher process: runtime + an RQ SimpleWorker on ``queues`` (transactional, then
    bulk, by default; ``smshub alerts`` listens to transactional only, and the dispatchers of
    ``smshub run`` to bulk only).

    The worker also runs RQ's scheduler, which enqueues the promotions of scheduled messages.
    ``nice`` > 0 lowers the priority of everything but the database writers
    (:meth:`DispatchRuntime.lower_priority`).
    """
    queues = sending_queues(queues)
    services = build_services(settings)
    if services.redis is None:
        raise RuntimeError("the dispatcher needs Redis: set SMSHUB_REDIS_URL")
    listened = [services.queue(name) for name in queues]
    worker = SimpleWorker(listened, connection=services.redis, **worker_options)
    runtime = DispatchRuntime(services, driver or default_driver(settings), name=worker.name,
                              heartbeat_ttl=heartbeat_ttl)
    runtime.start()
    load_batch(services, [])  # its connection opened and its query compiled before a first alert
    if nice > 0:
        runtime.lower_priority(nice)
    install(runtime)
    try:
        worker.work(with_scheduler=True, burst=burst)
    finally:
        install(None)
        runtime.stop()
        services.close()
