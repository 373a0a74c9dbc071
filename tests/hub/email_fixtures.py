"""Helpers of the email-to-SMS hub tests: test emails, an SMTP client and a capturing relay."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from typing import cast

from aiosmtpd.smtp import SMTP, Envelope, Session

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


@dataclass
class CapturingRelay:
    """An aiosmtpd handler standing in for the outbound relay; keeps what it is given."""

    port: int = 0
    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content or b"")
        )
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            cast(EmailMessage, message_from_bytes(data, policy=default_policy))
            for _, _, data in self.envelopes
        ]

    @staticmethod
    def body(message: EmailMessage) -> str:
        part = message.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")
