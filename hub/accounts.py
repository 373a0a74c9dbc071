"""Accounts, sub-accounts, dashboard users, API keys and per-account settings.

API keys are 32 random bytes (``sk_`` + URL-safe base64). Only their SHA-256 is stored: for a
high-entropy secret a fast hash is as safe as a slow one and keeps every request cheap. Passwords,
which people choose, get werkzeug's salted scrypt instead.

IP filters per key (``ApiKey.ip_mode``): ``off``; ``strict`` refuses any address outside
``ip_allow["allow"]``; ``trusted`` refuses it too but records it in ``ip_allow["pending"]`` so that
the account holder can approve it (``approve_address``) — after which the key works from there.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hub.ids import new_id
from hub.models import Account, ApiKey, User, utcnow
from sms_core import compliance
from sms_core.errors import ComplianceError, HubError
from sms_core.smishing import normalise_host

KEY_PREFIX = "sk_"
IP_MODES = ("off", "strict", "trusted")
MAX_PENDING = 20
"""Pending addresses kept per key: enough to approve a new office, not a log of every probe."""
TOUCH_EVERY = timedelta(seconds=60)
"""``last_used_at`` is refreshed at most this often, so reads do not become writes."""


class AuthError(HubError):
    """The request carries no valid credentials."""

    code = "unauthorized"
    status = 401


class ForbiddenError(HubError):
    """The credentials are valid but not for this address or this resource."""

    code = "forbidden"
    status = 403


class NotFoundError(HubError):
    code = "not_found"
    status = 404


class InvalidSettingError(HubError):
    code = "invalid_setting"
    status = 422


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_account(
    session: Session,
    name: str,
    *,
    parent_id: str | None = None,
    is_admin: bool = False,
    settings: Mapping[str, Any] | None = None,
    currency: str = "EUR",
) -> Account:
    """A new active account; a sub-account shares its parent's currency and credits."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidSettingError("an account name has 1 to 200 characters", code="invalid_name")
    if parent_id is not None:
        parent = session.get(Account, parent_id)
        if parent is None:
            raise NotFoundError(f"no account {parent_id}")
        if parent.parent_id is not None:
            raise ForbiddenError("a sub-account cannot have sub-accounts", code="nested_subaccount")
        currency = parent.currency
    account = Account(
        id=new_id("acc"), name=name, parent_id=parent_id, is_admin=is_admin, currency=currency,
        settings=validate_settings(settings or {}),
    )
    session.add(account)
    session.flush()
    return account


def create_api_key(
    session: Session,
    account: Account,
    name: str = "",
    *,
    ip_mode: str = "off",
    ip_allow: Iterable[str] = (),
) -> tuple[ApiKey, str]:
    """A new key for ``account``; the plaintext is returned once and never stored."""
    if ip_mode not in IP_MODES:
        raise InvalidSettingError(f"ip_mode is one of {', '.join(IP_MODES)}",
                                  code="invalid_ip_mode")
    allow = [_network(item) for item in ip_allow]
    if ip_mode != "off" and not allow:
        raise InvalidSettingError("an IP filter needs at least one address", code="invalid_ip_mode")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"), account_id=account.id, name=name[:200], prefix=plain[:10],
        key_hash=hash_key(plain), ip_mode=ip_mode, ip_allow={"allow": allow, "pending": []},
    )
    session.add(key)
    session.flush()
    return key, plain


def _network(raw: str) -> str:
    try:
        return str(ipaddress.ip_network(raw.strip(), strict=False))
    except ValueError:
        raise InvalidSettingError(f"not an IP address or network: {raw!r}",
                                  code="invalid_ip") from None


