"""Fixtures shared by the whole suite: databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hub.db import make_engine, upgrade

PG_URL = os.environ.get("SMSHUB_TEST_DATABASE_URL", "")

DB_PARAMS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _fresh_pg_schema_url(base: str) -> tuple[str, str]:
    """A private schema per test database so that parallel or repeated runs never collide."""
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = make_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


@pytest.fixture(params=DB_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: a SQLite file, and a PostgreSQL schema when available."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        upgrade(url)
        yield url
        return
    url, schema = _fresh_pg_schema_url(PG_URL)
    upgrade(url)
    yield url
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()
