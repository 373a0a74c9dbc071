"""Each account's callback endpoint: its URL (checked against SSRF when set) and its secrets.

Secrets are ``whsec_...`` (Standard Webhooks) and stored encrypted with the hub's
:class:`~hub.crypto.SecretBox`; the plaintext is shown once, when created or rotated. Rotating
keeps the previous secret signing for a grace period (``SMSHUB_CALLBACKS_ROTATION_GRACE``
seconds, a day by default), so during it every callback carries two signatures and receivers
can switch at their own pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.crypto import SecretBox, secret_box
from hub.ids import new_id
from hub.models import Account, CallbackEndpoint, utcnow
from sms_core.errors import HubError
from webhooks import UnresolvableHostError, UnsafeUrlError, check_url, generate_secret

DEFAULT_ROTATION_GRACE = timedelta(hours=24)


class CallbackUrlRefused(HubError):
    """A callback URL the SSRF guard refuses (private, loopback or metadata address, wrong
    scheme, malformed URL)."""

    code = "callback_url_refused"
    status = 422


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """What delivery needs of an endpoint: the URL and the secrets that sign now."""

    endpoint_id: str
    url: str | None
    secrets: tuple[str, ...]


def allowlist(settings: Settings) -> tuple[str, ...]:
    """``settings.callback_allowlist`` as a tuple of addresses or networks."""
    return settings.items("callback_allowlist")


def rotation_grace(settings: Settings) -> timedelta:
    raw = settings.namespace("callbacks").get("rotation_grace")
    return timedelta(seconds=int(raw)) if raw else DEFAULT_ROTATION_GRACE


def checked_url(settings: Settings, url: str, *, field: str = "url") -> str:
    """``url`` if the SSRF guard lets it through with this deployment's settings.

    Every place that accepts a callback URL calls this (the callbacks API, the account
    settings, a send's own ``callback_url``). A name that does not resolve *now* is accepted:
    it cannot reach anything yet, DNS may be briefly down or the record not yet published, and
    the guard resolves, checks and pins the address again before every delivery.
    """
    try:
        check_url(url, allow_http=settings.callback_allow_http, allowlist=allowlist(settings))
    except UnresolvableHostError:
        return url
    except UnsafeUrlError as exc:
        raise CallbackUrlRefused(f"callback URL refused: {exc.message}", field=field) from None
    return url


def find(session: Session, account_id: str) -> CallbackEndpoint | None:
    return session.scalar(select(CallbackEndpoint).where(CallbackEndpoint.account_id == account_id))


def ensure(session: Session, box: SecretBox,
           account_id: str) -> tuple[CallbackEndpoint, str | None]:
    """The account's endpoint, created with a new secret if missing; the plaintext secret is
    returned only when it was just created (the one time it can be shown)."""
    found = find(session, account_id)
    if found is not None:
        return found, None
    secret = generate_secret()
    endpoint = CallbackEndpoint(id=new_id("cbe"), account_id=account_id,
                                secret=box.encrypt(secret), created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(endpoint)
    except IntegrityError:  # created meanwhile by another process
        again = find(session, account_id)
        assert again is not None
        return again, None
    return endpoint, secret


def set_url(session: Session, settings: Settings, account: Account,
            url: str | None, *, field: str = "url") -> tuple[CallbackEndpoint, str | None]:
    """Set (or clear with None) the account's callback URL, checked first; mirrored in the
    account's ``callback_url`` setting so that account views show it.

    The endpoint's URL is the one delivery uses: the callbacks API and the account settings
    both come here, so the two can never disagree."""
    if url is not None:
        checked_url(settings, url, field=field)
    endpoint, secret = ensure(session, secret_box(settings), account.id)
    endpoint.url = url
    row = session.get(Account, account.id)
    if row is not None:
        merged = dict(row.settings or {})
        merged.pop("callback_url", None)
        row.settings = {**merged, **({"callback_url": url} if url else {})}
    session.flush()
    return endpoint, secret


def rotate(session: Session, settings: Settings, account_id: str,
           now: datetime | None = None) -> tuple[CallbackEndpoint, str]:
    """A new secret; the current one keeps signing until the grace period ends."""
    now = now or utcnow()
    box = secret_box(settings)
    endpoint, created = ensure(session, box, account_id)
    if created is not None:
        return endpoint, created
    secret = generate_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_until = now + rotation_grace(settings)
    endpoint.secret = box.encrypt(secret)
    endpoint.rotated_at = now
    session.flush()
    return endpoint, secret


def signing_keys(session: Session, box: SecretBox, account_id: str,
                 now: datetime) -> SigningKeys:
    """The URL and the secrets valid at ``now`` (current first, then the previous one)."""
    endpoint, _ = ensure(session, box, account_id)
    secrets = [box.decrypt(endpoint.secret)]
    if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
        secrets.append(box.decrypt(endpoint.previous_secret))
    return SigningKeys(endpoint.id, endpoint.url, tuple(secrets))
