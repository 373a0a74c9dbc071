"""Replies (MO): stored, and STOP / START applied to the opt-out list of the account concerned.

A reply reaches a shared sender (short code or long number), so the account is the one that last
wrote to the replying number; its opt-out list is the one a STOP changes (no message of any
category goes to that number from that account afterwards, RULES.md).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.callbacks import outbox
from hub.db import transaction
from hub.ids import new_id
from hub.models import InboundMessage, Message, OptOut
from hub.services import Services
from sms_core.compliance import classify_reply
from sms_core.dispatch.types import InboundSms


def record_inbound(services: Services, sms: InboundSms) -> InboundMessage:
    """Store ``sms``; a STOP adds its sender to the opt-out list, a START removes it."""
    kind = classify_reply(sms.text)
    with transaction(services.sessions) as session:
        account_id = last_writer(session, sms.sender)
        if account_id is not None and kind == "stop":
            _opt_out(session, account_id, sms.sender)
        elif account_id is not None and kind == "start":
            session.execute(delete(OptOut).where(OptOut.account_id == account_id,
                                                 OptOut.number == sms.sender))
        inbound = InboundMessage(
            id=new_id("mo"), account_id=account_id, sender=sms.sender[:32],
            recipient=sms.recipient[:32], text=sms.text, kind=kind,
            operator_id=sms.operator_id, route=sms.route, received_at=sms.received_at)
        session.add(inbound)
        outbox.inbound_recorded(session, inbound)
    return inbound


def last_writer(session: Session, number: str) -> str | None:
    """The account that most recently sent to ``number``."""
    query = (select(Message.account_id)
             .where(Message.to == number, Message.status != "refused")
             .order_by(Message.created_at.desc()).limit(1))
    return session.scalar(query)


def _opt_out(session: Session, account_id: str, number: str) -> None:
    exists = session.scalar(select(OptOut.id).where(OptOut.account_id == account_id,
                                                    OptOut.number == number))
    if exists is None:
        session.add(OptOut(account_id=account_id, number=number, source="sms"))
