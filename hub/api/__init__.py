"""The REST API under ``/api/v1``: one blueprint per module, each with its OpenAPI fragment.

To add endpoints, write a module exposing ``PART = ApiPart(blueprint, paths, schemas)`` and add
it to :func:`api_parts`; :func:`register_api` mounts it and the document at
``/api/v1/openapi.json`` includes it.
"""

from __future__ import annotations

from flask import Flask

from hub.api.openapi import API_PREFIX, PARTS_EXTENSION, ApiPart


def api_parts() -> list[ApiPart]:
    """Every part of the API, in the order of the document."""
    from hub import inbound
    from hub.api import (
        accounts,
        balance,
        billing,
        calendar,
        callbacks,
        campaigns,
        connectors,
        email,
        keys,
        messages,
        openapi,
        optouts,
        routes,
        subscription,
    )

    return [
        messages.PART,
        campaigns.PART,
        balance.PART,
        billing.PART,
        subscription.PART,
        optouts.PART,
        accounts.PART,
        email.PART,
        callbacks.PART,
        inbound.PART,
        calendar.PART,
        connectors.PART,
        routes.PART,
        keys.PART,
        openapi.PART,
    ]


def register_api(app: Flask) -> None:
    parts = api_parts()
    for part in parts:
        app.register_blueprint(part.blueprint, url_prefix=API_PREFIX)
    app.extensions[PARTS_EXTENSION] = parts
