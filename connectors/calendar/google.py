"""Google Calendar v3 through google-api-python-client.

The client is built from the discovery document the library ships (``static_discovery=True``),
with ``api_endpoint`` pointing wherever the settings say (Google, or a local fake in tests).
Each request carries the connection's bearer token; a 401 refreshes it once.

Incremental sync is Google's own: ``events.list(singleEvents=True)`` pages through every event
instance and ends with a ``nextSyncToken``; later calls pass it and receive only changes
(deleted events come back with ``status: cancelled``). ``410 Gone`` means the token is dead and
a full listing is needed.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from sms_core.errors import ConnectorAuthError, RateLimitedError, UpstreamError

from .models import (
    Calendar,
    CalendarEvent,
    EventBatch,
    FullSyncRequired,
    PushChannel,
    RemoteCalendar,
    TokenFn,
)

RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


class GoogleCalendarApi:
    """Calls of one connection; not shared between threads (httplib2 is not thread-safe)."""

    def __init__(self, api_endpoint: str, http: httplib2.Http, token: TokenFn) -> None:
        self._service = build(
            "calendar",
            "v3",
            http=http,
            client_options={"api_endpoint": api_endpoint},
            static_discovery=True,
            cache_discovery=False,
        )
        self._token = token

    def calendars(self) -> list[RemoteCalendar]:
        """The user's calendars (the calendar list, every page)."""
        found: list[RemoteCalendar] = []
        page: str | None = None
        while True:
            body = self._call("calendarList", "list", pageToken=page)
            for item in body.get("items", []):
                name = item.get("summaryOverride") or item.get("summary", "")
                found.append(RemoteCalendar(item["id"], name, item.get("timeZone", "UTC")))
            page = body.get("nextPageToken")
            if not page:
                return found

    def sync(self, calendar: Calendar, now: datetime) -> EventBatch:
        """Changes since the calendar's sync token (everything when it has none).

        Raises :class:`FullSyncRequired` on 410. Deleted events come as bare tombstones
        (``status: cancelled`` without times) and are reported as removed.
        """
        changed: list[CalendarEvent] = []
        removed: list[str] = []
        next_token: str | None = None
        for body in self._pages(calendar.provider_id, calendar.sync_state):
            zone = body.get("timeZone") or calendar.time_zone
            for item in body.get("items", []):
                if item.get("status") == "cancelled" and "start" not in item:
                    removed.append(item["id"])
                else:
                    changed.append(parse_event(item, calendar.id, zone))
            next_token = body.get("nextSyncToken") or next_token
        return EventBatch(changed, removed, next_token, full=calendar.sync_state is None)

    def _pages(self, provider_id: str, sync_token: str | None) -> Iterator[dict[str, Any]]:
        page: str | None = None
        while True:
            args: dict[str, Any] = {"calendarId": provider_id, "singleEvents": True}
            args.update(maxResults=250, pageToken=page)
            if sync_token:
                args["syncToken"] = sync_token
            body = self._call("events", "list", **args)
            yield body
            page = body.get("nextPageToken")
            if not page:
                return

    def open_push(self, calendar: Calendar, address: str, lifetime: timedelta) -> PushChannel:
        """Open a push channel with a fresh id and secret token.

        Google echoes the token in ``X-Goog-Channel-Token`` of every notification; the
        channel's ``resourceId`` is needed to stop it, ``expiration`` is in milliseconds.
        """
        channel_id, token = str(uuid.uuid4()), secrets.token_urlsafe(32)
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(int(lifetime.total_seconds()))},
        }
        answer = self._call("events", "watch", calendarId=calendar.provider_id, body=body)
        expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return PushChannel(channel_id, token, expires, answer["resourceId"])

    def renew_push(self, calendar: Calendar, address: str, lifetime: timedelta) -> PushChannel:
        """Channels cannot be extended: open a new one, then stop the old one."""
        channel = self.open_push(calendar, address, lifetime)
        self.close_push(calendar)
        return channel

    def close_push(self, calendar: Calendar) -> None:
        """Stop the calendar's channel (``channels.stop``); a channel already gone is fine."""
        if not calendar.push_id or not calendar.push_resource:
            return
        body = {"id": calendar.push_id, "resourceId": calendar.push_resource}
        try:
            self._call("channels", "stop", body=body)
        except UpstreamError as exc:
            if exc.upstream_status != 404:  # already gone: nothing to stop
                raise

    def _call(self, resource: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """Run ``service.<resource>().<method>(**kwargs)`` with the bearer token; refresh it
        once on 401; map HTTP errors onto the error tree."""
        for attempt in (0, 1):
            request: HttpRequest = getattr(getattr(self._service, resource)(), method)(**kwargs)
            request.headers["authorization"] = f"Bearer {self._token(attempt == 1)}"
            try:
                result: dict[str, Any] | None = request.execute(num_retries=0)
                return result or {}
            except HttpError as exc:
                if exc.status_code == 401 and attempt == 0:
                    continue
                raise _mapped(exc) from exc
            except (OSError, httplib2.HttpLib2Error) as exc:
                raise UpstreamError(f"Google Calendar unreachable: {exc}") from exc
        raise AssertionError("unreachable")


def _mapped(exc: HttpError) -> Exception:
    status = exc.status_code
    reasons = {d.get("reason") for d in (exc.error_details or []) if isinstance(d, dict)}
    if status == 410:
        return FullSyncRequired()
    if status == 401:
        return ConnectorAuthError("Google refused the access token", code="unauthorized")
    if status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS):
        retry = exc.resp.get("retry-after")
        return RateLimitedError(
            "Google Calendar rate limit", retry_after=float(retry) if retry else None
        )
    return UpstreamError(f"Google Calendar answered {status}: {exc.reason}", status=status)


def parse_event(item: dict[str, Any], calendar_id: str, calendar_zone: str) -> CalendarEvent:
    """A Google event resource as a :class:`CalendarEvent` (zone: the event's, else the list's)."""
    start, all_day = _instant(item.get("start", {}), calendar_zone)
    end, _ = _instant(item.get("end", {}), calendar_zone)
    zone = item.get("start", {}).get("timeZone") or calendar_zone
    mine = [a for a in item.get("attendees", []) if a.get("self")]
    organizer = item.get("organizer", {})
    return CalendarEvent(
        id=item["id"],
        calendar_id=calendar_id,
        title=item.get("summary", ""),
        description=item.get("description", ""),
        location=item.get("location", ""),
        start=start,
        end=end,
        time_zone=zone,
        all_day=all_day,
        cancelled=item.get("status") == "cancelled",
        declined=any(a.get("responseStatus") == "declined" for a in mine),
        organizer=organizer.get("displayName") or organizer.get("email", ""),
        series_id=item.get("recurringEventId"),
    )


def _instant(when: dict[str, Any], fallback_zone: str) -> tuple[datetime | None, bool]:
    """``{"dateTime": RFC 3339}`` → aware instant; ``{"date": ...}`` → local midnight, all-day."""
    if "dateTime" in when:
        value = datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=_zone(when.get("timeZone") or fallback_zone))
        return value, False
    if "date" in when:
        day = date.fromisoformat(when["date"])
        return datetime.combine(day, time(0), tzinfo=_zone(fallback_zone)), True
    return None, False


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
