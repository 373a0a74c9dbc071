"""JSON shapes of accounts and API keys, with their schemas for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.models import Account, ApiKey

DATETIME = {"type": ["string", "null"], "format": "date-time"}


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "default_sender": {"type": ["string", "null"], "minLength": 1, "maxLength": 16,
                           "x-error-code": "sender_invalid"},
        "transliterate": {"type": ["boolean", "null"]},
        "max_parts": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
        "allowed_countries": {"type": ["array", "null"],
                              "items": {"type": "string", "pattern": "^[A-Za-z]{2}$"}},
        "callback_url": {"type": ["string", "null"], "format": "uri", "maxLength": 2000},
        "region": {"type": ["string", "null"], "pattern": "^[A-Za-z]{2}$"},
        "timezone": {"type": ["string", "null"], "maxLength": 64},
        "billing_email": {"type": ["string", "null"], "maxLength": 254},
        "max_per_hour": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000,
                         "description": "Messages to one number per rolling hour (flooding)."},
        "denied_domains": {"type": ["array", "null"], "maxItems": 1000,
                           "items": {"type": "string", "maxLength": 253},
                           "description": "Domains (and their subdomains) texts may not link "
                                          "to, besides the hub's list."},
    },
}
"""Per-account settings; in a PATCH, ``null`` removes a setting (back to the default)."""

ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "parent_id", "currency", "status", "is_admin", "settings",
                 "created_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "parent_id": {"type": ["string", "null"]},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "status": {"type": "string"},
        "is_admin": {"type": "boolean"},
        "settings": SETTINGS_SCHEMA,
        "created_at": DATETIME,
    },
}

KEY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "prefix", "ip_mode", "ip_allow", "ip_pending", "created_at",
                 "last_used_at", "revoked_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "prefix": {"type": "string", "description": "The first characters of the key"},
        "ip_mode": {"enum": ["off", "strict", "trusted"]},
        "ip_allow": {"type": "array", "items": {"type": "string"}},
        "ip_pending": {"type": "array", "items": {"type": "string"},
                       "description": "Addresses refused by a trusted key, awaiting approval"},
        "created_at": DATETIME,
        "last_used_at": DATETIME,
        "revoked_at": DATETIME,
        "key": {"type": "string", "description": "The key itself, only when just created"},
    },
}


def account_to_dict(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "parent_id": account.parent_id,
        "currency": account.currency,
        "status": account.status,
        "is_admin": account.is_admin,
        "settings": dict(account.settings or {}),
        "created_at": iso(account.created_at),
    }


def key_to_dict(key: ApiKey, plaintext: str | None = None) -> dict[str, Any]:
    filters = key.ip_allow or {}
    found: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "ip_mode": key.ip_mode,
        "ip_allow": list(filters.get("allow", [])),
        "ip_pending": list(filters.get("pending", [])),
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "revoked_at": iso(key.revoked_at),
    }
    if plaintext is not None:
        found["key"] = plaintext
    return found
