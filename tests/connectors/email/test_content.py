"""MIME → text, table-driven: HTML conversion, cleaning, charsets, subject modes."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from connectors.email.cleanup import clean_body, compile_disclaimers
from connectors.email.content import (
    ContentOptions,
    decode_bytes,
    header_text,
    message_text,
    parse_message,
)
from connectors.email.markup import html_to_text
from connectors.email.settings import DEFAULT_DISCLAIMERS, EmailSettings


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Bonjour</p><p>À <b>demain</b></p>", "Bonjour\nÀ demain"),
        ("Ligne 1<br>Ligne 2<br/>Ligne 3", "Ligne 1\nLigne 2\nLigne 3"),
        ("<a href='https://x.fr'>le lien</a> et <img src='logo.png' alt='Logo'>", "le lien et"),
        ("<ul><li>pneus</li><li>vidange</li></ul>", "- pneus\n- vidange"),
        ("<style>.x{}</style><script>alert(1)</script>Texte", "Texte"),
        ("Oui<blockquote>Ancien <div>message</div></blockquote>", "Oui"),
        ("Oui<div class='gmail_quote'>Le lun. a écrit :<div>vieux</div></div>fin", "Oui\nfin"),
        ("<div id='divRplyFwdMsg'><b>From:</b> x</div>", ""),
        ("R&eacute;paration&nbsp;&amp; entretien &#8212; 50&euro;", "Réparation & entretien — 50€"),
        ("<table><tr><td>Total</td><td>50 €</td></tr></table>", "Total 50 €"),
        ("<p>non fermé <b>gras", "non fermé gras"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


DISCLAIMERS = compile_disclaimers(DEFAULT_DISCLAIMERS)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            "Bonjour,\n\n  Votre   voiture\u00a0est prête.  \n\n",
            "Bonjour,\nVotre voiture est prête.",
        ),
        ("Oui\n> non\n>> jamais\nmerci", "Oui\nmerci"),
        ("Oui\r\n\r\nLe 3 juin 2024 à 09:00, Jean <j@x.fr> a écrit :\r\n> question", "Oui"),
        ("Oui\nLe lun. 3 juin 2024 à 09:00, Jean Dupont\n<j@x.fr> a écrit :\n> q", "Oui"),
        ("Yes\nOn Mon, 3 Jun 2024, Jean wrote:\n> q", "Yes"),
        ("Yes\n---------- Forwarded message ---------\nFrom: a", "Yes"),
        ("Yes\nFrom: Jean\nSent: Monday\nTo: Bob\n\nOld text", "Yes"),
        ("Oui\n*De :* Jean\n*Envoyé :* lundi\nvieux", "Oui"),
        ("De : 10h à 12h, le garage est ouvert.", "De : 10h à 12h, le garage est ouvert."),
        ("Prête\n--\nBob", "Prête"),
        ("Prête\nSent from my Galaxy", "Prête"),
        ("Prête\nEnvoyé de mon iPad", "Prête"),
        ("Prête\nTélécharger Outlook pour Android", "Prête"),
        ("Prête #END signature", "Prête"),
        ("Prête\nThis email and any attachments are confidential and intended", "Prête"),
        ("Envoyé hier, le colis arrive.", "Envoyé hier, le colis arrive."),
    ],
)
def test_clean_body(body: str, text: str) -> None:
    assert clean_body(body, ("#END",), DISCLAIMERS) == text


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        ("Prête".encode(), "utf-8", "Prête"),
        ("“Prête”".encode("cp1252"), "iso-8859-1", "“Prête”"),
        ("“Prête”".encode("cp1252"), "us-ascii", "“Prête”"),
        ("Prête".encode("cp1252"), "utf-8", "Prête"),  # a lying declaration
        ("Prête".encode("cp1252"), None, "Prête"),
        ("Prête".encode(), "no-such-charset", "Prête"),
        ("Prête".encode("utf-16"), "utf-16", "Prête"),
        (b"caf\x81", "windows-1252", "caf\ufffd"),
        (b"aGVsbG8=", "base64", "aGVsbG8="),  # a bytes codec is not a charset
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, text: str) -> None:
    assert decode_bytes(data, charset) == text


def _options(**overrides: object) -> ContentOptions:
    return ContentOptions.from_settings(EmailSettings(**overrides))  # type: ignore[arg-type]


def _email(body: str, subject: str = "Re: TR: Voiture prête") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message.set_content(body)
    return message


@pytest.mark.parametrize(
    ("mode", "body", "text"),
    [
        ("ignore", "Corps", "Corps"),
        ("ignore", "", ""),
        ("fallback", "Corps", "Corps"),
        ("fallback", "-- \nsig", "Voiture prête"),
        ("prepend", "Corps", "Voiture prête\nCorps"),
        ("prepend", "", "Voiture prête"),
        ("text", "Corps", "Voiture prête"),
    ],
)
def test_subject_modes(mode: str, body: str, text: str) -> None:
    assert message_text(_email(body), _options(subject_mode=mode)) == text


def test_attachments_and_forwarded_messages_are_never_read() -> None:
    forwarded = EmailMessage()
    forwarded["Subject"] = "old"
    forwarded.set_content("Texte du message transféré")
    message = EmailMessage()
    message["Subject"] = "Pièces"
    message.set_content("x")
    message.clear_content()
    message.make_mixed()
    message.add_attachment("note.txt contents", filename="note.txt")
    message.attach(_as_rfc822(forwarded))
    parsed = parse_message(message.as_bytes(policy=SMTP))
    assert message_text(parsed, _options(subject_mode="ignore")) == ""
    assert message_text(parsed, _options()) == "Pièces"


def _as_rfc822(inner: EmailMessage) -> EmailMessage:
    wrapper = EmailMessage()
    wrapper.set_content(inner)
    return wrapper


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?utf-8?q?Pi=C3=A8ce?=", "Pièce"),
        ("=?iso-8859-1?b?UGnoY2U=?=", "Pièce"),
        ("=?x-bogus?q?abc?=", "=?x-bogus?q?abc?="),
        ("=?utf-8?b?not-base64!!?=", "=?utf-8?b?not-base64!!?="),
        ("plain\r\n folded", "plain folded"),
    ],
)
def test_header_text_never_raises(raw: str, text: str) -> None:
    parsed = parse_message(f"Subject: {raw}\r\n\r\nbody".encode())
    assert header_text(parsed, "Subject") == text
