"""The ``calendar`` role: an RQ worker on the calendar queue (syncs, periodic sync, push renewal).

Calendar syncs call Google and Microsoft and may wait on them; they get their own worker so that
they never delay the dispatchers, which listen to the message queues only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rq import SimpleWorker

from hub import registry
from hub.calendars import jobs
from hub.config import Settings
from hub.services import build_services


def main(settings: Settings, options: Mapping[str, Any] | None = None) -> int:
    """Work the calendar queue until stopped; ``options["burst"]`` stops when it is empty."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s calendar %(levelname)s %(message)s")
    services = build_services(settings)
    if services.redis is None:
        raise RuntimeError("the calendar worker needs Redis: set SMSHUB_REDIS_URL")
    jobs.use(services)
    try:
        worker = SimpleWorker([services.queue(jobs.QUEUE)], connection=services.redis)
        worker.work(with_scheduler=True, burst=bool((options or {}).get("burst")))
    finally:
        jobs.use(None)
        registry.forget(services)
        services.close()
    return 0