def authenticate(session: Session, key: str, remote_addr: str | None) -> Account:
    """The active account owning ``key``, if ``remote_addr`` may use it.

    Raises AuthError (401: unknown or revoked key, closed account) or ForbiddenError (403:
    ``ip_not_allowed``, ``ip_pending_validation``). A ``trusted`` key records the refused address
    as pending; the caller commits the session even when this raises so that it is kept.
    """
    api_key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if api_key is None:
        raise AuthError("unknown API key", code="invalid_key")
    if api_key.revoked_at is not None:
        raise AuthError("this API key was revoked", code="key_revoked")
    account = session.get(Account, api_key.account_id)
    if account is None or account.status != "active":
        raise AuthError("the account of this API key is closed", code="account_closed")
    _check_address(api_key, remote_addr)
    now = utcnow()
    if api_key.last_used_at is None or now - api_key.last_used_at > TOUCH_EVERY:
        api_key.last_used_at = now
    return account


def _allowed(allow: Iterable[str], address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in ipaddress.ip_network(net) for net in allow)


def _check_address(api_key: ApiKey, remote_addr: str | None) -> None:
    if api_key.ip_mode == "off":
        return
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        raise ForbiddenError("the client address is unknown", code="ip_not_allowed") from None
    filters = api_key.ip_allow or {}
    if _allowed(filters.get("allow", []), address):
        return
    if api_key.ip_mode == "strict":
        raise ForbiddenError(f"this API key is not allowed from {address}", code="ip_not_allowed")
    pending = list(filters.get("pending", []))
    if str(address) not in pending and len(pending) < MAX_PENDING:
        api_key.ip_allow = {**filters, "pending": [*pending, str(address)]}
    raise ForbiddenError(
        f"{address} is waiting for approval by the account holder", code="ip_pending_validation",
        address=str(address),
    )


def approve_address(session: Session, account: Account, key_id: str, address: str) -> ApiKey:
    """Move ``address`` from the key's pending list to its allow list."""
    api_key = get_api_key(session, account, key_id)
    net = _network(address)
    filters = api_key.ip_allow or {}
    pending = [p for p in filters.get("pending", []) if _network(p) != net]
    allow = list(filters.get("allow", []))
    if net not in allow:
        allow.append(net)
    api_key.ip_allow = {"allow": allow, "pending": pending}
    session.flush()
    return api_key


def get_api_key(session: Session, account: Account, key_id: str) -> ApiKey:
    api_key = session.get(ApiKey, key_id)
    if api_key is None or api_key.account_id != account.id:
        raise NotFoundError(f"no API key {key_id}")
    return api_key


def revoke_api_key(session: Session, account: Account, key_id: str) -> ApiKey:
    """Revoke a key for good (kept for the record); revoking twice is harmless."""
    api_key = get_api_key(session, account, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
    session.flush()
    return api_key


def list_api_keys(session: Session, account: Account) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.account_id == account.id).order_by(ApiKey.created_at)
    return list(session.scalars(stmt))


def sub_accounts(session: Session, account: Account) -> list[Account]:
    stmt = select(Account).where(Account.parent_id == account.id).order_by(Account.created_at)
    return list(session.scalars(stmt))


def may_manage(actor: Account, target: Account) -> bool:
    """An admin manages every account; a parent its sub-accounts; everyone itself."""
    return actor.is_admin or target.id == actor.id or target.parent_id == actor.id


# --- users -----------------------------------------------------------------------------------

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_user(session: Session, account: Account, email: str, password: str) -> User:
    """A dashboard login; the password is stored as a salted scrypt hash."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise InvalidSettingError(f"not an email address: {email!r}", code="invalid_email")
    if len(password) < 10:
        raise InvalidSettingError("a password has at least 10 characters", code="weak_password")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise InvalidSettingError(f"{email} already has a login", code="email_taken")
    user = User(id=new_id("usr"), account_id=account.id, email=email,
                password_hash=generate_password_hash(password, method="scrypt"))
    session.add(user)
    session.flush()
    return user


_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


def check_login(session: Session, email: str, password: str) -> User | None:
    """The user with these credentials, or None; unknown emails cost the same time as bad ones."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


# --- settings --------------------------------------------------------------------------------

def validated_sender(value: Any, region: str, field: str) -> str | None:
    """A sender ID setting checked by the rules of ``region`` (None stays None), or an
    InvalidSettingError naming ``field`` with the compliance code."""
    if value is None:
        return None
    try:
        return compliance.validate_sender_id(value, region)
    except ComplianceError as exc:
        raise InvalidSettingError(exc.message, code=exc.code, field=field) from None


