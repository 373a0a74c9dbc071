"""The connector registry: an explicit dict from message ``source`` to the connector's builder.

Connectors are plain objects built from the hub's services (settings namespace, store, submit,
cancel, plan check, event sink). One instance per builder and per :class:`Services` is kept,
so the Google and Outlook entries share one calendar connector (it serves both providers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from connectors.base import Connector
from connectors.calendar import CalendarConnector
from hub.calendars.wiring import build_connector as build_calendar
from hub.services import Services

Builder = Callable[[Services], Any]

CONNECTORS: dict[str, Builder] = {
    "google_calendar": build_calendar,
    "outlook_calendar": build_calendar,
}
"""``Message.source`` → builder of the connector that submitted such messages."""

_built: dict[tuple[int, Builder], tuple[Services, Any]] = {}
"""Instances by (id of their services, builder); the services are kept with the instance so
that their id cannot be reused by other services while the entry exists."""
_lock = threading.Lock()


def connector(services: Services, source: str) -> Any:
    """The connector of ``source`` for ``services``, built on first use."""
    builder = CONNECTORS[source]
    with _lock:
        key = (id(services), builder)
        if key not in _built:
            _built[key] = (services, builder(services))
        return _built[key][1]


def calendar(services: Services) -> CalendarConnector:
    """The calendar connector (Google Calendar and Outlook)."""
    found: CalendarConnector = connector(services, "google_calendar")
    return found


def install(services: Services, source: str, instance: Any) -> None:
    """Use ``instance`` for ``source`` (and the sources sharing its builder) with ``services``."""
    with _lock:
        _built[(id(services), CONNECTORS[source])] = (services, instance)


def forget(services: Services) -> None:
    """Drop the instances built for ``services`` (it is being closed)."""
    with _lock:
        for key in [k for k in _built if k[0] == id(services)]:
            del _built[key]


def status_listener(services: Services, source: str) -> Connector | None:
    """The connector to tell about status changes of a message of ``source``, if any."""
    return connector(services, source) if source in CONNECTORS else None
