"""The hub side of email to SMS: the database directory, settings management, the submit
adapter, the ``smtp`` process and the notices mailed back to senders.

``smshub smtp`` (and ``smshub run``) call :func:`main`; the REST API manages settings through
:mod:`hub.email.config`.
"""

from hub.email.directory import DatabaseDirectory
from hub.email.server import main
from hub.email.wiring import build_gateway, make_submit

__all__ = ["DatabaseDirectory", "build_gateway", "main", "make_submit"]
