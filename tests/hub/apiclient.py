"""Helpers for the web tests: an app on a migrated test database, accounts with keys, counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub.accounts import create_account, create_api_key
from hub.app import create_app
from hub.config import load_settings
from hub.db import make_engine, make_sessionmaker, transaction, upgrade
from hub.services import Services
from tests.conftest import DB_PARAMS, migrated_pg_schema

__all__ = ["DB_PARAMS"]


def make_app(database_url: str, tmp_path: Any, redis: Any = None, **settings: Any) -> Flask:
    """An app on ``database_url`` (already migrated), with or without Redis."""
    conf = load_settings(
        environ={},
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret",
        **settings,
    )
    services = Services(
        settings=conf, sessions=make_sessionmaker(make_engine(database_url)), redis=redis
    )
    app = create_app(services=services)
    app.config["TESTING"] = True
    return app


@contextmanager
def migrated_url(kind: str, folder: Path) -> Iterator[str]:
    """A migrated database for a whole test module: a SQLite file, or a PostgreSQL schema."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'shared.sqlite3'}"
        upgrade(url)
        yield url
        return
    with migrated_pg_schema() as url:
        yield url


def sessions(app: Flask) -> Any:
    return app.extensions["smshub"].sessions


def new_account(
    app: Flask, name: str = "Acme", *, credits: Decimal | None = None, **kwargs: Any
) -> tuple[str, str]:
    """(account id, API key) of a fresh account; ``credits`` buys a pack when billing exists."""
    with transaction(sessions(app)) as session:
        account = create_account(session, name, **kwargs)
        _, key = create_api_key(session, account)
        if credits is not None:
            from hub import ledger

            ledger.purchase(session, account, credits, reference="test pack")
        return account.id, key


def seed_prices(app: Flask, unit: Decimal = Decimal("0.05")) -> None:
    """A public price for every route to every country, valid since 2020."""
    from hub.models.pricing import PUBLIC, PriceRow

    since = datetime(2020, 1, 1, tzinfo=UTC)
    with transaction(sessions(app)) as session:
        for route in ("standard", "premium", "alert"):
            session.add(
                PriceRow(
                    price_list=PUBLIC,
                    currency="EUR",
                    country="*",
                    route=route,
                    unit_price=unit,
                    valid_from=since,
                )
            )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def count(app: Flask, model: Any) -> int:
    with sessions(app)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def client_for(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module", params=DB_PARAMS, name="app")
def shared_app(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app and database per test module and backend, with prices; tests that import this
    fixture work in accounts of their own, so they never see each other's rows."""
    with migrated_url(request.param, tmp_path_factory.mktemp("db")) as url:
        built = make_app(url, tmp_path_factory.mktemp("data"))
        seed_prices(built)
        yield built
