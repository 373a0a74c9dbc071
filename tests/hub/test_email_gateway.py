"""Email to SMS through the hub: real SMTP sessions, the database directory and the pipeline."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from decimal import Decimal
from types import MappingProxyType

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from connectors.base import SmsRequest
from connectors.email import EmailGateway
from hub import ledger, pipeline
from hub.config import Settings
from hub.db import transaction
from hub.email import build_gateway
from hub.email.config import rotate_secret, set_credentials, update_config
from hub.email.directory import DatabaseDirectory
from hub.email.notices import NoticeSweeper
from hub.email.wiring import make_directory
from hub.ids import new_id
from hub.models import Account, InboundMessage, Message, OptOut, utcnow
from hub.services import Services, build_services
from tests.fakes.smtp_relay import CapturingRelay
from tests.hub.conftest import UNIT_PRICE, make_account, seed_prices
from tests.hub.email_fixtures import (
    BOB,
    DOMAIN,
    PASSWORD,
    USERNAME,
    email,
    send,
)

MOBILE = "+33612345678"


@pytest.fixture
def relay() -> Iterator[CapturingRelay]:
    """The outbound relay notices go through, on a free loopback port."""
    capture = CapturingRelay()
    with socket.socket() as probe:  # aiosmtpd's Controller needs a concrete port
        probe.bind(("127.0.0.1", 0))
        capture.port = probe.getsockname()[1]
    controller = Controller(capture, hostname="127.0.0.1", port=capture.port)
    controller.start()
    yield capture
    controller.stop()


@pytest.fixture
def hub_settings(settings: Settings, relay: CapturingRelay) -> Settings:
    """The hub's settings with the email namespace as an operator would set it."""
    return settings.replace(
        extra=MappingProxyType(
            {
                "email_domain": DOMAIN,
                "email_allow_insecure_auth_on_loopback": "true",
                "email_relay_host": "127.0.0.1",
                "email_relay_port": str(relay.port),
            }
        )
    )


@pytest.fixture
def hub(hub_settings: Settings) -> Iterator[Services]:
    built = build_services(hub_settings)
    seed_prices(built)
    yield built
    built.close()


@pytest.fixture
def garage(hub: Services) -> tuple[Account, str]:
    """A funded account whose garage mailboxes may send, with an address secret."""
    account = make_account(hub)
    with transaction(hub.sessions) as session:
        row = session.get(Account, account.id)
        assert row is not None
        update_config(session, row, {"senders": ["*@garage-martin.fr"], "sender_id": "GARAGE"})
        secret = rotate_secret(session, row, make_directory(hub).box)
    return account, secret


@pytest.fixture
def login(hub: Services, garage: tuple[Account, str]) -> tuple[Account, str]:
    """The garage account with SMTP AUTH credentials too (password hashing is slow on purpose,
    so only the tests that log in pay for it)."""
    with transaction(hub.sessions) as session:
        row = session.get(Account, garage[0].id)
        assert row is not None
        set_credentials(session, row, USERNAME, PASSWORD)
    return garage


@pytest.fixture
def gateway(hub: Services) -> Iterator[EmailGateway]:
    built = build_gateway(hub)
    built.start("127.0.0.1", 0)
    yield built
    built.stop()


def messages(services: Services) -> list[Message]:
    with services.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.created_at)))


def balance(services: Services, account: Account) -> Decimal:
    with services.sessions() as session:
        return ledger.balance(session, account.id)


def test_an_authenticated_email_becomes_one_sms(
    hub: Services, login: tuple[Account, str], gateway: EmailGateway
) -> None:
    account, _ = login
    text = "Votre voiture est prête.\n\n-- \nBob Martin\nGarage Martin"
    refused = send(gateway, f"{MOBILE}@{DOMAIN}", email(text), login=True)
    assert refused == {}
    [message] = messages(hub)
    assert (message.account_id, message.to, message.status) == (account.id, MOBILE, "accepted")
    assert message.text == "Votre voiture est prête."
    assert (message.source, message.sender) == ("email", "GARAGE")
    assert message.meta["email_sender"] == BOB
    assert message.meta["email_message_id"] == "<m1@garage-martin.fr>"
    assert balance(hub, account) == Decimal(100) - UNIT_PRICE


