"""What every connector shares with the hub: the request it submits and the protocol it follows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

Category = Literal["alert", "marketing"]


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One SMS to one recipient, as a connector or the API asks for it.

    Either ``text`` or ``template`` (+ ``variables``) is set. ``to`` is raw user input: the hub
    normalises it. ``idempotency_key`` makes a retried submit return the first result instead of
    sending twice; connectors derive it from their own ids (event id + rule, order id + state...).
    """

    account: str
    to: str
    text: str | None = None
    template: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    category: Category = "alert"
    sender: str | None = None
    send_at: datetime | None = None
    idempotency_key: str | None = None
    source: str = "api"
    callback_url: str | None = None
    transliterate: bool | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What became of one :class:`SmsRequest`.

    ``status`` is the message state (``accepted``, ``scheduled``...) or ``refused``; a refusal
    carries the error ``code`` and a human ``reason`` and has no ``message_id``.
    """

    status: str
    to: str
    message_id: str | None = None
    code: str | None = None
    reason: str | None = None
    duplicate: bool = False

    @property
    def refused(self) -> bool:
        return self.status == "refused"


SubmitFn = Callable[[Sequence[SmsRequest]], list[SubmitResult]]
"""The hub's submit function: one call per batch, one result per request, in order."""


@dataclass(frozen=True, slots=True)
class ConnectorEvent:
    """Something a connector noticed that the hub may show or fan out (sync done, auth lost...)."""

    connector: str
    account: str
    kind: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """The shape the hub's registry expects of every connector class's instances."""

    name: str

    def handle_status(self, message_id: str, status: str, data: Mapping[str, Any]) -> None:
        """Called by the hub when one of this connector's messages changes status."""
