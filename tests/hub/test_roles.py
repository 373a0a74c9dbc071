"""The process roles of ``smshub run``: every hub queue has a consumer."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rq.job import Job

from hub import dispatching
from hub.callbacks.delivery import CALLBACKS_QUEUE, DELIVER_JOB
from hub.config import Settings
from hub.queues import BULK, DISPATCH_QUEUES, TRANSACTIONAL
from hub.roles import ROLES, run_worker
from hub.services import QUEUE_NAMES, Services
from tests.hub.test_queues_kill import SinkDriver


def test_the_dispatchers_and_the_worker_all_run_embedded() -> None:
    embedded = {name for name, role in ROLES.items() if role.embedded}
    assert {"dispatcher", "alerts", "worker"} <= embedded


def test_the_alerts_dispatcher_takes_transactional_jobs_only(settings: Settings,
                                                             services: Services,
                                                             tmp_path: Path) -> None:
    jobs = {name: services.queue(name).enqueue("hub.ids.ulid") for name in DISPATCH_QUEUES}
    dispatching.run_dispatcher(settings, driver=SinkDriver(tmp_path / "sent.log"),  # type: ignore[arg-type]
                               burst=True, queues=(TRANSACTIONAL,))
    status = {name: Job.fetch(job.id, connection=services.redis).get_status()
              for name, job in jobs.items()}
    assert status == {TRANSACTIONAL: "finished", BULK: "queued"}


def test_a_dispatcher_refuses_a_queue_that_is_not_a_sending_queue(settings: Settings) -> None:
    with pytest.raises(ValueError, match="callbacks"):
        dispatching.run_dispatcher(settings, queues=("callbacks",))


def test_the_worker_runs_the_callback_delivery_job(settings: Settings,
                                                   services: Services) -> None:
    job = services.queue(CALLBACKS_QUEUE).enqueue(DELIVER_JOB)
    assert run_worker(settings, {"burst": True}) == 0
    done = Job.fetch(job.id, connection=services.redis)
    assert done.get_status() == "finished"
    assert done.return_value() == 0  # nothing was pending: one empty delivery pass


def test_the_worker_consumes_every_queue_the_dispatcher_does_not(settings: Settings,
                                                                  services: Services) -> None:
    others = [name for name in QUEUE_NAMES if name not in DISPATCH_QUEUES]
    jobs = {name: services.queue(name).enqueue("hub.ids.ulid") for name in QUEUE_NAMES}
    assert run_worker(settings, {"burst": True}) == 0
    for name, job in jobs.items():
        status = Job.fetch(job.id, connection=services.redis).get_status()
        assert status == ("finished" if name in others else "queued"), name


def test_smshub_run_starts_as_many_dispatchers_as_configured(settings: Settings,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    from collections import Counter

    from hub.runtime import Supervisor

    monkeypatch.setattr(Supervisor, "command",
                        lambda self, role: [sys.executable, "-c", "import time; time.sleep(30)"])
    supervisor = Supervisor(settings.replace(dispatchers=3), out=io.StringIO())
    try:
        supervisor.start()
        started = Counter(child.role.name for child in supervisor.children)
    finally:
        supervisor.stop()
    assert started["dispatcher"] == 3
    assert started["alerts"] == started["worker"] == started["web"] == 1
    assert all(child.process.poll() is not None for child in supervisor.children)


def test_start_up_objects_are_left_out_of_full_collections() -> None:
    """After ``freeze_startup`` (as every long-running role calls it) a full collection walks
    only what the process made since: not the hub's imports, the connectors' clients
    included."""
    code = (
        "import gc, sys, time\n"
        "from hub.roles import freeze_startup\n"
        "gc.collect()\n"
        "before = len(gc.get_objects())\n"
        "freeze_startup()\n"
        "assert 'hub.registry' in sys.modules and 'hub.dispatching' in sys.modules\n"
        "print(before, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    before, frozen, left = map(int, done.stdout.split())
    assert frozen > before > 10_000  # the hub's modules and everything they built
    assert left < 1_000  # what a full collection still walks


def test_smshub_run_leaves_transactional_jobs_to_the_alerts_dispatcher(
        settings: Settings) -> None:
    """An alert taken by a dispatcher busy with a campaign would wait for its write turns
    without priority: under ``smshub run`` the dispatchers consume the bulk queue only, and
    the alerts dispatcher the transactional one."""
    from hub.runtime import Supervisor

    supervisor = Supervisor(settings)
    assert supervisor.command(ROLES["dispatcher"])[-2:] == ["--queues", "bulk"]
    assert "--queues" not in supervisor.command(ROLES["alerts"])


def test_the_dispatcher_role_consumes_the_queues_it_is_given(settings: Settings,
                                                             services: Services,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    from hub import roles

    monkeypatch.setattr(roles, "stop_on_term", lambda: None)  # not in the test process
    monkeypatch.setattr(roles, "freeze_startup", lambda: None)
    jobs = {name: services.queue(name).enqueue("hub.ids.ulid") for name in DISPATCH_QUEUES}
    real = dispatching.run_dispatcher
    niceness: list[int] = []

    def run(settings: Settings, queues: tuple[str, ...], nice: int) -> None:
        niceness.append(nice)
        real(settings, queues=queues, burst=True, driver=SinkDriver(tmp_path / "sent.log"))

    monkeypatch.setattr(dispatching, "run_dispatcher", run)
    assert roles.run_dispatcher(settings.replace(bulk_nice=7), {"queues": "bulk"}) == 0
    assert niceness == [7]  # lowered by the dispatcher itself, all but its database writers
    status = {name: Job.fetch(job.id, connection=services.redis).get_status()
              for name, job in jobs.items()}
    assert status == {TRANSACTIONAL: "queued", BULK: "finished"}


@pytest.mark.parametrize(("role", "queues", "message"), [
    ("dispatcher", "bulk,callbacks", "queues are among transactional, bulk"),
    ("worker", "bulk", "only the dispatcher takes queues"),
])
def test_the_cli_refuses_queues_a_role_cannot_consume(runner: object, role: str, queues: str,
                                                      message: str) -> None:
    from click.testing import CliRunner

    from hub.cli import main

    assert isinstance(runner, CliRunner)
    result = runner.invoke(main, [role, "--queues", queues])
    assert result.exit_code == 2, result.output
    assert message in result.output
