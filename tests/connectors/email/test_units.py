"""The small pieces: addresses, sender matching, credentials, rate limits, length fitting."""

from __future__ import annotations

import pytest

from connectors.email.addressing import AddressError, normalize_number, parse_recipient
from connectors.email.directory import InMemoryDirectory, sender_allowed
from connectors.email.length import fit_text
from connectors.email.limits import RateLimiter
from connectors.email.settings import EmailAccount, EmailSettings, RelaySettings
from sms_core.encoding import analyze
from sms_core.errors import EncodingError, InvalidNumberError

DOMAIN = "sms.example.com"


@pytest.mark.parametrize(
    ("address", "number", "secret"),
    [
        ("0612345678@sms.example.com", "0612345678", None),
        ("+33612345678@SMS.Example.com", "+33612345678", None),
        ("<33612345678.s3cr-t_X@sms.example.com>", "33612345678", "s3cr-t_X"),
        ("06-12-34-56-78.abc@sms.example.com", "0612345678", "abc"),
        ('"0612345678"@sms.example.com', "0612345678", None),
    ],
)
def test_parse_recipient(address: str, number: str, secret: str | None) -> None:
    recipient = parse_recipient(address, DOMAIN)
    assert (recipient.number, recipient.secret) == (number, secret)


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("0612345678@gmail.com", "550 5.7.1"),
        ("0612345678@sub.sms.example.com", "550 5.7.1"),
        ("bob@sms.example.com", "550 5.1.1"),
        ("06.12.34.56.78@sms.example.com", "550 5.1.1"),
        ("0612345678.sec.ret@sms.example.com", "550 5.1.1"),
        ("no-at-sign", "550 5.7.1"),
    ],
)
def test_parse_recipient_refusals(address: str, status: str) -> None:
    with pytest.raises(AddressError) as refused:
        parse_recipient(address, DOMAIN)
    assert refused.value.status.startswith(status)


def test_normalize_number_retries_bare_international_digits() -> None:
    seen: list[str] = []

    def strict(raw: str, region: str) -> str:
        seen.append(raw)
        if not raw.startswith("+"):
            raise InvalidNumberError("national read failed")
        return raw

    assert normalize_number("33612345678", "FR", strict) == "+33612345678"
    assert seen == ["33612345678", "+33612345678"]
    with pytest.raises(InvalidNumberError):
        normalize_number("0612345678", "FR", strict)


def test_normalize_number_keeps_the_precise_refusal() -> None:
    with pytest.raises(InvalidNumberError) as refused:
        normalize_number("0145454545", "FR")
    assert refused.value.code == "fixed_line"


ACCOUNT = EmailAccount("a", senders=("*@garage.fr", "Boss@Gmail.com"), secret="s")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("bob@garage.fr", True),
        ("BOB@GARAGE.FR", True),
        ("<boss@gmail.com>", True),
        ("other@gmail.com", False),
        ("bob@evil-garage.fr", False),
        ("bob@garage.fr.evil.com", False),
        ("bob@sub.garage.fr", False),
        ("garage.fr", False),
        ("", False),
        ("été@garage.fr", True),
    ],
)
def test_sender_allowed(address: str, allowed: bool) -> None:
    assert sender_allowed(ACCOUNT, address) is allowed


def test_in_memory_directory() -> None:
    directory = InMemoryDirectory([EmailAccount("b", secret="other")])
    directory.add(ACCOUNT, username="Garage", password="pässword")
    assert directory.authenticate("garage", "pässword") == ACCOUNT
    assert directory.authenticate("garage", "password") is None
    assert directory.authenticate("nobody", "pässword") is None
    assert directory.by_secret("s") == ACCOUNT
    assert directory.by_secret("S") is None
    assert directory.by_secret("sécret") is None
    assert directory.get("b") == EmailAccount("b", secret="other")


def test_rate_limiter_refills_and_forgets_idle_senders() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0], max_keys=2)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.wait("a") == 1.0
    now[0] = 1.0
    assert limiter.take("a") == 0.0 and limiter.take("a") == 1.0
    limiter.take("b")
    now[0] = 10.0  # both buckets full again: forgotten when a third key arrives
    limiter.take("c")
    assert set(limiter._buckets) == {"c"}


def test_fit_text_within_the_cap_is_unchanged() -> None:
    fitted = fit_text("Prête", transliterate=False, max_parts=1, truncate=False)
    assert (fitted.text, fitted.segments, fitted.truncated) == ("Prête", 1, False)


def test_fit_text_refuses_over_the_cap_unless_truncating() -> None:
    with pytest.raises(EncodingError) as refused:
        fit_text("a" * 161, transliterate=False, max_parts=1, truncate=False)
    assert refused.value.code == "too_long"


@pytest.mark.parametrize(
    ("text", "cap", "expected"),
    [
        ("mot " * 60, 1, "mot " * 38 + "mot..."),
        ("x" * 200, 1, "x" * 157 + "..."),
        ("Réparé 👍🏽 " * 20, 1, None),
        ("🇫🇷" * 80, 1, "🇫🇷" * 17 + "…"),  # 4 UTF-16 units each
    ],
)
def test_fit_text_truncates_at_a_safe_point(text: str, cap: int, expected: str | None) -> None:
    fitted = fit_text(text, transliterate=False, max_parts=cap, truncate=True)
    assert fitted.truncated and fitted.segments <= cap
    assert analyze(fitted.text, max_parts=cap).segments <= cap
    if expected is not None:
        assert fitted.text == expected
    assert text.startswith(fitted.text.rstrip(".…").rstrip())


def test_fit_text_transliterated_keeps_gsm_ellipsis() -> None:
    fitted = fit_text("«Réparé» " * 40, transliterate=True, max_parts=1, truncate=True)
    assert fitted.encoding == "GSM-7" and fitted.text.endswith("...")


def test_settings_from_the_hub_namespace() -> None:
    namespace = {
        "domain": "sms.garage.fr",
        "max_recipients": "5",
        "rate_per_minute": "2.5",
        "subject_mode": "prepend",
        "cut_markers": "#END, #FIN",
        "disclaimer_patterns": "^Confidential, really\n^Avis",
        "auth_require_tls": "false",
        "tls_cert_file": "",
        "relay_host": "mx.garage.fr",
        "relay_port": "587",
        "relay_starttls": "yes",
    }
    settings = EmailSettings.from_namespace(namespace)
    assert settings == EmailSettings(
        domain="sms.garage.fr",
        max_recipients=5,
        rate_per_minute=2.5,
        subject_mode="prepend",
        cut_markers=("#END", "#FIN"),
        disclaimer_patterns=("^Confidential, really", "^Avis"),
        auth_require_tls=False,
        tls_cert_file=None,
    )
    assert RelaySettings.from_namespace(namespace) == RelaySettings(
        host="mx.garage.fr", port=587, starttls=True
    )
    assert RelaySettings.from_namespace({"domain": "x"}) is None


@pytest.mark.parametrize(
    ("namespace", "message"),
    [
        ({"domian": "x"}, "unknown EmailSettings settings: domian"),
        ({"subject_mode": "always"}, "subject_mode must be one of"),
        ({"max_recipients": "many"}, "invalid literal"),
    ],
)
def test_settings_typos_are_errors(namespace: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmailSettings.from_namespace(namespace)
