"""Route health (administrators only): what each running dispatcher last said of its routes.

Every dispatcher process publishes its routes' health to Redis every few seconds, under a key
that expires with it (``hub.dispatching.publish_health``). This view lists the reports still
there, one row per route and dispatcher, with the age of the report: a row is ``stale`` when
its dispatcher has missed two reports, and gone once the key has expired.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from hub.api.auth import require_admin, require_api_key
from hub.api.context import services
from hub.api.openapi import ApiPart, operation, ref, reply
from hub.dispatching import read_health

blueprint = Blueprint("routes", __name__)

STALE_AFTER_REPORTS = 2
"""A report older than this many publishing intervals is marked stale."""

_COUNT = {"type": ["integer", "null"], "minimum": 0}

ROUTE_HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["dispatcher", "route", "quality", "kind", "healthy", "window", "window_in_use",
                 "inbound_queued", "throughput", "last_error", "reported_at", "age_seconds",
                 "stale", "counters"],
    "properties": {
        "dispatcher": {"type": "string", "description": "The dispatcher process reporting"},
        "route": {"type": "string"},
        "quality": {"type": ["string", "null"], "description": "standard, premium or alert"},
        "kind": {"type": ["string", "null"], "description": "smpp or http"},
        "healthy": {"type": "boolean", "description": "A submit now is expected to get through"},
        "window": _COUNT,
        "window_in_use": {**_COUNT, "description": "Submits sent and not yet answered"},
        "inbound_queued": {**_COUNT, "description": "Receipts and replies read off the "
                                                    "connection, not yet recorded"},
        "throughput": {"type": ["number", "null"], "minimum": 0,
                       "description": "Messages accepted per second since the previous report"},
        "last_error": {"type": ["string", "null"]},
        "reported_at": {"type": "string", "format": "date-time"},
        "age_seconds": {"type": "number", "minimum": 0},
        "stale": {"type": "boolean",
                  "description": "The dispatcher has missed reports: it may be down"},
        "counters": {"type": "object", "additionalProperties": {"type": "number"},
                     "description": "The driver's counters (submitted, throttled, ...)"},
    },
}

ROUTES_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["routes"],
    "properties": {"routes": {"type": "array", "items": ref("RouteHealth")}},
}


@blueprint.get("/routes")
@require_api_key
def get_routes() -> ResponseReturnValue:
    require_admin()
    redis = services().redis
    reports = read_health(redis) if redis is not None else []
    now = time.time()
    rows: list[dict[str, Any]] = []
    for report in reports:
        age = max(now - float(report["reported_at"]), 0.0)
        stale = age > STALE_AFTER_REPORTS * float(report.get("interval") or 5.0)
        at = datetime.fromtimestamp(float(report["reported_at"]), UTC).isoformat()
        rows.extend({"dispatcher": report["dispatcher"], **route, "reported_at": at,
                     "age_seconds": round(age, 1), "stale": stale}
                    for route in report["routes"])
    rows.sort(key=lambda row: (row["route"], row["dispatcher"]))
    return {"routes": rows}


PART = ApiPart(
    blueprint=blueprint,
    paths={"/routes": {"get": operation(
        "Health of every operator route, as the running dispatchers last reported it "
        "(administrators only)",
        {"200": reply("One row per route and dispatcher", ref("RouteList"))},
    )}},
    schemas={"RouteHealth": ROUTE_HEALTH_SCHEMA, "RouteList": ROUTES_SCHEMA},
)
