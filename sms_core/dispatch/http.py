"""A generic HTTP operator driver: one request per message, JSON or form body, mapped fields.

Most HTTP SMS APIs look alike: POST the number, sender and text with an API key in a header,
get a JSON document with a message id back. Their differences are data, so they are settings:
field names, extra constant fields, the JSON path of the id. The text is sent whole (decoded
from the parts the hub encoded): HTTP operators split and concatenate themselves.

Status codes decide what happens: 2xx accepted; 429 slows the route's bucket down and retries
(``Retry-After`` honoured); 408 and 5xx retry a few times; other 4xx are permanent refusals
with ``error_code="http_<status>"``. Requests run in worker threads (``requests`` is blocking)
so the event loop keeps serving SMPP routes meanwhile. Delivery reports of HTTP operators come
back through the hub's webhooks, which can reuse :mod:`sms_core.dispatch.receipts`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter

from sms_core import encoding
from sms_core.dispatch.protocol import InboundCallback, ReportCallback
from sms_core.dispatch.receipts import IdFormat, normalize_operator_id
from sms_core.dispatch.throttle import TokenBucket
from sms_core.dispatch.types import ESM_CLASS_UDHI, OutboundSms, SubmitOutcome

DEFAULT_FIELDS: dict[str, str] = {"to": "to", "sender": "from", "text": "text"}


@dataclass(frozen=True)
class HttpSettings:
    """One HTTP operator API. ``fields`` maps our names to the operator's parameter names.

    Our names: ``to``, ``sender``, ``text``, ``message_id`` (our id, for idempotency keys or
    client references), ``validity`` (seconds), ``dlr`` (bool). Unmapped ones are not sent.
    """

    url: str
    method: str = "POST"
    body: Literal["json", "form"] = "json"
    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    static_fields: Mapping[str, Any] = field(default_factory=dict)
    message_id_path: str = "message_id"
    """Dotted path of the operator's id in the JSON answer: ``"data.id"``, ``"messages.0.id"``."""
    to_format: Literal["e164", "digits"] = "e164"
    timeout: float = 10.0
    concurrency: int = 10
    rate: float | None = None
    burst: int = 10
    retries: int = 3
    """Retries after a transport failure, 408 or 5xx (a timeout may have been accepted)."""
    throttled_retries: int = 20
    id_format: IdFormat = "auto"
    unhealthy_after: int = 5
    """Consecutive transport failures or 5xx after which the route reports itself down."""
    recheck_after: float = 30.0
    """Seconds after which a down route is tried again."""


@dataclass
class _Tries:
    attempts: int = 0
    transient: int = 0
    throttled: int = 0


@dataclass
class _Answer:
    status: int
    json: Any
    text: str
    retry_after: float | None


