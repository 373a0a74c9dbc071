"""Appointment reminders: connect Google Calendar or Outlook, choose calendars, set rules, see
what will be sent and what will not; the OAuth callback and the providers' push endpoints.

The OAuth callback and the push endpoints are public (the user's browser and the providers
call them); everything else needs the account's API key and only sees the account's own
connections.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from connectors.calendar import Calendar, CalendarConnector, Connection, ReminderRule, Skip
from connectors.calendar.models import Reminder
from hub import registry
from hub.accounts import NotFoundError
from hub.api.auth import current_account, require_api_key
from hub.api.context import services
from hub.api.openapi import ApiPart, operation, path_param, problems, ref, reply
from hub.api.problems import InvalidRequest, problem
from hub.api.shapes import iso
from hub.api.validation import validated_body
from hub.calendars import jobs
from hub.calendars.store import DatabaseStore
from hub.ids import new_id
from hub.models import utcnow
from sms_core.errors import ConnectorAuthError, ConnectorError
from webhooks.verifiers import graph_validation_token, verify_google_channel

blueprint = Blueprint("calendar", __name__)

CONNECT_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["provider"],
    "properties": {"provider": {"enum": ["google", "microsoft"]}},
}
SELECT_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["selected"],
    "properties": {"selected": {"type": "array", "maxItems": 50,
                                "items": {"type": "string", "maxLength": 40}}},
}
HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
RULE_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["offset_minutes", "template"],
    "properties": {
        "offset_minutes": {"type": "integer", "minimum": 1, "maximum": 43200},
        "template": {"type": "string", "minLength": 1, "maxLength": 2000},
        "sender": {"type": ["string", "null"], "maxLength": 16},
        "category": {"enum": ["alert", "marketing"]},
        "locale": {"type": "string", "maxLength": 16},
        "region": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "window": {"type": ["object", "null"], "additionalProperties": False,
                   "required": ["start", "end"], "properties": {"start": HHMM, "end": HHMM}},
        "all_numbers": {"type": "boolean"},
        "send_late": {"type": "boolean"},
        "change_template": {"type": ["string", "null"], "maxLength": 2000},
    },
}
RULE_SCHEMA: dict[str, Any] = {**RULE_REQUEST, "required": ["id", "calendar_id",
                                                            "offset_minutes", "template"]}
RULE_SCHEMA["properties"] = {**RULE_REQUEST["properties"], "id": {"type": "string"},
                             "calendar_id": {"type": "string"}}
CALENDAR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "selected"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                   "time_zone": {"type": "string"}, "selected": {"type": "boolean"},
                   "push": {"type": "boolean"},
                   "push_expires": {"type": ["string", "null"], "format": "date-time"}},
}
CONNECTION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "provider", "status", "calendars"],
    "properties": {"id": {"type": "string"}, "provider": {"enum": ["google", "microsoft"]},
                   "status": {"enum": ["active", "needs_reauth", "disconnected"]},
                   "user": {"type": "string"},
                   "calendars": {"type": "array", "items": ref("Calendar")}},
}
REMINDER_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["key", "event_id", "to", "send_at", "status"],
    "properties": {"key": {"type": "string"}, "event_id": {"type": "string"},
                   "rule_id": {"type": "string"}, "to": {"type": "string"},
                   "start": {"type": "string", "format": "date-time"},
                   "send_at": {"type": "string", "format": "date-time"},
                   "status": {"type": "string"}, "message_id": {"type": ["string", "null"]}},
}
SKIP_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["event_id", "reason"],
    "properties": {"event_id": {"type": "string"}, "reason": {"type": "string"},
                   "rule_id": {"type": ["string", "null"]}, "title": {"type": "string"},
                   "start": {"type": ["string", "null"], "format": "date-time"}},
}


def connector() -> CalendarConnector:
    return registry.calendar(services())


def store() -> DatabaseStore:
    found = connector().store
    assert isinstance(found, DatabaseStore)
    return found


@contextmanager
def connector_errors() -> Iterator[None]:
    """Connector refusals of the caller's input are 404/422, not the 502 of an upstream."""
    try:
        yield
    except ConnectorAuthError:
        raise
    except ConnectorError as exc:
        if exc.code in ("unknown_calendar", "unknown_connection"):
            raise NotFoundError(exc.message, code=exc.code) from None
        if exc.code in ("invalid_rule", "provider_not_configured"):
            raise InvalidRequest(exc.message, code=exc.code) from None
        raise


