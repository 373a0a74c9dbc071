"""Fakes of Google, Microsoft and their OAuth servers on one loopback HTTPS server, a push
receiver standing in for the hub's endpoints, and a connector wired to all of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from cryptography.fernet import Fernet
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

from connectors.base import ConnectorEvent, SmsRequest, SubmitResult
from connectors.calendar.connector import CalendarConnector
from connectors.calendar.settings import CalendarSettings
from connectors.calendar.store import InMemoryStore
from sms_core.errors import BillingError
from tests.fakes.google_calendar import FakeGoogleCalendar
from tests.fakes.graph import FakeGraph
from tests.fakes.oauth import FakeOAuth
from tests.fakes.server import Served, serve
from webhooks.verifiers import graph_validation_token, verify_google_channel

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REDIRECT = "https://hub.example/connect/callback"
PLANS = {"acc_solo": 1, "acc_business": 5}


class Router:
    """Dispatches to whatever app a test installed under a prefix (fakes are per test)."""

    def __init__(self) -> None:
        self.apps: dict[str, WSGIApplication] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = DispatcherMiddleware(_not_found, dict(self.apps))
        return app(environ, start_response)


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return Response("no fake here", status=404)(environ, start_response)


@dataclass
class Clock:
    now: datetime = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Hub:
    """The hub's side: submit with idempotency keys, cancel, plan check, event sink."""

    clock: Clock
    submitted: list[SmsRequest] = field(default_factory=list)
    calls: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    events: list[ConnectorEvent] = field(default_factory=list)

    def submit(self, batch: Any) -> list[SubmitResult]:
        self.calls += 1
        results = []
        for request in batch:
            if request.idempotency_key in self.keys:
                results.append(
                    SubmitResult(
                        "scheduled", request.to, self.keys[request.idempotency_key], duplicate=True
                    )
                )
                continue
            message_id = f"msg_{len(self.keys) + 1}"
            self.keys[request.idempotency_key] = message_id
            self.submitted.append(request)
            results.append(SubmitResult("scheduled", request.to, message_id))
        return results

    def cancel(self, key: str) -> bool:
        self.cancelled.append(key)
        return True

    def can_add_calendar(self, account: str, count: int) -> bool:
        if count > PLANS.get(account, 50):
            raise BillingError("plan limit reached", code="plan_limit")
        return True


@dataclass
class FernetCipher:
    fernet: Fernet = field(default_factory=lambda: Fernet(Fernet.generate_key()))

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self.fernet.decrypt(ciphertext)


class Receiver:
    """The hub's push endpoints: verify as the hub will (webhooks.verifiers), then delegate."""

    def __init__(self) -> None:
        self.connector: CalendarConnector | None = None
        self.received: list[dict[str, Any]] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        token = graph_validation_token(request.args)
        if token is not None:
            return Response(token, mimetype="text/plain")(environ, start_response)
        headers = dict(request.headers)
        body = request.get_data()
        self.received.append({"headers": headers, "body": body})
        assert self.connector is not None
        if "X-Goog-Channel-Id" in request.headers:
            channel = request.headers["X-Goog-Channel-Id"]
            calendar = self.connector.store.calendar_by_push_id(channel)
            if request.headers.get("X-Goog-Resource-State") != "sync":
                assert calendar is not None and calendar.push_secret
                verify_google_channel(request.headers, calendar.push_secret)
        self.connector.handle_push(headers, body)
        return Response(status=202)(environ, start_response)


@pytest.fixture(scope="session")
def router() -> Router:
    return Router()


@pytest.fixture(scope="session")
def server(router: Router, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(router, tls_dir=Path(tmp_path_factory.mktemp("tls"))) as served:
        yield served


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[Receiver, Served]]:
    receiver = Receiver()
    with serve(receiver) as served:
        yield receiver, served


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(clock: Clock) -> Hub:
    return Hub(clock)


@pytest.fixture
def google_oauth(router: Router, server: Served) -> FakeOAuth:
    fake = FakeOAuth("google", base=f"{server.url}/google-oauth")
    router.apps["/google-oauth"] = fake
    return fake


@pytest.fixture
def google(router: Router, google_oauth: FakeOAuth) -> FakeGoogleCalendar:
    fake = FakeGoogleCalendar(google_oauth)
    fake.add_calendar("dr.martin@example.com", "Cabinet", "Europe/Paris")
    fake.add_calendar("perso@example.com", "Perso", "Europe/Paris")
    router.apps["/google-api"] = fake
    return fake


@pytest.fixture
def ms_oauth(router: Router, server: Served) -> FakeOAuth:
    fake = FakeOAuth("microsoft", base=f"{server.url}/ms-login")
    router.apps["/ms-login"] = fake
    return fake


@pytest.fixture
def graph(router: Router, ms_oauth: FakeOAuth, server: Served) -> FakeGraph:
    fake = FakeGraph(ms_oauth, base=f"{server.url}/graph/v1.0")
    fake.add_calendar("AAMkCal1", "Calendar")
    router.apps["/graph"] = fake
    return fake


@pytest.fixture
def settings(server: Served, receiver_server: tuple[Receiver, Served]) -> CalendarSettings:
    push = receiver_server[1].url
    return CalendarSettings(
        google_client_id="client-id", google_client_secret="client-secret",
        google_redirect_uri=REDIRECT,
        google_authorize_url=f"{server.url}/google-oauth/o/oauth2/v2/auth",
        google_token_url=f"{server.url}/google-oauth/token",
        google_api_url=f"{server.url}/google-api/calendar/v3/",
        google_push_url=f"{push}/push/google",
        microsoft_client_id="client-id", microsoft_client_secret="client-secret",
        microsoft_redirect_uri=REDIRECT,
        microsoft_authority=f"{server.url}/ms-login/organizations",
        microsoft_validate_authority=False,
        graph_url=f"{server.url}/graph/v1.0",
        graph_push_url=f"{push}/push/graph",
        ca_bundle=server.ca_file,
    )  # fmt: skip


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def connector(
    settings: CalendarSettings,
    store: InMemoryStore,
    hub: Hub,
    clock: Clock,
    receiver_server: tuple[Receiver, Served],
) -> CalendarConnector:
    made = CalendarConnector(
        settings, store=store, submit=hub.submit, cancel=hub.cancel, cipher=FernetCipher(),
        can_add_calendar=hub.can_add_calendar, emit=hub.events.append, clock=clock,
    )  # fmt: skip
    receiver_server[0].connector = made
    return made


def consent(
    connector: CalendarConnector, account: str, provider: str, ca: str | None
) -> str | dict[str, str]:
    """Play the user's browser: follow the consent URL; return where the provider redirected
    us (a URL), or the fields of the form it makes the browser POST (``form_post``)."""
    url = connector.begin_connect(account, provider)  # type: ignore[arg-type]
    answer = requests.get(url, allow_redirects=False, verify=ca, timeout=10)
    if answer.status_code == 200:
        return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def sms(submitted: list[SmsRequest]) -> list[tuple[str, str, str, str]]:
    """The parts of submitted requests tests compare: (to, send_at UTC, text, key)."""
    return [
        (r.to, r.send_at.astimezone(UTC).isoformat() if r.send_at else "", r.text or "",
         r.idempotency_key or "")
        for r in submitted
    ]  # fmt: skip


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
