"""The services of the process running RQ jobs.

Job functions receive only ids, so they find the database and Redis here: the worker role
installs its services with :func:`use`; in the dispatcher they come from its runtime; anywhere
else (a job run by hand, a test) they are built once from the environment like any hub process.
"""

from __future__ import annotations

from functools import cache

from hub.config import ensure_secret_key, load_settings
from hub.services import Services, build_services

_installed: Services | None = None


@cache
def _from_environment() -> Services:
    return build_services(ensure_secret_key(load_settings()))


def use(found: Services | None) -> None:
    """Make ``found`` the services of this process's jobs (None: back to the default)."""
    global _installed
    _installed = found


def current() -> Services:
    """The services of the process running the job."""
    from hub import dispatching

    if _installed is not None:
        return _installed
    try:
        return dispatching.current().services
    except RuntimeError:
        return _from_environment()
