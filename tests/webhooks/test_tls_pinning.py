"""Pinning keeps TLS honest: the socket goes to the checked address, the certificate is still
verified against the URL's hostname."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.tls import self_signed
from webhooks import signing
from webhooks.delivery import deliver
from webhooks.events import make_event
from webhooks.ssrf import safe_session

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse


def _certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``hooks.test``; returns (cert, key) paths."""
    return self_signed(tmp, ["hooks.test"])


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[bytes]]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    bodies: list[bytes] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        bodies.append(Request(environ).get_data())
        return Response(b"ok")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.server_port, cert, bodies
    finally:
        server.shutdown()
        server.server_close()


def loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def test_https_to_a_pinned_address_verifies_the_hostname(
    tls_server: tuple[int, Path, list[bytes]],
) -> None:
    port, cert, bodies = tls_server
    session = safe_session(allowlist=["127.0.0.1"], resolver=loopback)
    session.verify = str(cert)
    response = session.post(f"https://hooks.test:{port}/cb", data=b"hello", timeout=3)
    assert response.status_code == 200 and bodies == [b"hello"]
    with pytest.raises(requests.exceptions.SSLError):
        session.post(f"https://other.test:{port}/cb", data=b"x", timeout=3)
    assert len(bodies) == 1


def test_delivery_over_tls_is_signed_and_verifiable(
    tls_server: tuple[int, Path, list[bytes]],
) -> None:
    port, cert, bodies = tls_server
    session = safe_session(allowlist=["127.0.0.1"], resolver=loopback)
    session.verify = str(cert)
    secret = signing.generate_secret()
    event = make_event("reply.received", {"from": "+33600000000", "text": "STOP"})
    result = deliver(f"https://hooks.test:{port}/cb", event, secret, session=session, timeout=3)
    assert result.ok and bodies == [event.body()]
