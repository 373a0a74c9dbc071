"""The account's status callbacks: endpoint URL, signing secret, delivery log, dead letters.

Setting the URL runs the SSRF guard with the deployment's allowlist (422
``callback_url_refused``); the guard runs again before every delivery. The signing secret is
shown once: in the answer that created the endpoint and in each rotation's answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from hub.api.auth import current_account, owned, require_api_key
from hub.api.context import services, unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, query_param, ref, reply
from hub.api.problems import InvalidRequest
from hub.api.shapes import DATETIME, iso
from hub.api.validation import validated_body
from hub.callbacks import delivery, endpoints, store
from hub.models import CallbackAttempt, CallbackDeadLetter, CallbackEndpoint, CallbackEvent, utcnow

blueprint = Blueprint("callbacks", __name__)

URL_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["url"],
    "properties": {"url": {"type": ["string", "null"], "minLength": 1, "maxLength": 2000}},
}
ENDPOINT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["url", "previous_secret_valid_until"],
    "properties": {
        "url": {"type": ["string", "null"]},
        "secret": {"type": "string", "description": "Shown only when created or rotated"},
        "previous_secret_valid_until": DATETIME, "rotated_at": DATETIME,
        "created_at": DATETIME,
    },
}
ATTEMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "event_id", "attempt", "status_code", "latency_ms", "ok", "error", "at"],
    "properties": {
        "id": {"type": "integer"}, "event_id": {"type": "string"},
        "event_type": {"type": "string"}, "message_id": {"type": ["string", "null"]},
        "url": {"type": "string"}, "attempt": {"type": "integer"},
        "status_code": {"type": ["integer", "null"]}, "latency_ms": {"type": "integer"},
        "ok": {"type": "boolean"}, "error": {"type": ["string", "null"]}, "at": DATETIME,
    },
}
DEAD_LETTER_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "event_id", "attempts", "last_error", "dead_at"],
    "properties": {
        "id": {"type": "integer"}, "event_id": {"type": "string"},
        "event_type": {"type": "string"}, "message_id": {"type": ["string", "null"]},
        "attempts": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
        "dead_at": DATETIME, "replayed_at": DATETIME,
    },
}


def _page_schema(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["data", "next_cursor"],
            "properties": {"data": {"type": "array", "items": ref(item)},
                           "next_cursor": {"type": ["string", "null"]}}}


def endpoint_to_dict(row: CallbackEndpoint | None, secret: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "url": row.url if row else None,
        "previous_secret_valid_until": iso(row.previous_until) if row else None,
        "rotated_at": iso(row.rotated_at) if row else None,
        "created_at": iso(row.created_at) if row else None,
    }
    if secret is not None:
        found["secret"] = secret
    return found


@blueprint.get("/callbacks")
@require_api_key
def get_endpoint() -> ResponseReturnValue:
    with unit_of_work() as session:
        return endpoint_to_dict(endpoints.find(session, current_account().id))


@blueprint.put("/callbacks")
@require_api_key
def set_endpoint() -> ResponseReturnValue:
    """Set or clear (``null``) the URL; the first call also creates the signing secret."""
    url = validated_body(URL_REQUEST)["url"]
    with unit_of_work() as session:
        row, secret = endpoints.set_url(session, services().settings, current_account(), url)
        return endpoint_to_dict(row, secret)


@blueprint.post("/callbacks/secret")
@require_api_key
def rotate_secret() -> ResponseReturnValue:
    """A new secret; the previous one keeps signing for the grace period."""
    with unit_of_work() as session:
        row, secret = endpoints.rotate(session, services().settings, current_account().id)
        return endpoint_to_dict(row, secret), 201


def _limit() -> int:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequest("limit is an integer from 1 to 1000", code="invalid_parameter",
                             field="limit")
    return int(raw)


def _cursor() -> int | None:
    raw = request.args.get("cursor")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest("cursor is the next_cursor of the previous page",
                             code="invalid_parameter", field="cursor")
    return int(raw)


@blueprint.get("/callbacks/attempts")
@require_api_key
def list_attempts() -> ResponseReturnValue:
    """Newest first; filter by ``message_id`` or ``event_id``."""
    query = (select(CallbackAttempt, CallbackEvent.type)
             .join(CallbackEvent, CallbackEvent.id == CallbackAttempt.event_id)
             .where(CallbackAttempt.account_id == current_account().id))
    for name in ("message_id", "event_id"):
        if name in request.args:
            query = query.where(getattr(CallbackAttempt, name) == request.args[name])
    return _page(query, CallbackAttempt.id, _attempt_to_dict)


@blueprint.get("/callbacks/dead-letters")
@require_api_key
def list_dead_letters() -> ResponseReturnValue:
    query = (select(CallbackDeadLetter, CallbackEvent.type)
             .join(CallbackEvent, CallbackEvent.id == CallbackDeadLetter.event_id)
             .where(CallbackDeadLetter.account_id == current_account().id))
    if "message_id" in request.args:
        query = query.where(CallbackDeadLetter.message_id == request.args["message_id"])
    return _page(query, CallbackDeadLetter.id, _letter_to_dict)


@blueprint.post("/callbacks/dead-letters/<int:letter_id>/replay")
@require_api_key
def replay_dead_letter(letter_id: int) -> ResponseReturnValue:
    """Queue the event again with a fresh 24-hour horizon."""
    with unit_of_work() as session:
        letter = owned(session, CallbackDeadLetter, letter_id, "dead letter")
        store.replay(session, letter, utcnow())
        event = session.get(CallbackEvent, letter.event_id)
        answer = _letter_to_dict(letter, event.type if event else "")
    delivery.kick(services())
    return answer, 202


def _page(query: Select[Any, Any], key: Any, shape: Any) -> dict[str, Any]:
    limit, cursor = _limit(), _cursor()
    if cursor is not None:
        query = query.where(key < cursor)
    with unit_of_work() as session:
        rows = list(session.execute(query.order_by(key.desc()).limit(limit + 1)))
    page = rows[:limit]
    return {"data": [shape(row, kind) for row, kind in page],
            "next_cursor": str(page[-1][0].id) if len(rows) > limit else None}


def _attempt_to_dict(row: CallbackAttempt, kind: str) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "event_type": kind,
            "message_id": row.message_id, "url": row.url, "attempt": row.attempt,
            "status_code": row.status_code, "latency_ms": row.latency_ms, "ok": row.ok,
            "error": row.error, "at": iso(row.at)}


def _letter_to_dict(row: CallbackDeadLetter, kind: str) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "event_type": kind,
            "message_id": row.message_id, "attempts": row.attempts,
            "last_error": row.last_error, "dead_at": iso(row.dead_at),
            "replayed_at": iso(row.replayed_at)}


PAGING = [query_param("cursor", {"type": "string"}, "next_cursor of the previous page"),
          query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size")]

PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/callbacks": {
            "get": operation("The callback endpoint", {
                "200": reply("URL and secret rotation state", ref("CallbackEndpoint"))}),
            "put": operation("Set or clear the callback URL (checked against SSRF)", {
                "200": reply("The endpoint; `secret` when it was just created",
                             ref("CallbackEndpoint")),
                **problems(400, 415, 422)}, request=ref("CallbackUrlRequest")),
        },
        "/callbacks/secret": {"post": operation(
            "Rotate the signing secret (the old one signs too during the grace period)",
            {"201": reply("The endpoint with its new `secret`, shown once",
                          ref("CallbackEndpoint"))})},
        "/callbacks/attempts": {"get": operation(
            "The delivery log, newest first", {
                "200": reply("A page of attempts", ref("CallbackAttemptPage")),
                **problems(422)},
            parameters=[*PAGING,
                        query_param("message_id", {"type": "string"}, "Only this message"),
                        query_param("event_id", {"type": "string"}, "Only this event")])},
        "/callbacks/dead-letters": {"get": operation(
            "Events given up on, newest first", {
                "200": reply("A page of dead letters", ref("CallbackDeadLetterPage")),
                **problems(422)},
            parameters=[*PAGING,
                        query_param("message_id", {"type": "string"}, "Only this message")])},
        "/callbacks/dead-letters/{letter_id}/replay": {"post": operation(
            "Send a dead-lettered event again", {
                "202": reply("Queued again", ref("CallbackDeadLetter")), **problems(404)},
            parameters=[path_param("letter_id", "The dead letter's id")])},
    },
    schemas={"CallbackEndpoint": ENDPOINT_SCHEMA, "CallbackUrlRequest": URL_REQUEST,
             "CallbackAttempt": ATTEMPT_SCHEMA, "CallbackDeadLetter": DEAD_LETTER_SCHEMA,
             "CallbackAttemptPage": _page_schema("CallbackAttempt"),
             "CallbackDeadLetterPage": _page_schema("CallbackDeadLetter")},
)
