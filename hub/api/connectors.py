"""What the account's connectors noticed: ``GET /connectors/events`` (newest first).

A calendar connection whose grant was revoked shows up here as ``needs_reauth`` (and reaches
the account's callback URL as ``connector.needs_reauth``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from hub import connector_events
from hub.api.auth import current_account, require_api_key
from hub.api.context import unit_of_work
from hub.api.openapi import ApiPart, operation, problems, query_param, ref, reply
from hub.api.problems import InvalidRequest

blueprint = Blueprint("connectors", __name__)

MAX_PAGE = 100

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "connector", "kind", "message", "data", "at"],
    "properties": {
        "id": {"type": "string"},
        "connector": {"type": "string", "description": "google_calendar, outlook_calendar..."},
        "kind": {"type": "string", "description": "needs_reauth, ..."},
        "message": {"type": ["string", "null"]},
        "data": {"type": "object"},
        "at": {"type": "string", "format": "date-time"},
    },
}
EVENT_PAGE: dict[str, Any] = {
    "type": "object", "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": ref("ConnectorEvent")},
                   "next_cursor": {"type": ["string", "null"]}},
}


@blueprint.get("/connectors/events")
@require_api_key
def list_events() -> ResponseReturnValue:
    raw_limit = request.args.get("limit", str(MAX_PAGE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise InvalidRequest(f"limit is an integer from 1 to {MAX_PAGE}",
                             code="invalid_parameter", field="limit")
    limit = int(raw_limit)
    with unit_of_work() as session:
        rows = connector_events.latest(session, current_account().id, limit + 1,
                                       before=request.args.get("cursor"))
        page = [connector_events.event_to_dict(row) for row in rows[:limit]]
    return {"data": page, "next_cursor": page[-1]["id"] if len(rows) > limit else None}


PART = ApiPart(
    blueprint=blueprint,
    paths={"/connectors/events": {"get": operation(
        "What the account's connectors noticed (a connection needing a new consent...)",
        {"200": reply("A page of events, newest first", ref("ConnectorEventPage")),
         **problems(422)},
        parameters=[query_param("cursor", {"type": "string"}, "Id of the last event seen"),
                    query_param("limit", {"type": "integer", "minimum": 1,
                                          "maximum": MAX_PAGE}, "Page size")],
    )}},
    schemas={"ConnectorEvent": EVENT_SCHEMA, "ConnectorEventPage": EVENT_PAGE},
)
