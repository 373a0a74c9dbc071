"""A thread that writes at full priority in a process that lowered its own (``bulk_nice``).

A niced bulk process that holds SQLite's write turn keeps every writer behind it waiting,
alerts included, for as long as the scheduler starves it: a campaign chunk written in 20 ms
on an idle machine held the turn for 60 to 80 ms beside a busy web app. On Linux niceness is
per thread, so the worker starts one writer thread *before* it lowers its priority
(:func:`start`); :func:`run` hands it the write transactions, while the planning (reading,
rendering, pricing) stays on the niced thread. Where nothing was started, :func:`run` calls in
place.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

_writer: concurrent.futures.ThreadPoolExecutor | None = None


def start() -> None:
    """Start the full-priority writer thread (once); call it before lowering the priority."""
    global _writer
    if _writer is None:
        writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="full-priority")
        writer.submit(lambda: None).result()  # its thread, started now, keeps this priority
        _writer = writer


def run(work: Callable[[], R]) -> R:
    """``work()`` on the full-priority writer thread when there is one, else here; returns its
    result or raises what it raised."""
    if _writer is None:
        return work()
    return _writer.submit(work).result()


def stop() -> None:
    """Let the writer thread go (tests; a process's exit does it)."""
    global _writer
    writer, _writer = _writer, None
    if writer is not None:
        writer.shutdown(wait=True)