# -- shapes ----------------------------------------------------------------------------------
def calendar_to_dict(calendar: Calendar) -> dict[str, Any]:
    return {"id": calendar.id, "name": calendar.name, "time_zone": calendar.time_zone,
            "selected": calendar.selected, "push": calendar.push_id is not None,
            "push_expires": iso(calendar.push_expires)}


def connection_to_dict(connection: Connection) -> dict[str, Any]:
    calendars = store().calendars(connection.id)
    return {"id": connection.id, "provider": connection.provider, "status": connection.status,
            "user": connection.user, "calendars": [calendar_to_dict(c) for c in calendars]}


def rule_to_dict(rule: ReminderRule) -> dict[str, Any]:
    window = None
    if rule.window:
        window = {"start": rule.window[0].strftime("%H:%M"),
                  "end": rule.window[1].strftime("%H:%M")}
    return {"id": rule.id, "calendar_id": rule.calendar_id,
            "offset_minutes": int(rule.offset.total_seconds() // 60), "template": rule.template,
            "sender": rule.sender, "category": rule.category, "locale": rule.locale,
            "region": rule.region, "window": window, "all_numbers": rule.all_numbers,
            "send_late": rule.send_late, "change_template": rule.change_template}


def rule_from_body(rule_id: str, calendar_id: str, body: dict[str, Any]) -> ReminderRule:
    window = body.get("window")
    return ReminderRule(
        id=rule_id, calendar_id=calendar_id, offset=timedelta(minutes=body["offset_minutes"]),
        template=body["template"], sender=body.get("sender"),
        category=body.get("category", "alert"), locale=body.get("locale", "fr"),
        region=body.get("region", "FR"),
        window=(time.fromisoformat(window["start"]), time.fromisoformat(window["end"]))
        if window else None,
        all_numbers=body.get("all_numbers", True), send_late=body.get("send_late", False),
        change_template=body.get("change_template"),
    )


def reminder_to_dict(reminder: Reminder) -> dict[str, Any]:
    return {"key": reminder.key, "event_id": reminder.event_id, "rule_id": reminder.rule_id,
            "to": reminder.to, "start": iso(reminder.start), "send_at": iso(reminder.send_at),
            "status": reminder.status, "message_id": reminder.message_id}


def skip_to_dict(skip: Skip) -> dict[str, Any]:
    return {"event_id": skip.event_id, "reason": skip.reason, "rule_id": skip.rule_id,
            "title": skip.title, "start": iso(skip.start)}


# -- ownership --------------------------------------------------------------------------------
def own_connection(connection_id: str) -> Connection:
    found = store().get_connection(connection_id)
    if found is None or found.account != current_account().id:
        raise NotFoundError(f"no calendar connection {connection_id}")
    return found


def own_calendar(calendar_id: str) -> Calendar:
    found = store().get_calendar(calendar_id)
    if found is None:
        raise NotFoundError(f"no calendar {calendar_id}")
    own_connection(found.connection_id)
    return found


def resync(calendar: Calendar) -> None:
    """Rules changed: list the calendar again from scratch so every event is planned anew."""
    latest = store().get_calendar(calendar.id) or calendar
    store().save_calendar(replace(latest, sync_state=None))
    if latest.selected:
        with connector_errors():
            jobs.request_sync(services(), calendar.id)


def retract_rule(calendar_id: str, rule_id: str) -> None:
    """Cancel the pending reminders of a rule being replaced or deleted.

    A replaced rule keeps its id, so its reminders keep their keys: without this the resync
    would find them done and keep the old instant and text. A reminder whose time has come is
    left as sent.
    """
    found, now = connector(), connector().clock()
    for reminder in found.store.pending_reminders([calendar_id]):
        if reminder.rule_id != rule_id:
            continue
        cancelled = reminder.send_at > now and found.reminders.cancel(reminder.key)
        reminder.status = "cancelled" if cancelled else "sent"
        found.store.save_reminder(reminder)


# -- connections ------------------------------------------------------------------------------
@blueprint.post("/calendar/connections")
@require_api_key
def start_connect() -> ResponseReturnValue:
    """The provider's consent URL to send the user to; valid for ten minutes."""
    provider = validated_body(CONNECT_REQUEST)["provider"]
    with connector_errors():
        url = connector().begin_connect(current_account().id, provider)
    return {"authorization_url": url, "expires_in": 600}, 201


@blueprint.get("/calendar/connections")
@require_api_key
def list_connections() -> ResponseReturnValue:
    found = store().connections(account=current_account().id)
    return {"data": [connection_to_dict(c) for c in found]}


@blueprint.get("/calendar/connections/<connection_id>")
@require_api_key
def get_connection(connection_id: str) -> ResponseReturnValue:
    return connection_to_dict(own_connection(connection_id))


@blueprint.delete("/calendar/connections/<connection_id>")
@require_api_key
def disconnect(connection_id: str) -> ResponseReturnValue:
    """Stop push, forget the tokens, cancel (and refund) every pending reminder."""
    own_connection(connection_id)
    with connector_errors():
        cancelled = connector().disconnect(connection_id)
    return {"id": connection_id, "status": "disconnected", "cancelled": len(cancelled)}


@blueprint.route("/calendar/oauth/callback", methods=["GET", "POST"])
def oauth_callback() -> ResponseReturnValue:
    """Where the provider sends the user back: Google by redirect, Microsoft by form POST."""
    callback: str | dict[str, str] = request.url if request.method == "GET" \
        else request.form.to_dict()
    try:
        connection = connector().complete_connect(callback)
    except ConnectorAuthError as exc:
        raise InvalidRequest(exc.message, code=exc.code) from None
    return connection_to_dict(connection), 201


@blueprint.put("/calendar/connections/<connection_id>/calendars")
@require_api_key
def select_calendars(connection_id: str) -> ResponseReturnValue:
    """Choose the calendars that give reminders (the plan limits how many)."""
    own_connection(connection_id)
    wanted = validated_body(SELECT_REQUEST)["selected"]
    with connector_errors():
        before = {c.id for c in store().calendars(connection_id) if c.selected}
        calendars = connector().select_calendars(connection_id, wanted)
    for calendar in calendars:
        if calendar.selected and calendar.id not in before:
            resync(calendar)
    return {"data": [calendar_to_dict(c) for c in store().calendars(connection_id)]}


@blueprint.post("/calendar/calendars/<calendar_id>/sync")
@require_api_key
def sync_now(calendar_id: str) -> ResponseReturnValue:
    own_calendar(calendar_id)
    with connector_errors():
        queued = jobs.request_sync(services(), calendar_id)
    return {"id": calendar_id, "queued": queued}, 202


# -- rules ------------------------------------------------------------------------------------
@blueprint.get("/calendar/calendars/<calendar_id>/rules")
@require_api_key
def list_rules(calendar_id: str) -> ResponseReturnValue:
    own_calendar(calendar_id)
    return {"data": [rule_to_dict(r) for r in store().rules(calendar_id)]}


@blueprint.post("/calendar/calendars/<calendar_id>/rules")
@require_api_key
def create_rule(calendar_id: str) -> ResponseReturnValue:
    calendar = own_calendar(calendar_id)
    rule = rule_from_body(new_id("crule"), calendar_id, validated_body(RULE_REQUEST))
    with connector_errors():
        connector().set_rules(calendar_id, [rule])
    resync(calendar)
    return rule_to_dict(rule), 201


@blueprint.put("/calendar/calendars/<calendar_id>/rules/<rule_id>")
@require_api_key
def replace_rule(calendar_id: str, rule_id: str) -> ResponseReturnValue:
    calendar = own_calendar(calendar_id)
    if rule_id not in {r.id for r in store().rules(calendar_id)}:
        raise NotFoundError(f"no rule {rule_id} on calendar {calendar_id}")
    rule = rule_from_body(rule_id, calendar_id, validated_body(RULE_REQUEST))
    retract_rule(calendar_id, rule_id)
    with connector_errors():
        connector().set_rules(calendar_id, [rule])
    resync(calendar)
    return rule_to_dict(rule)


@blueprint.delete("/calendar/calendars/<calendar_id>/rules/<rule_id>")
@require_api_key
def delete_rule(calendar_id: str, rule_id: str) -> ResponseReturnValue:
    """Its pending reminders are cancelled (and refunded)."""
    calendar = own_calendar(calendar_id)
    if not store().delete_rule(calendar_id, rule_id):
        raise NotFoundError(f"no rule {rule_id} on calendar {calendar_id}")
    retract_rule(calendar_id, rule_id)
    resync(calendar)
    return "", 204


# -- what will and will not be sent -----------------------------------------------------------
@blueprint.get("/calendar/calendars/<calendar_id>/upcoming")
@require_api_key
def upcoming(calendar_id: str) -> ResponseReturnValue:
    """Reminders scheduled and not sent yet, soonest first."""
    own_calendar(calendar_id)
    found = store().upcoming([calendar_id], utcnow())
    return {"data": [reminder_to_dict(r) for r in found]}


@blueprint.get("/calendar/calendars/<calendar_id>/skipped")
@require_api_key
def skipped(calendar_id: str) -> ResponseReturnValue:
    """Events that get no SMS, and why (no mobile number, all-day, declined, past...)."""
    own_calendar(calendar_id)
    return {"data": [skip_to_dict(s) for s in connector().skipped(calendar_id)]}


# -- push -------------------------------------------------------------------------------------
@blueprint.post("/calendar/push/google")
def google_push() -> ResponseReturnValue:
    """A Google channel notification: check the channel token, then sync (queued)."""
    headers = request.headers
    calendar = store().calendar_by_push_id(headers.get("X-Goog-Channel-ID", ""))
    if calendar is None or not calendar.push_secret:
        if headers.get("X-Goog-Resource-State") == "sync":
            return "", 200  # a new channel's handshake may come before the channel is stored
        return problem(403, "push_rejected", "unknown channel")
    verify_google_channel(dict(headers), calendar.push_secret, channel_id=calendar.push_id)
    if headers.get("X-Goog-Resource-State") != "sync":
        jobs.request_sync(services(), calendar.id)
    return "", 200


@blueprint.post("/calendar/push/graph")
def graph_push() -> ResponseReturnValue:
    """Graph: echo the validation token of a new subscription; else check each notification's
    clientState against its subscription's and sync the calendars concerned (queued)."""
    token = graph_validation_token(request.args)
    if token is not None:
        return Response(token, status=200, mimetype="text/plain")
    body = request.get_json(silent=True) or {}
    notes = body.get("value") if isinstance(body, dict) else None
    if not isinstance(notes, list):
        return problem(400, "bad_request", "expected a Graph notification collection")
    targets: set[str] = set()
    for note in notes:
        calendar = store().calendar_by_push_id(str(note.get("subscriptionId", "")))
        if calendar is None or not _same(str(note.get("clientState", "")),
                                         calendar.push_secret):
            return problem(403, "push_rejected", "unknown subscription or clientState")
        targets.add(calendar.id)
    for calendar_id in sorted(targets):
        jobs.request_sync(services(), calendar_id)
    return "", 202


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


CALENDAR_ID = path_param("calendar_id", "The calendar (cal_...)")
CONNECTION_ID = path_param("connection_id", "The connection (calc_...)")
RULE_ID = path_param("rule_id", "The rule (crule_...)")


def _page(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["data"],
            "properties": {"data": {"type": "array", "items": ref(item)}}}


PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/calendar/connections": {
            "post": operation("Start connecting Google Calendar or Outlook", {
                "201": reply("The consent URL to send the user to", {
                    "type": "object", "required": ["authorization_url"],
                    "properties": {"authorization_url": {"type": "string", "format": "uri"},
                                   "expires_in": {"type": "integer"}}}),
                **problems(400, 415, 422)}, request=CONNECT_REQUEST),
            "get": operation("The account's calendar connections",
                             {"200": reply("Connections", _page("CalendarConnection"))}),
        },
        "/calendar/connections/{connection_id}": {
            "get": operation("One connection and its calendars", {
                "200": reply("The connection", ref("CalendarConnection")), **problems(404)},
                parameters=[CONNECTION_ID]),
            "delete": operation("Disconnect: forget the tokens, cancel pending reminders", {
                "200": reply("Disconnected", {"type": "object"}), **problems(404)},
                parameters=[CONNECTION_ID]),
        },
        "/calendar/connections/{connection_id}/calendars": {"put": operation(
            "Choose the calendars that give reminders", {
                "200": reply("The connection's calendars", _page("Calendar")),
                **problems(400, 402, 404, 415, 422)},
            request=SELECT_REQUEST, parameters=[CONNECTION_ID])},
        "/calendar/oauth/callback": {
            "get": operation("OAuth redirect from Google (code and state in the query)", {
                "201": reply("Connected", ref("CalendarConnection")), **problems(422)},
                public=True),
            "post": operation("OAuth form post from Microsoft (code and state as fields)", {
                "201": reply("Connected", ref("CalendarConnection")), **problems(422)},
                public=True),
        },
        "/calendar/calendars/{calendar_id}/sync": {"post": operation(
            "Sync a calendar now", {"202": reply("Sync queued or done", {"type": "object"}),
                                    **problems(404)}, parameters=[CALENDAR_ID])},
        "/calendar/calendars/{calendar_id}/rules": {
            "get": operation("The calendar's reminder rules", {
                "200": reply("Rules", _page("CalendarRule")), **problems(404)},
                parameters=[CALENDAR_ID]),
            "post": operation("Add a reminder rule", {
                "201": reply("The rule", ref("CalendarRule")), **problems(400, 404, 415, 422)},
                request=RULE_REQUEST, parameters=[CALENDAR_ID]),
        },
        "/calendar/calendars/{calendar_id}/rules/{rule_id}": {
            "put": operation("Replace a reminder rule", {
                "200": reply("The rule", ref("CalendarRule")), **problems(400, 404, 415, 422)},
                request=RULE_REQUEST, parameters=[CALENDAR_ID, RULE_ID]),
            "delete": operation("Delete a reminder rule", {
                "204": reply("Deleted"), **problems(404)}, parameters=[CALENDAR_ID, RULE_ID]),
        },
        "/calendar/calendars/{calendar_id}/upcoming": {"get": operation(
            "Reminders scheduled and not sent yet", {
                "200": reply("Reminders", _page("CalendarReminder")), **problems(404)},
            parameters=[CALENDAR_ID])},
        "/calendar/calendars/{calendar_id}/skipped": {"get": operation(
            "Events that get no SMS, with the reason", {
                "200": reply("Skipped events", _page("CalendarSkip")), **problems(404)},
            parameters=[CALENDAR_ID])},
        "/calendar/push/google": {"post": operation(
            "Google Calendar channel notifications", {
                "200": reply("Accepted"), **problems(403)}, public=True)},
        "/calendar/push/graph": {"post": operation(
            "Microsoft Graph change notifications and subscription validation", {
                "200": reply("The validation token echoed"), "202": reply("Accepted"),
                **problems(400, 403)}, public=True)},
    },
    schemas={"Calendar": CALENDAR_SCHEMA, "CalendarConnection": CONNECTION_SCHEMA,
             "CalendarRule": RULE_SCHEMA, "CalendarReminder": REMINDER_SCHEMA,
             "CalendarSkip": SKIP_SCHEMA},
)
