"""Building test emails and driving SMTP transactions against the receiver."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from connectors.base import SmsRequest
from connectors.email import EmailAccount
from connectors.email.processing import idempotency_key

DOMAIN = "sms.example.com"
SECRET = "k7Q2xP9a"
USERNAME = "garage"
PASSWORD = "correct horse battery staple"

GARAGE = EmailAccount(
    account="acc_garage",
    senders=("*@garage-martin.fr", "boss@gmail.com"),
    secret=SECRET,
    sender_id="GARAGE",
)
OTHER = EmailAccount(account="acc_other", senders=("*@other.fr",), secret="0therSecret")
BOB = "bob@garage-martin.fr"


def email(
    body: str | None = "Votre voiture est prête.",
    *,
    html: str | None = None,
    subject: str = "Rendez-vous",
    sender: str = BOB,
    message_id: str = "<m1@garage-martin.fr>",
    attachment: bytes | None = None,
) -> bytes:
    """A well-formed email as a mail client writes it (text, alternative, attachment)."""
    message = EmailMessage()
    message["From"] = f"Bob Martin <{sender}>"
    message["To"] = f"0612345678.{SECRET}@{DOMAIN}"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if body is not None:
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="devis.pdf"
        )
    return message.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


def raw(headers: str, body: bytes) -> bytes:
    """An email from literal headers and body bytes, for charsets and broken MIME."""
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


def to(number: str = "0612345678", secret: str | None = SECRET) -> str:
    return f"{number}.{secret}@{DOMAIN}" if secret else f"{number}@{DOMAIN}"


@dataclass
class Transaction:
    mail: tuple[int, bytes]
    rcpts: list[tuple[int, bytes]]
    data: tuple[int, bytes] | None


def transact(
    client: smtplib.SMTP, recipients: Sequence[str], data: bytes, sender: str = BOB
) -> Transaction:
    """MAIL, each RCPT, and DATA when at least one recipient was accepted; every reply kept."""
    mail = client.mail(sender)
    rcpts = [client.rcpt(r) for r in recipients] if mail[0] == 250 else []
    reply = None
    if any(code == 250 for code, _ in rcpts):
        reply = client.data(data)
    else:
        client.rset()
    return Transaction(mail, rcpts, reply)


def sms(
    text: str,
    to: str = "+33612345678",
    *,
    message_id: str = "<m1@garage-martin.fr>",
    subject: str = "Rendez-vous",
    sender: str = BOB,
) -> SmsRequest:
    """The request the connector must submit for the garage account."""
    return SmsRequest(
        account=GARAGE.account,
        to=to,
        text=text,
        category="alert",
        sender="GARAGE",
        idempotency_key=idempotency_key(GARAGE.account, message_id, to),
        source="email",
        transliterate=False,
        metadata={
            "email_sender": sender,
            "email_message_id": message_id,
            "email_subject": subject,
        },
    )
