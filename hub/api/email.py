"""Email to SMS in the API: an account's authorised senders, flags, address secret, SMTP login.

``<account_id>`` may be ``me``; the same rule as for account settings decides who may manage
whom. Secrets go one way: the address secret is shown once, by the call that creates it, and
the SMTP password is only ever received; reads say whether they are set, nothing more.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from hub.api.accounts import target
from hub.api.auth import require_api_key
from hub.api.context import services, unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, ref, reply
from hub.api.validation import validated_body
from hub.crypto import secret_box
from hub.email import config
from hub.email.wiring import email_settings

blueprint = Blueprint("email", __name__)

_FLAG = {"type": "boolean"}

EMAIL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": _FLAG,
        "senders": {"type": "array", "maxItems": config.MAX_SENDERS,
                    "items": {"type": "string", "minLength": 3, "maxLength": 320},
                    "description": "Addresses, or whole domains written *@example.com"},
        "sender_id": {"type": ["string", "null"], "maxLength": 16,
                      "description": "Sender of the SMS; the account's default when null"},
        "category": {"enum": ["alert", "marketing", None]},
        "truncate": _FLAG,
        "summary": _FLAG,
        "forward_replies": _FLAG,
        "delivery_notices": _FLAG,
    },
}
"""PUT replaces the settings: a member left out goes back to its default."""

EMAIL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["enabled", "senders", "sender_id", "category", "truncate", "summary",
                 "forward_replies", "delivery_notices", "domain", "has_secret",
                 "smtp_username", "has_password"],
    "properties": {
        **EMAIL_REQUEST["properties"],
        "domain": {"type": "string", "description": "Write to <number>@<domain>"},
        "has_secret": _FLAG,
        "smtp_username": {"type": ["string", "null"]},
        "has_password": _FLAG,
    },
}

SECRET_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["secret", "example_address"],
    "properties": {"secret": {"type": "string"}, "example_address": {"type": "string"}},
}

CREDENTIALS_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "minLength": 3, "maxLength": 200},
        "password": {"type": "string", "minLength": config.MIN_PASSWORD, "maxLength": 200},
    },
}

DEFAULTS: dict[str, Any] = {
    "enabled": True, "senders": [], "sender_id": None, "category": None, "truncate": False,
    "summary": False, "forward_replies": False, "delivery_notices": False,
}


def _domain() -> str:
    return email_settings(services()).domain


@blueprint.get("/accounts/<account_id>/email")
@require_api_key
def get_email(account_id: str) -> ResponseReturnValue:
    with unit_of_work() as session:
        return config.config_to_dict(config.get_config(session, target(session, account_id)),
                                     _domain())


@blueprint.put("/accounts/<account_id>/email")
@require_api_key
def put_email(account_id: str) -> ResponseReturnValue:
    data = {**DEFAULTS, **validated_body(EMAIL_REQUEST)}
    with unit_of_work() as session:
        row = config.update_config(session, target(session, account_id), data)
        return config.config_to_dict(row, _domain())


@blueprint.post("/accounts/<account_id>/email/secret")
@require_api_key
def rotate_email_secret(account_id: str) -> ResponseReturnValue:
    """A new address secret, shown only in this answer; the previous one stops working."""
    box = secret_box(services().settings)
    with unit_of_work() as session:
        secret = config.rotate_secret(session, target(session, account_id), box)
    return {"secret": secret, "example_address": f"0612345678.{secret}@{_domain()}"}, 201


@blueprint.put("/accounts/<account_id>/email/credentials")
@require_api_key
def set_email_credentials(account_id: str) -> ResponseReturnValue:
    data = validated_body(CREDENTIALS_REQUEST)
    with unit_of_work() as session:
        row = config.set_credentials(session, target(session, account_id), data["username"],
                                     data["password"])
        return config.config_to_dict(row, _domain())


_ID = path_param("account_id", "An account id, or 'me' for the caller's account")

PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/accounts/{account_id}/email": {
            "get": operation("An account's email-to-SMS settings",
                             {"200": reply("The settings", ref("EmailSettings")),
                              **problems(404)}, parameters=[_ID]),
            "put": operation("Replace an account's email-to-SMS settings",
                             {"200": reply("The settings after the change",
                                           ref("EmailSettings")),
                              **problems(400, 404, 415, 422)},
                             request=ref("EmailSettingsRequest"), parameters=[_ID]),
        },
        "/accounts/{account_id}/email/secret": {"post": operation(
            "Make a new address secret (shown once; the previous one stops working)",
            {"201": reply("The new secret", ref("EmailSecret")), **problems(404)},
            parameters=[_ID])},
        "/accounts/{account_id}/email/credentials": {"put": operation(
            "Set the SMTP AUTH username and password",
            {"200": reply("The settings after the change", ref("EmailSettings")),
             **problems(400, 404, 415, 422)},
            request=ref("EmailCredentials"), parameters=[_ID])},
    },
    schemas={"EmailSettings": EMAIL_SCHEMA, "EmailSettingsRequest": EMAIL_REQUEST,
             "EmailSecret": SECRET_SCHEMA, "EmailCredentials": CREDENTIALS_REQUEST},
)
