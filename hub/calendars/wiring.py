"""The hub's side of the calendar connector: what it is given at construction.

The connector knows nothing of the hub. This module hands it the hub's pieces: its
``SMSHUB_CALENDAR_*`` settings, the database store, a submit function that goes through the one
pipeline every SMS takes, ``cancel`` over the hub's messages (with the credit refund), the
account plan's calendar allowance, a token cipher over :class:`~hub.crypto.SecretBox` and an
event sink that stores connection events and calls the customer back
(:mod:`hub.connector_events`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, get_type_hints

from sqlalchemy import select

from connectors.base import SmsRequest, SubmitFn, SubmitResult
from connectors.calendar import CalendarConnector, CalendarSettings
from hub import connector_events, ledger, pipeline, plans, states
from hub.calendars import replan
from hub.calendars.store import DatabaseStore
from hub.crypto import SecretBox, secret_box
from hub.db import transaction
from hub.models import Message
from hub.services import Services
from sms_core.errors import BillingError

SOURCES = ("google_calendar", "outlook_calendar")
"""``Message.source`` of reminders: the only messages :func:`make_cancel` may touch."""


class SecretBoxCipher:
    """The connector's ``TokenCipher`` (bytes in, bytes out) over the hub's SecretBox."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.box.encrypt(plaintext.decode("utf-8")).encode("ascii")

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self.box.decrypt(ciphertext.decode("ascii")).encode("utf-8")


def calendar_settings(namespace: Mapping[str, str]) -> CalendarSettings:
    """``SMSHUB_CALENDAR_*`` values (strings) as the connector's typed settings.

    Durations are given in seconds (``SMSHUB_CALENDAR_RENEW_MARGIN=43200``); unknown names are
    refused so that a typo does not silently keep a default.
    """
    hints = get_type_hints(CalendarSettings)
    known = {f.name for f in dataclasses.fields(CalendarSettings)}
    unknown = set(namespace) - known
    if unknown:
        raise ValueError(f"unknown calendar settings: {sorted(unknown)}")
    return CalendarSettings(**{name: _coerce(hints[name], raw) for name, raw in namespace.items()})


def _coerce(kind: Any, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is float:
        return float(raw)
    if kind is timedelta:
        return timedelta(seconds=float(raw))
    if raw == "" and "None" in str(kind):
        return None
    return raw


def make_submit(services: Services) -> SubmitFn:
    """One pipeline call per calendar batch (always one account).

    A batch the account cannot pay at all is answered as refusals rather than an exception, so
    that one account out of credits does not stop the periodic sync of every other account.
    Refusals for lack of credits carry the code in their reason, so that
    :mod:`hub.calendars.replan` finds them again once the account can pay.
    """

    def submit(requests: Sequence[SmsRequest]) -> list[SubmitResult]:
        if not requests:
            return []
        accounts = {request.account for request in requests}
        if len(accounts) != 1:
            raise ValueError(f"one calendar, one account: got {sorted(accounts)}")
        try:
            results = pipeline.submit(services, requests[0].account, requests)
        except BillingError as exc:
            results = [SubmitResult("refused", r.to, code=exc.code, reason=exc.message)
                       for r in requests]
        return [replace(r, reason=replan.tag(r.code, r.reason)) if r.refused else r
                for r in results]

    return submit


def make_cancel(services: Services) -> Callable[[str], bool]:
    """``cancel(idempotency_key)``: a scheduled reminder becomes ``cancelled``, its credits back.

    The move is the state machine's conditional update, so a reminder promoted or sent in the
    meantime is left alone (False) and is never refunded.
    """

    def cancel(key: str) -> bool:
        with transaction(services.sessions) as session:
            message = session.scalar(select(Message).where(
                Message.idempotency_key == key, Message.source.in_(SOURCES)))
            if message is None:
                return False
            if not states.move(session, [message.id], "cancelled", only_from=["scheduled"],
                               values={"reason": "event_changed"}):
                return False
            if message.cost > 0:
                ledger.refund(session, message.account_id, message.cost, reference=message.id,
                              reason="cancelled", source=message.source)
            return True

    return cancel


def make_plan_check(services: Services) -> Callable[[str, int], bool]:
    """``can_add_calendar(account, count)``: may the account have ``count`` selected calendars?"""

    def can_add_calendar(account: str, count: int) -> bool:
        if count <= 0:
            return True
        with services.sessions() as session:
            plans.check_can_add_calendar(session, account, count - 1)
        return True

    return can_add_calendar


def build_store(services: Services) -> DatabaseStore:
    return DatabaseStore(services.sessions, secret_box(services.settings))


def build_connector(services: Services, **overrides: Any) -> CalendarConnector:
    """The connector for both providers; ``overrides`` (clock, session) serve tests."""
    box = secret_box(services.settings)
    options: dict[str, Any] = {
        "store": DatabaseStore(services.sessions, box),
        "submit": make_submit(services),
        "cancel": make_cancel(services),
        "cipher": SecretBoxCipher(box),
        "can_add_calendar": make_plan_check(services),
        "emit": connector_events.sink(services),
        **overrides,
    }
    return CalendarConnector(calendar_settings(services.settings.namespace("calendar")),
                             **options)
