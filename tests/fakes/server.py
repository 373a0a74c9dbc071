"""Serve a WSGI app on a free loopback port in a thread, over HTTP or HTTPS.

Client libraries that insist on HTTPS (msal refuses any other authority scheme) talk to the fakes
through a throw-away self-signed certificate for ``127.0.0.1``; the tests hand its path to the
client (``requests`` ``verify=``, ``httplib2.Http(ca_certs=)``).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

from tests.fakes.tls import self_signed

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


@dataclass(frozen=True, slots=True)
class Served:
    """A running fake: its base URL (no trailing slash) and, over TLS, the CA file to trust."""

    url: str
    port: int
    ca_file: str | None


def loopback_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate valid for ``127.0.0.1`` and ``localhost``: (cert, key) paths."""
    return self_signed(directory, ["127.0.0.1", "localhost"], stem="fake")


@contextmanager
def serve(app: WSGIApplication, *, tls_dir: Path | None = None) -> Iterator[Served]:
    """Run ``app`` on ``127.0.0.1:<free port>`` until the block ends; HTTPS when ``tls_dir``."""
    context: ssl.SSLContext | None = None
    ca_file: str | None = None
    if tls_dir is not None:
        cert, key = loopback_certificate(tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        ca_file = str(cert)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield Served(f"{scheme}://127.0.0.1:{server.server_port}", server.server_port, ca_file)
    finally:
        server.shutdown()
        server.server_close()
