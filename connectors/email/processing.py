"""DATA time: an authorised email → SMS requests → one submit → the SMTP reply and notices.

Where each refusal goes (so that every sender learns why, exactly once, and nobody else does):

* Decidable from the envelope (sender, authorisation, numbers, counts, rate): refused in the
  session at MAIL/RCPT (see :mod:`.receiver`); the sending client or MTA reports it.
* Decidable from the message alone (``From`` header not authorised, no text, text over the
  part cap without truncation): refused at DATA with a 5xx; nothing is submitted.
* Decided by the hub's pipeline (opted-out number, insufficient credits, country blocked…): the
  refusal arrives per recipient in the :class:`SubmitResult`\\ s. The DATA reply is 250 when at
  least one SMS was accepted, 550 when none was, and the sender also receives a notice listing
  each refused recipient with its reason (SMTP cannot refuse single recipients after DATA).
* The submit function failing unexpectedly: 451, the sender's MTA retries later, and the
  idempotency keys make the retry safe.

Notices go only to the envelope sender, which :mod:`.authorization` has checked (no
backscatter), and never for a re-delivered email whose results are all duplicates.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses

from connectors.base import SmsRequest, SubmitFn, SubmitResult
from connectors.email.authorization import Refused
from connectors.email.content import ContentOptions, header_text, message_text, parse_message
from connectors.email.directory import sender_allowed
from connectors.email.feedback import FeedbackMailer, OriginalEmail, Outcome
from connectors.email.length import FittedText, fit_text
from connectors.email.settings import EmailAccount, EmailSettings
from sms_core.errors import EncodingError, HubError

log = logging.getLogger(__name__)

MAX_REPLY = 400
"""Characters of reason text in one SMTP reply line (RFC 5321 caps a reply line at 512)."""


@dataclass(slots=True)
class Transaction:
    """What the session learnt before DATA: the sender, its account and the numbers."""

    sender: str
    account: EmailAccount | None = None
    numbers: list[str] = field(default_factory=list)
    """E.164 recipients in RCPT order, without duplicates."""


class MessageProcessor:
    """Turns the DATA of an authorised transaction into submitted SMS and an SMTP reply."""

    def __init__(
        self,
        settings: EmailSettings,
        submit: SubmitFn,
        mailer: FeedbackMailer | None,
    ) -> None:
        self.settings = settings
        self.options = ContentOptions.from_settings(settings)
        self.submit = submit
        self.mailer = mailer

    def process(self, transaction: Transaction, data: bytes) -> str:
        """The SMTP reply to DATA; never raises (a bug answers 451 and is logged)."""
        account = transaction.account
        if account is None or not transaction.numbers:
            return "503 5.5.1 No valid recipients"
        try:
            message = parse_message(data)
            self._check_from_header(message, account)
            fitted = self._text(message, account)
            requests = self._requests(transaction, account, message, fitted)
            results = self._submit(requests)
        except Refused as refusal:
            return refusal.status
        except Exception:
            log.exception("email from %s could not be processed", transaction.sender)
            return "451 4.3.0 Temporary failure while processing the email, please retry later"
        return self._conclude(transaction, account, message, results)

    def _check_from_header(self, message: Message, account: EmailAccount) -> None:
        """The ``From`` header must name the same authorised sender family as the envelope."""
        if not self.settings.require_from_header_match:
            return
        addresses = [address for _, address in getaddresses(message.get_all("From", []))]
        if not addresses or not all(sender_allowed(account, a) for a in addresses):
            shown = ", ".join(addresses) or "missing"
            raise Refused(
                f"550 5.7.1 From header ({_clip(shown, 100)}) is not an authorised sender"
                " for this account"
            )

    def _text(self, message: Message, account: EmailAccount) -> FittedText:
        text = message_text(message, self.options)
        if not text:
            raise Refused("550 5.6.0 No text to send: body and subject are empty after cleaning")
        try:
            return fit_text(
                text,
                transliterate=account.transliterate,
                max_parts=account.max_parts,
                truncate=account.truncate,
            )
        except EncodingError as error:
            raise Refused(
                f"550 5.3.4 Text refused ({error.code}): {_clip(error.message)}"
            ) from None

    def _requests(
        self,
        transaction: Transaction,
        account: EmailAccount,
        message: Message,
        fitted: FittedText,
    ) -> list[SmsRequest]:
        message_id = header_text(message, "Message-ID") or _fallback_id(message, fitted.text)
        metadata = {
            "email_sender": transaction.sender,
            "email_message_id": message_id,
            "email_subject": header_text(message, "Subject"),
        }
        return [
            SmsRequest(
                account=account.account,
                to=number,
                text=fitted.text,
                category=account.category or self.settings.category,
                sender=account.sender_id,
                idempotency_key=idempotency_key(account.account, message_id, number),
                source="email",
                transliterate=account.transliterate,
                metadata=metadata,
            )
            for number in transaction.numbers
        ]

    def _submit(self, requests: list[SmsRequest]) -> list[SubmitResult]:
        """One submit call per email; a refusal of the whole batch refuses every recipient."""
        try:
            results = self.submit(requests)
        except HubError as error:
            return [
                SubmitResult("refused", r.to, code=error.code, reason=error.message)
                for r in requests
            ]
        if len(results) != len(requests):
            raise RuntimeError(f"submit returned {len(results)} results for {len(requests)}")
        return results

    def _conclude(
        self,
        transaction: Transaction,
        account: EmailAccount,
        message: Message,
        results: Sequence[SubmitResult],
    ) -> str:
        outcomes = [
            Outcome(r.to, accepted=not r.refused, code=r.code, reason=r.reason) for r in results
        ]
        accepted = sum(o.accepted for o in outcomes)
        refused = [o for o in outcomes if not o.accepted]
        notified = self._notify(transaction, account, message, results, outcomes)
        if not accepted:
            reasons = "; ".join(f"{o.to}: {o.reason or o.code}" for o in refused)
            return f"550 5.7.1 No SMS sent: {_clip(reasons)}"
        if refused:
            where = " (details emailed to the sender)" if notified else ""
            return f"250 2.0.0 {accepted} SMS accepted, {len(refused)} refused{where}"
        return f"250 2.0.0 {accepted} SMS accepted"

    def _notify(
        self,
        transaction: Transaction,
        account: EmailAccount,
        message: Message,
        results: Sequence[SubmitResult],
        outcomes: list[Outcome],
    ) -> bool:
        if self.mailer is None or all(r.duplicate for r in results):
            return False
        original = OriginalEmail(
            sender=transaction.sender,
            subject=header_text(message, "Subject"),
            message_id=header_text(message, "Message-ID") or None,
        )
        if self.settings.feedback_refusals and any(not o.accepted for o in outcomes):
            return self.mailer.send_refusal(original, outcomes)
        if account.summary:
            return self.mailer.send_summary(original, outcomes)
        return False


def idempotency_key(account: str, message_id: str, number: str) -> str:
    """Stable per (account, Message-ID, recipient): a re-delivered email never sends twice."""
    digest = hashlib.sha256(f"{account}\n{message_id}\n{number}".encode()).hexdigest()
    return f"email:{digest[:40]}"


def _fallback_id(message: Message, text: str) -> str:
    """A Message-ID substitute for emails without one, stable across re-deliveries.

    ``Received`` headers change at every hop, so only what the author wrote is hashed.
    """
    parts = [header_text(message, name) for name in ("From", "Date", "Subject")] + [text]
    return "<" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32] + "@no-message-id>"


def _clip(text: str, limit: int = MAX_REPLY) -> str:
    """Reason text safe for one SMTP reply line: ASCII, no line breaks, bounded length."""
    text = unicodedata.normalize("NFKD", " ".join(text.split()))
    text = text.encode("ascii", "ignore").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
