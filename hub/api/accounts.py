"""Accounts in the API: the caller's account, its settings and its sub-accounts.

``<account_id>`` may be ``me``. An administrator reaches every account, a parent its
sub-accounts, everyone else only itself (404 otherwise, so ids of others are not confirmed).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from hub import accounts
from hub.accounts import NotFoundError
from hub.api.auth import current_account, require_api_key
from hub.api.context import services, unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, ref, reply
from hub.api.shapes import ACCOUNT_SCHEMA, KEY_SCHEMA, SETTINGS_SCHEMA, account_to_dict, key_to_dict
from hub.api.validation import validated_body
from hub.callbacks import endpoints
from hub.models import Account

blueprint = Blueprint("accounts", __name__)

SUBACCOUNT_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "settings": SETTINGS_SCHEMA,
    },
}


def target(session: Session, account_id: str) -> Account:
    """The account ``account_id`` names, if the caller may manage it."""
    actor = current_account()
    found = session.get(Account, actor.id if account_id == "me" else account_id)
    if found is None or not accounts.may_manage(actor, found):
        raise NotFoundError(f"no account {account_id}")
    return found


@blueprint.get("/accounts/<account_id>")
@require_api_key
def get_account(account_id: str) -> ResponseReturnValue:
    with unit_of_work() as session:
        return account_to_dict(target(session, account_id))


@blueprint.get("/accounts/<account_id>/settings")
@require_api_key
def get_settings(account_id: str) -> ResponseReturnValue:
    with unit_of_work() as session:
        return dict(target(session, account_id).settings or {})


@blueprint.patch("/accounts/<account_id>/settings")
@require_api_key
def patch_settings(account_id: str) -> ResponseReturnValue:
    patch = validated_body(SETTINGS_SCHEMA)
    with unit_of_work() as session:
        account = accounts.update_settings(session, target(session, account_id), patch)
        if "callback_url" in patch:
            sync_callback_url(session, account)
        return dict(account.settings)


def sync_callback_url(session: Session, account: Account) -> None:
    """The ``callback_url`` setting goes through the callbacks endpoint (SSRF guard, the URL
    delivery uses): one source of truth for both APIs. A refused URL rolls the change back."""
    url = (account.settings or {}).get("callback_url")
    if url is None and endpoints.find(session, account.id) is None:
        return
    endpoints.set_url(session, services().settings, account, url, field="callback_url")


@blueprint.get("/accounts/<account_id>/subaccounts")
@require_api_key
def list_subaccounts(account_id: str) -> ResponseReturnValue:
    with unit_of_work() as session:
        found = accounts.sub_accounts(session, target(session, account_id))
        return {"data": [account_to_dict(a) for a in found]}


@blueprint.post("/accounts/<account_id>/subaccounts")
@require_api_key
def create_subaccount(account_id: str) -> ResponseReturnValue:
    """A sub-account (spending the parent's credits) and its first API key, shown once."""
    data = validated_body(SUBACCOUNT_REQUEST)
    with unit_of_work() as session:
        parent = target(session, account_id)
        child = accounts.create_account(
            session, data["name"], parent_id=parent.id,
            settings={k: v for k, v in data.get("settings", {}).items() if v is not None},
        )
        if child.settings.get("callback_url"):
            sync_callback_url(session, child)
        key, plain = accounts.create_api_key(session, child, "created with the account")
        body = {"account": account_to_dict(child), "api_key": key_to_dict(key, plain)}
    return body, 201, {"Location": f"/api/v1/accounts/{child.id}"}


_ID = path_param("account_id", "An account id, or 'me' for the caller's account")

PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/accounts/{account_id}": {"get": operation(
            "An account", {"200": reply("The account", ref("Account")), **problems(404)},
            parameters=[_ID],
        )},
        "/accounts/{account_id}/settings": {
            "get": operation("An account's settings",
                             {"200": reply("The settings", ref("AccountSettings")),
                              **problems(404)}, parameters=[_ID]),
            "patch": operation(
                "Change an account's settings (null removes one)",
                {"200": reply("The settings after the change", ref("AccountSettings")),
                 **problems(400, 404, 415, 422)},
                request=ref("AccountSettings"), parameters=[_ID],
            ),
        },
        "/accounts/{account_id}/subaccounts": {
            "get": operation(
                "The sub-accounts of an account",
                {"200": reply("Sub-accounts", {
                    "type": "object", "required": ["data"],
                    "properties": {"data": {"type": "array", "items": ref("Account")}},
                }), **problems(404)},
                parameters=[_ID],
            ),
            "post": operation(
                "Create a sub-account (it spends the parent's credits) and its first key",
                {"201": reply("The sub-account and its API key (shown only now)", {
                    "type": "object", "required": ["account", "api_key"],
                    "properties": {"account": ref("Account"), "api_key": ref("ApiKey")},
                }), **problems(400, 404, 415, 422)},
                request=ref("SubAccountRequest"), parameters=[_ID],
            ),
        },
    },
    schemas={"Account": ACCOUNT_SCHEMA, "AccountSettings": SETTINGS_SCHEMA,
             "ApiKey": KEY_SCHEMA, "SubAccountRequest": SUBACCOUNT_REQUEST},
)
