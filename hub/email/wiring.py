"""Building the email-to-SMS gateway from the hub's services: settings, directory, submit.

The connector knows nothing of the hub; this module hands it the hub's pieces: its
``SMSHUB_EMAIL_*`` settings (``SMSHUB_EMAIL_RELAY_*`` for the notices' relay), the database
directory, and a submit function that goes through the one pipeline every SMS takes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from connectors.base import SmsRequest, SubmitFn, SubmitResult
from connectors.email import EmailGateway, EmailSettings, RelaySettings
from hub import pipeline
from hub.crypto import secret_box
from hub.email.directory import DatabaseDirectory
from hub.services import Services


def make_submit(services: Services) -> SubmitFn:
    """The connector's submit function: one pipeline call per email, for its one account.

    The receiver already guarantees that every recipient of an email belongs to the same
    account; a batch that does not is a programming error, refused loudly rather than billed
    to the first account.
    """

    def submit(requests: Sequence[SmsRequest]) -> list[SubmitResult]:
        if not requests:
            return []
        accounts = {request.account for request in requests}
        if len(accounts) != 1:
            raise ValueError(f"one email, one account: got {sorted(accounts)}")
        return pipeline.submit(services, requests[0].account, requests)

    return submit


def email_settings(services: Services) -> EmailSettings:
    """The receiver's settings; the hub's default region applies unless the email one is set."""
    namespace = services.settings.namespace("email")
    settings = EmailSettings.from_namespace(namespace)
    if "default_region" not in namespace:
        settings = dataclasses.replace(settings, default_region=services.settings.default_region)
    return settings


def make_directory(services: Services) -> DatabaseDirectory:
    return DatabaseDirectory(services.sessions, secret_box(services.settings),
                             services.settings.max_parts)


def build_gateway(services: Services, *, relay: RelaySettings | None = None) -> EmailGateway:
    """The gateway, not started; ``relay`` overrides ``SMSHUB_EMAIL_RELAY_*`` (tests)."""
    namespace = services.settings.namespace("email")
    return EmailGateway(
        email_settings(services),
        make_directory(services),
        make_submit(services),
        relay or RelaySettings.from_namespace(namespace),
    )
