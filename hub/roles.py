"""The long-running processes of a hub: web, worker, scheduler, dispatcher, smtp, smsc.

Each role is a function ``(settings, options) -> int`` run in the foreground until SIGTERM or
SIGINT, after which it returns 0. ``smshub <role>`` runs one; ``smshub run`` starts each as a
child process. A role whose code is missing from this installation reports why through
:func:`unavailable` instead of starting half-way.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hub.config import Settings

log = logging.getLogger(__name__)

RoleFn = Callable[[Settings, Mapping[str, Any]], int]


@dataclass(frozen=True)
class Role:
    """A process kind: what it needs installed, and how the supervisor starts it."""

    name: str
    run: RoleFn
    requires: tuple[str, ...] = ()
    """Modules that must be importable for the role to do real work."""
    description: str = ""
    embedded: bool = True
    """Started by ``smshub run``. Every role is today, ``worker`` included (callbacks, billing
    notices and connector jobs run there; the dispatcher only consumes the sending queues)."""
    scaled_by: str | None = None
    """The setting that says how many processes of this role ``smshub run`` starts (one when
    None)."""

    def instances(self, settings: Settings) -> int:
        return max(1, int(getattr(settings, self.scaled_by))) if self.scaled_by else 1


class Stop(Exception):
    """Raised in the main thread by SIGTERM so that a role can wind down like on Ctrl-C."""


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


def stop_on_term() -> None:
    """Turn SIGTERM into :class:`Stop` (SIGINT already raises KeyboardInterrupt)."""
    signal.signal(signal.SIGTERM, _raise_stop)


def unavailable(role: Role) -> str | None:
    """Why ``role`` cannot run here (a missing module), or None."""
    missing = [name for name in role.requires if importlib.util.find_spec(name) is None]
    if missing:
        return f"the {role.name} role needs {', '.join(missing)}, which this build lacks"
    return None


def run_web(settings: Settings, options: Mapping[str, Any]) -> int:
    """The WSGI app behind waitress (a production server: thread pool, no fork)."""
    import waitress

    from hub.app import create_app
    from hub.db import prioritise_writes

    prioritise_writes()  # API calls (a single alert) go before campaign and bulk writes
    app = create_app(settings)
    freeze_startup()
    stop_on_term()
    host, port = options.get("host") or settings.host, options.get("port") or settings.port
    print(f"smshub web listening on http://{host}:{port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt, Stop):
        waitress.serve(app, host=host, port=port, threads=int(options.get("threads", 8)),
                       ident="smshub", _quiet=True)
    return 0


def run_dispatcher(settings: Settings, options: Mapping[str, Any]) -> int:
    """The dispatcher: an RQ SimpleWorker on the sending queues holding the operator binds (the
    only consumer of those queues; scale out by starting more). ``queues`` (comma-separated)
    narrows what it consumes: ``smshub run``, which also starts the ``alerts`` dispatcher,
    gives its dispatchers the bulk queue only. ``bulk_nice`` lowers its priority, but not that
    of its database writers (:meth:`hub.dispatching.DispatchRuntime.lower_priority`)."""
    from hub.queues import DISPATCH_QUEUES, sending_queues

    listed = options.get("queues")
    queues = sending_queues(listed.split(",")) if listed else DISPATCH_QUEUES
    return _dispatch(settings, queues, nice=settings.bulk_nice)


def run_alerts(settings: Settings, options: Mapping[str, Any]) -> int:
    """A dispatcher on the transactional queue only, with binds of its own: an alert never
    waits for a campaign batch to finish on the other dispatcher. Its records are alerts', so
    its writes go before the bulk ones."""
    from hub.db import prioritise_writes
    from hub.queues import TRANSACTIONAL

    prioritise_writes()
    return _dispatch(settings, (TRANSACTIONAL,))


def _dispatch(settings: Settings, queues: Sequence[str], nice: int = 0) -> int:
    from hub import dispatching

    freeze_startup()
    stop_on_term()
    with contextlib.suppress(KeyboardInterrupt, Stop):
        dispatching.run_dispatcher(settings, queues=queues, nice=nice)
    return 0


WORK_MODULES = ("hub.pipeline", "hub.campaigns", "hub.receipts", "hub.dispatching",
                "hub.registry")
"""Modules the roles' first jobs would import (the connectors' registry brings the calendar
and CRM clients): imported at start-up, so that :func:`freeze_startup` covers them."""


def freeze_startup() -> None:
    """Keep what start-up built (modules, ORM mappers, the app: about 150,000 objects) out of
    the garbage collector's full passes.

    A full pass walks every tracked object: over a hub's imports it took about 90 ms, and one
    that falls inside a write transaction or an API request keeps an alert waiting as long.
    ``gc.freeze()`` after the imports leaves the passes only the objects made since."""
    for name in WORK_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def lower_priority(settings: Settings) -> None:
    """A bulk process yields the processor to the interactive ones (``bulk_nice``)."""
    if settings.bulk_nice > 0:
        os.nice(settings.bulk_nice)


def run_worker(settings: Settings, options: Mapping[str, Any]) -> int:
    """The general worker: an RQ SimpleWorker (with RQ's scheduler) on every hub queue that is
    not the dispatcher's — customer callbacks today, connector jobs as they are added."""
    from rq import SimpleWorker

    from hub import job_services, registry
    from hub.callbacks import delivery
    from hub.queues import DISPATCH_QUEUES
    from hub.services import QUEUE_NAMES, build_services

    lower_priority(settings)
    services = build_services(settings)
    if services.redis is None:
        raise RuntimeError("the worker needs Redis: set SMSHUB_REDIS_URL")
    job_services.use(services)
    queues = [services.queue(name) for name in QUEUE_NAMES if name not in DISPATCH_QUEUES]
    worker = SimpleWorker(queues, connection=services.redis)
    freeze_startup()
    stop_on_term()
    delivery.kick(services)  # callbacks left pending by a previous run go out now
    try:
        with contextlib.suppress(KeyboardInterrupt, Stop):
            worker.work(with_scheduler=True, burst=bool(options.get("burst")))
    finally:
        job_services.use(None)
        registry.forget(services)
        services.close()
    return 0


def run_scheduler(settings: Settings, options: Mapping[str, Any]) -> int:
    """The sweeper loop: promotes due messages, re-enqueues lost work, expires old ones."""
    import threading

    from hub import sweeper
    from hub.services import build_services

    services = build_services(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        sweeper.sweep_forever(services, stop=stop)
    finally:
        services.close()
    return 0


def _delegate(module: str, function: str) -> RoleFn:
    """A role implemented elsewhere as ``module.function(settings, options) -> int | None``."""

    def run(settings: Settings, options: Mapping[str, Any]) -> int:
        target = getattr(importlib.import_module(module), function)
        stop_on_term()
        try:
            result = target(settings, options)
        except (KeyboardInterrupt, Stop):
            return 0
        return int(result or 0)

    return run


def run_smsc(settings: Settings, options: Mapping[str, Any]) -> int:
    """The local SMPP simulator the embedded runtime uses as its operator."""
    from sms_core.dispatch import sim

    port = options.get("port") or settings.smsc_port
    sim.main(["--host", "127.0.0.1", "--port", str(port)])
    return 0


ROLES: dict[str, Role] = {
    "web": Role("web", run_web, description="the REST API and the status page"),
    "smsc": Role("smsc", run_smsc, requires=("sms_core.dispatch.sim",),
                 description="a local SMSC simulator (SMPP) for the embedded runtime"),
    "scheduler": Role("scheduler", run_scheduler, requires=("hub.sweeper",),
                      description="promotes due messages, re-enqueues lost work, expires old ones"),
    "dispatcher": Role("dispatcher", run_dispatcher, requires=("hub.dispatching", "hub.jobs"),
                       description="RQ worker holding the operator binds; sends queued batches",
                       scaled_by="dispatchers"),
    "alerts": Role("alerts", run_alerts, requires=("hub.dispatching", "hub.jobs"),
                   description="dispatcher for the transactional queue only (alerts first)"),
    "worker": Role("worker", run_worker, requires=("hub.callbacks.jobs", "hub.calendars.jobs"),
                   description="RQ worker for customer callbacks and calendar syncs"),
    "smtp": Role("smtp", _delegate("hub.email.server", "main"), requires=("hub.email.server",),
                 description="the email-to-SMS SMTP receiver"),
}
"""Every role, in the order ``smshub run`` starts them (the web app first)."""


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment a child role needs to reach the same data, database and Redis."""
    env = dict(os.environ)
    env.update({
        "SMSHUB_DATA_DIR": str(settings.data_dir),
        "SMSHUB_DATABASE_URL": settings.effective_database_url,
        "SMSHUB_REDIS_URL": settings.redis_url,
        "SMSHUB_HOST": settings.host,
        "SMSHUB_PORT": str(settings.port),
        "SMSHUB_SMTP_PORT": str(settings.smtp_port),
        "SMSHUB_SMSC_PORT": str(settings.smsc_port),
        "SMSHUB_SECRET_KEY": settings.secret_key,
        "PYTHONUNBUFFERED": "1",
    })
    return env
