"""Many threads and processes spending one account never overspend and never lose an entry."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import Engine, func, select

from hub import ledger
from hub.db import make_engine, make_sessionmaker, transaction
from hub.ids import new_id
from hub.models import Account, LedgerEntry
from sms_core.errors import BillingError

CREDIT = Decimal(100)
PRICE = Decimal(1)


def _spend(url: str, account_id: str, attempts: int) -> int:
    """Reserve then settle ``attempts`` times, each in its own transaction; count successes."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    won = 0
    try:
        for i in range(attempts):
            try:
                with transaction(sessions) as s:
                    ledger.reserve(s, account_id, PRICE, reference=f"r{i}")
                with transaction(sessions) as s:
                    ledger.settle(s, account_id, PRICE, reference=f"r{i}")
                won += 1
            except BillingError as exc:
                assert exc.code == "insufficient_credits"
    finally:
        engine.dispose()
    return won


def _funded_account(engine: Engine) -> str:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        account = Account(id=new_id("acc"), name="busy")
        s.add(account)
        s.flush()
        ledger.purchase(s, account, CREDIT, reference="pack")
    return account.id


def _check(engine: Engine, account_id: str, won: int) -> None:
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        assert won == int(CREDIT / PRICE)
        assert ledger.balance(s, account_id) == 0
        assert ledger.verify(s, account_id)
        count = s.scalar(select(func.count()).select_from(LedgerEntry))
        assert count == 1 + 2 * won


def test_fifty_threads_never_overspend(engine: Engine, database_url: str) -> None:
    account_id = _funded_account(engine)
    with ThreadPoolExecutor(max_workers=50) as pool:
        won = sum(pool.map(lambda _: _spend(database_url, account_id, 3), range(50)))
    _check(engine, account_id, won)


def test_worker_processes_never_overspend(engine: Engine, database_url: str) -> None:
    account_id = _funded_account(engine)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        won = sum(pool.starmap(_spend, [(database_url, account_id, 30)] * 4))
    _check(engine, account_id, won)
