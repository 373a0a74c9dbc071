"""The low-balance email: one per crossing, recorded with it, mailed after commit by the relay."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal
from types import MappingProxyType

import pytest
from aiosmtpd.controller import Controller
from rq import SimpleWorker
from sqlalchemy import func, select

from hub import accounts, ledger, notifications
from hub.callbacks import jobs as callback_jobs
from hub.config import Settings
from hub.db import transaction
from hub.ids import new_id
from hub.models import Account, User
from hub.models.ledger import BillingNotice
from hub.services import Services, build_services
from tests.fakes.smtp_relay import CapturingRelay

D = Decimal
BILLING = "compta@garage-martin.fr"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def relay() -> Iterator[CapturingRelay]:
    capture = CapturingRelay(port=_free_port())
    controller = Controller(capture, hostname="127.0.0.1", port=capture.port)
    controller.start()
    yield capture
    controller.stop()


@pytest.fixture
def hub(settings: Settings, relay: CapturingRelay) -> Iterator[Services]:
    built = build_services(settings.replace(extra=MappingProxyType({
        "email_domain": "sms.garage.test", "email_relay_host": "127.0.0.1",
        "email_relay_port": str(relay.port)})))
    yield built
    built.close()


def _account(services: Services, **settings: object) -> str:
    with transaction(services.sessions) as s:
        account = Account(id=new_id("acc"), name="Garage Martin",
                          settings=accounts.validate_settings(settings))
        s.add(account)
        s.flush()
        s.add(User(id=new_id("usr"), account_id=account.id, email=f"{account.id}@users.test",
                   password_hash="x"))
        ledger.purchase(s, account, D(10), reference="pack")
        ledger.set_low_balance_threshold(s, account, D(5))
    return account.id


def _spend(services: Services, account_id: str, amount: str) -> None:
    with transaction(services.sessions) as s:
        ledger.reserve(s, account_id, D(amount), reference="batch")


def _deliver(services: Services) -> None:
    """What the worker does: the kicked job, run by an RQ worker in burst mode."""
    callback_jobs.use(services)
    try:
        SimpleWorker([services.queue(notifications.QUEUE)],
                     connection=services.redis).work(burst=True)
    finally:
        callback_jobs.use(None)


def test_one_email_per_crossing_through_the_relay(hub: Services, relay: CapturingRelay) -> None:
    account_id = _account(hub, billing_email=BILLING)
    _spend(hub, account_id, "6")  # 10 → 4: crosses 5
    assert notifications.kick(hub)
    _deliver(hub)
    assert [(to, frm) for frm, to, _ in relay.envelopes] == [([BILLING], "billing@sms.garage.test")]
    message = relay.messages[0]
    assert message["Subject"] == "Low SMS credit: 4.000000 EUR left"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "threshold of 5.000000 EUR" in relay.body(message)

    for _ in range(3):  # still below: no further email, nothing to kick
        _spend(hub, account_id, "1")
    assert not notifications.kick(hub)
    _deliver(hub)
    assert len(relay.envelopes) == 1

    with transaction(hub.sessions) as s:  # back above the threshold, then below again
        ledger.purchase(s, account_id, D(10), reference="top-up")
    _spend(hub, account_id, "10")
    assert notifications.kick(hub)
    _deliver(hub)
    assert len(relay.envelopes) == 2
    assert relay.messages[1]["Subject"] == "Low SMS credit: 1.000000 EUR left"


def test_the_notice_lives_and_dies_with_the_crossing_transaction(hub: Services) -> None:
    account_id = _account(hub)
    with pytest.raises(RuntimeError), transaction(hub.sessions) as s:
        ledger.reserve(s, account_id, D(6), reference="batch")
        assert s.scalar(select(func.count()).select_from(BillingNotice)) == 1
        raise RuntimeError("the pipeline failed after reserving")
    with transaction(hub.sessions) as s:
        assert s.scalar(select(func.count()).select_from(BillingNotice)) == 0
        assert not notifications.pending(s)
    _spend(hub, account_id, "6")
    with transaction(hub.sessions) as s:  # no billing_email: the account's users
        notice = s.scalars(select(BillingNotice)).one()
        assert notice.payload["to"] == [f"{account_id}@users.test"]
        assert notice.sent_at is None


def test_a_relay_failure_is_retried_later(hub: Services, relay: CapturingRelay) -> None:
    _spend(hub, _account(hub, billing_email=BILLING), "6")
    mail = notifications.mail_settings(hub)
    assert mail is not None
    down = notifications.MailSettings(
        type(mail.relay)(host="127.0.0.1", port=_free_port(), timeout=2), mail.from_address)
    assert notifications.send_due(hub.sessions, down) == 0
    with transaction(hub.sessions) as s:
        notice = s.scalars(select(BillingNotice)).one()
        assert notice.attempts == 1 and notice.last_error and notice.sent_at is None
        retry_at = notice.next_attempt_at
    assert notifications.send_due(hub.sessions, mail) == 0  # not due yet
    assert notifications.send_due(hub.sessions, mail, now=retry_at) == 1
    assert len(relay.envelopes) == 1


@pytest.mark.parametrize("value", ["nobody", "a@b", "x@example.com\r\nBcc: y@evil.test", 3, ""])
def test_billing_email_setting_is_validated(value: object) -> None:
    with pytest.raises(accounts.InvalidSettingError) as err:
        accounts.validate_settings({"billing_email": value})
    assert err.value.details["field"] == "billing_email"
    assert accounts.validate_settings({"billing_email": " a@b.fr "}) == {"billing_email": "a@b.fr"}
