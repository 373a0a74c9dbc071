"""Fixtures shared by the whole suite: databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from hub import db
from hub.db import make_engine, upgrade

PG_URL = os.environ.get("SMSHUB_TEST_DATABASE_URL", "")

DB_PARAMS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True)
def _process_state() -> Iterator[None]:
    """Tests that run a role or a benchmark in this process leave the process as it was: an
    RQ worker installs its own SIGTERM handler (a forked pool worker that inherits it ignores
    ``terminate()``, and the pool hangs), the web and alerts roles make the process a priority
    writer, and the roles freeze the collector's start-up objects."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    priority = db.write_priority()
    frozen = gc.get_freeze_count()
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    db.prioritise_writes(priority)
    if gc.get_freeze_count() != frozen:
        gc.unfreeze()


def _fresh_pg_schema_url(base: str) -> tuple[str, str]:
    """A private schema per test database so that parallel or repeated runs never collide."""
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = make_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test run; each test gets a copy (migrating costs ~0.5 s)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    assert not path.with_name(path.name + "-wal").exists(), "template left a WAL file behind"
    return path


@contextmanager
def migrated_pg_schema() -> Iterator[str]:
    """A private, migrated PostgreSQL schema (its URL), dropped afterwards."""
    url, schema = _fresh_pg_schema_url(PG_URL)
    try:
        upgrade(url)
        yield url
    finally:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[str]:
    """One migrated PostgreSQL schema per test run, emptied before each test that uses it."""
    with migrated_pg_schema() as url:
        yield url


def _empty_pg(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=DB_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: a SQLite file, and a PostgreSQL schema when available."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("_pg_schema")
    _empty_pg(url)
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()
