"""``CalendarConnector``: what the hub's registry instantiates and calls.

It owns no thread and no timer: the hub calls :meth:`sync_all` and :meth:`renew_push`
periodically, :meth:`handle_push` from its push endpoints, :meth:`handle_status` when a reminder
changes state, and the connect/select/rules methods from its API and dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import httplib2
import requests

from connectors.base import ConnectorEvent, SubmitFn
from sms_core.errors import BillingError, ConnectorAuthError, ConnectorError

from .google import GoogleCalendarApi
from .models import (
    Calendar,
    Connection,
    EventBatch,
    FullSyncRequired,
    Provider,
    PushChannel,
    ReminderRule,
    RemoteCalendar,
    Skip,
)
from .oauth import GoogleOAuth, MicrosoftOAuth, OAuthClient
from .outlook import GraphCalendarApi
from .settings import CalendarSettings
from .store import CalendarStore, CancelFn, PlanCheck, TokenCipher
from .sync import ReminderSync, SyncReport
from .tokens import TokenVault
from .transport import PinnedCaSession

EventSink = Callable[[ConnectorEvent], None]
SENT_STATES = frozenset({"submitted", "delivered", "undeliverable", "expired", "failed"})
"""Hub message states after which a reminder can no longer be cancelled."""


class CalendarApi(Protocol):
    """What :mod:`.google` and :mod:`.outlook` both offer."""

    def calendars(self) -> list[RemoteCalendar]: ...
    def sync(self, calendar: Calendar, now: datetime) -> EventBatch: ...
    def open_push(self, calendar: Calendar, address: str, lifetime: Any) -> PushChannel: ...
    def renew_push(self, calendar: Calendar, address: str, lifetime: Any) -> PushChannel: ...
    def close_push(self, calendar: Calendar) -> None: ...


class CalendarConnector:
    """Appointment reminders from Google Calendar and Outlook for every account of the hub."""

    name = "calendar"

    def __init__(
        self,
        settings: CalendarSettings,
        *,
        store: CalendarStore,
        submit: SubmitFn,
        cancel: CancelFn,
        cipher: TokenCipher,
        can_add_calendar: PlanCheck,
        emit: EventSink,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.can_add_calendar = can_add_calendar
        self.emit = emit
        self.clock = clock or (lambda: datetime.now(UTC))
        self.session = session or PinnedCaSession(settings.ca_bundle)
        self.google = self._google_oauth()
        self._microsoft: MicrosoftOAuth | None = None
        self.cipher = cipher
        self.vault = TokenVault(store, cipher, self.google, None, self._now)
        self.reminders = ReminderSync(store, submit, cancel, self.clock)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- connecting ------------------------------------------------------------------------------
    def begin_connect(self, account: str, provider: Provider) -> str:
        """The provider URL to send the user to; the flow's secrets wait in the store."""
        if provider == "google":
            state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
            url = self._require_google().begin(state, verifier)
            flow: dict[str, Any] = {"state": state, "code_verifier": verifier}
        else:
            flow = self.microsoft.begin()
            url, state = flow["auth_uri"], flow["state"]
        pending = {"account": account, "provider": provider, "flow": flow}
        self.store.save_pending(state, self.cipher.encrypt(json.dumps(pending).encode()))
        return str(url)

    def complete_connect(self, callback: str | Mapping[str, str]) -> Connection:
        """Finish the flow; list the user's calendars.

        ``callback`` is the full URL the provider redirected the user to (Google), or the form
        fields the provider POSTed to the redirect URI (Microsoft uses ``response_mode=form_post``
        so that the code never appears in a URL).
        """
        if isinstance(callback, str):
            callback_url, query = callback, dict(parse_qsl(urlsplit(callback).query))
        else:
            query = dict(callback)
            callback_url = f"{self.settings.google_redirect_uri}?{urlencode(query)}"
        blob = self.store.pop_pending(query.get("state", ""))
        if blob is None:
            raise ConnectorAuthError("unknown or expired authorization state", code="bad_state")
        pending = json.loads(self.cipher.decrypt(blob))
        flow, provider = pending["flow"], pending["provider"]
        if "error" in query:
            raise ConnectorAuthError(f"consent refused: {query['error']}", code="access_denied")
        if provider == "google":
            google = self._require_google()
            tokens = google.complete(
                callback_url, flow["state"], flow["code_verifier"], self._now()
            )
        else:
            tokens = self.microsoft.complete(flow, query, self._now())
        connection = Connection(f"calc_{secrets.token_hex(8)}", pending["account"], provider)
        self.store.save_connection(connection)
        self.vault.save(connection.id, tokens)
        self.refresh_calendars(connection.id)
        return connection

    def refresh_calendars(self, connection_id: str) -> list[Calendar]:
        """Read the user's calendars again; new ones arrive unselected."""
        connection = self._connection(connection_id)
        known = {c.provider_id: c for c in self.store.calendars(connection_id)}
        with self._auth_guard(connection):
            remote = self._api(connection).calendars()
        for item in remote:
            calendar = known.get(item.provider_id) or Calendar(
                _calendar_id(connection_id, item.provider_id), connection_id, item.provider_id, ""
            )
            self.store.save_calendar(replace(calendar, name=item.name, time_zone=item.time_zone))
        return self.store.calendars(connection_id)

    def select_calendars(self, connection_id: str, calendar_ids: Sequence[str]) -> list[Calendar]:
        """Choose the calendars that give reminders; the account's plan must allow the count."""
        connection = self._connection(connection_id)
        calendars = self.store.calendars(connection_id)
        wanted = set(calendar_ids)
        unknown = wanted - {c.id for c in calendars}
        if unknown:
            raise ConnectorError(f"unknown calendars {sorted(unknown)}", code="unknown_calendar")
        others = self.store.selected_count(connection.account) - sum(c.selected for c in calendars)
        total = others + len(wanted)
        if not self.can_add_calendar(connection.account, total):
            raise BillingError(
                f"the account's plan does not allow {total} calendars",
                code="plan_limit",
                requested=total,
            )
        for calendar in calendars:
            if calendar.selected and calendar.id not in wanted:
                self._deselect(connection, calendar)
            elif calendar.id in wanted and not calendar.selected:
                self.store.save_calendar(replace(calendar, selected=True))
        return self.store.calendars(connection_id)

    def set_rules(self, calendar_id: str, rules: Sequence[ReminderRule]) -> None:
        for rule in rules:
            if rule.calendar_id != calendar_id:
                raise ConnectorError("rule of another calendar", code="invalid_rule")
            self.store.save_rule(rule)

    def disconnect(self, connection_id: str) -> list[str]:
        """Stop push, forget the tokens, cancel pending reminders; returns the cancelled keys."""
        connection = self._connection(connection_id)
        calendars = self.store.calendars(connection_id)
        if connection.status == "active":
            for calendar in calendars:
                self._close_push(connection, calendar)
        self.store.delete_tokens(connection_id)
        cancelled = self.reminders.cancel_all(c.id for c in calendars)
        for calendar in calendars:
            self.store.save_calendar(_reset(calendar, selected=False))
        connection.status = "disconnected"
        self.store.save_connection(connection)
        self._event(connection, "disconnected", cancelled=len(cancelled))
        return cancelled

    # -- syncing -------------------------------------------------------------------------------
    def sync(self, calendar_id: str) -> SyncReport:
        """Read what changed in one calendar and bring its reminders in line."""
        with self._lock(calendar_id):
            calendar = self.store.get_calendar(calendar_id)
            if calendar is None:
                raise ConnectorError(f"unknown calendar {calendar_id}", code="unknown_calendar")
            connection = self._connection(calendar.connection_id)
            if connection.status != "active" or not calendar.selected:
                return SyncReport()
            with self._auth_guard(connection):
                batch = self._read(self._api(connection), calendar)
            report = self.reminders.apply(connection, calendar, batch)
            latest = self.store.get_calendar(calendar_id) or calendar
            self.store.save_calendar(
                replace(latest, sync_state=batch.sync_state, window_end=batch.window_end)
            )
            return report

    def sync_all(self) -> dict[str, SyncReport | ConnectorError]:
        """The periodic safety net: every selected calendar of every active connection."""
        results: dict[str, SyncReport | ConnectorError] = {}
        for connection in self.store.connections():
            if connection.status != "active":
                continue
            for calendar in self.store.calendars(connection.id):
                if calendar.selected:
                    try:
                        results[calendar.id] = self.sync(calendar.id)
                    except ConnectorError as exc:
                        results[calendar.id] = exc
        return results

    def _read(self, api: CalendarApi, calendar: Calendar) -> EventBatch:
        window_over = calendar.window_end is not None and calendar.window_end <= (
            self.clock() + self.settings.lookahead / 2
        )
        if window_over:
            calendar = replace(calendar, sync_state=None)
        try:
            return api.sync(calendar, self.clock())
        except FullSyncRequired:
            return api.sync(replace(calendar, sync_state=None), self.clock())

    # -- push -------------------------------------------------------------------------------
    def handle_push(self, headers: Mapping[str, str], body: bytes = b"") -> list[SyncReport]:
        """A Google channel notification or a Graph notification batch, already verified by the
        hub's endpoint; the secret is checked again against the calendar's own."""
        lowered = {k.lower(): v for k, v in headers.items()}
        if "x-goog-channel-id" in lowered:
            return self._google_push(lowered)
        return self._graph_push(body)

    def _google_push(self, headers: Mapping[str, str]) -> list[SyncReport]:
        if headers.get("x-goog-resource-state") == "sync":
            return []  # the handshake a new channel sends, possibly before watch() returned
        calendar = self.store.calendar_by_push_id(headers["x-goog-channel-id"])
        token = headers.get("x-goog-channel-token", "")
        if calendar is None or not _same(token, calendar.push_secret):
            raise ConnectorError("unknown channel or wrong token", code="push_rejected")
        return [self.sync(calendar.id)]

    def _graph_push(self, body: bytes) -> list[SyncReport]:
        notifications = json.loads(body or b"{}").get("value", [])
        targets: dict[str, Calendar] = {}
        for note in notifications:
            calendar = self.store.calendar_by_push_id(str(note.get("subscriptionId", "")))
            if calendar is None or not _same(
                str(note.get("clientState", "")), calendar.push_secret
            ):
                raise ConnectorError("unknown subscription or clientState", code="push_rejected")
            targets[calendar.id] = calendar
        return [self.sync(calendar_id) for calendar_id in targets]

    def renew_push(self) -> list[str]:
        """Open missing channels/subscriptions and renew those expiring soon (periodic job)."""
        renewed: list[str] = []
        horizon = self.clock() + self.settings.renew_margin
        for connection in self.store.connections():
            if connection.status != "active" or not self._push_url(connection.provider):
                continue
            for calendar in self.store.calendars(connection.id):
                if calendar.selected and (
                    not calendar.push_expires or calendar.push_expires <= horizon
                ):
                    self._open_push(connection, calendar)
                    renewed.append(calendar.id)
        return renewed

    def _open_push(self, connection: Connection, calendar: Calendar) -> None:
        address = self._push_url(connection.provider)
        lifetime = (
            self.settings.google_channel_ttl
            if connection.provider == "google"
            else self.settings.graph_subscription_lifetime
        )
        with self._auth_guard(connection):
            api = self._api(connection)
            if calendar.push_id:
                channel = api.renew_push(calendar, address, lifetime)
            else:
                channel = api.open_push(calendar, address, lifetime)
        latest = self.store.get_calendar(calendar.id) or calendar
        self.store.save_calendar(
            replace(
                latest,
                push_id=channel.id,
                push_secret=channel.secret,
                push_resource=channel.resource,
                push_expires=channel.expires,
            )
        )

    def _close_push(self, connection: Connection, calendar: Calendar) -> None:
        if not calendar.push_id:
            return
        with suppress(ConnectorError):  # best effort: the channel expires by itself
            self._api(connection).close_push(calendar)

    def _push_url(self, provider: Provider) -> str:
        return (
            self.settings.google_push_url if provider == "google" else self.settings.graph_push_url
        )

    # -- message states -------------------------------------------------------------------------
    def handle_status(self, message_id: str, status: str, data: Mapping[str, Any]) -> None:
        """A reminder left the hub (or failed): it can no longer be cancelled or re-sent."""
        reminder = self.store.reminder_by_message(message_id)
        if reminder is None or reminder.status != "scheduled":
            return
        if status in SENT_STATES:
            reminder.status = "sent"
        elif status in ("cancelled", "refused"):
            reminder.status = "cancelled" if status == "cancelled" else "refused"
        else:
            return
        self.store.save_reminder(reminder)

    def skipped(self, calendar_id: str) -> list[Skip]:
        """The events of a calendar that get no SMS, each with its reason."""
        return self.store.skips(calendar_id)

    # -- plumbing -------------------------------------------------------------------------------
    @contextmanager
    def _auth_guard(self, connection: Connection) -> Iterator[None]:
        """A lost grant: mark the connection, cancel its reminders, tell the hub; re-raise."""
        try:
            yield
        except ConnectorAuthError as exc:
            self._lose_auth(connection, exc)
            raise

    def _lose_auth(self, connection: Connection, error: ConnectorAuthError) -> None:
        calendars = self.store.calendars(connection.id)
        cancelled = self.reminders.cancel_all(c.id for c in calendars)
        for calendar in calendars:
            self.store.save_calendar(_reset(calendar, selected=calendar.selected))
        self.store.delete_tokens(connection.id)
        connection.status = "needs_reauth"
        self.store.save_connection(connection)
        self._event(connection, "needs_reauth", reason=error.message, code=error.code,
                    cancelled=len(cancelled))  # fmt: skip

    def _deselect(self, connection: Connection, calendar: Calendar) -> None:
        self._close_push(connection, calendar)
        self.reminders.cancel_all([calendar.id])
        self.store.save_calendar(_reset(calendar, selected=False))

    def _event(self, connection: Connection, kind: str, **data: Any) -> None:
        self.emit(
            ConnectorEvent(
                connector=self.name,
                account=connection.account,
                kind=kind,
                at=self.clock(),
                data={"connection_id": connection.id, "provider": connection.provider, **data},
            )
        )

    def _api(self, connection: Connection) -> CalendarApi:
        def token(force: bool) -> str:
            return self.vault.access_token(connection.id, connection.provider, force)

        if connection.provider == "google":
            http = httplib2.Http(timeout=self.settings.timeout, ca_certs=self.settings.ca_bundle)
            return GoogleCalendarApi(self.settings.google_api_url, http, token)
        return GraphCalendarApi(self.settings.graph_url, self.session, token, self.settings)

    @property
    def microsoft(self) -> MicrosoftOAuth:
        """Built on first use: msal reads the authority's OpenID configuration at creation."""
        if self._microsoft is None:
            s = self.settings
            if not s.microsoft_client_id:
                raise ConnectorError("Microsoft is not configured", code="provider_not_configured")
            self._microsoft = MicrosoftOAuth(
                OAuthClient(
                    s.microsoft_client_id, s.microsoft_client_secret, s.microsoft_redirect_uri
                ),
                authority=s.microsoft_authority,
                http_client=self.session,
                validate_authority=s.microsoft_validate_authority,
            )
            self.vault.microsoft = self._microsoft
        return self._microsoft

    def _google_oauth(self) -> GoogleOAuth | None:
        s = self.settings
        if not s.google_client_id:
            return None
        return GoogleOAuth(
            OAuthClient(s.google_client_id, s.google_client_secret, s.google_redirect_uri),
            authorize_url=s.google_authorize_url,
            token_url=s.google_token_url,
            verify=s.ca_bundle or True,
            timeout=s.timeout,
        )

    def _require_google(self) -> GoogleOAuth:
        if self.google is None:
            raise ConnectorError("Google is not configured", code="provider_not_configured")
        return self.google

    def _connection(self, connection_id: str) -> Connection:
        connection = self.store.get_connection(connection_id)
        if connection is None:
            raise ConnectorError(f"unknown connection {connection_id}", code="unknown_connection")
        if connection.provider == "microsoft":
            _ = self.microsoft  # the vault needs the msal client to refresh
        return connection

    def _lock(self, calendar_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(calendar_id, threading.Lock())

    def _now(self) -> float:
        return self.clock().timestamp()


def _calendar_id(connection_id: str, provider_id: str) -> str:
    return "cal_" + hashlib.sha256(f"{connection_id}\x1f{provider_id}".encode()).hexdigest()[:16]


def _reset(calendar: Calendar, *, selected: bool) -> Calendar:
    """The calendar with no sync state and no push channel (they belong to a lost grant)."""
    return replace(
        calendar, selected=selected, sync_state=None, window_end=None,
        push_id=None, push_secret=None, push_resource=None, push_expires=None,
    )  # fmt: skip


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())
