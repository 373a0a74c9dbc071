"""Notices back to the sender's mailbox through an outbound SMTP relay.

Four kinds: a refusal (recipients the hub refused after the email was accepted, with the
reason), an optional summary of what was accepted, an optional delivery failure (an accepted SMS
that was finally undeliverable), and an SMS reply (MO) forwarded to the mailbox that sent the
original email. Who receives a notice is decided by the caller
(:mod:`.gateway`), never from headers: only the envelope sender of an email that passed the
authorisation checks, so that a forged email cannot make the hub mail a third party
(backscatter).

Notices are sent with a null envelope sender and ``Auto-Submitted: auto-replied`` (RFC 3834),
so that auto-responders do not answer them and no mail loop can start. Relay failures are
logged and reported as ``False``: a notice is a courtesy, it never fails the email itself.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from connectors.email.settings import RelaySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one recipient of an email, as told to its sender."""

    to: str
    accepted: bool
    code: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class OriginalEmail:
    """The email a notice answers, for threading and for the sender to recognise it."""

    sender: str
    subject: str
    message_id: str | None


class FeedbackMailer:
    """Builds notices and hands them to the relay with :mod:`smtplib`."""

    def __init__(self, relay: RelaySettings, from_address: str) -> None:
        self.relay = relay
        self.from_address = from_address

    def send_refusal(self, original: OriginalEmail, outcomes: Sequence[Outcome]) -> bool:
        """Tell the sender which recipients got no SMS and why."""
        refused = [o for o in outcomes if not o.accepted]
        lines = ["Your email could not be sent as SMS to every recipient.", ""]
        lines += [f"- {o.to}: refused ({o.code}): {o.reason}" for o in refused]
        accepted = [o.to for o in outcomes if o.accepted]
        if accepted:
            lines += ["", "Sent to: " + ", ".join(accepted)]
        return self._send(original, f"SMS not sent: {original.subject}".strip(), lines)

    def send_summary(self, original: OriginalEmail, outcomes: Sequence[Outcome]) -> bool:
        """Tell the sender what each recipient's SMS became."""
        lines = ["Your email was turned into SMS:", ""]
        for o in outcomes:
            lines.append(f"- {o.to}: accepted" if o.accepted else f"- {o.to}: refused: {o.reason}")
        return self._send(original, f"SMS summary: {original.subject}".strip(), lines)

    def send_delivery_failure(
        self, original: OriginalEmail, number: str, status: str, reason: str | None
    ) -> bool:
        """Tell the sender that an SMS accepted earlier never reached its recipient."""
        lines = [f"The SMS to {number} was not delivered ({status})."]
        if reason:
            lines += ["", f"Reason: {reason}"]
        return self._send(original, f"SMS not delivered: {original.subject}".strip(), lines)

    def send_reply(
        self, original: OriginalEmail, number: str, text: str, reply_address: str | None
    ) -> bool:
        """Forward an SMS reply; answering the notice writes back to the number when possible."""
        lines = [f"SMS reply from {number}:", "", text]
        return self._send(original, f"SMS from {number}", lines, reply_to=reply_address)

    def _send(
        self, original: OriginalEmail, subject: str, lines: list[str], reply_to: str | None = None
    ) -> bool:
        message = self._message(original, subject, "\n".join(lines) + "\n", reply_to)
        try:
            with self._connect() as smtp:
                smtp.send_message(message, from_addr="", to_addrs=[original.sender])
        except (OSError, smtplib.SMTPException) as error:
            log.warning("notice to %s not sent: %s", original.sender, error)
            return False
        return True

    def _message(
        self, original: OriginalEmail, subject: str, body: str, reply_to: str | None
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = original.sender
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.from_address.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-replied"
        if original.message_id:
            message["In-Reply-To"] = original.message_id
            message["References"] = original.message_id
        if reply_to:
            message["Reply-To"] = reply_to
        message.set_content(body)
        return message

    def _connect(self) -> smtplib.SMTP:
        relay = self.relay
        smtp: smtplib.SMTP
        if relay.use_ssl:
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout, context=context)
        else:
            smtp = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
        try:
            if relay.starttls and not relay.use_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if relay.username and relay.password:
                smtp.login(relay.username, relay.password)
        except BaseException:
            smtp.close()
            raise
        return smtp
