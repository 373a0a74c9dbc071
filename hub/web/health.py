"""``/healthz``: is this web process able to reach its database and its Redis?"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from hub.api.context import services

blueprint = Blueprint("health", __name__)


def _check_database() -> str:
    with services().sessions() as session:
        session.execute(text("SELECT 1"))
    return "ok"


def _check_redis() -> str:
    client = services().redis
    if client is None:
        return "not configured"
    client.ping()
    return "ok"


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when every configured backend answers, else 503 naming the failing one."""
    checks: dict[str, Any] = {}
    healthy = True
    for name, probe in (("database", _check_database), ("redis", _check_redis)):
        try:
            checks[name] = probe()
        except Exception as error:
            checks[name] = f"error: {type(error).__name__}"
            healthy = False
    return {"status": "ok" if healthy else "unavailable", **checks}, 200 if healthy else 503
