"""``smshub calendar connections`` and ``smshub calendar sync``.

The sync runs in this process (no Redis needed): the reminders it submits are stored by the
pipeline and picked up by the scheduler like any other scheduled message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hub import registry
from hub.config import ensure_secret_key, load_settings
from hub.db import upgrade
from hub.services import Services, build_services
from sms_core.errors import ConnectorError


def _services(data_dir: Path | None) -> Services:
    settings = ensure_secret_key(load_settings(data_dir=data_dir))
    if not settings.database_url:
        upgrade(settings.effective_database_url)
    return build_services(settings.replace(redis_url=""))


@click.group("calendar")
def calendar_group() -> None:
    """Appointment reminders from Google Calendar and Outlook."""


@calendar_group.command("connections")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="SMSHUB_DATA_DIR", default=None, help="Data directory.")
@click.option("--account", default=None, help="Only this account's connections.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def connections(data_dir: Path | None, account: str | None, as_json: bool) -> None:
    """List calendar connections with their calendars (selected ones marked *)."""
    services = _services(data_dir)
    try:
        connector = registry.calendar(services)
        for connection in connector.store.connections():
            if account and connection.account != account:
                continue
            calendars = connector.store.calendars(connection.id)
            row: dict[str, Any] = {
                "id": connection.id, "account": connection.account,
                "provider": connection.provider, "status": connection.status,
                "calendars": [{"id": c.id, "name": c.name, "selected": c.selected}
                              for c in calendars]}
            if as_json:
                click.echo(json.dumps(row))
                continue
            names = ", ".join(f"{'*' if c.selected else ''}{c.name} ({c.id})" for c in calendars)
            click.echo(f"{connection.id}\t{connection.account}\t{connection.provider}\t"
                       f"{connection.status}\t{names}")
    finally:
        registry.forget(services)
        services.close()


@calendar_group.command("sync")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="SMSHUB_DATA_DIR", default=None, help="Data directory.")
@click.argument("calendar_ids", nargs=-1)
def sync(data_dir: Path | None, calendar_ids: tuple[str, ...]) -> None:
    """Sync the given calendars now, or every selected calendar when none is given."""
    services = _services(data_dir)
    failed = False
    try:
        connector = registry.calendar(services)
        if calendar_ids:
            results: dict[str, Any] = {}
            for calendar_id in calendar_ids:
                try:
                    results[calendar_id] = connector.sync(calendar_id)
                except ConnectorError as exc:
                    results[calendar_id] = exc
        else:
            results = dict(connector.sync_all())
        for calendar_id, result in results.items():
            if isinstance(result, ConnectorError):
                failed = True
                click.echo(f"{calendar_id}\terror\t{result.message} ({result.code})")
            else:
                click.echo(f"{calendar_id}\tok\tevents={result.events} "
                           f"submitted={len(result.submitted)} "
                           f"cancelled={len(result.cancelled)}")
    finally:
        registry.forget(services)
        services.close()
    if failed:
        raise SystemExit(1)
