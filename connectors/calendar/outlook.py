"""Outlook calendars through Microsoft Graph (v1.0) with ``requests``.

Sync uses ``calendarView/delta``: the first round gives a bounded window (``startDateTime`` /
``endDateTime``, recurring series already expanded into occurrences) page by page through
``@odata.nextLink``, and ends with an ``@odata.deltaLink`` whose next call returns only changes —
removed events as ``{"id": ..., "@removed": {"reason": "deleted"}}``. Times are asked in UTC
(``Prefer: outlook.timezone="UTC"``) so instants never depend on a mailbox setting; the event's
``originalStartTimeZone`` gives the zone the text is written in.

Push is a Graph subscription on the calendar's events with a ``clientState`` secret; Graph first
checks the notification URL by sending it a ``validationToken`` to echo (the hub's endpoint).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

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
from .settings import CalendarSettings

PAGE_SIZE = 50
WINDOWS_ZONES = {
    "Romance Standard Time": "Europe/Paris",
    "W. Europe Standard Time": "Europe/Berlin",
    "GMT Standard Time": "Europe/London",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "Morocco Standard Time": "Africa/Casablanca",
    "Mauritius Standard Time": "Indian/Mauritius",
    "Arabian Standard Time": "Asia/Dubai",
    "SA Western Standard Time": "America/La_Paz",
    "SA Eastern Standard Time": "America/Cayenne",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "UTC": "UTC",
}
"""Windows zone names Outlook uses, to IANA (the common ones; others fall back to the
calendar's zone). Source: CLDR windowsZones.xml, territory 001."""


class GraphCalendarApi:
    """Calls of one Microsoft connection."""

    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        token: TokenFn,
        settings: CalendarSettings,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.token = token
        self.settings = settings

    def calendars(self) -> list[RemoteCalendar]:
        """The user's calendars; Graph gives them no zone, the settings' default is used."""
        found: list[RemoteCalendar] = []
        url: str | None = f"{self.base}/me/calendars?$select=id,name"
        while url:
            body = self._get(url)
            zone = self.settings.default_time_zone
            found.extend(RemoteCalendar(c["id"], c.get("name", ""), zone) for c in body["value"])
            url = body.get("@odata.nextLink")
        return found

    def sync(self, calendar: Calendar, now: datetime) -> EventBatch:
        """Delta round from the calendar's delta link, or a full window when it has none."""
        window_end = calendar.window_end
        url = calendar.sync_state
        if url is None:
            start = now - timedelta(days=1)
            window_end = now + self.settings.lookahead
            url = (
                f"{self.base}/me/calendars/{quote(calendar.provider_id, safe='')}"
                f"/calendarView/delta?startDateTime={_iso(start)}&endDateTime={_iso(window_end)}"
            )
        changed: list[CalendarEvent] = []
        removed: list[str] = []
        while True:
            body = self._get(url, prefer=True)
            for item in body.get("value", []):
                if "@removed" in item:
                    removed.append(item["id"])
                else:
                    changed.append(parse_event(item, calendar))
            if "@odata.nextLink" in body:
                url = body["@odata.nextLink"]
                continue
            return EventBatch(
                changed, removed, body.get("@odata.deltaLink"),
                full=calendar.sync_state is None, window_end=window_end,
            )  # fmt: skip

    def open_push(self, calendar: Calendar, address: str, lifetime: timedelta) -> PushChannel:
        """A subscription to the calendar's events; Graph validates ``address`` before answering."""
        secret = secrets.token_urlsafe(32)
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "resource": f"me/calendars/{calendar.provider_id}/events",
            "expirationDateTime": _iso(datetime.now(UTC) + lifetime),
            "clientState": secret,
        }
        answer = self._send("POST", f"{self.base}/subscriptions", body).json()
        return PushChannel(answer["id"], secret, _parse_instant(answer["expirationDateTime"]))

    def renew_push(self, calendar: Calendar, address: str, lifetime: timedelta) -> PushChannel:
        """Extend the subscription (PATCH); one Graph already deleted is created again."""
        assert calendar.push_id is not None
        body = {"expirationDateTime": _iso(datetime.now(UTC) + lifetime)}
        try:
            answer = self._send("PATCH", f"{self.base}/subscriptions/{calendar.push_id}", body)
        except UpstreamError as exc:
            if exc.upstream_status != 404:
                raise
            return self.open_push(calendar, address, lifetime)
        expires = _parse_instant(answer.json()["expirationDateTime"])
        return PushChannel(calendar.push_id, calendar.push_secret or "", expires)

    def close_push(self, calendar: Calendar) -> None:
        if not calendar.push_id:
            return
        try:
            self._send("DELETE", f"{self.base}/subscriptions/{calendar.push_id}")
        except UpstreamError as exc:
            if exc.upstream_status != 404:
                raise

    def _get(self, url: str, *, prefer: bool = False) -> dict[str, Any]:
        headers = {"Prefer": f'outlook.timezone="UTC", odata.maxpagesize={PAGE_SIZE}'}
        body: dict[str, Any] = self._send("GET", url, headers=headers if prefer else None).json()
        return body

    def _send(
        self,
        method: str,
        url: str,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One call with the bearer token; a 401 refreshes the token once; errors mapped."""
        for attempt in (0, 1):
            auth = {"Authorization": f"Bearer {self.token(attempt == 1)}", **(headers or {})}
            try:
                response = self.session.request(
                    method, url, json=json_body, headers=auth, timeout=self.settings.timeout
                )
            except requests.RequestException as exc:
                raise UpstreamError(f"Microsoft Graph unreachable: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                continue
            _raise_for(response)
            return response
        raise AssertionError("unreachable")


def _raise_for(response: requests.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 410:
        raise FullSyncRequired()
    code = _error_code(response)
    if status == 401:
        raise ConnectorAuthError(f"Graph refused the access token ({code})", code="unauthorized")
    if status in (429, 503) and "Retry-After" in response.headers:
        raise RateLimitedError(
            f"Microsoft Graph throttled ({code})",
            retry_after=float(response.headers["Retry-After"]),
        )
    raise UpstreamError(f"Microsoft Graph answered {status} ({code})", status=status)


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error body"


def parse_event(item: dict[str, Any], calendar: Calendar) -> CalendarEvent:
    """A Graph event resource (times in UTC, as asked) as a :class:`CalendarEvent`."""
    zone_name = item.get("originalStartTimeZone") or ""
    zone = WINDOWS_ZONES.get(zone_name, zone_name if "/" in zone_name else calendar.time_zone)
    organizer = item.get("organizer", {}).get("emailAddress", {})
    return CalendarEvent(
        id=item["id"],
        calendar_id=calendar.id,
        title=item.get("subject") or "",
        description=item.get("bodyPreview") or "",
        location=(item.get("location") or {}).get("displayName") or "",
        start=_graph_time(item.get("start")),
        end=_graph_time(item.get("end")),
        time_zone=zone,
        all_day=bool(item.get("isAllDay")),
        cancelled=bool(item.get("isCancelled")),
        declined=(item.get("responseStatus") or {}).get("response") == "declined",
        organizer=organizer.get("name") or organizer.get("address", ""),
        series_id=item.get("seriesMasterId"),
    )


def _graph_time(value: dict[str, Any] | None) -> datetime | None:
    """``{"dateTime": "2025-10-27T08:00:00.0000000", "timeZone": "UTC"}`` → aware UTC."""
    if not value or not value.get("dateTime"):
        return None
    if value.get("timeZone", "UTC") != "UTC":
        raise UpstreamError(f"Graph ignored the UTC preference: {value.get('timeZone')}")
    return _parse_instant(value["dateTime"])


def _parse_instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
