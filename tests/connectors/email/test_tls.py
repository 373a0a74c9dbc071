"""STARTTLS: with a certificate configured, AUTH is offered only inside TLS, even on loopback."""

from __future__ import annotations

import datetime
import smtplib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.connectors.email.conftest import GatewayFactory, RecordingSubmit
from tests.connectors.email.mails import PASSWORD, USERNAME, email, sms, to, transact


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_auth_after_starttls(
    make_gateway: GatewayFactory, submit: RecordingSubmit, certificate: tuple[str, str]
) -> None:
    cert_file, key_file = certificate
    gateway = make_gateway(
        tls_cert_file=cert_file, tls_key_file=key_file, allow_insecure_auth_on_loopback=False
    )
    assert gateway.port is not None
    client_context = ssl.create_default_context(cafile=cert_file)
    client_context.check_hostname = False
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        assert smtp.docmd("AUTH", "PLAIN AGdhcmFnZQB4")[0] == 538
        smtp.starttls(context=client_context)
        smtp.ehlo()
        assert smtp.has_extn("auth")
        assert smtp.login(USERNAME, PASSWORD)[0] == 235
        result = transact(smtp, [to(secret=None)], email("Prête."))
    assert result.data is not None and result.data[0] == 250
    assert submit.calls == [[sms("Prête.")]]
