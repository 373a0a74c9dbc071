"""The SSRF guard: refused addresses in every notation, allowlist, pinning against rebinding."""

from __future__ import annotations

import ipaddress

import pytest

from tests.webhooks.conftest import Receiver
from webhooks.errors import UnresolvableHostError, UnsafeUrlError
from webhooks.ssrf import check_url, forbidden_reason, safe_session

FORBIDDEN_HOSTS = [
    "127.0.0.1",
    "[::1]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "localhost",
    "0.0.0.0",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "2130706433",
    "0x7f.1",
    "100.64.0.1",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "[fc00::1]",
    "224.0.0.1",
    "240.0.0.1",
    "[64:ff9b::a00:1]",
    "[2002:7f00:1::]",
]


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_internal_addresses_are_refused_in_every_notation(scheme: str, host: str) -> None:
    with pytest.raises(UnsafeUrlError) as info:
        check_url(f"{scheme}://{host}/hook", allow_http=True)
    assert info.value.code == "unsafe_url"


def test_https_is_required_unless_http_is_allowed() -> None:
    public = lambda host, port: ["93.184.215.14"]  # noqa: E731
    with pytest.raises(UnsafeUrlError, match="scheme"):
        check_url("http://hooks.example/x", resolver=public)
    assert check_url("http://hooks.example/x", allow_http=True, resolver=public).port == 80
    for bad in ("ftp://hooks.example/", "file:///etc/passwd", "https:///nohost", "gopher://x"):
        with pytest.raises(UnsafeUrlError):
            check_url(bad, resolver=public)


def test_a_public_host_passes_and_reports_its_addresses() -> None:
    checked = check_url(
        "https://user:pw@hooks.example:8443/cb?x=1",
        resolver=lambda host, port: ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    )
    assert checked.host == "hooks.example" and checked.port == 8443
    assert checked.host_header == "hooks.example:8443"
    assert [str(a) for a in checked.addresses] == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]


def test_every_resolved_address_must_pass() -> None:
    mixed = lambda host, port: ["93.184.215.14", "10.0.0.7"]  # noqa: E731
    with pytest.raises(UnsafeUrlError, match=r"10\.0\.0\.7"):
        check_url("https://hooks.example/", resolver=mixed)


def test_an_unresolvable_host_is_its_own_error() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(UnresolvableHostError):
        check_url("https://nowhere.invalid/", resolver=fail)


def test_the_allowlist_opens_exactly_what_it_names() -> None:
    assert check_url("http://127.0.0.1:9/", allow_http=True, allowlist=["127.0.0.1"])
    assert check_url("https://10.1.2.3/", allowlist=["10.1.2.0/24"])
    assert check_url("https://[::ffff:127.0.0.1]/", allowlist=["127.0.0.0/8"])
    with pytest.raises(UnsafeUrlError):
        check_url("https://10.1.3.3/", allowlist=["10.1.2.0/24"])


def test_reasons_name_the_range() -> None:
    reason = forbidden_reason
    assert reason(ipaddress.ip_address("169.254.169.254")) == "cloud metadata"
    assert reason(ipaddress.ip_address("127.0.0.2")) == "loopback"
    assert reason(ipaddress.ip_address("100.64.1.1")) == "shared (CGNAT)"
    assert reason(ipaddress.ip_address("::ffff:10.0.0.1")) == "IPv6 form of a private IPv4 address"
    assert reason(ipaddress.ip_address("8.8.8.8")) is None
    assert reason(ipaddress.ip_address("2001:4860:4860::8888")) is None


def test_the_session_refuses_forbidden_urls_before_connecting(receiver: Receiver) -> None:
    session = safe_session(allow_http=True)
    with pytest.raises(UnsafeUrlError):
        session.post(receiver.url(), data=b"{}", timeout=2)
    assert receiver.requests == []


def test_the_allowlist_lets_the_loopback_receiver_through(receiver: Receiver) -> None:
    session = safe_session(allow_http=True, allowlist=["127.0.0.1"])
    response = session.post(receiver.url(), data=b"{}", timeout=2)
    assert response.status_code == 200
    assert receiver.requests[0].body == b"{}"


def test_connections_are_pinned_to_the_checked_address(receiver: Receiver) -> None:
    """The name is resolved once, by the check; the socket goes to that address."""
    answers: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["10.9.9.9"]

    session = safe_session(allow_http=True, allowlist=["127.0.0.1"], resolver=rebinding)
    response = session.post(receiver.url(host="hooks.rebind.test"), data=b"x", timeout=2)
    assert response.status_code == 200
    assert answers == ["hooks.rebind.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.rebind.test:{receiver.port}"
    with pytest.raises(UnsafeUrlError, match=r"10\.9\.9\.9"):
        session.post(receiver.url(host="hooks.rebind.test"), data=b"x", timeout=2)
    assert len(receiver.requests) == 1


def test_the_session_never_follows_redirects_or_uses_proxies(receiver: Receiver) -> None:
    from tests.webhooks.conftest import redirect

    receiver.respond(redirect("http://10.0.0.1/"))
    session = safe_session(allow_http=True, allowlist=["127.0.0.1"])
    for follow in (False, True):
        response = session.post(receiver.url(), data=b"{}", timeout=2, allow_redirects=follow)
        assert response.status_code == 307
    assert len(receiver.requests) == 2
    with pytest.raises(UnsafeUrlError, match="proxy"):
        session.post(
            receiver.url(), data=b"{}", timeout=2, proxies={"http": "http://10.0.0.1:3128"}
        )


def test_ipv6_addresses_are_pinned_too() -> None:
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    try:
        server = make_server("::1", 0, lambda e, s: Response(e["HTTP_HOST"])(e, s))
    except OSError:
        pytest.skip("this host has no IPv6 loopback")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_port
        session = safe_session(allow_http=True, allowlist=["::1"], resolver=lambda h, p: ["::1"])
        response = session.get(f"http://hooks.v6.test:{port}/", timeout=2)
        assert response.text == f"hooks.v6.test:{port}"
        with pytest.raises(UnsafeUrlError):
            safe_session(allow_http=True).get(f"http://[::1]:{port}/", timeout=2)
    finally:
        server.shutdown()
        server.server_close()
