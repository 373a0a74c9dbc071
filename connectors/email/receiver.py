"""The aiosmtpd side: the SMTP handler, the per-connection server and the threaded controller.

SMTP replies, by stage:

========  ==========================================================================
MAIL      ``550 5.7.1`` null sender ``<>`` (bounces never become SMS);
          ``451 4.7.1`` the sender is over its rate limit
RCPT      ``452 4.5.3`` more recipients than ``max_recipients``;
          ``550 5.7.1`` other domain (no relay), not authorised (see :mod:`.authorization`);
          ``451 4.7.1`` too many unknown secrets from this client (guessing);
          ``451 4.7.1`` the account is over its rate limit;
          ``550 5.1.1`` not a number or not a mobile number, with the reason
DATA      ``552`` over ``max_message_size`` (aiosmtpd), then :mod:`.processing`
AUTH      ``538 5.7.11`` before STARTTLS; ``535 5.7.8`` wrong credentials;
          ``454 4.7.0`` too many failures from one address
========  ==========================================================================

Blocking work (directory look-ups, the submit call, notices) runs in worker threads through
:func:`asyncio.to_thread`, so a slow database never stalls the other SMTP sessions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import ssl
import weakref
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from connectors.email.addressing import AddressError, Normalizer, normalize_number, parse_recipient
from connectors.email.authorization import Refused, UnknownSecret, authorise
from connectors.email.directory import AccountDirectory, normalize_address
from connectors.email.limits import RateLimiter
from connectors.email.processing import MessageProcessor, Transaction
from connectors.email.settings import EmailAccount, EmailSettings
from sms_core.errors import InvalidNumberError

log = logging.getLogger(__name__)

AUTH_FAILURES_BURST = 5
AUTH_FAILURES_PER_MINUTE = 2.0
"""Wrong passwords and unknown address secrets one client address may try: both are guesses."""
TOO_MANY_FAILURES = "454 4.7.0 Too many failed authentications, try again later"


class EmailHandler:
    """aiosmtpd handler hooks; one instance serves every connection."""

    def __init__(
        self,
        settings: EmailSettings,
        directory: AccountDirectory,
        processor: MessageProcessor,
        normalizer: Normalizer,
        limiter: RateLimiter,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.processor = processor
        self.normalizer = normalizer
        self.limiter = limiter
        self.auth_failures = RateLimiter(AUTH_FAILURES_BURST, AUTH_FAILURES_PER_MINUTE)
        self._transactions: weakref.WeakKeyDictionary[Envelope, Transaction] = (
            weakref.WeakKeyDictionary()
        )

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        sender = normalize_address(address)
        if not sender:
            return "550 5.7.1 Null sender refused: bounces and notices are not turned into SMS"
        wait = self.limiter.take(f"sender:{sender}")
        if wait:
            return f"451 4.7.1 Too many emails from <{address}>, retry in {math.ceil(wait)} s"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        self._transactions[envelope] = Transaction(sender=address)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        transaction = self._transactions.get(envelope)
        if transaction is None:
            return "503 5.5.1 Need MAIL command"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return (
                f"452 4.5.3 Too many recipients, at most {self.settings.max_recipients} per email"
            )
        try:
            number = await self._recipient(session, transaction, address)
        except (AddressError, Refused) as refusal:
            return refusal.status
        if number not in transaction.numbers:
            transaction.numbers.append(number)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def _recipient(self, session: Session, transaction: Transaction, address: str) -> str:
        """The recipient's E.164 number once the address, the sender and the rate are checked."""
        recipient = parse_recipient(address, self.settings.domain)
        authenticated = session.auth_data if session.authenticated else None
        failures = f"peer:{_peer_host(session)}"
        if recipient.secret is not None and self.auth_failures.wait(failures):
            raise Refused("451 4.7.1 Too many unknown address secrets, try again later")
        try:
            account = await asyncio.to_thread(
                authorise,
                self.directory,
                sender=transaction.sender,
                secret=recipient.secret,
                authenticated=authenticated if isinstance(authenticated, EmailAccount) else None,
                bound=transaction.account,
                domain=self.settings.domain,
            )
        except UnknownSecret:
            self.auth_failures.take(failures)
            raise
        if transaction.account is None:
            wait = self.limiter.take(f"account:{account.account}")
            if wait:
                raise Refused(
                    f"451 4.7.1 Too many emails for this account, retry in {math.ceil(wait)} s"
                )
            transaction.account = account
        region = account.region or self.settings.default_region
        try:
            return normalize_number(recipient.number, region, self.normalizer)
        except InvalidNumberError as error:
            raise Refused(f"550 5.1.1 <{address}>: {error.message} ({error.code})") from None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        transaction = self._transactions.pop(envelope, None)
        if transaction is None:
            return "503 5.5.1 Need MAIL command"
        content = envelope.original_content or b""
        return await asyncio.to_thread(self.processor.process, transaction, content)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd ``authenticator``: SMTP credentials → the account, kept on the session."""
        key = f"peer:{_peer_host(session)}"
        if self.auth_failures.wait(key):
            return AuthResult(success=False, handled=False, message=TOO_MANY_FAILURES)
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        try:
            username = data.login.decode("utf-8")
            password = data.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)
        account = self.directory.authenticate(username, password)
        if account is None:
            self.auth_failures.take(key)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=account)


def _peer_host(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class EmailSMTP(SMTP):
    """aiosmtpd's SMTP, allowing AUTH without TLS from loopback when the settings say so."""

    def __init__(self, handler: Any, *, loopback_auth: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._loopback_auth = loopback_auth

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if (
            self._loopback_auth
            and self.session is not None
            and is_loopback(_peer_host(self.session))
        ):
            self._auth_require_tls = False  # aiosmtpd only offers this per server, not per peer


class EmailController(Controller):
    """A threaded controller that builds :class:`EmailSMTP` and supports port 0."""

    def __init__(self, handler: Any, *, loopback_auth: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._loopback_auth = loopback_auth

    def factory(self) -> SMTP:
        return EmailSMTP(self.handler, loopback_auth=self._loopback_auth, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def tls_context(settings: EmailSettings) -> ssl.SSLContext | None:
    """A server context for STARTTLS when a certificate is configured."""
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context
