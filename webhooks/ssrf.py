"""The SSRF guard for customer callback URLs.

A callback URL is customer input that makes the hub open connections, so it must never reach
the hub's own network: loopback, RFC 1918 and unique-local ranges, link-local (where cloud
metadata services live), CGNAT, multicast, reserved and unspecified addresses, and the same
addresses hidden in IPv6 forms (IPv4-mapped, 6to4, NAT64). The check runs on every address
the host resolves to (all must pass: a resolver may answer several and the socket layer picks
one), at registration and again before every connection.

Checking the name and then letting the HTTP library resolve it again would open a DNS-rebinding
window, so :func:`safe_session` returns a ``requests`` session whose adapter checks each request
URL itself and connects to the exact address it checked, while TLS still verifies the
certificate against the hostname. The session never follows redirects (they come back as the
response; proxies and environment settings are ignored); :mod:`webhooks.delivery` decides about
redirects and sends every hop through the same session, so each hop is checked again.

An operator may open holes with ``allowlist`` (addresses or networks, e.g. ``"10.1.2.0/24"``
for an on-premise receiver, or ``"127.0.0.1"`` in tests): an allowlisted address passes
whatever its range.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .errors import UnresolvableHostError, UnsafeUrlError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
AllowList = Iterable[str | IPNetwork | IPAddress]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

_PINNED: ContextVar[str | None] = ContextVar("smshub_webhooks_pinned_address", default=None)


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed :func:`check_url`, with every address its host resolved to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]
    host_header: str

    @property
    def pinned(self) -> IPAddress:
        """The address to connect to: the first one the resolver gave (all were checked)."""
        return self.addresses[0]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for a TCP connection to ``host:port``, in order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for *_, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def forbidden_reason(address: IPAddress) -> str | None:
    """Why an address must not be called, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = forbidden_reason(embedded)
            return f"IPv6 form of a {inner} IPv4 address" if inner else None
        if address in NAT64_LOCAL:
            return "local NAT64"
    checks: tuple[tuple[bool, str], ...] = (
        (address in METADATA_ADDRESSES, "cloud metadata"),
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "shared (CGNAT)"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-global"),
    )
    return next((reason for hit, reason in checks if hit), None)


def check_url(
    url: str,
    *,
    allow_http: bool = False,
    allowlist: AllowList = (),
    resolver: Resolver = system_resolver,
) -> CheckedUrl:
    """Parse, resolve and check a callback URL; raise :class:`UnsafeUrlError` if refused.

    https is required unless ``allow_http``. Literal IPs in any notation the system resolver
    accepts (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) are judged by the address they
    resolve to. :class:`UnresolvableHostError` means the name has no address now.
    """
    scheme, host, port, host_header = _parse(url, allow_http)
    try:
        raw = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHostError(f"cannot resolve {host!r}", host=host) from exc
    if not raw:
        raise UnresolvableHostError(f"{host!r} has no address", host=host)
    networks = _networks(allowlist)
    addresses = tuple(ipaddress.ip_address(a.split("%", 1)[0]) for a in raw)
    for address in addresses:
        if _allowed(address, networks):
            continue
        reason = forbidden_reason(address)
        if reason:
            raise UnsafeUrlError(
                f"{host!r} resolves to {address}, a {reason} address", host=host, reason=reason
            )
    return CheckedUrl(url, scheme, host, port, addresses, host_header)


def _parse(url: str, allow_http: bool) -> tuple[str, str, int, str]:
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsafeUrlError("URL contains whitespace or control characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        raise UnsafeUrlError(f"URL scheme must be {' or '.join(schemes)}")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrlError("URL port is invalid") from exc
    if not parts.hostname:
        raise UnsafeUrlError("URL has no host")
    return parts.scheme.lower(), parts.hostname, port, parts.netloc.rpartition("@")[2]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried by an IPv4-mapped, 6to4 or well-known NAT64 IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _networks(allowlist: AllowList) -> list[IPNetwork]:
    return [ipaddress.ip_network(entry, strict=False) for entry in allowlist]


def _allowed(address: IPAddress, networks: list[IPNetwork]) -> bool:
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        forms.append(address.ipv4_mapped)
    return any(form in net for form in forms for net in networks if form.version == net.version)


class PinnedAdapter(HTTPAdapter):
    """A transport adapter that checks each request URL and connects to the checked address.

    The request keeps its hostname for the ``Host`` header, TLS SNI and certificate checks;
    only the TCP connection goes to the address that passed :func:`check_url`, so a second,
    different DNS answer can never be used. Proxies are refused: they would resolve the name
    themselves.
    """

    def __init__(
        self,
        *,
        allow_http: bool = False,
        allowlist: AllowList = (),
        resolver: Resolver = system_resolver,
        **kwargs: Any,
    ) -> None:
        self.allow_http = allow_http
        self.allowlist = tuple(_networks(allowlist))
        self.resolver = resolver
        super().__init__(**kwargs)

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if any((kwargs.get("proxies") or {}).values()):
            raise UnsafeUrlError("callbacks are never sent through a proxy")
        checked = self.check(request.url or "")
        request.headers["Host"] = checked.host_header
        token = _PINNED.set(str(checked.pinned))
        try:
            return super().send(request, *args, **kwargs)
        finally:
            _PINNED.reset(token)

    def check(self, url: str) -> CheckedUrl:
        """:func:`check_url` with this adapter's settings."""
        return check_url(
            url, allow_http=self.allow_http, allowlist=self.allowlist, resolver=self.resolver
        )

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        base_host, base_pool = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params: dict[str, Any] = dict(base_host)
        pool_kwargs: dict[str, Any] = dict(base_pool)
        pinned = _PINNED.get()
        if pinned is None:
            raise UnsafeUrlError("connection requested without a checked address")
        hostname = host_params["host"]
        host_params["host"] = pinned
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs


class CallbackSession(requests.Session):
    """A session that hands every redirect back to the caller instead of following it."""

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(())


def safe_session(
    *,
    allow_http: bool = False,
    allowlist: AllowList = (),
    resolver: Resolver = system_resolver,
    user_agent: str = "smshub-webhooks/1",
) -> requests.Session:
    """A ``requests`` session for callbacks: every request checked and pinned, no redirects
    followed (a 3xx comes back as the response), no proxies or ``.netrc`` from the
    environment. Reuse one per worker: its connection pools are keyed by the pinned address."""
    session = CallbackSession()
    session.trust_env = False
    session.headers["User-Agent"] = user_agent
    adapter = PinnedAdapter(allow_http=allow_http, allowlist=allowlist, resolver=resolver)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
