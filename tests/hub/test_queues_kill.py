"""A dispatcher killed with SIGKILL in the middle of a batch: the sweeper re-enqueues what it left,
and in the end every message was sent exactly once (real RQ on an embedded Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from connectors.base import SmsRequest
from hub import dispatching, pipeline, sweeper
from hub.config import Settings
from hub.models import Account, Message, utcnow
from hub.services import Services
from sms_core.dispatch.types import OutboundSms, SubmitOutcome


class SinkDriver:
    """A driver that "sends" by appending the message id to a file; it can hang at the n-th."""

    name = "sink"

    def __init__(self, log: Path, hang_at: int | None = None) -> None:
        self.log, self.hang_at = log, hang_at
        self.on_report = None
        self.on_inbound = None
        self.count = 0
        self._lock: asyncio.Lock | None = None

    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:
        self._lock = asyncio.Lock()

    async def stop(self) -> None:
        return None

    async def submit(self, sms: OutboundSms) -> SubmitOutcome:
        assert self._lock is not None
        async with self._lock:
            self.count += 1
            if self.count == self.hang_at:
                self.log.with_suffix(".hung").write_text(sms.message_id)
                await asyncio.Event().wait()
            with self.log.open("a") as handle:
                handle.write(sms.message_id + "\n")
            await asyncio.sleep(0.002)
        return SubmitOutcome(sms.message_id, ok=True, operator_ids=[f"op-{sms.message_id}"],
                             route="sink")


def run_worker(settings_json: str, log: str, hang_at: int) -> None:
    """Subprocess entry point: a dispatcher whose driver hangs at message ``hang_at``."""
    settings = Settings(**json.loads(settings_json))
    dispatching.run_dispatcher(settings, driver=SinkDriver(Path(log), hang_at),  # type: ignore[arg-type]
                               heartbeat_ttl=1.0)


def submitted(services: Services) -> int:
    with services.sessions() as session:
        query = select(func.count()).select_from(Message).where(Message.status == "submitted")
        return int(session.scalar(query) or 0)


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_worker_loses_and_duplicates_nothing(services: Services, account: Account,
                                                      tmp_path: Path) -> None:
    count, hang_at = 40, 13
    requests = [SmsRequest(account="", to=f"+336{30000000 + i}", text="Rappel")
                for i in range(count)]
    results = pipeline.submit(services, account, requests)
    assert len(services.queue("transactional").jobs) == 1
    log = tmp_path / "sent.log"
    settings = services.settings
    payload = json.dumps({"data_dir": str(settings.data_dir), "database_url":
                          settings.database_url, "redis_url": settings.redis_url,
                          "secret_key": "test", "batch_size": 100})
    code = ("import sys; from tests.hub.test_queues_kill import run_worker; "
            "run_worker(sys.argv[1], sys.argv[2], int(sys.argv[3]))")
    worker = subprocess.Popen([sys.executable, "-c", code, payload, str(log), str(hang_at)],
                              cwd=Path(__file__).resolve().parents[2],
                              env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        wait_for(lambda: log.with_suffix(".hung").exists() and submitted(services) == hang_at - 1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert submitted(services) == hang_at - 1

    time.sleep(1.2)  # the dead worker's heartbeat expires
    later = utcnow() + timedelta(seconds=settings.sweep_after + 1)
    assert sweeper.sweep(services, later).requeued == count - (hang_at - 1)

    dispatching.run_dispatcher(settings.replace(batch_size=100), driver=SinkDriver(log),  # type: ignore[arg-type]
                               burst=True)
    lines = log.read_text().split()
    assert sorted(lines) == sorted(str(r.message_id) for r in results), "each sent exactly once"
    assert submitted(services) == count
