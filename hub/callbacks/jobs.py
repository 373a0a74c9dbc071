"""RQ job functions of the ``callbacks`` queue.

The ``worker`` role (hub/roles.py) consumes the ``callbacks`` queue; jobs find the process's
services through :mod:`hub.job_services` (``use``/``services`` are kept here for callers).
"""

from __future__ import annotations

from hub import job_services
from hub.callbacks import delivery

use = job_services.use
services = job_services.current


def deliver() -> int:
    """One delivery pass; returns how many attempts were made."""
    return len(delivery.run_pass(services()))
