"""One signed POST of one event to one customer endpoint, and what came of it.

Outcome rules (what :class:`DeliveryAttempt` says):

- 2xx: delivered (``ok``).
- 408, 425, 429 and every 5xx, timeouts, connection errors and DNS failures: ``retryable``.
  ``Retry-After`` (seconds or HTTP date) is reported as ``retry_after`` for the scheduler.
- Other 4xx: permanent: the receiver understood and refused; retrying the same bytes will not
  change its mind. Also permanent: a URL the SSRF guard refuses (at any hop), or a malformed one.
- Redirects: 307 and 308 keep the method and body, so they are followed by hand, at most
  ``max_redirects`` hops, each hop checked by the SSRF guard again (the session does the check).
  301, 302 and 303 would turn the POST into a GET and are not followed: permanent failure
  ``redirect_not_followed`` (the customer should update the URL).

The response body is read up to ``max_response_bytes`` (for the delivery log) and never past the
overall deadline, so a slow or endless response cannot hold a worker. Every attempt is signed
afresh (new ``webhook-timestamp``) so a retry 20 hours later is not stale for the receiver.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3

from .clock import Clock, utc_now
from .errors import UnresolvableHostError, UnsafeUrlError
from .events import Event
from .signing import sign

Timeout = float | tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (3.05, 10.0)
MAX_RESPONSE_BYTES = 4096
MAX_REDIRECTS = 3
RETRYABLE_4XX = frozenset({408, 425, 429})
FOLLOWED_REDIRECTS = frozenset({307, 308})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A customer's callback URL; ``headers`` are extra static headers it asked for."""

    url: str
    id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """The record of one attempt, ready for the hub's delivery log."""

    status_code: int | None
    latency_ms: int
    ok: bool
    error: str | None
    attempt: int
    at: datetime
    retryable: bool = False
    retry_after: float | None = None
    url: str = ""
    response_body: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def deliver(
    endpoint: Endpoint | str,
    event: Event,
    secrets: str | Sequence[str],
    *,
    session: requests.Session,
    timeout: Timeout = DEFAULT_TIMEOUT,
    attempt: int = 1,
    clock: Clock = utc_now,
    max_redirects: int = MAX_REDIRECTS,
    max_response_bytes: int = MAX_RESPONSE_BYTES,
) -> DeliveryAttempt:
    """POST ``event`` to ``endpoint`` signed with ``secrets``; never raises for network trouble.

    ``session`` should come from :func:`webhooks.ssrf.safe_session`, which checks and pins
    every hop. ``attempt`` is the 1-based attempt number, copied into the result.
    """
    target = Endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    at = clock()
    started = time.monotonic()
    deadline = started + _total_seconds(timeout)
    body = event.body()
    headers = {**target.headers, **sign(event.id, body, secrets, clock=clock)}
    headers["Content-Type"] = "application/json"
    result = _Outcome()
    try:
        result = _post(session, target.url, body, headers, timeout, max_redirects)
        result.body = _read_capped(result.response, max_response_bytes, deadline)
    except requests.Timeout:
        result.error, result.retryable = "timeout", True
    except UnresolvableHostError:
        result.error, result.retryable = "unresolvable_host", True
    except UnsafeUrlError as exc:
        result.error = f"unsafe_url: {exc.message}"
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
        result.error = f"invalid_url: {exc}"
    except requests.RequestException as exc:
        result.error, result.retryable = f"connection_error: {type(exc).__name__}", True
    finally:
        if result.response is not None:
            result.response.close()
    latency = int((time.monotonic() - started) * 1000)
    return result.attempt_record(attempt, at, latency)


@dataclass
class _Outcome:
    response: requests.Response | None = None
    url: str = ""
    error: str | None = None
    retryable: bool = False
    body: bytes = b""

    def attempt_record(self, attempt: int, at: datetime, latency_ms: int) -> DeliveryAttempt:
        status = self.response.status_code if self.response is not None else None
        ok, retryable, error = (
            status is not None and 200 <= status < 300,
            self.retryable,
            self.error,
        )
        if status is not None and error is None and not ok:
            retryable = status in RETRYABLE_4XX or status >= 500
            error = "redirect_not_followed" if 300 <= status < 400 else f"http_{status}"
        retry_after = (
            _retry_after(self.response, at) if retryable and self.response is not None else None
        )
        return DeliveryAttempt(
            status_code=status,
            latency_ms=latency_ms,
            ok=ok and error is None,
            error=error,
            attempt=attempt,
            at=at,
            retryable=retryable and not ok,
            retry_after=retry_after,
            url=self.url,
            response_body=self.body.decode("utf-8", "replace"),
        )


def _post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: Timeout,
    max_redirects: int,
) -> _Outcome:
    """POST, following 307/308 by hand; every hop goes through the checking session."""
    for hop in range(max_redirects + 1):
        response = session.post(
            url, data=body, headers=headers, timeout=timeout, stream=True, allow_redirects=False
        )
        location = response.headers.get("Location")
        if response.status_code not in FOLLOWED_REDIRECTS or not location:
            return _Outcome(response=response, url=url)
        response.close()
        if hop == max_redirects:
            return _Outcome(response=response, url=url, error="too_many_redirects")
        url = urljoin(url, location)
    raise AssertionError("unreachable")


def _read_capped(response: requests.Response | None, cap: int, deadline: float) -> bytes:
    if response is None or response.raw is None or response.raw.closed:
        return b""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.raw.stream(1024, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            if size >= cap or time.monotonic() > deadline:
                break
    except (urllib3.exceptions.HTTPError, OSError):
        pass  # the status line already arrived; a broken body only shortens the log excerpt
    return b"".join(chunks)[:cap]


def _retry_after(response: requests.Response, now: datetime) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _total_seconds(timeout: Timeout) -> float:
    return sum(timeout) if isinstance(timeout, tuple) else float(timeout) * 2
