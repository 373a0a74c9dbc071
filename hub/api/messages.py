"""Messages: send (one recipient or up to 1,000), read one, list with filters and a cursor.

A single recipient (``to`` a string) is answered with the message (201), or with a 422 problem
carrying the pipeline's refusal code. A list answers 201 with one result per recipient in order
and the messages created (refused recipients of a list are stored as ``refused`` messages, at no
cost). Larger sends are campaigns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from connectors.base import SubmitResult
from hub import pipeline
from hub.api import idempotency
from hub.api.auth import current_account, owned, require_api_key
from hub.api.context import read_only, services
from hub.api.openapi import (
    ApiPart,
    operation,
    path_param,
    problems,
    query_param,
    ref,
    reply,
)
from hub.api.problems import InvalidRequest, problem_body
from hub.api.sending import MESSAGE_SCHEMA, RECIPIENT, requests_for, send_schema
from hub.api.validation import aware_instant, validated_body
from hub.models import STATES, Message
from sms_core import phone
from sms_core.errors import InvalidNumberError

blueprint = Blueprint("messages", __name__)

MAX_RECIPIENTS = 1000
MAX_PAGE = 1000

SEND_REQUEST = send_schema({"oneOf": [
    RECIPIENT, {"type": "array", "items": RECIPIENT, "minItems": 1, "maxItems": MAX_RECIPIENTS},
]})

RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["to", "status", "message_id", "code", "reason", "duplicate"],
    "properties": {
        "to": {"type": "string"},
        "status": {"type": "string"},
        "message_id": {"type": ["string", "null"]},
        "code": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"]},
        "duplicate": {"type": "boolean"},
    },
}
BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["results", "messages", "accepted", "duplicates", "refused"],
    "properties": {
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/SubmitResult"}},
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
        "accepted": {"type": "integer",
                     "description": "Messages this call created (each billed once)."},
        "duplicates": {"type": "integer",
                       "description": "Recipients that repeat one of this list, or an earlier "
                                      "request with the same idempotency key: no new message."},
        "refused": {"type": "integer"},
    },
}
PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data", "next_cursor"],
    "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
        "next_cursor": {"type": ["string", "null"]},
    },
}


def result_to_dict(result: SubmitResult) -> dict[str, Any]:
    return {"to": result.to, "status": result.status, "message_id": result.message_id,
            "code": result.code, "reason": result.reason, "duplicate": result.duplicate}


def messages_by_id(ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    with read_only() as session:
        rows = session.scalars(select(Message).where(Message.id.in_(ids)))
        return {m.id: pipeline.message_to_dict(m) for m in rows}


def _single(result: SubmitResult) -> idempotency.Answer:
    if result.refused or result.message_id is None:
        return problem_body(422, result.code or "refused", result.reason or "refused",
                            to=result.to), 422
    found = messages_by_id([result.message_id])[result.message_id]
    return found, 200 if result.duplicate else 201


def _batch(results: list[SubmitResult]) -> idempotency.Answer:
    ids = list(dict.fromkeys(r.message_id for r in results if r.message_id))
    found = messages_by_id(ids)
    return {
        "results": [result_to_dict(r) for r in results],
        "messages": [found[i] for i in ids if i in found],
        "accepted": sum(1 for r in results if not r.refused and not r.duplicate),
        "duplicates": sum(1 for r in results if not r.refused and r.duplicate),
        "refused": sum(1 for r in results if r.refused),
    }, 201


@blueprint.post("/messages")
@require_api_key
def send() -> ResponseReturnValue:
    data = validated_body(SEND_REQUEST)
    account = current_account()
    key = idempotency.request_key()
    single = isinstance(data["to"], str)
    recipients = [data["to"]] if single else list(data["to"])
    sms = requests_for(account.id, data, recipients, idempotency_key=key, single=single)

    def run() -> idempotency.Answer:
        results = pipeline.submit(services(), account.id, sms)
        return _single(results[0]) if single else _batch(results)

    body, status, headers = idempotency.once(account.id, key, data, run)
    if status == 422:
        headers["Content-Type"] = "application/problem+json"
    elif single and status in (200, 201):
        headers["Location"] = f"/api/v1/messages/{body['id']}"
    return body, status, headers


@blueprint.get("/messages/<message_id>")
@require_api_key
def get_message(message_id: str) -> ResponseReturnValue:
    with read_only() as session:
        return pipeline.message_to_dict(owned(session, Message, message_id, "message"))


def _instant(name: str) -> datetime | None:
    return aware_instant(request.args.get(name), name=name, field=name, code="invalid_parameter")


def _limit() -> int:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest(f"limit is an integer from 1 to {MAX_PAGE}",
                             code="invalid_parameter", field="limit")
    return int(raw)


def _recipient(raw: str) -> str:
    region = str((current_account().settings or {}).get("region") or
                 services().settings.default_region)
    try:
        return phone.normalize(raw, region=region)
    except InvalidNumberError as exc:
        raise InvalidRequest(exc.message, code="invalid_number", field="to") from None


def _filtered(stmt: Select[Any]) -> Select[Any]:
    """Apply the query filters: status (comma list), from/until (created_at), to, source,
    campaign_id, cursor (the last id of the previous page)."""
    args = request.args
    if "status" in args:
        wanted = [s for s in args["status"].split(",") if s]
        unknown = set(wanted) - set(STATES)
        if unknown or not wanted:
            raise InvalidRequest(f"status is a comma list of {', '.join(STATES)}",
                                 code="invalid_parameter", field="status")
        stmt = stmt.where(Message.status.in_(wanted))
    since, until = _instant("from"), _instant("until")
    if since is not None:
        stmt = stmt.where(Message.created_at >= since)
    if until is not None:
        stmt = stmt.where(Message.created_at < until)
    if "to" in args:
        stmt = stmt.where(Message.to == _recipient(args["to"]))
    if "source" in args:
        stmt = stmt.where(Message.source == args["source"])
    if "campaign_id" in args:
        stmt = stmt.where(Message.campaign_id == args["campaign_id"])
    if "cursor" in args:
        stmt = stmt.where(Message.id < args["cursor"])
    return stmt


@blueprint.get("/messages")
@require_api_key
def list_messages() -> ResponseReturnValue:
    """Newest first; ``next_cursor`` is passed back as ``cursor`` for the next page."""
    limit = _limit()
    base = select(Message).where(Message.account_id == current_account().id)
    stmt = _filtered(base).order_by(Message.id.desc()).limit(limit + 1)
    with read_only() as session:
        rows = list(session.scalars(stmt))
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return {"data": [pipeline.message_to_dict(m) for m in page], "next_cursor": next_cursor}


_LIST_PARAMS = [
    query_param("status", {"type": "string"}, "Comma-separated message states"),
    query_param("from", {"type": "string", "format": "date-time"}, "Created at or after"),
    query_param("until", {"type": "string", "format": "date-time"}, "Created before"),
    query_param("to", {"type": "string"}, "Recipient number"),
    query_param("source", {"type": "string"}, "api, email, hubspot, prestashop, calendar..."),
    query_param("campaign_id", {"type": "string"}, "Messages of one campaign"),
    query_param("cursor", {"type": "string"}, "next_cursor of the previous page"),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                          "default": 100}, "Page size"),
]
_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "maxLength": idempotency.MAX_KEY},
                "description": "Same key and body: the first answer again; other body: 422"}

PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/messages": {
            "post": operation(
                "Send an SMS to one recipient or to a list (up to 1,000)",
                {
                    "201": reply("One recipient: the message. A list: per-recipient results",
                                 {"oneOf": [ref("Message"), ref("SubmitBatch")]}),
                    "200": reply("The message an earlier identical request created",
                                 ref("Message")),
                    **problems(400, 402, 413, 415, 422),
                },
                request=ref("SendRequest"), parameters=[_IDEMPOTENCY],
            ),
            "get": operation(
                "Messages, newest first, with filters and a cursor",
                {"200": reply("A page of messages", ref("MessagePage")), **problems(422)},
                parameters=_LIST_PARAMS,
            ),
        },
        "/messages/{message_id}": {"get": operation(
            "One message", {"200": reply("The message", ref("Message")), **problems(404)},
            parameters=[path_param("message_id", "A message id")],
        )},
    },
    schemas={"Message": MESSAGE_SCHEMA, "SendRequest": SEND_REQUEST,
             "SubmitResult": RESULT_SCHEMA, "SubmitBatch": BATCH_SCHEMA,
             "MessagePage": PAGE_SCHEMA},
)
