"""A priority writer at the SQLite writer gate, by hand: what :class:`hub.db.WriterGate` does
for the web app or the alerts dispatcher, so that a test decides when it starts waiting."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path


def priority_writer_waiting(path: Path | str) -> int:
    """What a priority writer holds while it waits for the gate of the database at ``path`` (a
    shared lock on the priority file); returns the descriptor, to close when it stops waiting."""
    fd = os.open(f"{path}.writer.priority", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def waiting_priority_writer(path: Path | str, on_turn: Callable[[], None]) -> threading.Thread:
    """A priority writer that starts waiting now: a shared lock on the priority file, then the
    gate (in a thread, which this returns); once in, it runs ``on_turn`` and goes."""
    waiting = priority_writer_waiting(path)

    def run() -> None:
        gate = os.open(f"{path}.writer", os.O_RDWR | os.O_CREAT)
        fcntl.flock(gate, fcntl.LOCK_EX)
        os.close(waiting)  # no longer waiting
        try:
            on_turn()
        finally:
            os.close(gate)

    thread = threading.Thread(target=run)
    thread.start()
    return thread
