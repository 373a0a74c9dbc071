"""The Flask blueprint that receives delivery reports (DLR) and replies (MO) from operators.

::

    POST /routes/<route>/dlr        POST /routes/<route>/mo

For each request: ``resolve_route(route)`` gives the route's :class:`RouteAuth` (None → 404);
a Graph subscription handshake (``?validationToken=``) is echoed as ``text/plain``; otherwise the
request is verified by its scheme, checked against replays, deduplicated, and handed to
``sink(kind, route, payload, dedupe_key)``, which must enqueue it durably and return an id (or
None). Answers are quick and small:

- 202 ``{"status": "accepted", "id": ...}``: the sink took it.
- 200 ``{"status": "duplicate", "id": ...}``: the same event was already taken; sink not called.
- 413 problem JSON for a body over ``max_body`` (1 MiB by default).
- 401 problem JSON (``signature_invalid``, ``stale_request``, ``replayed_request``): sink not
  called. 404 for an unknown route. 503 if the sink failed: the request's keys are forgotten
  so the provider's retry is accepted.

Dedupe keys in the :class:`SeenStore` are a fast path; the sink receives ``dedupe_key`` so the
hub can also enforce it durably (a unique column), which covers two identical requests racing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Response, json, request

from sms_core.errors import HubError

from .clock import Clock, utc_now
from .inbound import InboundRequest, RouteAuth, Verified, dedupe_key, verify_request
from .replay import MemorySeenStore, SeenStore, remember, replay_ttl
from .verifiers import graph_validation_token

ResolveRoute = Callable[[str], RouteAuth | None]
Sink = Callable[[str, str, Any, str], str | None]
PROBLEM_TYPE = "urn:smshub:problem:"
KINDS = ("dlr", "mo")
MAX_BODY = 1024 * 1024

log = logging.getLogger(__name__)


def create_inbound_blueprint(
    resolve_route: ResolveRoute,
    sink: Sink,
    *,
    seen: SeenStore | None = None,
    clock: Clock = utc_now,
    name: str = "inbound_webhooks",
    max_body: int = MAX_BODY,
) -> Blueprint:
    """The inbound blueprint. Pass the hub's Redis-backed ``seen`` store in production; the
    default in-memory store only works within one process. Bodies over ``max_body`` bytes are
    refused with 413 before anything is hashed."""
    store: SeenStore = seen if seen is not None else MemorySeenStore(clock)
    blueprint = Blueprint(name, __name__)

    def receive(route: str, kind: str) -> Response:
        auth = resolve_route(route)
        if auth is None:
            return problem(404, "route_not_found", f"no inbound route named {route!r}")
        if (request.content_length or 0) > max_body:
            return problem(413, "payload_too_large", f"inbound bodies are limited to {max_body} B")
        inbound = _inbound_request()
        token = graph_validation_token(inbound.query) if auth.scheme == "graph" else None
        if token is not None:
            return Response(token, status=200, mimetype="text/plain")
        try:
            verified = verify_request(auth, inbound, clock())
            replay = _remember_replay(store, route, auth, verified)
        except HubError as exc:
            log.warning("inbound %s on route %s refused: %s", kind, route, exc.code)
            refused = problem(exc.status, exc.code, exc.message)
            if auth.scheme == "basic":
                refused.headers["WWW-Authenticate"] = 'Basic realm="smshub"'
            return refused
        return _accept(store, sink, route, kind, auth, verified, inbound.body, replay)

    for kind in KINDS:
        blueprint.add_url_rule(
            f"/routes/<route>/{kind}",
            endpoint=kind,
            view_func=lambda route, kind=kind: receive(route, kind),
            methods=["POST"],
        )
    return blueprint


def _inbound_request() -> InboundRequest:
    return InboundRequest(
        method=request.method,
        url=request.url,
        headers=dict(request.headers.items()),
        body=request.get_data(cache=True),
        query=request.args.to_dict(),
        content_type=request.content_type or "",
    )


def _remember_replay(
    store: SeenStore, route: str, auth: RouteAuth, verified: Verified
) -> str | None:
    if verified.replay_key is None:
        return None
    key = f"replay:{route}:{verified.replay_key}"
    remember(store, key, replay_ttl(auth.window))
    return key


def _accept(
    store: SeenStore,
    sink: Sink,
    route: str,
    kind: str,
    auth: RouteAuth,
    verified: Verified,
    body: bytes,
    replay: str | None,
) -> Response:
    key = dedupe_key(route, kind, verified, body)
    seen_key = f"dedupe:{key}"
    if not store.add_if_new(seen_key, auth.dedupe_ttl):
        return _json(200, {"status": "duplicate", "id": key})
    try:
        event_id = sink(kind, route, verified.payload, key)
    except Exception:
        log.exception("inbound %s on route %s could not be stored", kind, route)
        for forget in (seen_key, replay):
            if forget:
                store.discard(forget)
        return problem(503, "unavailable", "the event could not be stored; retry later")
    return _json(202, {"status": "accepted", "id": event_id or key})


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem response shaped like the hub's API errors."""
    body = {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def _json(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
