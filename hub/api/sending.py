"""The send request shared by ``POST /messages`` and ``POST /campaigns``: its schema and its
translation into :class:`~connectors.base.SmsRequest` for the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import SmsRequest
from hub.api.context import services
from hub.api.problems import InvalidRequest
from hub.api.validation import aware_instant
from hub.callbacks.endpoints import checked_url
from sms_core import templates

RECIPIENT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64,
                             "description": "A mobile number, E.164 or national"}

MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "to", "status", "encoding", "segments", "cost"],
    "properties": {
        "id": {"type": "string"},
        "to": {"type": "string", "description": "E.164 when the number was valid"},
        "status": {"enum": ["scheduled", "accepted", "submitted", "delivered", "undeliverable",
                            "expired", "failed", "refused", "cancelled"]},
        "encoding": {"enum": ["GSM-7", "UCS-2"]},
        "segments": {"type": "integer", "minimum": 0},
        "cost": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$",
                 "description": "Decimal amount in the account currency"},
        "currency": {"type": "string"},
        "sender": {"type": ["string", "null"]},
        "text": {"type": "string"},
        "category": {"enum": ["alert", "marketing"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "send_at": {"type": ["string", "null"], "format": "date-time"},
        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
        "done_at": {"type": ["string", "null"], "format": "date-time"},
        "reason": {"type": ["string", "null"]},
        "detail": {"type": ["string", "null"]},
        "source": {"type": "string"},
        "campaign_id": {"type": ["string", "null"]},
    },
}


def send_schema(to: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The body schema of a send, with ``to`` as given (one number, a list, or both)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["to"],
        "properties": {
            "to": dict(to),
            "text": {"type": "string", "maxLength": 10000},
            "template": {"type": "string", "maxLength": 10000},
            "variables": {"type": "object"},
            "sender": {"type": "string", "minLength": 1, "maxLength": 16,
                       "x-error-code": "sender_invalid"},
            "category": {"enum": ["alert", "marketing"], "default": "alert"},
            "send_at": {"type": "string", "format": "date-time",
                        "description": "RFC 3339; later sending (marketing may be postponed)"},
            "callback_url": {"type": "string", "format": "uri", "maxLength": 2000},
            "transliterate": {"type": "boolean",
                              "description": "Overrides the account setting for this send"},
            **(extra or {}),
        },
    }


def _send_at(data: Mapping[str, Any]) -> datetime | None:
    return aware_instant(data.get("send_at"), name="send_at", field="/send_at",
                         code="invalid_field")


def _content(data: Mapping[str, Any]) -> None:
    if ("text" in data) == ("template" in data):
        raise InvalidRequest("give either text, or template with variables",
                             code="text_missing" if "text" not in data else "text_and_template")
    if "variables" in data and "template" not in data:
        raise InvalidRequest("variables go with a template", code="invalid_field",
                             field="/variables")
    if "template" in data:
        # the variables are the same for every recipient: one render finds undefined variables
        # and syntax errors before anything is stored
        templates.render(data["template"], dict(data.get("variables", {})))


def _callback_url(data: Mapping[str, Any]) -> str | None:
    """The send's own callback URL, through the SSRF guard at acceptance (422
    ``callback_url_refused``) rather than only at each delivery attempt."""
    url: str | None = data.get("callback_url")
    if url is not None:
        checked_url(services().settings, url, field="/callback_url")
    return url


def requests_for(
    account_id: str, data: Mapping[str, Any], recipients: list[str], *,
    idempotency_key: str | None, single: bool,
) -> list[SmsRequest]:
    """One SmsRequest per recipient; each gets a key derived from the request's key."""
    _content(data)
    when = _send_at(data)
    common: dict[str, Any] = {
        "account": account_id,
        "text": data.get("text"),
        "template": data.get("template"),
        "variables": dict(data.get("variables", {})),
        "category": data.get("category", "alert"),
        "sender": data.get("sender"),
        "send_at": when,
        "callback_url": _callback_url(data),
        "transliterate": data.get("transliterate"),
        "source": "api",
    }

    def key(index: int) -> str | None:
        if idempotency_key is None:
            return None
        return idempotency_key if single else f"{idempotency_key}#{index}"

    return [SmsRequest(to=to, idempotency_key=key(i), **common) for i, to in enumerate(recipients)]
