"""Connector events (``connectors.base.ConnectorEvent``): stored per account, shown, called back.

A connector reports what it noticed about an account through the event sink the hub gives it
(:func:`sink`): a calendar connection whose grant was revoked (``needs_reauth``), a connection
closed... :func:`record` stores the event in ``connector_events`` (the API lists them at
``GET /api/v1/connectors/events``, the status page shows the latest) and, for the kinds in
:data:`CALLBACK_TYPES`, records the customer callback event through the callbacks outbox in the
same transaction: stored and announced together, or neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from connectors.base import ConnectorEvent
from hub.callbacks import outbox
from hub.db import transaction
from hub.ids import new_id
from hub.models import Account
from hub.models.connector import ConnectorEventRow
from hub.services import Services

log = logging.getLogger(__name__)

CALLBACK_TYPES: Mapping[str, str] = {"needs_reauth": "connector.needs_reauth"}
"""Event kind → the customer callback event type announcing it (other kinds are only stored)."""

PROVIDERS = {"google": "Google Calendar", "microsoft": "Outlook"}


def describe(event: ConnectorEvent) -> str:
    """One human sentence for the status page."""
    provider = PROVIDERS.get(str(event.data.get("provider")), event.connector)
    if event.kind == "needs_reauth":
        return (f"The {provider} connection needs to be authorised again; its reminders are on "
                f"hold until then ({event.data.get('reason', 'access revoked')}).")
    return f"{provider}: {event.kind.replace('_', ' ')}."


def record(session: Session, event: ConnectorEvent) -> ConnectorEventRow | None:
    """Store ``event`` (and its callback event) in the caller's transaction; None when its
    account no longer exists."""
    if session.get(Account, event.account) is None:
        log.warning("connector event %s for unknown account %s", event.kind, event.account)
        return None
    row = ConnectorEventRow(id=new_id("cev"), account_id=event.account,
                            connector=event.connector, kind=event.kind,
                            message=describe(event), data=_plain(event.data), at=event.at)
    session.add(row)
    callback_type = CALLBACK_TYPES.get(event.kind)
    if callback_type is not None:
        outbox.record_account_event(session, event.account, callback_type,
                                    {**row.data, "id": row.id, "connector": event.connector,
                                     "kind": event.kind, "message": row.message,
                                     "at": event.at})
    return row


def sink(services: Services) -> Callable[[ConnectorEvent], None]:
    """The ``emit`` given to connectors: log, then store in a transaction of its own."""

    def emit(event: ConnectorEvent) -> None:
        log.warning("%s %s for account %s: %s", event.connector, event.kind, event.account,
                    dict(event.data))
        with transaction(services.sessions) as session:
            record(session, event)

    return emit


def latest(session: Session, account_id: str, limit: int = 100,
           before: str | None = None) -> list[ConnectorEventRow]:
    """The account's events, newest first; ``before`` is the id of the last one already seen."""
    query = select(ConnectorEventRow).where(ConnectorEventRow.account_id == account_id)
    if before is not None:
        seen = session.get(ConnectorEventRow, before)
        if seen is None or seen.account_id != account_id:
            return []
        earlier = and_(ConnectorEventRow.at == seen.at, ConnectorEventRow.id < seen.id)
        query = query.where(or_(ConnectorEventRow.at < seen.at, earlier))
    query = query.order_by(ConnectorEventRow.at.desc(), ConnectorEventRow.id.desc()).limit(limit)
    return list(session.scalars(query))


def event_to_dict(row: ConnectorEventRow) -> dict[str, Any]:
    return {"id": row.id, "connector": row.connector, "kind": row.kind, "message": row.message,
            "data": row.data, "at": row.at.isoformat()}


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe values (the connectors put strings, numbers and datetimes in events)."""
    return {str(k): v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
            for k, v in data.items()}
