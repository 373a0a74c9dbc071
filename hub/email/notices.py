"""Mail back what happened after an email became SMS: replies (MO) and final failures.

Replies are recorded by the dispatcher, failures by the dispatcher and the sweeper, in other
processes than the SMTP receiver, and possibly on other machines. The database is where they all
meet, so the receiver's process reads them from there: :class:`NoticeSweeper` looks for replies
and failed email-made messages of accounts that want notices, and hands each to the gateway
(:meth:`~connectors.email.EmailGateway.forward_reply`,
:meth:`~connectors.email.EmailGateway.handle_status`).

Each notice is *claimed* first, by inserting an :class:`~hub.models.EmailNotice` row keyed by
(kind, reference) in its own transaction; only the process whose insert wins sends. A crash
between the claim and the mail loses that notice rather than sending it twice: a notice is a
courtesy, a duplicate in someone's mailbox is a nuisance.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, exists, select
from sqlalchemy.exc import IntegrityError

from connectors.email import EmailGateway
from connectors.email.gateway import FINAL_FAILURES
from hub.db import transaction
from hub.models import EmailConfig, EmailNotice, InboundMessage, Message, utcnow
from hub.services import Services

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)
"""How far back events are considered: a receiver down for less than this misses nothing."""

BATCH = 200
"""Events handled per kind and per round."""


class NoticeSweeper:
    """One round (:meth:`run_once`) mails every pending reply and failure notice."""

    def __init__(self, services: Services, gateway: EmailGateway,
                 lookback: timedelta = LOOKBACK) -> None:
        self.services = services
        self.gateway = gateway
        self.lookback = lookback

    def run_once(self) -> int:
        """Send what is pending; returns how many events were handled (claimed)."""
        return self._failures() + self._replies()

    def _failures(self) -> int:
        handled = 0
        for message_id, account_id, to, status, reason, meta in self._pending_failures():
            if not self._claim("failure", message_id, account_id):
                continue
            handled += 1
            data = {"account": account_id, "to": to, "metadata": meta or {}, "reason": reason}
            self.gateway.handle_status(message_id, status, data)
        return handled

    def _pending_failures(self) -> list[Any]:
        query = (
            select(Message.id, Message.account_id, Message.to, Message.status,
                   Message.detail, Message.meta)
            .join(EmailConfig, EmailConfig.account_id == Message.account_id)
            .where(EmailConfig.delivery_notices.is_(True),
                   Message.source == "email",
                   Message.status.in_(sorted(FINAL_FAILURES)),
                   Message.done_at >= utcnow() - self.lookback,
                   ~_noticed("failure", Message.id))
            .order_by(Message.done_at).limit(BATCH)
        )
        return self._rows(query)

    def _replies(self) -> int:
        handled = 0
        for inbound_id, account_id, number, text in self._pending_replies():
            if not self._claim("reply", inbound_id, account_id):
                continue
            handled += 1
            meta = self._original_metadata(account_id, number)
            if meta is not None:
                self.gateway.forward_reply(account_id, meta, number, text)
        return handled

    def _pending_replies(self) -> list[Any]:
        query = (
            select(InboundMessage.id, InboundMessage.account_id, InboundMessage.sender,
                   InboundMessage.text)
            .join(EmailConfig, EmailConfig.account_id == InboundMessage.account_id)
            .where(EmailConfig.forward_replies.is_(True),
                   InboundMessage.received_at >= utcnow() - self.lookback,
                   ~_noticed("reply", InboundMessage.id))
            .order_by(InboundMessage.received_at).limit(BATCH)
        )
        return self._rows(query)

    def _original_metadata(self, account_id: str, number: str) -> dict[str, Any] | None:
        """The email a reply answers: the account's latest SMS to the number, if an email's."""
        query = (select(Message.source, Message.meta)
                 .where(Message.account_id == account_id, Message.to == number,
                        Message.status != "refused")
                 .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))
        with self.services.sessions() as session:
            found = session.execute(query).first()
        if found is None or found.source != "email":
            return None
        return dict(found.meta or {})

    def _claim(self, kind: str, reference: str, account_id: str) -> bool:
        try:
            with transaction(self.services.sessions) as session:
                session.add(EmailNotice(kind=kind, reference=reference, account_id=account_id))
        except IntegrityError:
            return False
        return True

    def _rows(self, query: Executable) -> list[Any]:
        with self.services.sessions() as session:
            return list(session.execute(query).all())


def _noticed(kind: str, reference: Any) -> Any:
    return exists().where(EmailNotice.kind == kind, EmailNotice.reference == reference)
