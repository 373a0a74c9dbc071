"""The full-priority writer thread of a niced bulk process (the campaign worker)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest

from connectors.base import SmsRequest
from hub import full_priority, pipeline
from hub.models import Account
from hub.services import Services


@pytest.fixture(autouse=True)
def _stopped() -> Iterator[None]:
    full_priority.stop()
    yield
    full_priority.stop()


def _thread_nice(native_id: int | None) -> int:
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


def test_without_a_writer_thread_the_work_runs_in_place() -> None:
    assert full_priority.run(threading.get_ident) == threading.get_ident()


def test_the_writer_thread_runs_the_work_and_gives_back_its_result_or_error() -> None:
    full_priority.start()
    assert full_priority.run(threading.get_ident) != threading.get_ident()
    assert full_priority.run(lambda: 6 * 7) == 42
    with pytest.raises(ZeroDivisionError):
        full_priority.run(lambda: 1 // 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_the_writer_thread_keeps_the_priority_the_process_had_before_lowering_it() -> None:
    """What the worker role does (hub.roles.lower_priority): start the writer, then nice
    itself; here in a thread of its own, so that the test's thread keeps its priority."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int] = []

    def bulk_process() -> None:
        full_priority.start()
        os.nice(4)
        seen.append(os.getpriority(os.PRIO_PROCESS, 0))
        seen.append(full_priority.run(lambda: _thread_nice(threading.get_native_id())))

    thread = threading.Thread(target=bulk_process)
    thread.start()
    thread.join(10)
    assert seen == [base + 4, base]


def test_a_submit_writes_its_chunk_on_the_writer_thread(services: Services, account: Account,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's write transaction goes to the writer thread (the planning stays on the
    calling one), and the messages are stored as usual."""
    full_priority.start()
    writers: list[str] = []
    insert = pipeline._insert

    def recorded(session: object, chunk: object) -> None:
        writers.append(threading.current_thread().name)
        insert(session, chunk)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_insert", recorded)
    results = pipeline.submit(services, account, [
        SmsRequest(account="", to="0612345678", text="Code 1234")])
    assert results[0].status == "accepted"
    assert len(writers) == 1 and writers[0].startswith("full-priority")
    assert writers[0] != threading.current_thread().name
