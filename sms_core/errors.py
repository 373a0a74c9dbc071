"""The one error tree of smshub.

::

    HubError
    ├── InvalidNumberError          a recipient that is not a valid mobile number
    ├── EncodingError               text too long for the part cap, character refused by the route
    ├── TemplateError               undefined variable, syntax error, sandbox violation
    ├── ComplianceError             opted out, flooding, sender ID refused, marketing on alert route
    ├── BillingError                insufficient credits, country not allowed, bad amount
    ├── DispatchError
    │   ├── OperatorRejectedError   the operator refused the message for good
    │   └── OperatorUnavailableError  bind lost, throttled past patience, route down
    └── ConnectorError
        ├── ConnectorAuthError      grant revoked or expired: the connection needs the user again
        ├── RateLimitedError        the upstream said slow down (``retry_after`` seconds)
        └── UpstreamError           the upstream answered with an unexpected HTTP ``status``

Every error carries a stable machine ``code`` (snake case, part of the public API: the REST API
puts it in the problem document) and a human ``message``. Subclasses set a default ``code``; a
raise site may pass a more precise one (``InvalidNumberError("...", code="fixed_line")``).
``status`` is the HTTP status the hub answers with when the error reaches the API.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Base of every error smshub raises on purpose."""

    code: str = "hub_error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data (code, message and any details)."""
        return {"code": self.code, "message": self.message, **self.details}


class InvalidNumberError(HubError):
    code = "invalid_number"
    status = 422


class EncodingError(HubError):
    code = "encoding_error"
    status = 422


class TemplateError(HubError):
    code = "template_error"
    status = 422


class ComplianceError(HubError):
    code = "compliance_error"
    status = 422


class BillingError(HubError):
    code = "billing_error"
    status = 402


class DispatchError(HubError):
    code = "dispatch_error"
    status = 502


class OperatorRejectedError(DispatchError):
    code = "operator_rejected"


class OperatorUnavailableError(DispatchError):
    code = "operator_unavailable"
    status = 503


class ConnectorError(HubError):
    code = "connector_error"
    status = 502


class ConnectorAuthError(ConnectorError):
    code = "connector_auth"
    status = 401


class RateLimitedError(ConnectorError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UpstreamError(ConnectorError):
    code = "upstream_error"

    def __init__(self, message: str, *, status: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.upstream_status = status
