"""Delivery reports (DLR) and replies (MO) from HTTP operators, under ``/api/v1/inbound``.

::

    POST /api/v1/inbound/routes/<route>/dlr     POST /api/v1/inbound/routes/<route>/mo

The ``webhooks`` blueprint verifies each request with its route's :class:`~webhooks.RouteAuth`
(forged, stale and replayed requests get 401 and change nothing), drops duplicates through the
Redis :class:`~hub.seen.RedisSeenStore`, and hands the payload to :func:`sink`, which enqueues
an RQ job (kwargs only: the queue sweeper reads positional args as message ids). The job,
:func:`process`, feeds the hub's own DLR and MO handling, where a message state only ever moves
forward once, so a report that slipped past deduplication still changes nothing twice.

Routes come from the settings: ``SMSHUB_INBOUND_ROUTES`` holds a JSON object of route name →
RouteAuth fields, e.g. ``{"acme": {"scheme": "hmac", "secrets": ["..."], "id_field": "id"}}``.

JSON accepted from HTTP-driver providers (form fields with the same names work too)::

    DLR  {"id": "evt-1", "message_id": "<operator id given at submit>",
          "status": "delivered|undeliverable|rejected|expired|enroute|accepted|unknown",
          "error": "optional operator code", "done_at": "optional RFC 3339"}
    MO   {"id": "mo-1", "from": "+33612345678", "to": "36000", "text": "STOP",
          "received_at": "optional RFC 3339"}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app

from hub.api.context import services
from hub.api.openapi import ApiPart, operation, path_param, problems, reply
from hub.callbacks import delivery, jobs
from hub.config import Settings
from hub.models import utcnow
from hub.receipts import record_report
from hub.replies import record_inbound
from hub.seen import RedisSeenStore
from sms_core.dispatch.receipts import normalize_operator_id
from sms_core.dispatch.types import REPORT_STATES, DeliveryReport, InboundSms
from webhooks import MemorySeenStore, RouteAuth, SeenStore, create_inbound_blueprint

log = logging.getLogger(__name__)

INBOUND_QUEUE = "transactional"
"""DLRs and replies jump ahead of bulk sending: they are small and customers wait on them."""
PROCESS_JOB = "hub.inbound.process"
LOCAL_SEEN = "smshub_inbound_seen"


class PayloadError(ValueError):
    """A verified payload that does not have the documented shape (the job fails visibly)."""


def routes(settings: Settings) -> dict[str, RouteAuth]:
    """The inbound routes configured in ``SMSHUB_INBOUND_ROUTES`` (JSON)."""
    raw = settings.namespace("inbound").get("routes", "")
    if not raw:
        return {}
    table: dict[str, dict[str, Any]] = json.loads(raw)
    return {name: _route(fields) for name, fields in table.items()}


def _route(fields: Mapping[str, Any]) -> RouteAuth:
    values = dict(fields)
    values["secrets"] = tuple(values.get("secrets") or ())
    return RouteAuth(**values)


def resolve_route(name: str) -> RouteAuth | None:
    """The route ``name`` of the running app's settings, or None (404)."""
    return routes(services().settings).get(name)


class AppSeenStore:
    """The running app's seen-store: Redis when configured, else one in-memory store per app
    (a single web process only)."""

    def _store(self) -> SeenStore:
        client = services().redis
        if client is not None:
            return RedisSeenStore(client)
        found: SeenStore = current_app.extensions.setdefault(LOCAL_SEEN, MemorySeenStore())
        return found

    def add_if_new(self, key: str, ttl: int) -> bool:
        return self._store().add_if_new(key, ttl)

    def discard(self, key: str) -> None:
        self._store().discard(key)


def sink(kind: str, route: str, payload: Any, dedupe_key: str) -> str | None:
    """Enqueue the verified event durably (Redis persists RQ jobs); raising answers 503."""
    job = services().queue(INBOUND_QUEUE).enqueue(
        PROCESS_JOB, kwargs={"kind": kind, "route": route, "payload": payload,
                             "dedupe_key": dedupe_key},
        result_ttl=0, failure_ttl=7 * 86400)
    return job.id


def process(*, kind: str, route: str, payload: Any, dedupe_key: str) -> str | None:
    """The RQ job: a DLR moves its message, an MO is stored (STOP opts out); then callbacks."""
    hub = jobs.services()
    if kind == "dlr":
        result = record_report(hub, report_from_json(payload, route))
    else:
        result = record_inbound(hub, sms_from_json(payload, route)).id
    delivery.kick(hub)
    log.info("inbound %s %s on route %s processed", kind, dedupe_key, route)
    return result


def report_from_json(payload: Any, route: str) -> DeliveryReport:
    """A :class:`DeliveryReport` from the documented DLR shape."""
    fields = _object(payload)
    operator_id = str(fields.get("message_id") or fields.get("operator_id") or "")
    if not operator_id:
        raise PayloadError("a delivery report needs message_id")
    state = str(fields.get("status") or "unknown").lower()
    return DeliveryReport(
        operator_id=normalize_operator_id(operator_id),
        state=state if state in REPORT_STATES else "unknown",  # type: ignore[arg-type]
        error=str(fields["error"]) if fields.get("error") else None,
        done_at=_when(fields.get("done_at")),
        raw={k: v for k, v in fields.items() if isinstance(v, str | int | float | bool)},
        route=route)


def sms_from_json(payload: Any, route: str) -> InboundSms:
    """An :class:`InboundSms` from the documented MO shape."""
    fields = _object(payload)
    sender, text = fields.get("from"), fields.get("text")
    if not sender or text is None:
        raise PayloadError("a reply needs from and text")
    return InboundSms(sender=str(sender), recipient=str(fields.get("to") or ""),
                      text=str(text), received_at=_when(fields.get("received_at")) or utcnow(),
                      operator_id=str(fields["id"]) if fields.get("id") else None, route=route)


def _object(payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise PayloadError("the payload is not a JSON object")
    return payload


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else None


blueprint = Blueprint("inbound", __name__)
blueprint.register_blueprint(
    create_inbound_blueprint(resolve_route, sink, seen=AppSeenStore()), url_prefix="/inbound")

_INBOUND_RESPONSES = {
    "202": reply("Taken for processing", {"type": "object"}),
    "200": reply("Already received (duplicate)", {"type": "object"}),
    **problems(401, 404, 413, 503),
}
_ROUTE = [path_param("route", "The inbound route's name (configured per operator)")]

PART = ApiPart(
    blueprint=blueprint,
    paths={
        f"/inbound/routes/{{route}}/{kind}": {"post": operation(
            summary, dict(_INBOUND_RESPONSES), parameters=_ROUTE, public=True)}
        for kind, summary in (("dlr", "A delivery report from an HTTP operator"),
                              ("mo", "A reply (MO) from an HTTP operator"))
    },
)
"""Signed by each route's own scheme, not by an API key (hence public in the document)."""
