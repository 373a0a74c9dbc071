"""Real SMTP sessions (smtplib) against the running receiver; the outbound relay is real too."""

from __future__ import annotations

import smtplib
import socket
from dataclasses import replace

import pytest

from connectors.email import (
    EmailAccount,
    EmailGateway,
    EmailSettings,
    InMemoryDirectory,
    RelaySettings,
)
from tests.connectors.email.conftest import (
    CapturingRelay,
    GatewayFactory,
    RecordingSubmit,
    body_of,
)
from tests.connectors.email.mails import (
    BOB,
    DOMAIN,
    GARAGE,
    PASSWORD,
    SECRET,
    USERNAME,
    email,
    raw,
    sms,
    to,
    transact,
)

SENT = "Votre voiture est prête."


def _code(reply: tuple[int, bytes] | None) -> tuple[int, str]:
    assert reply is not None
    return reply[0], reply[1].decode()


# --- what gets submitted ------------------------------------------------------------------


def test_plain_email_to_numbers_in_every_form(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    recipients = [
        to("0612345678"),
        to("33698765432"),
        to("+33756123456"),
        to("06-12-34-56-78"),  # the same number again: one SMS
    ]
    result = transact(client, recipients, email(SENT))
    assert [code for code, _ in result.rcpts] == [250, 250, 250, 250]
    assert _code(result.data) == (250, "2.0.0 3 SMS accepted")
    assert submit.calls == [[sms(SENT), sms(SENT, "+33698765432"), sms(SENT, "+33756123456")]]


def test_html_only_email_becomes_plain_text(client: smtplib.SMTP, submit: RecordingSubmit) -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>Bonjour,</p><p>Votre <b>voiture</b> est <a href='https://x.fr/r'>prête</a>&nbsp;!</p>"
        "<div class='gmail_signature'>Garage Martin<br>01 23 45 67 89</div>"
        "</body></html>"
    )
    result = transact(client, [to()], email(None, html=html))
    assert _code(result.data)[0] == 250
    assert submit.calls == [[sms("Bonjour,\nVotre voiture est prête !")]]


def test_alternative_with_attachment_uses_the_plain_part(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    message = email(
        "Le devis est prêt.",
        html="<p>Le <i>devis</i> est prêt (HTML).</p>",
        attachment=b"%PDF-1.4 binary \x00\xff",
    )
    transact(client, [to()], message)
    assert submit.calls == [[sms("Le devis est prêt.")]]


@pytest.mark.parametrize(
    "body",
    [
        "Oui, jeudi 14h c'est bon.\n\n"
        "Le mar. 4 juin 2024 à 10:02, Client <client@gmail.com> a écrit :\n"
        "> Pouvez-vous me confirmer le rendez-vous ?\n> Merci\n",
        "Oui, jeudi 14h c'est bon.\n\n"
        "On Tue, Jun 4, 2024 at 10:02 AM Client Name <client@gmail.com>\nwrote:\n\n"
        "> Can you confirm?\n",
        "Oui, jeudi 14h c'est bon.\n\n-----Original Message-----\n"
        "From: Client\nSent: Tuesday, June 4, 2024 10:02\nSubject: RDV\n\nCan you confirm?\n",
        "Oui, jeudi 14h c'est bon.\n\n________________________________\n"
        "De : Client <client@gmail.com>\nEnvoyé : mardi 4 juin 2024 10:02\n"
        "À : Garage\nObjet : RDV\n\nPouvez-vous confirmer ?\n",
    ],
    ids=["french-gmail", "english-wrapped", "outlook-original", "outlook-fr-block"],
)
def test_quoted_reply_chains_are_stripped(
    client: smtplib.SMTP, submit: RecordingSubmit, body: str
) -> None:
    transact(client, [to()], email(body, subject="RE: RDV"))
    assert submit.calls == [[sms("Oui, jeudi 14h c'est bon.", subject="RE: RDV")]]


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nBob Martin\nGarage Martin - 01 23 45 67 89",
        "Envoyé de mon iPhone",
        "Sent from my iPhone",
        "Envoyé depuis Outlook pour iOS",
        "Get Outlook for Android<https://aka.ms/ghei36>",
        "#END\nBob Martin, chef d'atelier",
        "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention"
        " exclusive de ses destinataires.",
    ],
    ids=[
        "dash-dash",
        "iphone-fr",
        "iphone-en",
        "outlook-ios-fr",
        "outlook-android",
        "cut",
        "legal",
    ],
)
def test_signatures_and_disclaimers_are_stripped(
    client: smtplib.SMTP, submit: RecordingSubmit, signature: str
) -> None:
    transact(client, [to()], email(f"Votre voiture   est\tprête.\n\n\n{signature}\n"))
    assert submit.calls == [[sms(SENT)]]


