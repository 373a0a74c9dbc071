"""The email-to-SMS connector as the hub sees it: build it, start it, stop it, feed it replies.

The hub gives it everything it needs and nothing else: its settings, an
:class:`~connectors.email.directory.AccountDirectory`, the submit function and, when notices are
wanted, the outbound relay. ``smshub run`` starts it on 127.0.0.1:2525, ``smshub smtp`` on the
configured address; the SMTP server runs in its own thread with its own event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from connectors.base import SubmitFn
from connectors.email.addressing import Normalizer
from connectors.email.directory import AccountDirectory, sender_allowed
from connectors.email.feedback import FeedbackMailer, OriginalEmail
from connectors.email.limits import Clock, RateLimiter
from connectors.email.processing import MessageProcessor
from connectors.email.receiver import EmailController, EmailHandler, tls_context
from connectors.email.settings import EmailAccount, EmailSettings, RelaySettings
from sms_core.phone import normalize

log = logging.getLogger(__name__)

FINAL_FAILURES = frozenset({"undeliverable", "expired", "failed"})
"""Statuses after which an SMS will never arrive; the only ones worth a notice."""


class EmailGateway:
    """Email to SMS: an SMTP receiver for ``<number>[.<secret>]@<domain>`` addresses."""

    name = "email"

    def __init__(
        self,
        settings: EmailSettings,
        directory: AccountDirectory,
        submit: SubmitFn,
        relay: RelaySettings | None = None,
        *,
        normalizer: Normalizer = normalize,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.directory = directory
        from_address = settings.feedback_from or f"postmaster@{settings.domain}"
        self.mailer = FeedbackMailer(relay, from_address) if relay is not None else None
        limiter = RateLimiter(settings.rate_burst, settings.rate_per_minute, clock=clock)
        processor = MessageProcessor(settings, submit, self.mailer)
        self.handler = EmailHandler(settings, directory, processor, normalizer, limiter)
        self._controller: EmailController | None = None

    def start(self, host: str = "127.0.0.1", port: int = 2525) -> int:
        """Listen on ``host:port`` (``0``: any free port) and return the port bound."""
        if self._controller is not None:
            raise RuntimeError("the SMTP receiver is already running")
        settings = self.settings
        controller = EmailController(
            self.handler,
            hostname=host,
            port=port,
            loopback_auth=settings.allow_insecure_auth_on_loopback,
            server_hostname=settings.hostname,
            ident="smshub ESMTP",
            data_size_limit=settings.max_message_size,
            tls_context=tls_context(settings),
            auth_require_tls=settings.auth_require_tls,
            authenticator=self.handler.authenticate,
        )
        controller.start()
        self._controller = controller
        log.info("email to SMS listening on %s:%s for @%s", host, controller.port, settings.domain)
        return int(controller.port)

    def stop(self) -> None:
        """Stop listening; sessions in progress are cut (their senders retry later)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def port(self) -> int | None:
        return int(self._controller.port) if self._controller is not None else None

    def forward_reply(
        self, account: str, metadata: Mapping[str, Any], number: str, text: str
    ) -> bool:
        """Mail an SMS reply (MO) to the mailbox that sent the original email.

        ``metadata`` is the original :class:`SmsRequest`'s. Forwarding happens only when the
        account enabled it and the mailbox is *still* an authorised sender of the account, so
        a sender removed since cannot keep receiving replies. Returns whether a notice was sent.
        """
        found, original = self._recipient_of_notice(account, metadata)
        if self.mailer is None or found is None or original is None or not found.forward_replies:
            return False
        digits = number.lstrip("+")
        local = f"{digits}.{found.secret}" if found.secret else digits
        reply_address = f"{local}@{self.settings.domain}"
        return self.mailer.send_reply(original, number, text, reply_address)

    def handle_status(self, message_id: str, status: str, data: Mapping[str, Any]) -> None:
        """Mail the sender when an SMS made from its email finally fails.

        ``data`` carries ``account``, ``to`` and the request's ``metadata``, and may carry a
        ``reason``. Only final failures are reported, only for accounts with
        ``delivery_notices``, and only to a mailbox still authorised for the account.
        """
        if status not in FINAL_FAILURES:
            return
        found, original = self._recipient_of_notice(
            str(data.get("account") or ""), data.get("metadata") or {}
        )
        if self.mailer is None or found is None or original is None or not found.delivery_notices:
            return
        reason = data.get("reason")
        self.mailer.send_delivery_failure(
            original, str(data.get("to") or ""), status, str(reason) if reason else None
        )

    def _recipient_of_notice(
        self, account: str, metadata: Mapping[str, Any]
    ) -> tuple[EmailAccount | None, OriginalEmail | None]:
        """The account and the email a notice answers, when a notice may be sent at all."""
        sender = str(metadata.get("email_sender") or "")
        found = self.directory.get(account) if account else None
        if self.mailer is None or found is None or not sender_allowed(found, sender):
            return None, None
        original = OriginalEmail(
            sender=sender,
            subject=str(metadata.get("email_subject") or ""),
            message_id=str(metadata.get("email_message_id") or "") or None,
        )
        return found, original
