"""A stateful fake of Microsoft Graph v1.0 calendars: list, ``calendarView/delta`` and
subscriptions (with the ``validationToken`` handshake and change notifications).

Delta state lives in opaque ``$skiptoken``/``$deltatoken`` values that encode the window and the
change sequence seen; a token from before :meth:`FakeGraph.invalidate_delta_tokens` answers
``410 Gone`` (``SyncStateNotFound``). Events leaving the window or deleted come back as
``@removed``. Times honour ``Prefer: outlook.timezone="UTC"`` (the only zone this fake speaks).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from werkzeug.wrappers import Request, Response

from .oauth import FakeOAuth, _json

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

MAX_SUBSCRIPTION = timedelta(minutes=10080)


@dataclass
class FakeGraph:
    oauth: FakeOAuth
    base: str
    page_size: int = 3
    calendars: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: dict[tuple[str, str], int] = field(default_factory=dict)
    _min_token: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- what tests do to the mailbox ------------------------------------------------------------
    def add_calendar(self, cal_id: str, name: str) -> None:
        self.calendars[cal_id] = {"id": cal_id, "name": name, "canEdit": True}
        self.events[cal_id] = {}

    def put(
        self,
        cal_id: str,
        event_id: str,
        start: datetime,
        *,
        subject: str = "",
        location: str = "",
        body: str = "",
        minutes: int = 30,
        all_day: bool = False,
        declined: bool = False,
        cancelled: bool = False,
        series: str | None = None,
        zone: str = "Romance Standard Time",
    ) -> None:
        event = {
            "@odata.etag": "", "id": event_id, "subject": subject, "bodyPreview": body,
            "body": {"contentType": "html", "content": f"<html><body>{body}</body></html>"},
            "start": start, "end": start + timedelta(minutes=minutes),
            "isAllDay": all_day, "isCancelled": cancelled,
            "responseStatus": {"response": "declined" if declined else "organizer",
                               "time": "0001-01-01T00:00:00Z"},
            "location": {"displayName": location, "locationType": "default"},
            "organizer": {"emailAddress": {"name": "Dr Martin", "address": self.oauth.user}},
            "type": "occurrence" if series else "singleInstance",
            "seriesMasterId": series, "originalStartTimeZone": zone,
            "originalEndTimeZone": zone,
        }  # fmt: skip
        self._store(cal_id, event_id, event)

    def delete(self, cal_id: str, event_id: str) -> None:
        self._store(cal_id, event_id, None)

    def invalidate_delta_tokens(self) -> None:
        self._min_token = next(self._seq)

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.failures.append((status, headers or {}))

    def notify(self, cal_id: str, event_id: str, change: str = "updated") -> list[int]:
        """POST a change notification to every subscription on the calendar's events."""
        statuses = []
        for sub in list(self.subscriptions.values()):
            if sub["resource"] != f"me/calendars/{cal_id}/events":
                continue
            note = {
                "subscriptionId": sub["id"], "subscriptionExpirationDateTime":
                sub["expirationDateTime"], "changeType": change, "clientState": sub["clientState"],
                "resource": f"Users/{self.oauth.user}/Events/{event_id}",
                "resourceData": {"@odata.type": "#Microsoft.Graph.Event",
                                 "@odata.id": f"Users/{self.oauth.user}/Events/{event_id}",
                                 "id": event_id},
                "tenantId": "11111111-0000-0000-0000-0000000000bb",
            }  # fmt: skip
            answer = requests.post(sub["notificationUrl"], json={"value": [note]}, timeout=10)
            statuses.append(answer.status_code)
        return statuses

    def _store(self, cal_id: str, event_id: str, event: dict[str, Any] | None) -> None:
        with self._lock:
            self.events[cal_id][event_id] = event  # type: ignore[assignment]
            self._changed[(cal_id, event_id)] = next(self._seq)

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.requests.append(f"{request.method} {request.full_path}")
        return self._route(request)(environ, start_response)

    def _route(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or self.oauth.user_of(auth[7:]) is None:
            return _error(401, "InvalidAuthenticationToken", "Access token has expired.")
        if self.failures:
            status, headers = self.failures.pop(0)
            return _error(status, "TooManyRequests" if status == 429 else "ServiceUnavailable",
                          "Injected failure", headers)  # fmt: skip
        parts = [p for p in request.path.split("/") if p][1:]  # drop "v1.0"
        routes: dict[tuple[str, str], Callable[[Request, list[str]], Response]] = {
            ("GET", "calendars"): self._calendars,
            ("GET", "delta"): self._delta,
            ("POST", "subscriptions"): self._subscribe,
            ("PATCH", "subscription"): self._renew,
            ("DELETE", "subscription"): self._unsubscribe,
        }
        name = parts[-1] if parts[-1] in ("calendars", "delta", "subscriptions") else "subscription"
        handler = routes.get((request.method, name))
        return handler(request, parts) if handler else _error(404, "ResourceNotFound", "no route")

    def _calendars(self, request: Request, parts: list[str]) -> Response:
        return _json({"value": list(self.calendars.values())})

    def _delta(self, request: Request, parts: list[str]) -> Response:
        cal_id = parts[2]
        token = request.args.get("$deltatoken") or request.args.get("$skiptoken")
        if token:
            state = json.loads(base64.urlsafe_b64decode(token))
            if state.get("since", 0) < self._min_token and "$deltatoken" in request.args:
                return _error(410, "SyncStateNotFound", "The sync state generation is not found.")
        else:
            state = {"start": request.args["startDateTime"], "end": request.args["endDateTime"]}
        if 'outlook.timezone="UTC"' not in request.headers.get("Prefer", ""):
            return _error(400, "ErrorInvalidRequest", "this fake only speaks UTC")
        with self._lock:
            return _json(self._page(cal_id, state))

    def _page(self, cal_id: str, state: dict[str, Any]) -> dict[str, Any]:
        start = datetime.fromisoformat(state["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(state["end"].replace("Z", "+00:00"))
        upto = state.get("upto", max(self._changed.values(), default=0))
        since = state.get("since")
        items: list[dict[str, Any]] = []
        for (c, eid), seq in sorted(self._changed.items(), key=lambda kv: kv[1]):
            if c != cal_id or seq > upto or (since is not None and seq <= since):
                continue
            event = self.events[cal_id][eid]
            inside = event is not None and event["start"] < end and event["end"] > start
            if inside:
                items.append(_render(event))
            elif since is not None:
                items.append({"@odata.type": "#microsoft.graph.event", "id": eid,
                              "@removed": {"reason": "deleted"}})  # fmt: skip
        offset = state.get("offset", 0)
        page = items[offset : offset + self.page_size]
        link = f"{self.base}/me/calendars/{quote(cal_id, safe='')}/calendarView/delta"
        body: dict[str, Any] = {"@odata.context": f"{self.base}/$metadata#Collection(event)",
                                "value": page}  # fmt: skip
        window = {"start": state["start"], "end": state["end"]}
        if offset + self.page_size < len(items):
            body["@odata.nextLink"] = f"{link}?$skiptoken=" + _token(
                {**state, "upto": upto, "offset": offset + self.page_size}
            )
        else:
            body["@odata.deltaLink"] = f"{link}?$deltatoken=" + _token({**window, "since": upto})
        return body

    def _subscribe(self, request: Request, parts: list[str]) -> Response:
        body = request.get_json()
        expires = datetime.fromisoformat(body["expirationDateTime"].replace("Z", "+00:00"))
        if expires > datetime.now(UTC) + MAX_SUBSCRIPTION:
            return _error(400, "ExtensionError", "Subscription expiration can only be 10070 "
                          "minutes in the future.")  # fmt: skip
        token = secrets.token_urlsafe(12)
        try:
            check = requests.post(body["notificationUrl"], params={"validationToken": token},
                                  timeout=10)  # fmt: skip
        except requests.RequestException:
            check = None
        if check is None or check.status_code != 200 or check.text != token:
            return _error(
                400,
                "ValidationError",
                "Subscription validation request failed. "
                "Notification endpoint must respond with 200 OK to validation request.",
            )
        sub = {**body, "id": str(secrets.token_hex(16)), "applicationId": "app",
               "creatorId": "user", "latestSupportedTlsVersion": "v1_2"}  # fmt: skip
        self.subscriptions[sub["id"]] = sub
        return _json(sub, 201)

    def _renew(self, request: Request, parts: list[str]) -> Response:
        sub = self.subscriptions.get(parts[-1])
        if sub is None:
            return _error(404, "ResourceNotFound", "The object was not found.")
        sub["expirationDateTime"] = request.get_json()["expirationDateTime"]
        return _json(sub)

    def _unsubscribe(self, request: Request, parts: list[str]) -> Response:
        if self.subscriptions.pop(parts[-1], None) is None:
            return _error(404, "ResourceNotFound", "The object was not found.")
        return Response(status=204)


def _render(event: dict[str, Any]) -> dict[str, Any]:
    def utc(value: datetime) -> dict[str, str]:
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000")
        return {"dateTime": text, "timeZone": "UTC"}

    return {**event, "start": utc(event["start"]), "end": utc(event["end"])}


def _token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": "2025-10-20T09:00:00", "request-id": "0"},
        }
    }
    return _json(body, status, headers)  # fmt: skip