def test_iso_8859_1_body_with_windows_1252_quotes(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    message = raw(
        f"""
From: {BOB}
Subject: =?iso-8859-1?q?Pi=E8ce_re=E7ue?=
Message-ID: <m1@garage-martin.fr>
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit
""",
        "La pièce est reçue, c'est “urgent” — à bientôt".encode("cp1252"),
    )
    transact(client, [to()], message)
    assert submit.calls == [
        [sms("La pièce est reçue, c'est “urgent” — à bientôt", subject="Pièce reçue")]
    ]


def test_windows_1252_and_unknown_charsets_never_crash(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    cp1252 = raw(
        f"""
From: {BOB}
Message-ID: <a@garage-martin.fr>
Content-Type: text/plain; charset=windows-1252
""",
        "“Prête” à 18h".encode("cp1252"),
    )
    bogus = raw(
        f"""
From: {BOB}
Message-ID: <b@garage-martin.fr>
Subject: =?x-unknown?q?=E9t=E9?=
Content-Type: text/plain; charset=x-does-not-exist
""",
        b"Pr\xc3\xaate \xff\xfe fin",
    )
    assert _code(transact(client, [to()], cp1252).data)[0] == 250
    assert _code(transact(client, [to()], bogus).data)[0] == 250
    texts = [call[0].text for call in submit.calls]
    assert texts == ["“Prête” à 18h", "Prête \ufffd\ufffd fin"]


def test_broken_mime_is_read_as_text(client: smtplib.SMTP, submit: RecordingSubmit) -> None:
    message = raw(
        f"""
From: {BOB}
Message-ID: <c@garage-martin.fr>
Content-Type: multipart/mixed
""",
        b"No boundary at all, still readable.\r\n",
    )
    assert _code(transact(client, [to()], message).data)[0] == 250
    assert submit.calls[0][0].text == "No boundary at all, still readable."


def test_subject_only_email_sends_the_subject(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    transact(client, [to()], email("\n-- \nBob", subject="Fwd: Voiture prête"))
    assert submit.calls == [[sms("Voiture prête", subject="Fwd: Voiture prête")]]


def test_empty_email_is_refused_at_data(client: smtplib.SMTP, submit: RecordingSubmit) -> None:
    result = transact(client, [to()], email("> only a quote", subject=""))
    assert _code(result.data)[0] == 550
    assert _code(result.data)[1].startswith("5.6.0")
    assert submit.calls == []


# --- who may send -------------------------------------------------------------------------


def test_unauthorised_envelope_sender_is_refused_at_rcpt(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    result = transact(client, [to()], email(), sender="mallory@evil.example")
    assert result.rcpts == [
        (550, b"5.7.1 <mallory@evil.example> is not an authorised sender for this account")
    ]
    assert result.data is None
    assert submit.calls == []


def test_forged_sender_without_secret_or_auth_is_refused(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    result = transact(client, [to(secret=None)], email())
    assert _code(result.rcpts[0]) == (
        550,
        "5.7.1 Authentication required: log in with SMTP AUTH or write to"
        f" <number>.<secret>@{DOMAIN}",
    )
    assert submit.calls == []


def test_wrong_secret_and_another_accounts_secret_are_refused(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    result = transact(client, [to(secret="guessed"), to(secret="0therSecret")], email())
    assert [_code(r) for r in result.rcpts] == [
        (550, "5.7.1 Unknown address secret"),
        (550, f"5.7.1 <{BOB}> is not an authorised sender for this account"),
    ]
    assert submit.calls == []


def test_forged_from_header_is_refused_at_data(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    message = email().replace(b"From: Bob Martin <bob@", b"From: CEO <ceo@bank.", 1)
    result = transact(client, [to()], message)
    assert _code(result.data) == (
        550,
        "5.7.1 From header (ceo@bank.garage-martin.fr) is not an authorised sender for this"
        " account",
    )
    assert submit.calls == []


def test_whole_domain_and_single_address_senders(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    first = transact(
        client, [to()], email(sender="alice@Garage-Martin.FR"), "alice@Garage-Martin.FR"
    )
    second = transact(client, [to()], email(sender="boss@gmail.com"), "boss@gmail.com")
    third = transact(client, [to()], email(sender="other@gmail.com"), "other@gmail.com")
    assert _code(first.data)[0] == 250 and _code(second.data)[0] == 250
    assert _code(third.rcpts[0])[0] == 550
    assert len(submit.calls) == 2


def test_smtp_auth_accepted_without_secret(client: smtplib.SMTP, submit: RecordingSubmit) -> None:
    assert client.login(USERNAME, PASSWORD)[0] == 235
    result = transact(client, [to(secret=None), to("+33698765432", secret=None)], email(SENT))
    assert _code(result.data) == (250, "2.0.0 2 SMS accepted")
    assert submit.calls == [[sms(SENT), sms(SENT, "+33698765432")]]


def test_smtp_auth_still_requires_an_authorised_envelope_sender(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    client.login(USERNAME, PASSWORD)
    result = transact(client, [to(secret=None)], email(), sender="someone@else.fr")
    assert _code(result.rcpts[0])[0] == 550
    assert submit.calls == []


def test_smtp_auth_with_wrong_password_is_refused(client: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(USERNAME, "wrong")
    assert refused.value.smtp_code == 535


def test_auth_needs_tls_unless_loopback_is_allowed(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(allow_insecure_auth_on_loopback=False)
    assert gateway.port is not None
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        assert smtp.docmd("AUTH", "PLAIN AGdhcmFnZQB4")[0] == 538


def test_auth_failures_are_throttled_per_client(client: smtplib.SMTP) -> None:
    client.user, client.password = USERNAME, "wrong"
    codes: list[int] = []
    for _ in range(7):
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("PLAIN", client.auth_plain)
        codes.append(refused.value.smtp_code)
    assert codes == [535] * 5 + [454] * 2
    client.user, client.password = USERNAME, PASSWORD
    with pytest.raises(smtplib.SMTPAuthenticationError) as still_throttled:
        client.auth("PLAIN", client.auth_plain)
    assert still_throttled.value.smtp_code == 454


def test_null_sender_and_foreign_domains_are_refused(client: smtplib.SMTP) -> None:
    assert _code(client.mail("<>"))[0] == 550
    client.rset()
    result = transact(client, [f"0612345678.{SECRET}@gmail.com"], email())
    assert _code(result.rcpts[0])[1].startswith("5.7.1 <0612345678.k7Q2xP9a@gmail.com>: relay")


# --- limits -------------------------------------------------------------------------------


def test_too_many_recipients(make_gateway: GatewayFactory, submit: RecordingSubmit) -> None:
    gateway = make_gateway(max_recipients=2)
    assert gateway.port is not None
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo()
        numbers = ["0612345671", "0612345672", "0612345673"]
        result = transact(smtp, [to(n) for n in numbers], email(SENT))
    assert [r[0] for r in result.rcpts] == [250, 250, 452]
    assert _code(result.rcpts[2]) == (452, "4.5.3 Too many recipients, at most 2 per email")
    assert [r.to for r in submit.calls[0]] == ["+33612345671", "+33612345672"]


def test_too_large(make_gateway: GatewayFactory, submit: RecordingSubmit) -> None:
    gateway = make_gateway(max_message_size=2000)
    assert gateway.port is not None
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "2000"
        result = transact(smtp, [to()], email(("x" * 70 + "\n") * 80))
    assert _code(result.data)[0] == 552
    assert submit.calls == []


def test_invalid_numbers_are_refused_at_rcpt(client: smtplib.SMTP, submit: RecordingSubmit) -> None:
    result = transact(client, [to("0145454545"), to("0699"), to("bob")], email())
    codes = [_code(r) for r in result.rcpts]
    assert codes[0][0] == 550 and codes[0][1].startswith("5.1.1 <0145454545.")
    assert codes[0][1].endswith("(fixed_line)")
    assert codes[1][0] == 550 and codes[1][1].endswith("(invalid_number)")
    assert codes[2][0] == 550 and "not a phone number" in codes[2][1]
    assert result.data is None and submit.calls == []


def test_sender_rate_limit(make_gateway: GatewayFactory, submit: RecordingSubmit) -> None:
    gateway = make_gateway(rate_burst=2, rate_per_minute=1)
    assert gateway.port is not None
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo()
        replies = [transact(smtp, [to()], email(message_id=f"<r{i}@x>")) for i in range(3)]
    assert [r.mail[0] for r in replies] == [250, 250, 451]
    assert _code(replies[2].mail)[1].startswith("4.7.1 Too many emails")
    assert len(submit.calls) == 2


def test_too_long_text_is_refused_or_truncated(
    make_gateway: GatewayFactory, directory: InMemoryDirectory, submit: RecordingSubmit
) -> None:
    gateway = make_gateway()
    assert gateway.port is not None
    long_text = " ".join(["mot"] * 200)  # 799 GSM-7 characters: 6 parts, cap is 3
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as smtp:
        smtp.ehlo()
        refused = transact(smtp, [to()], email(long_text))
        directory.add(EmailAccount("acc_cut", senders=("*@cut.fr",), secret="cutS", truncate=True))
        cut = transact(smtp, [to(secret="cutS")], email(long_text, sender="a@cut.fr"), "a@cut.fr")
    assert _code(refused.data)[0] == 550
    assert _code(refused.data)[1].startswith("5.3.4 Text refused (too_long)")
    assert _code(cut.data)[0] == 250
    text = submit.calls[0][0].text
    assert text is not None and text.endswith("mot...") and len(text) <= 459


# --- idempotency and the hub's refusals ---------------------------------------------------


def test_same_email_delivered_twice_sends_one_sms(
    client: smtplib.SMTP, submit: RecordingSubmit, relay: CapturingRelay
) -> None:
    message = email(SENT)
    first = transact(client, [to()], message)
    second = transact(client, [to()], b"Received: from mx2.example\r\n" + message)
    assert _code(first.data) == _code(second.data) == (250, "2.0.0 1 SMS accepted")
    assert submit.calls == [[sms(SENT)], [sms(SENT)]]
    assert submit.sent == [sms(SENT)]
    assert relay.envelopes == []


def test_pipeline_refusal_is_mailed_to_the_sender(
    client: smtplib.SMTP, submit: RecordingSubmit, relay: CapturingRelay
) -> None:
    submit.refuse["+33698765432"] = ("opted_out", "The recipient replied STOP")
    result = transact(client, [to(), to("0698765432")], email(SENT))
    assert _code(result.data) == (
        250,
        "2.0.0 1 SMS accepted, 1 refused (details emailed to the sender)",
    )
    [(mail_from, rcpts, _)] = relay.envelopes
    [notice] = relay.messages
    assert (mail_from, rcpts) == ("<>", [BOB])
    assert notice["To"] == BOB and notice["From"] == f"postmaster@{DOMAIN}"
    assert notice["Subject"] == "SMS not sent: Rendez-vous"
    assert notice["In-Reply-To"] == "<m1@garage-martin.fr>"
    assert notice["Auto-Submitted"] == "auto-replied"
    body = body_of(notice)
    assert "- +33698765432: refused (opted_out): The recipient replied STOP" in body
    assert "Sent to: +33612345678" in body


def test_everything_refused_answers_550_and_mails_the_sender(
    client: smtplib.SMTP, submit: RecordingSubmit, relay: CapturingRelay
) -> None:
    submit.refuse["+33612345678"] = ("insufficient_credits", "Not enough credits")
    result = transact(client, [to()], email(SENT))
    assert _code(result.data) == (550, "5.7.1 No SMS sent: +33612345678: Not enough credits")
    assert len(relay.envelopes) == 1 and relay.envelopes[0][1] == [BOB]


def test_refusal_without_authorisation_mails_nobody(
    client: smtplib.SMTP, relay: CapturingRelay
) -> None:
    transact(client, [to(secret=None)], email(sender="victim@example.org"), "victim@example.org")
    assert relay.envelopes == []


# --- replies ------------------------------------------------------------------------------


def test_sms_reply_forwarded_to_the_original_mailbox(
    gateway: EmailGateway, directory: InMemoryDirectory, relay: CapturingRelay
) -> None:
    metadata = {"email_sender": BOB, "email_message_id": "<m1@x>", "email_subject": "RDV"}
    assert not gateway.forward_reply(GARAGE.account, metadata, "+33612345678", "Merci")
    directory.add(replace(GARAGE, forward_replies=True))
    assert gateway.forward_reply(GARAGE.account, metadata, "+33612345678", "Merci !")
    hijacked = {**metadata, "email_sender": "attacker@evil.example"}
    assert not gateway.forward_reply(GARAGE.account, hijacked, "+33612345678", "Merci")
    [notice] = relay.messages
    assert notice["To"] == BOB and notice["Subject"] == "SMS from +33612345678"
    assert notice["Reply-To"] == f"33612345678.{SECRET}@{DOMAIN}"
    assert "Merci !" in body_of(notice)


def test_summary_for_accounts_that_ask_for_it(
    client: smtplib.SMTP,
    directory: InMemoryDirectory,
    submit: RecordingSubmit,
    relay: CapturingRelay,
) -> None:
    directory.add(replace(GARAGE, summary=True))
    transact(client, [to(), to("0698765432")], email(SENT))
    [notice] = relay.messages
    assert notice["Subject"] == "SMS summary: Rendez-vous"
    assert body_of(notice) == (
        "Your email was turned into SMS:\n\n- +33612345678: accepted\n- +33698765432: accepted\n"
    )


def test_relay_down_never_fails_the_email(
    directory: InMemoryDirectory, submit: RecordingSubmit
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = EmailSettings(domain=DOMAIN)
    gateway = EmailGateway(
        settings, directory, submit, RelaySettings("127.0.0.1", closed, timeout=2)
    )
    port = gateway.start("127.0.0.1", 0)
    try:
        submit.refuse["+33698765432"] = ("opted_out", "STOP")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            result = transact(smtp, [to(), to("0698765432")], email(SENT))
    finally:
        gateway.stop()
    assert _code(result.data) == (250, "2.0.0 1 SMS accepted, 1 refused")


def test_email_without_message_id_is_still_deduplicated(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    message = email(SENT).replace(b"Message-ID: <m1@garage-martin.fr>\r\n", b"")
    assert b"Message-ID" not in message
    transact(client, [to()], message)
    transact(client, [to()], b"Received: from relay2\r\n" + message)
    keys = {call[0].idempotency_key for call in submit.calls}
    assert len(submit.calls) == 2 and len(keys) == 1 and len(submit.sent) == 1


def test_submit_failure_answers_451_so_the_sender_retries(
    directory: InMemoryDirectory,
) -> None:
    def broken(requests: object) -> list[object]:
        raise ConnectionError("database unavailable")

    gateway = EmailGateway(EmailSettings(domain=DOMAIN), directory, broken)  # type: ignore[arg-type]
    port = gateway.start("127.0.0.1", 0)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            result = transact(smtp, [to()], email(SENT))
    finally:
        gateway.stop()
    assert _code(result.data)[0] == 451


def test_secret_guessing_is_throttled_per_client(
    client: smtplib.SMTP, submit: RecordingSubmit
) -> None:
    guesses = [to(secret=f"guess{i}") for i in range(6)] + [to()]
    result = transact(client, guesses, email())
    assert [code for code, _ in result.rcpts] == [550] * 5 + [451] * 2
    assert _code(result.rcpts[-1])[1].startswith("4.7.1 Too many unknown address secrets")
    assert submit.calls == []


def test_delivery_failure_notice(
    gateway: EmailGateway, directory: InMemoryDirectory, relay: CapturingRelay
) -> None:
    metadata = {"email_sender": BOB, "email_message_id": "<m1@x>", "email_subject": "RDV"}
    data = {"account": GARAGE.account, "to": "+33612345678", "metadata": metadata}
    gateway.handle_status("msg_1", "undeliverable", data)
    directory.add(replace(GARAGE, delivery_notices=True))
    gateway.handle_status("msg_1", "delivered", data)
    gateway.handle_status("msg_1", "undeliverable", {**data, "reason": "absent subscriber"})
    [notice] = relay.messages
    assert notice["Subject"] == "SMS not delivered: RDV" and notice["To"] == BOB
    assert body_of(notice) == (
        "The SMS to +33612345678 was not delivered (undeliverable).\n\nReason: absent subscriber\n"
    )
