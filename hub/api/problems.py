"""RFC 9457 problem details: the one place where errors become HTTP responses.

Every :class:`~sms_core.errors.HubError` reaching a view, and the HTTP errors Flask raises itself
(400, 404, 405, 413, 415...), leave the API as ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and the stable machine ``code``; an error's details (``field``,
``address``...) become extension members. Outside ``/api/`` Flask's own pages are kept.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from sms_core.errors import HubError

PROBLEM_TYPE = "urn:smshub:problem:"
"""Problem types are URNs: stable identifiers a client can switch on, never fetched."""
MEDIA_TYPE = "application/problem+json"

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
    500: "internal_error", 503: "unavailable",
}

log = logging.getLogger(__name__)


class InvalidRequest(HubError):
    """The request itself is wrong: malformed JSON, unknown or ill-typed fields."""

    code = "invalid_request"
    status = 422


class MalformedBody(HubError):
    """The body cannot be parsed at all (400, unlike a well-formed but invalid body's 422)."""

    code = "malformed_json"
    status = 400


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem document itself (for answers that are stored and replayed)."""
    return {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    """A problem+json response."""
    body = problem_body(status, code, detail, **extra)
    return Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)


def hub_error_response(error: HubError) -> Response:
    extra = {k: v for k, v in error.details.items() if k not in ("type", "title", "status")}
    response = problem(error.status, error.code, error.message, **extra)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="smshub"'
    return response


def _wants_problem() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _http_error(error: HTTPException) -> Any:
    if not _wants_problem():
        return error
    status = error.code or 500
    response = problem(status, HTTP_CODES.get(status, "http_error"), error.description or "")
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def _unexpected(error: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "internal_error", "the server failed; the error was logged")


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""
    app.register_error_handler(HubError, hub_error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
