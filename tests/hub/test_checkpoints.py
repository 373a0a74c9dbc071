"""WAL checkpoints run in the background, not inside the commit that fills the log."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.checkpoints import AUTOCHECKPOINT_PAGES, Checkpointer
from hub.db import make_engine

ROWS = 10_000
ROW = "x" * 500  # about 5 MB in all: some 1,300 pages of log, past SQLite's default 1,000


def _write_5_mb(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS blob (v TEXT)")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO blob VALUES (?)", [(ROW,)] * ROWS)


def _file_size(path: Path) -> int:
    return path.stat().st_size


def test_connections_leave_checkpoints_to_the_background(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == \
            AUTOCHECKPOINT_PAGES


def test_a_commit_does_not_copy_the_log_into_the_database_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the background checkpoints off, a commit of 1,300 pages leaves them in the log,
    where SQLite's default (1,000 pages) would have copied them into the database inline."""
    monkeypatch.setattr(Checkpointer, "wrote", lambda self: None)
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    _write_5_mb(engine)
    assert _file_size(path) < 100_000
    assert _file_size(Path(f"{path}-wal")) > 5_000_000


def test_the_background_checkpoint_copies_the_log_after_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    _write_5_mb(engine)
    deadline = time.monotonic() + 10
    while _file_size(path) < 5_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _file_size(path) > 5_000_000
    with sqlite3.connect(path) as conn:  # and the data is all there
        assert conn.execute("SELECT count(*) FROM blob").fetchone() == (ROWS,)


def test_checkpoints_are_spaced_and_the_last_commits_are_checkpointed_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits in quick succession cost one checkpoint per interval, not one each; commits made
    during an interval get theirs at its end; then the thread stops until the next commit."""
    path = tmp_path / "db.sqlite3"
    runs: list[float] = []
    monkeypatch.setattr(Checkpointer, "_checkpoint", lambda self: runs.append(time.monotonic()))
    checkpointer = Checkpointer(str(path), every=0.3)
    checkpointer.wrote()
    time.sleep(0.1)
    assert len(runs) == 1
    for _ in range(50):  # during the interval that follows the first run
        checkpointer.wrote()
    time.sleep(0.1)
    assert len(runs) == 1
    time.sleep(0.8)  # checkpointed once, at the interval's end
    assert len(runs) == 2
    assert runs[1] - runs[0] >= 0.3
    checkpointer.wrote()  # the thread had stopped: a new one checkpoints at once
    time.sleep(0.1)
    assert len(runs) == 3


def test_a_checkpoint_that_cannot_run_is_skipped_quietly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database cannot be opened (or another process checkpoints): the thread ends without
    an exception, and the next commit asks again."""
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    checkpointer = Checkpointer(str(tmp_path / "missing" / "db.sqlite3"), every=0)
    for _ in range(2):
        checkpointer.wrote()
        time.sleep(0.2)
    assert checkpointer.done == 0
    assert raised == []


def test_a_fork_waits_for_the_checkpoint_under_way(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A child must not inherit SQLite's mutexes held by the checkpoint thread (its first
    database call would hang): a fork waits until the checkpoint under way is done."""
    ended: list[float] = []

    def slow(self: Checkpointer) -> None:
        time.sleep(0.5)
        ended.append(time.monotonic())

    monkeypatch.setattr(Checkpointer, "_passive_checkpoint", slow)
    Checkpointer(str(tmp_path / "db.sqlite3")).wrote()
    time.sleep(0.1)  # the checkpoint is under way
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    forked = time.monotonic()
    assert os.waitpid(pid, 0)[1] == 0
    assert ended and forked >= ended[0]
