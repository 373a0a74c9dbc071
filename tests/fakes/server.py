"""Serve a WSGI app on a free loopback port in a thread, over HTTP or HTTPS.

Client libraries that insist on HTTPS (msal refuses any other authority scheme) talk to the fakes
through a throw-away self-signed certificate for ``127.0.0.1``; the tests hand its path to the
client (``requests`` ``verify=``, ``httplib2.Http(ca_certs=)``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

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
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-cert.pem", directory / "fake-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


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