def _sender(value: Any, region: str) -> str | None:
    return validated_sender(value, region, "default_sender")


def _bool(name: str) -> Any:
    def check(value: Any, _region: str) -> bool:
        if not isinstance(value, bool):
            raise InvalidSettingError(f"{name} is true or false", field=name)
        return value
    return check


def _integer(name: str, low: int, high: int) -> Any:
    def check(value: Any, _region: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidSettingError(f"{name} is an integer from {low} to {high}", field=name)
        return value
    return check


_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def _denied_domains(value: Any, _region: str) -> list[str]:
    """Host names (``bad.example``: its subdomains too), IDNA-normalised, at most 1,000."""
    if not isinstance(value, list) or len(value) > 1000:
        raise InvalidSettingError("denied_domains is a list of at most 1000 domain names",
                                  field="denied_domains")
    domains = set()
    for item in value:
        host = normalise_host(item) if isinstance(item, str) else ""
        if not _DOMAIN.match(host):
            raise InvalidSettingError(f"{item!r} is not a domain name", field="denied_domains")
        domains.add(host)
    return sorted(domains)


def _country(value: Any, _region: str = "", name: str = "region") -> str:
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidSettingError(f"{value!r} is not an ISO 3166 country code", field=name)
    return value.upper()


def _countries(value: Any, _region: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidSettingError("allowed_countries is a list of ISO codes",
                                  field="allowed_countries")
    return sorted({_country(item, name="allowed_countries") for item in value})


def _callback_url(value: Any, _region: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidSettingError("callback_url is an absolute http(s) URL", field="callback_url")
    return str(value)


def _timezone(value: Any, _region: str) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSettingError(f"unknown time zone {value!r}", field="timezone") from None
    return str(value)


_BILLING_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def valid_email(value: Any) -> str | None:
    """``value`` as a plain address (``name@domain.tld``, at most 254 characters), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > 254 or not _BILLING_EMAIL.match(text):
        return None
    return text


def _billing_email(value: Any, _region: str) -> str:
    found = valid_email(value)
    if found is None:
        raise InvalidSettingError("billing_email is one email address (name@domain)",
                                  field="billing_email")
    return found


SETTINGS: dict[str, Any] = {
    "default_sender": _sender,
    "transliterate": _bool("transliterate"),
    "max_parts": _integer("max_parts", 1, 10),
    "allowed_countries": _countries,
    "callback_url": _callback_url,
    "region": _country,
    "timezone": _timezone,
    "billing_email": _billing_email,
    "max_per_hour": _integer("max_per_hour", 1, 1000),
    "denied_domains": _denied_domains,
}
"""Every per-account setting and its validator (which returns the normalised value)."""


def validate_settings(values: Mapping[str, Any], region: str = "FR") -> dict[str, Any]:
    """Normalised settings; an unknown name or a bad value raises InvalidSettingError.

    The default sender is checked for ``region`` (the account's home country), or for the
    region given in the same values.
    """
    clean: dict[str, Any] = {}
    home = str(values.get("region") or region).upper()
    for name, value in values.items():
        if name not in SETTINGS:
            raise InvalidSettingError(f"unknown setting {name!r}", code="unknown_field",
                                      field=name)
        clean[name] = SETTINGS[name](value, home)
    return clean


def update_settings(session: Session, account: Account, patch: Mapping[str, Any]) -> Account:
    """Merge validated values into the account's settings; ``null`` removes a setting."""
    removed = [name for name, value in patch.items() if value is None]
    unknown = [name for name in removed if name not in SETTINGS]
    if unknown:
        raise InvalidSettingError(f"unknown setting {unknown[0]!r}", code="unknown_field",
                                  field=unknown[0])
    merged = dict(account.settings or {})
    region = str(merged.get("region") or "FR")
    merged.update(validate_settings({k: v for k, v in patch.items() if v is not None}, region))
    for name in removed:
        merged.pop(name, None)
    account.settings = merged
    session.flush()
    return account
