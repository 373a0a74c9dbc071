"""Billing emails: the low-balance alert, recorded with the crossing and mailed after the commit.

The ledger calls :func:`record_low_balance` inside the transaction that took the available credit
below the account's threshold (once per crossing, see ``sms_core.billing.low_balance_state``). It
only inserts a :class:`~hub.models.ledger.BillingNotice` row: a crossing that rolls back takes its
notice with it, a committed one always has it, and no SMTP conversation ever happens while the
balance row is locked.

Sending is :func:`send_due`, run by the ``hub.notifications.deliver`` RQ job on the ``callbacks``
queue (the ``worker`` role). :func:`kick` enqueues that job when notices are due; the scheduler's
sweep calls it every round, so a notice leaves within one sweep interval even if Redis lost a job.
Without Redis, :func:`kick` sends in-line. A failed send is retried with a growing delay
(:data:`MAX_ATTEMPTS` at most); a crash between the send and the ``sent_at`` update can send
twice — a repeated alert is better than a missing one.

Who receives it: the account setting ``billing_email`` (declared and validated with the other
account settings in :mod:`hub.accounts`), else the emails of the account's dashboard users.
The mail goes through the outbound relay the email connector uses (``SMSHUB_EMAIL_RELAY_*``), from
``SMSHUB_EMAIL_FEEDBACK_FROM`` or ``billing@<SMSHUB_EMAIL_DOMAIN>``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import accounts
from hub.db import transaction
from hub.models import Account, User, utcnow
from hub.models.ledger import BillingNotice
from hub.services import Services

if TYPE_CHECKING:
    from connectors.email.settings import RelaySettings

log = logging.getLogger(__name__)

LOW_BALANCE = "balance.low"
QUEUE = "callbacks"
JOB = "hub.notifications.deliver"
KICK_KEY = "smshub:billing-notices:kick"
KICK_TTL = 60
"""Seconds one enqueued job stands for all kicks (a job lost with Redis is replaced after it)."""
BATCH = 50
MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=5)
"""A claimed notice is invisible to other senders this long (a crashed sender's comes back)."""
MAX_RECIPIENTS = 5



valid_email = accounts.valid_email
"""The ``billing_email`` setting's check (declared with the other settings in hub.accounts)."""


def recipients(session: Session, account_id: str) -> list[str]:
    """``billing_email`` when set, else the account's users' emails (sorted, at most five)."""
    account = session.get(Account, account_id)
    if account is None:
        return []
    chosen = valid_email((account.settings or {}).get("billing_email"))
    if chosen is not None:
        return [chosen]
    emails = session.scalars(select(User.email).where(User.account_id == account_id)
                             .order_by(User.email).limit(MAX_RECIPIENTS))
    return [e for e in (valid_email(email) for email in emails) if e is not None]


# --- recording (inside the ledger transaction) -------------------------------------------------

def record_low_balance(session: Session, account_id: str, available: Decimal,
                       threshold: Decimal, currency: str) -> BillingNotice | None:
    """Queue the low-balance email of one crossing; None when nobody can receive it."""
    to = recipients(session, account_id)
    if not to:
        log.info("low balance of %s: no billing_email and no user to tell", account_id)
        return None
    now = utcnow()
    notice = BillingNotice(
        account_id=account_id, kind=LOW_BALANCE, attempts=0, next_attempt_at=now,
        created_at=now,
        payload={"to": to, "available": format(available, "f"),
                 "threshold": format(threshold, "f"), "currency": currency},
    )
    session.add(notice)
    return notice


# --- sending (after the commit) ----------------------------------------------------------------

@cache
def _mailer_class() -> Any:
    """The email connector's relay client, extended for mails that answer no email (imported
    on first use: most processes that touch the ledger never send one)."""
    from connectors.email.feedback import FeedbackMailer

    class NoticeMailer(FeedbackMailer):
        def send_notice(self, to: Sequence[str], subject: str, body: str) -> None:
            """Send one plain-text mail; raises ``OSError``/``SMTPException`` on relay failure."""
            message = EmailMessage()
            message["From"] = self.from_address
            message["To"] = ", ".join(to)
            message["Subject"] = subject
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = make_msgid(domain=self.from_address.rpartition("@")[2] or None)
            message["Auto-Submitted"] = "auto-generated"
            message.set_content(body)
            with self._connect() as smtp:
                smtp.send_message(message, from_addr=self.from_address, to_addrs=list(to))

    return NoticeMailer


def compose(notice: BillingNotice, account_name: str) -> tuple[str, str]:
    """(subject, body) of a notice."""
    data = notice.payload
    subject = f"Low SMS credit: {data['available']} {data['currency']} left"
    body = (
        f"The SMS credit of {account_name} ({notice.account_id}) fell below your alert "
        f"threshold of {data['threshold']} {data['currency']}.\n\n"
        f"Available now: {data['available']} {data['currency']}.\n\n"
        "Buy credits to keep your messages going. You will not be told again until the "
        "credit has been back above the threshold.\n"
    )
    return subject, body


@dataclass(frozen=True)
class MailSettings:
    relay: RelaySettings
    from_address: str


def mail_settings(services: Services) -> MailSettings | None:
    """The relay and sender of billing mail, or None when no relay is configured."""
    from connectors.email.settings import EmailSettings, RelaySettings

    namespace = services.settings.namespace("email")
    relay = RelaySettings.from_namespace(namespace)
    if relay is None:
        return None
    email = EmailSettings.from_namespace(namespace)
    return MailSettings(relay, email.feedback_from or f"billing@{email.domain}")


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _claim(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[int]:
    with transaction(sessions) as session:
        query = (select(BillingNotice)
                 .where(BillingNotice.sent_at.is_(None), BillingNotice.next_attempt_at <= now,
                        BillingNotice.attempts < MAX_ATTEMPTS)
                 .order_by(BillingNotice.id).limit(limit).with_for_update(skip_locked=True))
        rows = list(session.scalars(query))
        for row in rows:
            row.next_attempt_at = now + LEASE
        return [row.id for row in rows]


def send_due(sessions: sessionmaker[Session], mail: MailSettings,
             now: datetime | None = None, limit: int = BATCH) -> int:
    """Send the notices that are due; returns how many were sent."""
    now = now or utcnow()
    mailer = _mailer_class()(mail.relay, mail.from_address)
    sent = 0
    for notice_id in _claim(sessions, now, limit):
        with transaction(sessions) as session:
            notice = session.get(BillingNotice, notice_id)
            if notice is None or notice.sent_at is not None:
                continue
            account = session.get(Account, notice.account_id)
            subject, body = compose(notice, account.name if account else notice.account_id)
            to = list(notice.payload.get("to") or [])
        error: str | None = None
        try:
            mailer.send_notice(to, subject, body)
        except Exception as exc:  # any relay failure: retried later
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("billing notice %s to %s not sent: %s", notice_id, to, error)
        with transaction(sessions) as session:
            notice = session.get(BillingNotice, notice_id)
            assert notice is not None
            notice.attempts += 1
            if error is None:
                notice.sent_at, notice.last_error = utcnow(), None
                sent += 1
            else:
                notice.last_error = error
                notice.next_attempt_at = now + _retry_delay(notice.attempts)
    return sent


def pending(session: Session, now: datetime | None = None) -> bool:
    """Whether some notice is due (one indexed query)."""
    query = (select(BillingNotice.id)
             .where(BillingNotice.sent_at.is_(None),
                    BillingNotice.next_attempt_at <= (now or utcnow()),
                    BillingNotice.attempts < MAX_ATTEMPTS).limit(1))
    return session.scalar(query) is not None


def kick(services: Services) -> bool:
    """Have due notices sent: enqueue the job (Redis), or send now (no Redis). Never raises."""
    try:
        with transaction(services.sessions) as session:
            if not pending(session):
                return False
        if services.redis is None:
            mail = mail_settings(services)
            return bool(mail and send_due(services.sessions, mail))
        if not services.redis.set(KICK_KEY, "1", nx=True, ex=KICK_TTL):
            return False
        services.queue(QUEUE).enqueue(JOB, job_timeout=300, result_ttl=0, failure_ttl=86400)
    except (RedisError, OSError):
        log.exception("could not have the billing notices sent")
        return False
    return True


def deliver() -> int:
    """The RQ job: send every due notice with the worker's services; returns how many."""
    from hub.callbacks import jobs

    found = jobs.services()
    if found.redis is not None:
        found.redis.delete(KICK_KEY)
    mail = mail_settings(found)
    if mail is None:
        log.warning("billing notices are due but SMSHUB_EMAIL_RELAY_HOST is not set")
        return 0
    return send_due(found.sessions, mail)