class HttpDriver:
    """A :class:`~sms_core.dispatch.protocol.Driver` for one HTTP route."""

    def __init__(self, name: str, settings: HttpSettings) -> None:
        self.name = name
        self.settings = settings
        self.on_report: ReportCallback | None = None
        self.on_inbound: InboundCallback | None = None
        self.failures_in_row = 0
        self.throttled = 0
        self._last_failure = 0.0
        self._bucket = TokenBucket(settings.rate, settings.burst)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._session: requests.Session | None = None

    @property
    def healthy(self) -> bool:
        if self._session is None:
            return False
        if self.failures_in_row < self.settings.unhealthy_after:
            return True
        return time.monotonic() - self._last_failure > self.settings.recheck_after

    @property
    def capacity(self) -> int:
        """Requests that may be in flight at once."""
        return self.settings.concurrency

    def health(self) -> dict[str, Any]:
        return {
            "route": self.name,
            "kind": "http",
            "healthy": self.healthy,
            "failures_in_row": self.failures_in_row,
            "throttled": self.throttled,
            "rate": self._bucket.rate,
        }

    async def start(self) -> None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=self.settings.concurrency)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self.settings.headers)
        self._session = session

    async def stop(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    async def submit(self, sms: OutboundSms) -> SubmitOutcome:
        payload = self._payload(sms)
        tries = _Tries()
        while True:
            tries.attempts += 1
            await self._bucket.acquire()
            async with self._slots:
                answer = await asyncio.to_thread(self._request, payload)
            outcome = self._judge(sms, answer, tries)
            if outcome is not None:
                return outcome
            await asyncio.sleep(self._pause(answer, tries.attempts))

    def _payload(self, sms: OutboundSms) -> dict[str, Any]:
        ours: dict[str, Any] = {
            "to": sms.to if self.settings.to_format == "e164" else sms.to.removeprefix("+"),
            "sender": sms.sender,
            "text": message_text(sms),
            "message_id": sms.message_id,
            "validity": int(sms.validity.total_seconds()),
            "dlr": sms.registered_delivery,
        }
        mapped = {theirs: ours[name] for name, theirs in self.settings.fields.items()}
        return {**self.settings.static_fields, **mapped}

    def _request(self, payload: dict[str, Any]) -> _Answer | None:
        """Runs in a worker thread; None when no answer came (connection error, timeout)."""
        assert self._session is not None
        s = self.settings
        as_json = s.body == "json"
        try:
            response = self._session.request(
                s.method,
                s.url,
                json=payload if as_json else None,
                data=None if as_json else payload,
                timeout=s.timeout,
            )
        except requests.RequestException:
            return None
        try:
            data = response.json()
        except ValueError:
            data = None
        return _Answer(response.status_code, data, response.text[:500], _retry_after(response))

    def _judge(
        self, sms: OutboundSms, answer: _Answer | None, tries: _Tries
    ) -> SubmitOutcome | None:
        """The outcome, or None to try again."""
        if answer is not None and 200 <= answer.status < 300:
            self.failures_in_row = 0
            return self._accepted(sms, answer, tries.attempts)
        if answer is not None and answer.status == 429:
            self.throttled += 1
            tries.throttled += 1
            self._bucket.slow_down()
            if tries.throttled <= self.settings.throttled_retries:
                return None
            return self._failed(sms, "http_429", False, tries.attempts, "still throttled")
        transient = answer is None or answer.status >= 500 or answer.status == 408
        if transient:
            self.failures_in_row += 1
            self._last_failure = time.monotonic()
            tries.transient += 1
            if tries.transient <= self.settings.retries:
                return None
        code = "http_unreachable" if answer is None else f"http_{answer.status}"
        detail = "no answer" if answer is None else answer.text
        return self._failed(sms, code, not transient, tries.attempts, detail)

    def _accepted(self, sms: OutboundSms, answer: _Answer, attempts: int) -> SubmitOutcome:
        raw = json_path(answer.json, self.settings.message_id_path)
        ids = [normalize_operator_id(str(raw), self.settings.id_format)] if raw else []
        detail = "" if ids else f"no id at {self.settings.message_id_path!r}"
        return SubmitOutcome(
            sms.message_id, True, ids, route=self.name, detail=detail, attempts=attempts
        )

    def _failed(
        self, sms: OutboundSms, code: str, permanent: bool, attempts: int, detail: str
    ) -> SubmitOutcome:
        return SubmitOutcome(
            sms.message_id,
            False,
            error_code=code,
            permanent=permanent,
            route=self.name,
            detail=detail,
            attempts=attempts,
        )

    def _pause(self, answer: _Answer | None, attempts: int) -> float:
        if answer is not None and answer.retry_after is not None:
            return min(answer.retry_after, 30.0)
        return min(0.1 * 2**attempts, 5.0)


def message_text(sms: OutboundSms) -> str:
    """The text the parts carry, UDH removed, decoded from their data_coding."""
    udhi = bool(sms.esm_class & ESM_CLASS_UDHI)
    return "".join(
        encoding.decode_short_message(part, sms.data_coding, udhi=udhi).text for part in sms.parts
    )


def json_path(data: Any, path: str) -> Any:
    """``data`` followed along a dotted path (digits index lists); None where it stops."""
    for key in path.split(".") if path else []:
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
