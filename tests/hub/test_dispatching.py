"""Dispatch against the real SMSC simulator over loopback SMPP: submit, receipts, replies."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from connectors.base import SmsRequest
from hub import db, dispatching, ledger, pipeline
from hub.accounts import create_api_key
from hub.app import create_app
from hub.db import transaction
from hub.models import Account, DeliveryReceipt, LedgerEntry, Message, MessagePart, OptOut
from hub.queues import DISPATCH_QUEUES
from hub.services import Services
from sms_core.dispatch.sim import SimSettings, SimulatorThread
from tests.hub.conftest import UNIT_PRICE


@pytest.fixture
def simulator() -> Iterator[SimulatorThread]:
    sim = SimulatorThread(SimSettings(port=0, dlr_delay=0.05, delivery_ratio=1.0))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def runtime(services: Services,
            simulator: SimulatorThread) -> Iterator[dispatching.DispatchRuntime]:
    settings = services.settings.replace(smsc_port=simulator.port)
    rt = dispatching.DispatchRuntime(services, dispatching.default_driver(settings), name="t")
    rt.start()
    dispatching.install(rt)
    yield rt
    dispatching.install(None)
    rt.stop()


def work(services: Services) -> None:
    assert services.redis is not None
    queues = [services.queue(name) for name in DISPATCH_QUEUES]
    SimpleWorker(queues, connection=services.redis).work(burst=True)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def statuses(services: Services, ids: list[str]) -> dict[str, str]:
    with services.sessions() as session:
        rows = session.execute(select(Message.id, Message.status).where(Message.id.in_(ids)))
        return {mid: status for mid, status in rows}


def test_messages_are_submitted_charged_and_delivered(
        services: Services, account: Account, runtime: dispatching.DispatchRuntime,
        simulator: SimulatorThread) -> None:
    long_text = "Votre commande n°42 est prête 📦. " * 4
    results = pipeline.submit(services, account, [
        SmsRequest(account="", to="0612345678", text="Bonjour"),
        SmsRequest(account="", to="0698765432", text=long_text),
    ])
    ids = [r.message_id or "" for r in results]
    work(services)
    wait_for(lambda: set(statuses(services, ids).values()) == {"delivered"})
    with services.sessions() as session:
        short, multi = (session.get(Message, i) for i in ids)
        assert short is not None and multi is not None
        assert short.operator_id and short.submitted_at and short.done_at
        parts = session.scalars(select(MessagePart).where(MessagePart.message_id == multi.id))
        assert len(list(parts)) == multi.segments > 1
        receipts = list(session.scalars(select(DeliveryReceipt)))
        assert {r.message_id for r in receipts} >= set(ids) and all(r.raw for r in receipts)
        spent = UNIT_PRICE * (short.segments + multi.segments)
        assert ledger.balance(session, account.id) == Decimal(100) - spent
    assert len(simulator.simulator.accepted) == 1 + multi.segments


def test_each_charge_goes_on_the_statement_line_of_its_messages(
        services: Services, runtime: dispatching.DispatchRuntime) -> None:
    """A batch to two countries is charged country by country, with the route quality and
    the source of its messages (the statement's lines)."""
    from tests.hub.conftest import make_account, seed_prices

    seed_prices(services)
    account = make_account(services, allowed_countries=["GB"])
    results = pipeline.submit(services, account, [
        SmsRequest(account="", to="0612345678", text="Bonjour", source="hubspot"),
        SmsRequest(account="", to="0612345679", text="Bonjour", source="hubspot"),
        SmsRequest(account="", to="+44 7400 123456", text="Hello", source="hubspot"),
    ])
    ids = [r.message_id or "" for r in results]
    work(services)
    wait_for(lambda: set(statuses(services, ids).values()) == {"delivered"})
    lines: dict[tuple[str | None, str | None, str | None], tuple[int, Decimal]] = {}
    with services.sessions() as session:  # outcomes are recorded in one group or several
        for entry in session.scalars(select(LedgerEntry).where(
                LedgerEntry.account_id == account.id, LedgerEntry.kind == "charge")):
            line = (entry.country, entry.route, entry.source)
            count, amount = lines.get(line, (0, Decimal(0)))
            lines[line] = (count + entry.count, amount - entry.amount)
    assert lines == {("FR", "premium", "hubspot"): (2, 2 * UNIT_PRICE),
                     ("GB", "premium", "hubspot"): (1, UNIT_PRICE)}


def test_a_stop_reply_opts_the_number_out(
        services: Services, account: Account, runtime: dispatching.DispatchRuntime,
        simulator: SimulatorThread) -> None:
    [first] = pipeline.submit(services, account, [SmsRequest(account="", to="0612345678",
                                                             text="Promo", category="alert")])
    work(services)
    wait_for(lambda: statuses(services, [first.message_id or ""])[first.message_id or ""]
             == "delivered")
    simulator.send_mo("+33612345678", "36180", "Stop")

    def opted_out() -> bool:
        with services.sessions() as session:
            return session.scalar(select(OptOut.id).where(OptOut.account_id == account.id))\
                is not None

    wait_for(opted_out)
    [again] = pipeline.submit(services, account, [SmsRequest(account="", to="0612345678",
                                                             text="Autre chose")])
    assert (again.status, again.code) == ("refused", "opted_out")


def test_the_sender_actually_used_is_recorded_and_reported(
        services: Services, account: Account, runtime: dispatching.DispatchRuntime,
        simulator: SimulatorThread) -> None:
    own, default = pipeline.submit(services, account, [
        SmsRequest(account="", to="0612345678", text="Bonjour", sender="Maison"),
        SmsRequest(account="", to="0698765432", text="Bonjour"),
    ])
    ids = [own.message_id or "", default.message_id or ""]
    with services.sessions() as session:
        assert session.get(Message, ids[1]).sender is None  # type: ignore[union-attr]
    work(services)
    wait_for(lambda: set(statuses(services, ids).values()) <= {"submitted", "delivered"})
    used = {s.destination_addr: s.source_addr for s in simulator.simulator.accepted}
    assert used == {"33612345678": "Maison", "33698765432": dispatching.DEFAULT_SENDER}
    app = create_app(services=services)
    _, key = _api_key(services, account)
    client = app.test_client()
    for message_id, sender in zip(ids, ["Maison", dispatching.DEFAULT_SENDER], strict=True):
        response = client.get(f"/api/v1/messages/{message_id}",
                              headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["sender"] == sender


def _api_key(services: Services, account: Account) -> tuple[str, str]:
    with transaction(services.sessions) as session:
        owner = session.get(Account, account.id)
        assert owner is not None
        record, key = create_api_key(session, owner)
        return record.id, key


@pytest.mark.parametrize("priority", [True, False])
def test_an_alert_dispatcher_records_a_submit_while_a_receipt_waits(
        services: Services, account: Account, simulator: SimulatorThread,
        monkeypatch: pytest.MonkeyPatch, priority: bool) -> None:
    """In a priority process (``smshub alerts``) receipts have a writer thread of their own: a
    receipt stuck waiting for its write turn does not hold back the next alert's submit. A bulk
    dispatcher (the control) keeps one writer thread, so there the submit waits behind it."""
    db.prioritise_writes(priority)  # restored after the test by the suite's fixture
    stuck, release = threading.Event(), threading.Event()

    def waiting_for_the_turn(_services: Services, batch: list[Any]) -> None:
        stuck.set()
        release.wait(30)

    monkeypatch.setattr(dispatching, "record_reports", waiting_for_the_turn)
    settings = services.settings.replace(smsc_port=simulator.port)
    rt = dispatching.DispatchRuntime(services, dispatching.default_driver(settings), name="t")
    rt.start()
    try:
        first, second = (pipeline.submit(services, account, [
            SmsRequest(account="", to=to, text="Code 1234")])[0].message_id or ""
            for to in ("0612345678", "0698765432"))
        dispatching.send_batch(rt, [first])
        assert stuck.wait(10)  # the first message's receipt is waiting
        sender = threading.Thread(target=dispatching.send_batch, args=(rt, [second]))
        sender.start()
        sender.join(5)
        recorded = not sender.is_alive()
        release.set()
        sender.join(30)
    finally:
        release.set()
        rt.stop()
    assert recorded is priority
    assert statuses(services, [second]) == {second: "submitted"}


def _thread_nice(native_id: int | None) -> int:
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_a_bulk_dispatcher_lowers_the_priority_of_all_but_its_database_writers(
        runtime: dispatching.DispatchRuntime) -> None:
    """A bulk dispatcher is niced, but the thread that records outcomes and receipts (and
    holds SQLite's write turn meanwhile) keeps the full priority: an alert waiting for the
    write turn does not wait for a starved writer."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    caller: list[int | None] = []

    def lower() -> None:  # in a thread of its own: the test's thread keeps its priority
        runtime.lower_priority(3)
        caller.append(threading.get_native_id())
        caller.append(os.getpriority(os.PRIO_PROCESS, 0))

    thread = threading.Thread(target=lower)
    thread.start()
    thread.join(10)
    assert caller[1] == base + 3
    assert _thread_nice(runtime._thread.native_id) == base + 3  # the event loop's
    writers = {t.native_id for executor in (runtime._db, runtime._receipts_db)
               for t in executor._threads}  # type: ignore[attr-defined]
    assert writers and all(_thread_nice(tid) == base for tid in writers)
