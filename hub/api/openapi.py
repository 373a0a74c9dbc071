"""The OpenAPI 3.1 document, assembled from the fragment each API module declares.

Each module of the API exposes an :class:`ApiPart`: its blueprint, the OpenAPI path items of its
routes (paths relative to ``/api/v1``, Flask's ``<id>`` written ``{id}``) and the component
schemas they use. ``hub.api`` registers the blueprints and this module merges the fragments, so
adding endpoints means adding one part; a test checks that rules and document agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

API_PREFIX = "/api/v1"
PARTS_EXTENSION = "smshub_api_parts"

PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "field": {"type": "string"},
    },
}
"""RFC 9457 problem details with smshub's ``code`` (and ``field`` for input errors)."""


@dataclass(frozen=True)
class ApiPart:
    """One module of the API: its blueprint and its share of the OpenAPI document."""

    blueprint: Blueprint
    paths: Mapping[str, Any]
    schemas: Mapping[str, Any] = field(default_factory=dict)


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def body(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": json_content(schema)}


def reply(description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A response object; without a schema it has no body (204)."""
    found: dict[str, Any] = {"description": description}
    if schema is not None:
        found["content"] = json_content(schema)
    return found


def problems(*statuses: int) -> dict[str, Any]:
    """Problem responses for ``statuses`` (401 and 403 are added by :func:`operation`)."""
    return {str(status): {"$ref": "#/components/responses/Problem"} for status in statuses}


def operation(
    summary: str,
    responses: Mapping[str, Any],
    *,
    request: Mapping[str, Any] | None = None,
    parameters: Sequence[Mapping[str, Any]] = (),
    public: bool = False,
) -> dict[str, Any]:
    """An operation object; authenticated ones document their 401/403 problems."""
    found: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if request is not None:
        found["requestBody"] = body(request)
    if parameters:
        found["parameters"] = [dict(p) for p in parameters]
    if public:
        found["security"] = []
    else:
        found["responses"].update(problems(401, 403))
    return found


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def query_param(name: str, schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": dict(schema)}


def build_document(parts: Sequence[ApiPart], version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for ``parts``."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Problem": PROBLEM}
    for part in parts:
        for path, item in part.paths.items():
            paths.setdefault(path, {}).update(item)
        schemas.update(part.schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smshub API",
            "version": version,
            "description": "Send SMS, follow their delivery, manage opt-outs, keys and settings.",
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"apiKey": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "An smshub API key (sk_...)."}},
            "responses": {"Problem": {
                "description": "An RFC 9457 problem",
                "content": {"application/problem+json": {"schema": ref("Problem")}},
            }},
        },
    }


blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """The document for the parts registered on this app."""
    try:
        release = version("smshub")
    except PackageNotFoundError:
        release = "0"
    return jsonify(build_document(current_app.extensions[PARTS_EXTENSION], release))


PART = ApiPart(
    blueprint=blueprint,
    paths={"/openapi.json": {"get": operation(
        "This OpenAPI document",
        {"200": reply("The OpenAPI 3.1 document", {"type": "object"})},
        public=True,
    )}},
)
