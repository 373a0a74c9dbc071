"""RQ jobs of the ``calendar`` queue, and the scheduler hook that enqueues the periodic ones.

* :func:`sync_calendar` — one calendar, after a push notification or a change of rules;
* :func:`sync_all` — every selected calendar, every :data:`PERIODIC` ``sync_all`` seconds: the
  safety net for lost notifications, and the second chance of reminders refused for lack of
  credits (:mod:`hub.calendars.replan`);
* :func:`renew_push` — opens missing channels and renews expiring ones, hourly.

A job finds the process's services like the callback jobs do (the dispatcher's, else its own).
Without Redis (tests, a bare web process) :func:`request_sync` runs the sync in-line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from hub import job_services, registry
from hub.calendars import replan
from hub.services import Services
from sms_core.errors import ConnectorAuthError, ConnectorError, RateLimitedError

log = logging.getLogger(__name__)

QUEUE = "calendar"
SYNC_JOB = "hub.calendars.jobs.sync_calendar"
PERIODIC: Mapping[str, int] = {
    "hub.calendars.jobs.sync_all": 15 * 60,
    "hub.calendars.jobs.renew_push": 60 * 60,
}
"""Periodic job → interval in seconds."""
MARK_PREFIX = "smshub:calendar:periodic:"
"""Redis key marking a periodic job enqueued, expiring after its interval (one per cluster)."""
JOB_TIMEOUT = 900

use = job_services.use
services = job_services.current


def sync_calendar(calendar_id: str) -> dict[str, Any]:
    """Sync one calendar; a throttled provider gets the job back after its ``Retry-After``."""
    found = services()
    try:
        report = registry.calendar(found).sync(calendar_id)
    except RateLimitedError as exc:
        _retry_later(found, calendar_id, exc.retry_after)
        return {"retry_after": exc.retry_after}
    except ConnectorAuthError as exc:  # the connector marked the connection needs_reauth
        return {"error": exc.code}
    return {"submitted": len(report.submitted), "cancelled": len(report.cancelled),
            "events": report.events, "full": report.full}


def sync_all() -> dict[str, str]:
    """The periodic sync of every selected calendar; an error per calendar is logged."""
    outcome: dict[str, str] = {}
    found = services()
    replan.reopen_payable(found)  # reminders refused for credits, now payable, go again
    for calendar_id, result in registry.calendar(found).sync_all().items():
        if isinstance(result, ConnectorError):
            log.warning("calendar %s sync failed: %s (%s)", calendar_id, result.message,
                        result.code)
            outcome[calendar_id] = result.code
        else:
            outcome[calendar_id] = "ok"
    return outcome


def renew_push() -> list[str]:
    """Open or renew push channels and subscriptions expiring soon."""
    return registry.calendar(services()).renew_push()


def request_sync(found: Services, calendar_id: str) -> bool:
    """Sync ``calendar_id`` soon: on the queue when there is Redis (True), else now (False)."""
    if found.redis is None:
        registry.calendar(found).sync(calendar_id)
        return False
    found.queue(QUEUE).enqueue(SYNC_JOB, kwargs={"calendar_id": calendar_id},
                               job_timeout=JOB_TIMEOUT, result_ttl=0)
    return True


def _retry_later(found: Services, calendar_id: str, retry_after: float | None) -> None:
    if found.redis is None:
        return
    delay = timedelta(seconds=max(1.0, retry_after or 60.0))
    found.queue(QUEUE).enqueue_in(delay, SYNC_JOB, kwargs={"calendar_id": calendar_id},
                                  job_timeout=JOB_TIMEOUT, result_ttl=0)


def enqueue_due(found: Services) -> list[str]:
    """Enqueue the periodic jobs whose interval has elapsed; called by the scheduler loop.

    The mark is a Redis ``SET NX EX``: however many schedulers run, one job per interval.
    """
    if found.redis is None:
        return []
    enqueued = []
    for job, interval in PERIODIC.items():
        if found.redis.set(MARK_PREFIX + job, "1", nx=True, ex=interval):
            found.queue(QUEUE).enqueue(job, job_timeout=JOB_TIMEOUT, result_ttl=0)
            enqueued.append(job)
    return enqueued