def test_the_secret_in_the_address_authorises(hub: Services, garage: tuple[Account, str],
                                              gateway: EmailGateway) -> None:
    _, secret = garage
    for number, local in enumerate(["0612345678", "33612345679", "+33612345680"]):
        send(gateway, f"{local}.{secret}@{DOMAIN}", email(message_id=f"<m{number}@garage>"))
    assert sorted(m.to for m in messages(hub)) == ["+33612345678", "+33612345679",
                                                   "+33612345680"]


UNAUTHORISED = [
    # (what is wrong, envelope sender, recipient address, SMTP AUTH, reply text)
    ("unknown sender", "eve@evil.example", "{mobile}.{secret}@{domain}", False,
     "not an authorised sender"),
    ("unknown sender, authenticated", "eve@evil.example", "{mobile}@{domain}", True,
     "not an authorised sender"),
    ("no proof", BOB, "{mobile}@{domain}", False, "Authentication required"),
    ("wrong secret", BOB, "{mobile}.WrongSecret123@{domain}", False, "Unknown address secret"),
    ("other domain", BOB, "{mobile}.{secret}@other.example", False, "relay not permitted"),
    ("landline", BOB, "0142685300.{secret}@{domain}", False, "5.1.1"),
]


def test_unauthorised_emails_are_refused_in_the_session(
    hub: Services, login: tuple[Account, str], gateway: EmailGateway,
) -> None:
    _, secret = login
    for case, sender, address, authenticate, reply in UNAUTHORISED:
        rcpt = address.format(mobile=MOBILE, secret=secret, domain=DOMAIN)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(gateway, rcpt, email(sender=sender), login=authenticate, sender=sender)
        [(code, text)] = refused.value.recipients.values()
        assert code == 550 and reply in text.decode(), case
    assert messages(hub) == []


def test_wrong_smtp_password_is_refused(login: tuple[Account, str], gateway: EmailGateway) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError):
        send(gateway, f"{MOBILE}@{DOMAIN}", email(), login=True, password="not the password")


def test_an_opted_out_number_is_refused_and_the_sender_told_why(
    hub: Services,
    garage: tuple[Account, str],
    gateway: EmailGateway,
    relay: CapturingRelay,
) -> None:
    account, secret = garage
    with transaction(hub.sessions) as session:
        session.add(OptOut(account_id=account.id, number=MOBILE, source="sms"))
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(gateway, f"{MOBILE}.{secret}@{DOMAIN}", email(subject="Votre RDV"))
    assert refused.value.smtp_code == 550
    assert [m for m in messages(hub) if m.status != "refused"] == []
    [notice] = relay.messages
    assert notice["To"] == BOB and notice["Subject"] == "SMS not sent: Votre RDV"
    assert notice["In-Reply-To"] == "<m1@garage-martin.fr>"
    assert MOBILE in relay.body(notice) and "opted" in relay.body(notice).lower()
    assert relay.envelopes[0][0] == "<>"  # null envelope sender: no bounce loops
    assert balance(hub, account) == Decimal(100)


def test_the_same_email_twice_sends_one_sms(
    hub: Services, garage: tuple[Account, str], gateway: EmailGateway
) -> None:
    _, secret = garage
    for _ in range(2):
        send(gateway, f"{MOBILE}.{secret}@{DOMAIN}", email())
    assert len(messages(hub)) == 1


def test_several_recipients_one_pipeline_call(
    hub: Services, garage: tuple[Account, str], gateway: EmailGateway
) -> None:
    _, secret = garage
    others = ["+33612345679", "+33612345680"]
    send(gateway, [f"{n}.{secret}@{DOMAIN}" for n in [MOBILE, *others]], email())
    assert sorted(m.to for m in messages(hub)) == sorted([MOBILE, *others])


def test_without_credits_the_email_is_refused_with_the_reason(
    hub: Services,
    gateway: EmailGateway,
    relay: CapturingRelay,
) -> None:
    poor = make_account(hub, credits=None)
    with transaction(hub.sessions) as session:
        row = session.get(Account, poor.id)
        assert row is not None
        update_config(session, row, {"senders": [BOB]})
        secret = rotate_secret(session, row, make_directory(hub).box)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(gateway, f"{MOBILE}.{secret}@{DOMAIN}", email())
    assert b"insufficient" in refused.value.smtp_error.lower()
    assert messages(hub) == []
    assert "insufficient" in relay.body(relay.messages[0]).lower()


