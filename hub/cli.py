"""The ``smshub`` command line (click).

Every command takes ``--data-dir`` (or ``SMSHUB_DATA_DIR``); the other settings come from the
``SMSHUB_*`` environment and the optional config file (hub.config). Commands that touch the
embedded SQLite database migrate it first; with an external database run ``smshub db upgrade``.
Other parts of the hub add their command groups with one ``main.add_command(...)`` line at the
end of this module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import or_, select

from hub import accounts as accounts_mod
from hub.api.shapes import account_to_dict
from hub.calendars.cli import calendar_group
from hub.cli_billing import register as register_billing
from hub.config import Settings, ensure_secret_key, load_settings
from hub.crypto import reencrypt_all, secret_box
from hub.db import make_engine, make_sessionmaker, transaction, upgrade
from hub.models import Account
from hub.roles import ROLES, unavailable
from sms_core.errors import HubError

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(func: F) -> F:
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="SMSHUB_DATA_DIR",
        default=None, help="Data directory (default: the per-user data directory).",
    )(func)


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    return load_settings(data_dir=data_dir, **overrides)


def open_sessions(settings: Settings) -> Any:
    """A session factory on the configured database (the embedded one migrated first)."""
    if not settings.database_url:
        upgrade(settings.effective_database_url)
    return make_sessionmaker(make_engine(settings.effective_database_url))


def fail(error: HubError) -> click.ClickException:
    return click.ClickException(f"{error.message} ({error.code})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """smshub: a self-hosted SMS integration hub."""


# --- processes -------------------------------------------------------------------------------

@main.command()
@data_dir_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--smtp-port", default=2525, show_default=True, type=int)
@click.option("--smsc-port", default=2775, show_default=True, type=int)
def run(data_dir: Path | None, host: str, port: int, smtp_port: int, smsc_port: int) -> None:
    """Everything in one command: embedded Redis and SQLite, web, workers, SMTP, SMSC."""
    from hub import runtime

    settings = settings_for(data_dir, host=host, port=port, smtp_port=smtp_port,
                            smsc_port=smsc_port)
    try:
        status = runtime.run(settings)
    except runtime.RuntimeFailure as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(status)


def _role_command(name: str) -> click.Command:
    role = ROLES[name]

    @data_dir_option
    @click.option("--host", default=None, help="Listening address (roles that listen).")
    @click.option("--port", default=None, type=int, help="Listening port (roles that listen).")
    @click.option("--queues", default=None,
                  help="Sending queues to consume, comma-separated (dispatcher; default: "
                       "transactional,bulk).")
    def command(data_dir: Path | None, host: str | None, port: int | None,
                queues: str | None) -> None:
        reason = unavailable(role)
        if reason:
            raise click.ClickException(reason)
        from hub.config import ensure_secret_key

        if queues is not None:
            from hub.queues import DISPATCH_QUEUES, sending_queues

            if role.name != "dispatcher":
                raise click.BadParameter("only the dispatcher takes queues",
                                         param_hint="--queues")
            try:
                sending_queues(queues.split(","))
            except ValueError:
                raise click.BadParameter(
                    f"the dispatcher's queues are among {', '.join(DISPATCH_QUEUES)}",
                    param_hint="--queues") from None
        settings = ensure_secret_key(settings_for(data_dir))
        options = {"host": host, "port": port, "queues": queues}
        sys.exit(role.run(settings, options))

    command.__doc__ = f"Run the {name} process: {role.description}."
    return click.command(name)(command)


for _name in ROLES:
    main.add_command(_role_command(_name))


# --- accounts and keys -----------------------------------------------------------------------

@main.group()
def account() -> None:
    """Create and list accounts."""


@account.command("create")
@data_dir_option
@click.argument("name")
@click.option("--credits", type=str, default=None, help="Credits to buy for the account.")
@click.option("--parent", default=None, help="Make it a sub-account of this account id.")
@click.option("--admin", is_flag=True, help="An administrator account.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
def account_create(data_dir: Path | None, name: str, credits: str | None, parent: str | None,
                   admin: bool, as_json: bool) -> None:
    """Create an account and its first API key; the key is printed alone on the last line."""
    amount = _amount(credits)
    with transaction(open_sessions(settings_for(data_dir))) as session:
        try:
            created = accounts_mod.create_account(session, name, parent_id=parent,
                                                  is_admin=admin)
            key_row, key = accounts_mod.create_api_key(session, created, "created with the CLI")
            if amount is not None:
                from hub import ledger

                ledger.purchase(session, created, amount, reference="smshub account create")
        except HubError as exc:
            raise fail(exc) from None
        data = {**account_to_dict(created), "api_key_id": key_row.id, "api_key": key,
                "credits": None if amount is None else format(amount, "f")}
    if as_json:
        click.echo(json.dumps(data))
        return
    click.echo(f"account {data['id']} ({name}) created"
               + (f" with {data['credits']} credits" if amount is not None else ""))
    click.echo("API key (shown only now):")
    click.echo(key)


def _amount(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise click.BadParameter(f"{raw!r} is not a number", param_hint="--credits") from None
    if not amount.is_finite() or amount <= 0:
        raise click.BadParameter("credits are a positive amount", param_hint="--credits")
    return amount


@account.command("list")
@data_dir_option
@click.option("--json", "as_json", is_flag=True)
def account_list(data_dir: Path | None, as_json: bool) -> None:
    """Every account, oldest first."""
    with transaction(open_sessions(settings_for(data_dir))) as session:
        rows = [account_to_dict(a) for a in
                session.scalars(select(Account).order_by(Account.created_at, Account.id))]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        flags = " admin" if row["is_admin"] else ""
        parent = f" (sub-account of {row['parent_id']})" if row["parent_id"] else ""
        click.echo(f"{row['id']}  {row['name']}{flags}{parent}")


def find_account(session: Any, ref: str) -> Account:
    """An account by id or by its (unique) name."""
    found = list(session.scalars(select(Account).where(or_(Account.id == ref,
                                                          Account.name == ref))))
    if len(found) != 1:
        raise click.ClickException(
            f"no account {ref!r}" if not found else f"several accounts are named {ref!r}")
    return found[0]


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@data_dir_option
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--name", default="created with the CLI")
def apikey_create(data_dir: Path | None, account_ref: str, name: str) -> None:
    """A new API key for ACCOUNT (id or name), printed alone on the last line."""
    with transaction(open_sessions(settings_for(data_dir))) as session:
        owner = find_account(session, account_ref)
        row, key = accounts_mod.create_api_key(session, owner, name)
    click.echo(f"API key {row.id} for {owner.id} (shown only now):")
    click.echo(key)


@main.group()
def user() -> None:
    """Dashboard logins."""


@user.command("create")
@data_dir_option
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
@click.password_option(envvar="SMSHUB_NEW_PASSWORD")
def user_create(data_dir: Path | None, account_ref: str, email: str, password: str) -> None:
    """A dashboard login (email + password) for ACCOUNT."""
    with transaction(open_sessions(settings_for(data_dir))) as session:
        try:
            made = accounts_mod.create_user(session, find_account(session, account_ref),
                                            email, password)
        except HubError as exc:
            raise fail(exc) from None
    click.echo(f"user {made.email} created")


# --- sending and the database ----------------------------------------------------------------

@main.command()
@data_dir_option
@click.option("--account", "account_ref", default=None,
              help="Account id or name (default: the only administrator account).")
@click.option("--to", "recipients", multiple=True, required=True, help="A recipient; repeatable.")
@click.option("--text", default=None)
@click.option("--template", default=None)
@click.option("--var", "variables", multiple=True, help="NAME=VALUE for the template.")
@click.option("--sender", default=None)
@click.option("--category", type=click.Choice(["alert", "marketing"]), default="alert")
def send(data_dir: Path | None, account_ref: str | None, recipients: Sequence[str],
         text: str | None, template: str | None, variables: Sequence[str], sender: str | None,
         category: str) -> None:
    """Submit an SMS through the pipeline; prints one JSON result per recipient."""
    from connectors.base import SmsRequest
    from hub import pipeline
    from hub.services import build_services

    if (text is None) == (template is None):
        raise click.UsageError("give --text or --template")
    values = dict(v.split("=", 1) for v in variables if "=" in v)
    settings = settings_for(data_dir)
    open_sessions(settings)
    services = build_services(settings)
    try:
        with services.sessions() as session:
            owner = _sending_account(session, account_ref)
        requests = [SmsRequest(account=owner.id, to=to, text=text, template=template,
                               variables=values, sender=sender, category=category,  # type: ignore[arg-type]
                               source="cli") for to in recipients]
        try:
            results = pipeline.submit(services, owner.id, requests)
        except HubError as exc:
            raise fail(exc) from None
    finally:
        services.close()
    for result in results:
        click.echo(json.dumps({"to": result.to, "status": result.status,
                               "message_id": result.message_id, "code": result.code,
                               "reason": result.reason}))
    if all(r.refused for r in results):
        sys.exit(1)


def _sending_account(session: Any, ref: str | None) -> Account:
    if ref is not None:
        return find_account(session, ref)
    admins = list(session.scalars(select(Account).where(Account.is_admin.is_(True))))
    if len(admins) != 1:
        raise click.UsageError("say which account sends with --account")
    return admins[0]


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@data_dir_option
def db_upgrade(data_dir: Path | None) -> None:
    """Bring the database to the newest schema."""
    settings = settings_for(data_dir)
    upgrade(settings.effective_database_url)
    click.echo("database is up to date")


@main.group()
def secrets() -> None:
    """Secrets stored encrypted (OAuth tokens, callback and email secrets)."""


@secrets.command("rotate")
@data_dir_option
def secrets_rotate(data_dir: Path | None) -> None:
    """Re-encrypt every stored secret with the current secret key.

    After changing SMSHUB_SECRET_KEY, put the former key in SMSHUB_PREVIOUS_SECRET_KEYS, run
    this once, then the former key can be dropped.
    """
    settings = ensure_secret_key(settings_for(data_dir))
    with transaction(open_sessions(settings)) as session:
        try:
            count = reencrypt_all(session, secret_box(settings))
        except HubError as exc:
            raise fail(exc) from None
    click.echo(f"{count} stored secrets re-encrypted with the current key")


register_billing(main)
main.add_command(calendar_group)


if __name__ == "__main__":
    main()
