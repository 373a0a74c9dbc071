"""An aiosmtpd handler standing in for the outbound SMTP relay: it keeps what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import cast

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class CapturingRelay:
    """Envelopes received as (mail from, recipients, raw data); ``messages`` parses them."""

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
        """The plain-text body of a captured email, with Unix line ends."""
        part = message.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")
