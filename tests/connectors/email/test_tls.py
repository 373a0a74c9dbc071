"""STARTTLS: with a certificate configured, AUTH is offered only inside TLS, even on loopback."""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

import pytest

from tests.connectors.email.conftest import GatewayFactory, RecordingSubmit
from tests.connectors.email.mails import PASSWORD, USERNAME, email, sms, to, transact
from tests.fakes.tls import self_signed


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for localhost written as PEM files."""
    cert_file, key_file = self_signed(tmp_path, ["localhost"])
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
