"""The account's opt-out list: numbers that never receive anything from this account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, select

from hub.accounts import NotFoundError
from hub.api.auth import current_account, require_api_key
from hub.api.context import services, unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, query_param, ref, reply
from hub.api.problems import InvalidRequest
from hub.api.shapes import iso
from hub.api.validation import validated_body
from hub.callbacks import outbox
from hub.models import OptOut
from sms_core import phone
from sms_core.errors import InvalidNumberError

blueprint = Blueprint("optouts", __name__)

OPTOUT_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["number"],
    "properties": {"number": {"type": "string", "minLength": 1, "maxLength": 64}},
}
OPTOUT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["number", "source", "created_at"],
    "properties": {"number": {"type": "string"}, "source": {"type": "string"},
                   "created_at": {"type": ["string", "null"], "format": "date-time"}},
}
OPTOUT_PAGE: dict[str, Any] = {
    "type": "object", "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": ref("OptOut")},
                   "next_cursor": {"type": ["string", "null"]}},
}


def _number(raw: str) -> str:
    """E.164 of ``raw`` (any valid number: a landline may opt out of a future SMS too)."""
    region = str((current_account().settings or {}).get("region")
                 or services().settings.default_region)
    try:
        return phone.normalize(raw, region=region, mobile_only=False)
    except InvalidNumberError as exc:
        raise InvalidRequest(exc.message, code="invalid_number", field="number") from None


def optout_to_dict(row: OptOut) -> dict[str, Any]:
    return {"number": row.number, "source": row.source, "created_at": iso(row.created_at)}


@blueprint.get("/optouts")
@require_api_key
def list_optouts() -> ResponseReturnValue:
    """Ordered by number; ``cursor`` is the last number of the previous page."""
    raw_limit = request.args.get("limit", "1000")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise InvalidRequest("limit is an integer from 1 to 1000", code="invalid_parameter",
                             field="limit")
    limit = int(raw_limit)
    stmt = select(OptOut).where(OptOut.account_id == current_account().id)
    if "cursor" in request.args:
        stmt = stmt.where(OptOut.number > request.args["cursor"])
    with unit_of_work() as session:
        rows = list(session.scalars(stmt.order_by(OptOut.number).limit(limit + 1)))
    page = rows[:limit]
    return {"data": [optout_to_dict(r) for r in page],
            "next_cursor": page[-1].number if len(rows) > limit else None}


@blueprint.post("/optouts")
@require_api_key
def add_optout() -> ResponseReturnValue:
    """201 when added (and ``optout.added`` sent to the account's callback URL), 200 when the
    number was already on the list."""
    number = _number(validated_body(OPTOUT_REQUEST)["number"])
    account_id = current_account().id
    with unit_of_work() as session:
        found = session.scalar(select(OptOut).where(OptOut.account_id == account_id,
                                                    OptOut.number == number))
        if found is not None:
            return optout_to_dict(found), 200
        row = OptOut(account_id=account_id, number=number, source="api")
        session.add(row)
        session.flush()
        outbox.optout_changed(session, account_id, number, added=True, source="api")
        return optout_to_dict(row), 201


@blueprint.delete("/optouts/<number>")
@require_api_key
def remove_optout(number: str) -> ResponseReturnValue:
    """Take a number off the list (the holder opted back in); ``optout.removed`` follows."""
    e164 = _number(number)
    account_id = current_account().id
    with unit_of_work() as session:
        gone = session.execute(delete(OptOut).where(
            OptOut.account_id == account_id, OptOut.number == e164))
        if not getattr(gone, "rowcount", 0):
            raise NotFoundError(f"{e164} is not on the opt-out list")
        outbox.optout_changed(session, account_id, e164, added=False, source="api")
    return "", 204


PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/optouts": {
            "get": operation("The opt-out list", {
                "200": reply("A page of numbers", ref("OptOutPage")), **problems(422)},
                parameters=[query_param("cursor", {"type": "string"}, "Last number seen"),
                            query_param("limit", {"type": "integer", "minimum": 1,
                                                  "maximum": 1000}, "Page size")]),
            "post": operation("Add a number to the opt-out list", {
                "201": reply("Added", ref("OptOut")),
                "200": reply("Already on the list", ref("OptOut")),
                **problems(400, 415, 422)}, request=ref("OptOutRequest")),
        },
        "/optouts/{number}": {"delete": operation(
            "Take a number off the opt-out list",
            {"204": reply("Removed"), **problems(404, 422)},
            parameters=[path_param("number", "The number, E.164 or national")],
        )},
    },
    schemas={"OptOut": OPTOUT_SCHEMA, "OptOutRequest": OPTOUT_REQUEST, "OptOutPage": OPTOUT_PAGE},
)
