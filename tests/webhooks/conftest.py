"""A real HTTP receiver on a loopback port, scripted per test, for outbound callback tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

Script = Callable[[Request], Response]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next scripted response (the last one repeats)."""

    server: BaseWSGIServer
    script: list[Script] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_port

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def respond(self, *scripts: Script) -> None:
        self.script = list(scripts)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.requests.append(
            Received(request.method, request.path, dict(request.headers), request.get_data())
        )
        script = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return script(request)(environ, start_response)


def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Script:
    return lambda _request: Response(body, status=code, headers=headers or {})


def slow(seconds: float, code: int = 200) -> Script:
    def answer(_request: Request) -> Response:
        time.sleep(seconds)
        return Response(b"late", status=code)

    return answer


def redirect(location: str, code: int = 307) -> Script:
    return status(code, headers={"Location": location})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}
    server = make_server("127.0.0.1", 0, lambda e, s: holder["r"](e, s), threaded=True)
    rec = Receiver(server, [status(200)])
    holder["r"] = rec
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
