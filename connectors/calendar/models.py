"""The connector's value types: connections, calendars, rules, normalised events, reminders.

Google and Graph events are turned into one :class:`CalendarEvent` shape as soon as they are
read, so that reminder planning and sync never look at provider JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal

from connectors.base import Category

Provider = Literal["google", "microsoft"]
ConnectionStatus = Literal["active", "needs_reauth", "disconnected"]
ReminderStatus = Literal["scheduled", "sent", "cancelled", "refused"]

TokenFn = Callable[[bool], str]
"""Returns a valid access token; ``True`` forces a refresh (after a 401). Both clients take one."""

SOURCES: dict[Provider, str] = {"google": "google_calendar", "microsoft": "outlook_calendar"}
"""The ``SmsRequest.source`` of reminders per provider."""


class FullSyncRequired(Exception):
    """The provider no longer knows our sync state (HTTP 410): list everything again."""


@dataclass(slots=True)
class Connection:
    """One OAuth grant of one account to one Google or Microsoft user."""

    id: str
    account: str
    provider: Provider
    status: ConnectionStatus = "active"
    user: str = ""
    """The provider's name for the user (email / UPN), shown on the dashboard."""


@dataclass(slots=True)
class Calendar:
    """A calendar of a connection; only ``selected`` ones are synced and count for the plan."""

    id: str
    connection_id: str
    provider_id: str
    name: str
    time_zone: str = "Europe/Paris"
    selected: bool = False
    sync_state: str | None = None
    """Google ``nextSyncToken`` or Graph ``@odata.deltaLink``; None means a full sync is due."""
    window_end: datetime | None = None
    """End of the Graph calendar view the delta link covers (Graph needs a bounded window)."""
    push_id: str | None = None
    """Google channel id or Graph subscription id."""
    push_resource: str | None = None
    """Google ``resourceId`` of the channel (needed to stop it)."""
    push_secret: str | None = None
    """Google channel token or Graph ``clientState``."""
    push_expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class RemoteCalendar:
    """A calendar as the provider lists it, before the user selects it."""

    provider_id: str
    name: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class PushChannel:
    """A Google channel or Graph subscription that tells us when a calendar changes."""

    id: str
    secret: str
    expires: datetime
    resource: str | None = None


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """When and what to send for the events of one calendar.

    ``offset`` is an exact duration before the start (2 h before is 7,200 seconds even across a
    DST switch). ``window`` optionally limits the reminder's own sending time to local hours of
    the event's zone; a reminder that would fall outside is moved *earlier* to the end of the
    previous window, because a reminder after the appointment is worthless.
    """

    id: str
    calendar_id: str
    offset: timedelta
    template: str
    sender: str | None = None
    category: Category = "alert"
    locale: str = "fr"
    region: str = "FR"
    window: tuple[time, time] | None = None
    all_numbers: bool = True
    """Send to every mobile number found in the event (else only the first one)."""
    send_late: bool = False
    """When the reminder time has passed but the event has not started: send now instead of
    skipping (off by default, so that importing a calendar does not fire a burst of SMS)."""
    change_template: str | None = None
    """When set, an event moved after its reminder went out gets this notice right away."""


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One occurrence of an appointment, provider-neutral.

    ``start``/``end`` are aware datetimes for timed events; all-day events carry ``all_day`` and
    a midnight start in ``time_zone``. ``series_id`` is set for occurrences of recurring events.
    """

    id: str
    calendar_id: str
    title: str = ""
    description: str = ""
    location: str = ""
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str = "UTC"
    all_day: bool = False
    cancelled: bool = False
    declined: bool = False
    organizer: str = ""
    series_id: str | None = None


@dataclass(frozen=True, slots=True)
class EventBatch:
    """What one sync round read: changed events, ids of removed ones, the next sync state."""

    changed: list[CalendarEvent] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    sync_state: str | None = None
    full: bool = False
    """True when this batch is a complete listing (events not in it no longer exist)."""
    window_end: datetime | None = None


@dataclass(slots=True)
class Reminder:
    """One SMS submitted (or refused) for one (event, rule, occurrence start, recipient)."""

    key: str
    calendar_id: str
    event_id: str
    rule_id: str
    start: datetime
    send_at: datetime
    to: str
    status: ReminderStatus = "scheduled"
    message_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """Why an event (for one rule, or for all when ``rule_id`` is None) gets no SMS."""

    calendar_id: str
    event_id: str
    reason: str
    rule_id: str | None = None
    title: str = ""
    start: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a connection needs to call the provider; stored encrypted as one JSON document."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float = 0.0
    """Unix seconds."""
    msal_cache: str | None = None
    """Microsoft: msal's serialised token cache of this connection (holds the refresh token)."""
    account_id: str | None = None
    """Microsoft: msal's ``home_account_id`` of the signed-in user."""

    def expired(self, now: float, margin: float = 60.0) -> bool:
        return self.expires_at - margin <= now
