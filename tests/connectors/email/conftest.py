"""Fixtures: a running receiver, a recording submit function and a capturing outbound relay."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from connectors.base import SmsRequest, SubmitResult
from connectors.email import EmailGateway, EmailSettings, InMemoryDirectory, RelaySettings
from tests.connectors.email.mails import DOMAIN, GARAGE, OTHER, PASSWORD, USERNAME
from tests.fakes.smtp_relay import CapturingRelay


class RecordingSubmit:
    """The hub's submit function as far as the connector can tell: idempotent, may refuse.

    ``refuse`` maps an E.164 number to (code, reason). A key seen before returns the first
    result marked ``duplicate``, and :attr:`sent` holds each SMS created once.
    """

    def __init__(self) -> None:
        self.calls: list[list[SmsRequest]] = []
        self.sent: list[SmsRequest] = []
        self.refuse: dict[str, tuple[str, str]] = {}
        self._results: dict[str, SubmitResult] = {}
        self._lock = threading.Lock()

    def __call__(self, requests: Sequence[SmsRequest]) -> list[SubmitResult]:
        with self._lock:
            self.calls.append(list(requests))
            return [self._one(request) for request in requests]

    def _one(self, request: SmsRequest) -> SubmitResult:
        key = request.idempotency_key or ""
        if key in self._results:
            return replace(self._results[key], duplicate=True)
        if request.to in self.refuse:
            code, reason = self.refuse[request.to]
            result = SubmitResult("refused", request.to, code=code, reason=reason)
        else:
            self.sent.append(request)
            result = SubmitResult("accepted", request.to, message_id=f"msg_{len(self.sent)}")
        self._results[key] = result
        return result


def body_of(message: EmailMessage) -> str:
    """The text of a notice."""
    return CapturingRelay.body(message)


@pytest.fixture
def relay() -> Iterator[CapturingRelay]:
    capture = CapturingRelay()
    with socket.socket() as probe:  # aiosmtpd's own Controller needs a concrete port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(capture, hostname="127.0.0.1", port=port)
    controller.start()
    capture.port = port
    yield capture
    controller.stop()


@pytest.fixture
def submit() -> RecordingSubmit:
    return RecordingSubmit()


@pytest.fixture
def directory() -> InMemoryDirectory:
    directory = InMemoryDirectory([OTHER])
    directory.add(GARAGE, username=USERNAME, password=PASSWORD)
    return directory


GatewayFactory = Callable[..., EmailGateway]


@pytest.fixture
def make_gateway(
    directory: InMemoryDirectory, submit: RecordingSubmit, relay: CapturingRelay
) -> Iterator[GatewayFactory]:
    """Start a receiver on a free loopback port with settings overrides; stopped afterwards."""
    started: list[EmailGateway] = []

    def make(**overrides: Any) -> EmailGateway:
        settings = EmailSettings(
            **{"domain": DOMAIN, "allow_insecure_auth_on_loopback": True, **overrides}
        )
        gateway = EmailGateway(
            settings, directory, submit, RelaySettings(host="127.0.0.1", port=relay.port)
        )
        gateway.start("127.0.0.1", 0)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> EmailGateway:
    return make_gateway()


@pytest.fixture
def client(gateway: EmailGateway) -> Iterator[smtplib.SMTP]:
    assert gateway.port is not None
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo("client.garage-martin.fr")
        yield smtp
