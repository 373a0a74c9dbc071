"""Per-request access to the process's :class:`~hub.services.Services`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from hub.db import reading, transaction
from hub.services import Services

EXTENSION = "smshub"


def services() -> Services:
    """The services the app was created with."""
    found: Services = current_app.extensions[EXTENSION]
    return found


@contextmanager
def read_only() -> Iterator[Session]:
    """A read-only database session for one view (no write lock on SQLite)."""
    with reading(services().sessions) as session:
        yield session


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A database transaction for one view: committed on success, rolled back on error."""
    with transaction(services().sessions) as session:
        yield session
