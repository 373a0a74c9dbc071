"""Helpers of the email-to-SMS hub tests: test emails, an SMTP client and a capturing relay."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from connectors.email import EmailGateway

DOMAIN = "sms.garage.test"
BOB = "bob@garage-martin.fr"
USERNAME = "garage-martin"
PASSWORD = "correct horse battery staple"


def email(
    body: str = "Votre voiture est prête.",
    *,
    sender: str = BOB,
    subject: str = "Rendez-vous",
    message_id: str = "<m1@garage-martin.fr>",
) -> bytes:
    """A plain email as a mail client writes it (CRLF line ends)."""
    message = EmailMessage()
    message["From"] = f"Bob Martin <{sender}>"
    message["To"] = f"sms@{DOMAIN}"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    return message.as_bytes(policy=SMTP_POLICY)


def send(
    gateway: EmailGateway,
    to: str | list[str],
    data: bytes,
    *,
    login: bool = False,
    sender: str = BOB,
    password: str = PASSWORD,
) -> dict[str, tuple[int, bytes]]:
    """One SMTP transaction against the running receiver; smtplib raises on refusals."""
    assert gateway.port is not None
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
        client.ehlo("client.garage-martin.fr")
        if login:
            client.login(USERNAME, password)
        return client.sendmail(sender, to, data)
