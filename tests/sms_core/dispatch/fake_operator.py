"""A tiny stateful HTTP SMS operator on a loopback port, for the HTTP driver tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class OperatorState:
    """What the fake operator received, and how it should misbehave."""

    api_key: str = "k-123"
    requests: list[dict[str, Any]] = field(default_factory=list)
    throttle_first: int = 0
    fail_first: int = 0
    always: int | None = None
    invalid_numbers: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append({"headers": headers, "body": body})
            count = len(self.requests)
            if headers.get("X-Api-Key") != self.api_key:
                return 401, {"error": "bad key"}
            if self.always is not None:
                return self.always, {"error": "down"}
            if count <= self.throttle_first:
                return 429, {"error": "slow down"}
            if count <= self.throttle_first + self.fail_first:
                return 503, {"error": "busy"}
            if body.get("msisdn") in self.invalid_numbers:
                return 400, {"error": "invalid number"}
            return 200, {"data": {"messages": [{"id": f"0x{count:04X}"}]}}


def _handler(state: OperatorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                body = json.loads(raw)
            else:
                body = {k: v[0] for k, v in parse_qs(raw).items()}
            status, answer = state.answer(dict(self.headers), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_operator(state: OperatorState | None = None) -> Iterator[tuple[str, OperatorState]]:
    """Serve the fake on 127.0.0.1:<free port>; yields (url, state)."""
    state = state or OperatorState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sms", state
    finally:
        server.shutdown()
        server.server_close()