def test_directory_follows_the_database(hub: Services, login: tuple[Account, str]) -> None:
    account, secret = login
    directory: DatabaseDirectory = make_directory(hub)
    found = directory.by_secret(secret)
    assert found is not None and found.account == account.id and found.secret == secret
    assert found.senders == ("*@garage-martin.fr",) and found.sender_id == "GARAGE"
    assert directory.authenticate(USERNAME.upper(), PASSWORD) == found
    assert directory.authenticate(USERNAME, PASSWORD + "x") is None
    assert directory.authenticate("nobody", PASSWORD) is None
    with transaction(hub.sessions) as session:
        row = session.get(Account, account.id)
        assert row is not None
        new = rotate_secret(session, row, directory.box)
    assert directory.by_secret(secret) is None
    assert directory.by_secret(new) is not None
    with transaction(hub.sessions) as session:
        row = session.get(Account, account.id)
        assert row is not None
        update_config(session, row, {"enabled": False})
    assert directory.get(account.id) is None and directory.by_secret(new) is None
    assert directory.authenticate(USERNAME, PASSWORD) is None


def test_a_closed_account_receives_nothing(hub: Services, garage: tuple[Account, str]) -> None:
    account, secret = garage
    with transaction(hub.sessions) as session:
        row = session.get(Account, account.id)
        assert row is not None
        row.status = "closed"
    assert make_directory(hub).by_secret(secret) is None


def _notices_on(services: Services, account: Account, **flags: bool) -> None:
    with transaction(services.sessions) as session:
        row = session.get(Account, account.id)
        assert row is not None
        update_config(session, row, flags)


def test_a_final_failure_is_mailed_to_the_sender_once(
    hub: Services, garage: tuple[Account, str], gateway: EmailGateway, relay: CapturingRelay,
) -> None:
    account, secret = garage
    send(gateway, f"{MOBILE}.{secret}@{DOMAIN}", email())
    sweeper = NoticeSweeper(hub, gateway)
    with transaction(hub.sessions) as session:
        session.execute(update(Message).values(status="undeliverable", done_at=utcnow(),
                                               reason="undeliverable",
                                               detail="absent subscriber"))
    assert sweeper.run_once() == 0 and relay.envelopes == []  # notices not asked for
    _notices_on(hub, account, delivery_notices=True)
    assert sweeper.run_once() == 1
    [notice] = relay.messages
    assert notice["To"] == BOB and notice["Subject"] == "SMS not delivered: Rendez-vous"
    assert "undeliverable" in relay.body(notice) and "absent subscriber" in relay.body(notice)
    assert sweeper.run_once() == 0 and len(relay.envelopes) == 1


def test_a_reply_is_forwarded_to_the_mailbox_that_wrote(
    hub: Services, garage: tuple[Account, str], gateway: EmailGateway, relay: CapturingRelay,
) -> None:
    account, secret = garage
    _notices_on(hub, account, forward_replies=True)
    send(gateway, f"{MOBILE}.{secret}@{DOMAIN}", email())
    with transaction(hub.sessions) as session:
        session.add(InboundMessage(id=new_id("mo"), account_id=account.id, sender=MOBILE,
                                   recipient="38100", text="Merci, j'arrive à 18 h"))
    sweeper = NoticeSweeper(hub, gateway)
    assert sweeper.run_once() == 1
    [notice] = relay.messages
    assert notice["To"] == BOB and notice["Reply-To"] == f"33612345678.{secret}@{DOMAIN}"
    assert "Merci, j'arrive à 18 h" in relay.body(notice)
    assert sweeper.run_once() == 0 and len(relay.envelopes) == 1


def test_a_reply_to_an_sms_sent_by_the_api_is_not_forwarded(
    hub: Services, garage: tuple[Account, str], gateway: EmailGateway, relay: CapturingRelay,
) -> None:
    account, secret = garage
    _notices_on(hub, account, forward_replies=True)
    send(gateway, f"{MOBILE}.{secret}@{DOMAIN}", email())
    pipeline.submit(hub, account.id, [SmsRequest(account=account.id, to=MOBILE, text="API")])
    with transaction(hub.sessions) as session:
        session.add(InboundMessage(id=new_id("mo"), account_id=account.id, sender=MOBILE,
                                   recipient="38100", text="Qui est-ce ?"))
    assert NoticeSweeper(hub, gateway).run_once() == 1
    assert relay.envelopes == []
