"""API keys in the API: list, create (the key is shown once), revoke, approve a pending address."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from hub import accounts
from hub.api.auth import current_account, require_api_key
from hub.api.context import unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, ref, reply
from hub.api.shapes import KEY_SCHEMA, key_to_dict
from hub.api.validation import validated_body
from hub.models import Account

blueprint = Blueprint("keys", __name__)

KEY_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "ip_mode": {"enum": ["off", "strict", "trusted"]},
        "ip_allow": {"type": "array", "maxItems": 100,
                     "items": {"type": "string", "maxLength": 64}},
    },
}
APPROVAL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["address"],
    "properties": {"address": {"type": "string", "maxLength": 64}},
}


def _owner(session: Any) -> Account:
    account = session.get(Account, current_account().id)
    assert account is not None
    return account


@blueprint.get("/keys")
@require_api_key
def list_keys() -> ResponseReturnValue:
    with unit_of_work() as session:
        return {"data": [key_to_dict(k) for k in accounts.list_api_keys(session, _owner(session))]}


@blueprint.post("/keys")
@require_api_key
def create_key() -> ResponseReturnValue:
    data = validated_body(KEY_REQUEST)
    with unit_of_work() as session:
        key, plain = accounts.create_api_key(
            session, _owner(session), data.get("name", ""),
            ip_mode=data.get("ip_mode", "off"), ip_allow=data.get("ip_allow", []),
        )
        return key_to_dict(key, plain), 201


@blueprint.delete("/keys/<key_id>")
@require_api_key
def revoke_key(key_id: str) -> ResponseReturnValue:
    with unit_of_work() as session:
        accounts.revoke_api_key(session, _owner(session), key_id)
    return "", 204


@blueprint.post("/keys/<key_id>/approvals")
@require_api_key
def approve(key_id: str) -> ResponseReturnValue:
    """Allow an address a ``trusted`` key was refused from (or any new address)."""
    data = validated_body(APPROVAL_REQUEST)
    with unit_of_work() as session:
        key = accounts.approve_address(session, _owner(session), key_id, data["address"])
        return key_to_dict(key)


_ID = path_param("key_id", "An API key id")

PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/keys": {
            "get": operation("The account's API keys (never the keys themselves)", {
                "200": reply("Keys", {"type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array", "items": ref("ApiKey")}}}),
            }),
            "post": operation(
                "Create an API key; the response is the only time it is shown",
                {"201": reply("The new key, with 'key'", ref("ApiKey")),
                 **problems(400, 415, 422)},
                request=ref("ApiKeyRequest"),
            ),
        },
        "/keys/{key_id}": {"delete": operation(
            "Revoke an API key", {"204": reply("Revoked"), **problems(404)},
            parameters=[_ID],
        )},
        "/keys/{key_id}/approvals": {"post": operation(
            "Allow an address for a key (approves a pending one of a trusted key)",
            {"200": reply("The key", ref("ApiKey")), **problems(400, 404, 415, 422)},
            request=ref("AddressApproval"), parameters=[_ID],
        )},
    },
    schemas={"ApiKey": KEY_SCHEMA, "ApiKeyRequest": KEY_REQUEST,
             "AddressApproval": APPROVAL_REQUEST},
)
