"""SQLite WAL checkpoints, off the write path.

By default SQLite copies the write-ahead log back into the database file (a checkpoint) inside
the commit that finds the log past 1,000 pages: that commit, and every writer waiting for the
write turn behind it, pays for the copy and its ``fsync`` (10 to 40 ms on a busy machine, which
is what an alert's whole write should take). The engines of :mod:`hub.db` turn that automatic
checkpoint nearly off (:data:`AUTOCHECKPOINT_PAGES`) and give each database file a
:class:`Checkpointer`: after a commit it runs a ``PASSIVE`` checkpoint in a short-lived thread of
its own, at most every :data:`CHECKPOINT_EVERY` seconds. A passive checkpoint waits for nobody
and makes nobody wait: writers go on appending to the log meanwhile, readers keep their
snapshots.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 0.5
"""Seconds between two checkpoints of one process (each process that writes runs its own)."""

AUTOCHECKPOINT_PAGES = 20000
"""``PRAGMA wal_autocheckpoint`` of the engines' connections: the log's size (pages, about
80 MB) past which a commit checkpoints inline after all, should the background ones not keep
up."""


_checkpointing = threading.Lock()
"""Held by a checkpoint thread while it is inside SQLite, and by a ``fork`` (see
:func:`_before_fork`): a child must not inherit SQLite's mutexes locked by a thread that does
not exist in it, or its first database call would wait for ever."""

_instances: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


def _before_fork() -> None:
    """Wait for a checkpoint under way, and hold every checkpointer's state, across a fork."""
    _checkpointing.acquire()
    for checkpointer in list(_instances):
        checkpointer._lock.acquire()


def _after_fork() -> None:
    for checkpointer in list(_instances):
        checkpointer._lock.release()
    _checkpointing.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork,
                    after_in_child=_after_fork)


class Checkpointer:
    """Background ``PASSIVE`` checkpoints of one SQLite file, asked for after each commit.

    A thread runs a checkpoint, then waits :attr:`every` seconds and runs another if commits
    came meanwhile, and ends once a wait saw none: a burst of commits costs a checkpoint per
    interval, and its last commits are checkpointed too."""

    def __init__(self, path: str, every: float = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.every = every
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: tuple[int, threading.Thread] | None = None
        self.done = 0
        """Checkpoints run so far (by this process)."""
        _instances.add(self)

    def wrote(self) -> None:
        """A write transaction committed: checkpoint it soon."""
        with self._lock:
            self._wanted = True
            running = self._thread
            if running is not None and running[0] == os.getpid():  # a forked child starts anew
                return
            thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread = (os.getpid(), thread)
            thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            self._checkpoint()
            time.sleep(self.every)

    def _checkpoint(self) -> None:
        with _checkpointing:
            self._passive_checkpoint()

    def _passive_checkpoint(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            with contextlib.closing(connection) as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.done += 1
        except sqlite3.Error as exc:  # busy with another process's checkpoint, or gone
            log.debug("checkpoint of %s skipped: %s", self.path, exc)
