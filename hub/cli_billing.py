"""Billing commands: ``smshub credits add|limit|threshold``, ``smshub prices import|export``,
``smshub statement``, ``smshub ledger expire|verify``, ``smshub plan subscribe|show|cancel``.

They work on the database the settings name (the embedded SQLite one is migrated first), each
in one transaction, and report billing errors as ``message (code)`` with exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub import ledger, plans, statements
from hub.config import load_settings
from hub.db import make_engine, make_sessionmaker, transaction, upgrade
from hub.models import Account
from hub.pricing import export_prices, import_prices
from sms_core.billing import money
from sms_core.errors import HubError

F = TypeVar("F", bound=Callable[..., Any])


def _data_dir(func: F) -> F:
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="SMSHUB_DATA_DIR",
        default=None, help="Data directory (default: the per-user data directory).",
    )(func)


@contextmanager
def _session(data_dir: Path | None) -> Iterator[Session]:
    """One transaction on the configured database; HubErrors become clean CLI failures."""
    settings = load_settings(data_dir=data_dir)
    if not settings.database_url:
        upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except HubError as exc:
        raise click.ClickException(f"{exc.message} ({exc.code})") from None
    finally:
        engine.dispose()


def _account(session: Session, ref: str) -> Account:
    found = session.scalars(select(Account).where(or_(Account.id == ref, Account.name == ref))
                            ).all()
    if len(found) != 1:
        raise click.ClickException(f"no single account is called {ref!r}")
    return found[0]


@click.group()
def credits() -> None:
    """Prepaid credits."""


@credits.command("add")
@_data_dir
@click.argument("account")
@click.argument("amount")
@click.option("--reference", default="smshub credits add", help="Ledger reference.")
@click.option("--policy", type=click.Choice(["fixed", "rolling"]), default="fixed",
              help="Pack validity: 12 months fixed, or 365 days renewed by use.")
def credits_add(data_dir: Path | None, account: str, amount: str, reference: str,
                policy: str) -> None:
    """Add a pack of AMOUNT credits to ACCOUNT (id or name)."""
    with _session(data_dir) as session:
        target = _account(session, account)
        pack = ledger.purchase(session, target, money(amount), reference=reference,
                               policy=policy)
        left = ledger.balance(session, target)
    click.echo(f"added {pack.amount} {target.currency} to {target.id} "
               f"(valid until {pack.expires_at:%Y-%m-%d}); balance {left}")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _paying(target: Account) -> Account:
    if target.parent_id is not None:
        raise click.ClickException(f"{target.id} spends the credits of {target.parent_id}: "
                                   "set it on that account")
    return target


@credits.command("limit")
@_data_dir
@click.argument("account")
@click.argument("amount")
def credits_limit(data_dir: Path | None, account: str, amount: str) -> None:
    """Let ACCOUNT spend down to -AMOUNT (post-paid, invoiced monthly); 0 makes it prepaid."""
    with _session(data_dir) as session:
        target = _paying(_account(session, account))
        ledger.set_credit_limit(session, target, money(amount, what="credit limit"))
        spendable = ledger.spendable(session, target)
    click.echo(f"credit limit of {target.id} set to {_plain(money(amount))} {target.currency}; "
               f"spendable {_plain(spendable)}")


@credits.command("threshold")
@_data_dir
@click.argument("account")
@click.argument("amount", metavar="AMOUNT|none")
def credits_threshold(data_dir: Path | None, account: str, amount: str) -> None:
    """Email ACCOUNT once each time its credit falls below AMOUNT (``none``: never)."""
    with _session(data_dir) as session:
        value = None if amount.lower() == "none" else money(amount, what="threshold")
        target = _paying(_account(session, account))
        ledger.set_low_balance_threshold(session, target, value)
    click.echo(f"low-balance threshold of {target.id} "
               + ("removed" if value is None else f"set to {_plain(value)} {target.currency}"))


@click.group()
def prices() -> None:
    """Price lists (CSV)."""


@prices.command("import")
@_data_dir
@click.argument("file", type=click.File("r", encoding="utf-8"))
def prices_import(data_dir: Path | None, file: Any) -> None:
    """Import a price CSV (``-`` for stdin): every row, or none if one is bad."""
    text = file.read()
    with _session(data_dir) as session:
        count = import_prices(session, text)
    click.echo(f"imported {count} prices")


@prices.command("export")
@_data_dir
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
@click.option("--price-list", default=None, help="Only this list (public or an account id).")
def prices_export(data_dir: Path | None, file: Any, price_list: str | None) -> None:
    """Write every price as CSV to FILE (stdout by default)."""
    with _session(data_dir) as session:
        file.write(export_prices(session, price_list))


@click.command()
@_data_dir
@click.argument("account")
@click.argument("period")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option("--part", type=click.Choice(["lines", "accounts"]), default="lines",
              help="CSV: lines and subscription fees, or usage per sub-account.")
@click.option("--issue", is_flag=True, help="Freeze the statement of this finished month.")
def statement(data_dir: Path | None, account: str, period: str, fmt: str, part: str,
              issue: bool) -> None:
    """The statement of ACCOUNT for PERIOD (YYYY-MM): usage, subscription fees, per account."""
    with _session(data_dir) as session:
        target = _account(session, account)
        if issue:
            statements.issue_statement(session, target, period)
        document = statements.get_statement(session, target, period)
    if fmt == "csv":
        sys.stdout.write(statements.statement_csv(document, part))
    else:
        click.echo(json.dumps(document, indent=2, sort_keys=True))


@click.group("ledger")
def ledger_group() -> None:
    """Ledger maintenance."""


@ledger_group.command("expire")
@_data_dir
def ledger_expire(data_dir: Path | None) -> None:
    """Expire the unspent credit of packs past their validity now (the scheduler does it hourly)."""
    with _session(data_dir) as session:
        total = ledger.expire_packs(session, datetime.now(UTC))
    click.echo(f"expired {total}")


@ledger_group.command("verify")
@_data_dir
def ledger_verify(data_dir: Path | None) -> None:
    """Check that every balance equals the sum of its ledger entries."""
    with _session(data_dir) as session:
        bad = [a.id for a in session.scalars(select(Account)) if not ledger.verify(session, a)]
    if bad:
        raise click.ClickException(f"balances differ from their ledger: {', '.join(bad)}")
    click.echo("every balance matches its ledger")


@click.group("plan")
def plan_group() -> None:
    """Appointment-reminder plans (SOLO, BUSINESS, ENTERPRISE)."""


def _show_plan(document: dict[str, Any]) -> None:
    if document["plan"] is None:
        click.echo(f"{document['account_id']}: no plan "
                   f"({document['calendars_used']} calendars selected)")
        return
    click.echo(f"{document['account_id']}: {document['plan']} {document['cycle']} "
               f"({document['status']}), {document['fee']} {document['currency']} per period; "
               f"calendars {document['calendars_used']}/{document['calendars_allowed']}")
    click.echo(f"trial until {document['trial_ends_at']}; period "
               f"{document['period_start']} to {document['period_end']}")


@plan_group.command("subscribe")
@_data_dir
@click.argument("account")
@click.argument("plan", type=click.Choice(["SOLO", "BUSINESS", "ENTERPRISE"],
                                          case_sensitive=False))
@click.option("--cycle", type=click.Choice(["monthly", "annual"]), default=None,
              help="Billing cycle (monthly for a new subscription; unchanged otherwise).")
def plan_subscribe(data_dir: Path | None, account: str, plan: str, cycle: str | None) -> None:
    """Subscribe ACCOUNT to PLAN (30-day trial the first time) or move it to PLAN."""
    with _session(data_dir) as session:
        target = _account(session, account)
        current = plans.subscription(session, target)
        chosen = cycle or (current.cycle if current is not None else "monthly")
        _, extra, created = plans.choose(session, target, plan, chosen)
        document = plans.describe(session, target)
    click.echo(("subscribed" if created else "changed") +
               (f"; pro-rata {extra} EUR on the next invoice" if extra else ""))
    _show_plan(document)


@plan_group.command("show")
@_data_dir
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="Print the subscription as JSON.")
def plan_show(data_dir: Path | None, account: str, as_json: bool) -> None:
    """The plan ACCOUNT pays for (a sub-account shows its parent's)."""
    with _session(data_dir) as session:
        document = plans.describe(session, _account(session, account))
    if as_json:
        click.echo(json.dumps(document, sort_keys=True))
    else:
        _show_plan(document)


@plan_group.command("cancel")
@_data_dir
@click.argument("account")
def plan_cancel(data_dir: Path | None, account: str) -> None:
    """Cancel the plan of ACCOUNT (no refund of the current period)."""
    with _session(data_dir) as session:
        target = _account(session, account)
        plans.cancel(session, plans.paying_account(session, target))
        document = plans.describe(session, target)
    _show_plan(document)


COMMANDS = (credits, prices, statement, ledger_group, plan_group)


def register(group: click.Group) -> None:
    """Add the billing commands to the ``smshub`` group."""
    for command in COMMANDS:
        group.add_command(command)
