"""The process roles of ``smshub run``: every hub queue has a consumer."""

from __future__ import annotations

from rq.job import Job

from hub.callbacks.delivery import CALLBACKS_QUEUE, DELIVER_JOB
from hub.config import Settings
from hub.queues import DISPATCH_QUEUES
from hub.roles import ROLES, run_worker
from hub.services import QUEUE_NAMES, Services


def test_the_dispatcher_and_the_worker_both_run_embedded() -> None:
    embedded = {name for name, role in ROLES.items() if role.embedded}
    assert {"dispatcher", "worker"} <= embedded


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
