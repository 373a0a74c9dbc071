"""Database engine, sessions and migrations (SQLite and PostgreSQL through SQLAlchemy 2).

SQLite gets WAL, foreign keys and a busy timeout so that web, workers and dispatcher can share
one file; writers take the lock up front (``BEGIN IMMEDIATE``) so that two transactions never
both read a balance and then fail to upgrade their lock. Read-only work uses :func:`reading`,
which begins a deferred transaction: in WAL mode it reads a snapshot without ever taking the
write lock, so polling the API or loading a batch never makes a writer wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "smshub_read_only"
"""Execution option marking a connection whose transaction only reads (see :func:`reading`)."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the per-backend settings smshub relies on."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only unit of work: never commits, and on SQLite never takes the write lock.

    Objects loaded here stay readable after the block (the session closes without expiring
    them). Writing through this session is a mistake: nothing is committed.
    """
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (all migration heads)."""
    command.upgrade(alembic_config(url), "heads")
