"""A stateful fake of the Google Calendar API v3, enough for a sync client.

Served under the path google-api-python-client builds from the static discovery document
(``<api_endpoint>calendars/{calendarId}/events`` ...). It keeps tombstones of deleted events,
hands out ``nextSyncToken``/``nextPageToken`` and answers ``410 fullSyncRequired`` for a token it
invalidated, expands recurring events into instances (``singleEvents=true``), opens push
channels (``events.watch``) and delivers their ``sync``/``exists`` notifications.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests
from werkzeug.wrappers import Request, Response

from .oauth import FakeOAuth, _json

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str
    expiration: int
    number: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


@dataclass
class FakeGoogleCalendar:
    """The calendars of one user. Times are given as aware datetimes; ``tz`` names the zone."""

    oauth: FakeOAuth
    page_size: int = 3
    calendars: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: dict[tuple[str, str], int] = field(default_factory=dict)
    _min_token: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- what tests do to the calendar ----------------------------------------------------------
    def add_calendar(self, cal_id: str, summary: str, tz: str = "Europe/Paris") -> None:
        self.calendars[cal_id] = {
            "kind": "calendar#calendarListEntry", "id": cal_id, "summary": summary,
            "timeZone": tz, "accessRole": "owner", "primary": not self.calendars,
        }  # fmt: skip
        self.events[cal_id] = {}

    def put(
        self,
        cal_id: str,
        event_id: str,
        start: datetime | date,
        *,
        summary: str = "",
        location: str = "",
        description: str = "",
        minutes: int = 30,
        declined: bool = False,
        recurring: tuple[str, datetime] | None = None,
    ) -> dict[str, Any]:
        """Create or replace an event (a moved or edited event keeps its id)."""
        tz = self.calendars[cal_id]["timeZone"]
        event: dict[str, Any] = {
            "kind": "calendar#event", "id": event_id, "status": "confirmed",
            "summary": summary, "location": location, "description": description,
            "organizer": {"email": self.oauth.user, "displayName": "Dr Martin", "self": True},
            "start": _when(start, tz), "end": _when(_plus(start, minutes), tz),
            "iCalUID": f"{event_id}@google.com",
        }  # fmt: skip
        if not location:
            del event["location"]
        if declined:
            event["attendees"] = [
                {"email": self.oauth.user, "self": True, "responseStatus": "declined"}
            ]
        if recurring is not None:
            event["recurringEventId"] = recurring[0]
            event["originalStartTime"] = _when(recurring[1], tz)
        self._store(cal_id, event)
        return event

    def put_series(
        self, cal_id: str, series_id: str, first: datetime, count: int, **fields: Any
    ) -> list[str]:
        """A weekly recurring event, stored as its instances (``<id>_<start UTC>``)."""
        ids = []
        for n in range(count):
            start = first + timedelta(weeks=n)  # wall-clock weekly: same local time
            start = start.replace(tzinfo=None).replace(tzinfo=first.tzinfo)
            instance = f"{series_id}_{start.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}"
            self.put(cal_id, instance, start, recurring=(series_id, start), **fields)
            ids.append(instance)
        return ids

    def delete(self, cal_id: str, event_id: str) -> None:
        """Deleting leaves a tombstone: ``status: cancelled`` in incremental syncs."""
        event = self.events[cal_id][event_id]
        tombstone = {"kind": "calendar#event", "id": event_id, "status": "cancelled"}
        for key in ("recurringEventId", "originalStartTime"):
            if key in event:
                tombstone[key] = event[key]
        self._store(cal_id, tombstone)

    def invalidate_sync_tokens(self) -> None:
        """Every sync token handed out so far now answers 410 Gone."""
        self._min_token = next(self._seq)

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.failures.append((status, headers or {}))

    def notify(self, cal_id: str) -> list[int]:
        """Send ``exists`` to every channel watching the calendar; their HTTP statuses."""
        return [self._push(c, "exists") for c in list(self.channels.values())
                if c.calendar_id == cal_id]  # fmt: skip

    def _store(self, cal_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            seq = next(self._seq)
            event["updated"] = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}.{seq:03d}Z"
            event["etag"] = f'"{seq}"'
            self.events[cal_id][event["id"]] = event
            self._changed[(cal_id, event["id"])] = seq

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.requests.append(f"{request.method} {request.full_path}")
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or self.oauth.user_of(auth[7:]) is None:
            return _error(401, "Request had invalid authentication credentials.", "authError")
        if self.failures:
            status, headers = self.failures.pop(0)
            reason = "rateLimitExceeded" if status in (403, 429) else "backendError"
            return _error(status, "Injected failure", reason, headers)
        parts = [p for p in request.path.split("/") if p]
        handlers: dict[tuple[str, ...], Callable[[Request, list[str]], Response]] = {
            ("GET", "calendarList"): self._calendar_list,
            ("GET", "events"): self._events_list,
            ("POST", "watch"): self._watch,
            ("POST", "stop"): self._stop,
        }
        handler = handlers.get((request.method, parts[-1]))
        return handler(request, parts) if handler else _error(404, "Not Found", "notFound")

    def _calendar_list(self, request: Request, parts: list[str]) -> Response:
        items = list(self.calendars.values())
        return _json({"kind": "calendar#calendarList", "items": items})

    def _events_list(self, request: Request, parts: list[str]) -> Response:
        cal_id = parts[-2]
        if cal_id not in self.calendars:
            return _error(404, "Not Found", "notFound")
        if request.args.get("singleEvents") != "true":
            return _error(400, "this fake only expands instances", "badRequest")
        state = _decode(request.args.get("pageToken") or request.args.get("syncToken"))
        if "syncToken" in request.args and state.get("since", 0) < self._min_token:
            return _error(410, "Sync token is no longer valid, a full sync is required.",
                          "fullSyncRequired")  # fmt: skip
        with self._lock:
            body = self._page(cal_id, state, request)
        return _json(body)

    def _page(self, cal_id: str, state: dict[str, Any], request: Request) -> dict[str, Any]:
        since = state.get("since")
        upto = state.get("upto", max(self._changed.values(), default=0))
        changed = sorted(
            (seq, eid) for (c, eid), seq in self._changed.items()
            if c == cal_id and seq <= upto and (since is None or seq > since)
        )  # fmt: skip
        events = [self.events[cal_id][eid] for _, eid in changed]
        if since is None and request.args.get("showDeleted") != "true":
            events = [e for e in events if e["status"] != "cancelled"]
        offset = state.get("offset", 0)
        size = min(int(request.args.get("maxResults", self.page_size)), self.page_size)
        body: dict[str, Any] = {
            "kind": "calendar#events", "summary": self.calendars[cal_id]["summary"],
            "timeZone": self.calendars[cal_id]["timeZone"], "accessRole": "owner",
            "items": events[offset : offset + size],
        }  # fmt: skip
        if offset + size < len(events):
            body["nextPageToken"] = _encode({**state, "upto": upto, "offset": offset + size})
        else:
            body["nextSyncToken"] = _encode({"since": upto})
        return body

    def _watch(self, request: Request, parts: list[str]) -> Response:
        body = request.get_json()
        ttl = int(body.get("params", {}).get("ttl", 604800))
        channel = Channel(
            id=body["id"], resource_id=secrets.token_urlsafe(12), calendar_id=parts[-3],
            address=body["address"], token=body.get("token", ""),
            expiration=int((time.time() + ttl) * 1000),
        )  # fmt: skip
        self.channels[channel.id] = channel
        self._push(channel, "sync")
        return _json({
            "kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
            "resourceUri": f"{request.host_url}calendar/v3/calendars/{channel.calendar_id}/events",
            "token": channel.token, "expiration": str(channel.expiration),
        })  # fmt: skip

    def _stop(self, request: Request, parts: list[str]) -> Response:
        body = request.get_json()
        channel = self.channels.get(body.get("id", ""))
        if channel is None or channel.resource_id != body.get("resourceId"):
            return _error(404, "Channel not found", "notFound")
        del self.channels[channel.id]
        return Response(status=204)

    def _push(self, channel: Channel, state: str) -> int:
        headers = {
            "X-Goog-Channel-ID": channel.id, "X-Goog-Channel-Token": channel.token,
            "X-Goog-Channel-Expiration": time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(channel.expiration / 1000)),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": f"calendars/{channel.calendar_id}/events",
            "X-Goog-Resource-State": state, "X-Goog-Message-Number": str(next(channel.number)),
        }  # fmt: skip
        return requests.post(channel.address, headers=headers, timeout=10).status_code


def _when(value: datetime | date, tz: str) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"dateTime": value.isoformat(), "timeZone": tz}
    return {"date": value.isoformat()}


def _plus(value: datetime | date, minutes: int) -> datetime | date:
    if isinstance(value, datetime):
        return value + timedelta(minutes=minutes)
    return value + timedelta(days=1)


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.encode()))
    return decoded


def _error(
    status: int, message: str, reason: str, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "error": {
            "errors": [{"domain": "global", "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }
    }
    return _json(body, status, headers)
