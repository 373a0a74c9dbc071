"""RQ job functions of the ``callbacks`` queue.

The ``worker`` role (hub/roles.py) consumes the ``callbacks`` queue and installs its services
with :func:`use`; a job run elsewhere finds them through the dispatcher runtime, or builds them
once from the environment like any other hub process would.
"""

from __future__ import annotations

from functools import cache

from hub.callbacks import delivery
from hub.config import ensure_secret_key, load_settings
from hub.services import Services, build_services


@cache
def _own_services() -> Services:
    return build_services(ensure_secret_key(load_settings()))


_installed: Services | None = None


def use(found: Services | None) -> None:
    """Make ``found`` the services of this process's callback jobs (None: back to the default)."""
    global _installed
    _installed = found


def services() -> Services:
    """The services of the worker running the job."""
    from hub import dispatching

    if _installed is not None:
        return _installed
    try:
        return dispatching.current().services
    except RuntimeError:
        return _own_services()


def deliver() -> int:
    """One delivery pass; returns how many attempts were made."""
    return len(delivery.run_pass(services()))
