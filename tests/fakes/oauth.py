"""A stateful fake of the Google and Microsoft identity platforms' OAuth 2.0 endpoints.

It implements what the connector's libraries (authlib, msal) really exchange: an authorization
endpoint that consents at once and redirects back with a code, the token endpoint's
``authorization_code`` grant with PKCE (S256) and its ``refresh_token`` grant, error bodies in
each provider's dialect (``invalid_grant``; AADSTS codes for Microsoft), and for Microsoft the
OpenID discovery document msal reads from ``<authority>/v2.0/.well-known/openid-configuration``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Flavor = Literal["google", "microsoft"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Grant:
    """One user's consent to one client: its live refresh tokens and access tokens."""

    user: str
    client_id: str
    scope: str
    refresh_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class FakeOAuth:
    """The identity provider. ``base`` is the URL it is mounted at (set once served)."""

    flavor: Flavor
    client_id: str = "client-id"
    client_secret: str = "client-secret"
    user: str = "dr.martin@example.com"
    tenant: str = "organizations"
    lifetime: int = 3600
    base: str = ""
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what tests do to the provider -------------------------------------------------------
    def revoke(self, user: str | None = None) -> None:
        """The user withdraws consent: refresh tokens die, access tokens too."""
        with self.lock:
            for grant in self.grants.values():
                if user is None or grant.user == user:
                    grant.revoked = True
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired."""
        with self.lock:
            self.access_tokens.clear()

    def user_of(self, access_token: str) -> str | None:
        """The user an access token speaks for, or None when it is unknown or expired."""
        found = self.access_tokens.get(access_token)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def refresh_grants(self) -> int:
        return sum(1 for r in self.token_requests if r.get("grant_type") == "refresh_token")

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path.rstrip("/")
        if path.endswith("/.well-known/openid-configuration"):
            response = self._discovery()
        elif path.endswith("/authorize") or path.endswith("/auth"):
            response = self._authorize(request)
        elif path.endswith("/token") and request.method == "POST":
            response = self._token(request)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def endpoint(self, name: str) -> str:
        if self.flavor == "google":
            return f"{self.base}/{'o/oauth2/v2/auth' if name == 'authorize' else 'token'}"
        return f"{self.base}/{self.tenant}/oauth2/v2.0/{name}"

    def _discovery(self) -> Response:
        doc = {
            "issuer": f"{self.base}/{self.tenant}/v2.0",
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "profile", "offline_access"],
        }
        return _json(doc)

    def _authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return Response("unknown client", status=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {k: args.get(k, "") for k in (
            "redirect_uri", "scope", "code_challenge", "code_challenge_method", "nonce",
            "access_type", "prompt",
        )}  # fmt: skip
        query = {"code": code, "state": args.get("state", "")}
        if args.get("response_mode") == "form_post":
            return Response(_form_post(args["redirect_uri"], query), mimetype="text/html")
        return Response(
            status=302, headers={"Location": f"{args['redirect_uri']}?{urlencode(query)}"}
        )

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.token_requests.append(form)
        client_id, client_secret = self._client(request, form)
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._error("invalid_client", "The OAuth client was not found.", 7000215, 401)
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        if form.get("grant_type") == "refresh_token":
            return self._refresh_grant(form)
        return self._error("unsupported_grant_type", "grant type not supported", 70003)

    @staticmethod
    def _client(request: Request, form: dict[str, str]) -> tuple[str, str]:
        if request.authorization and request.authorization.type == "basic":
            return request.authorization.username or "", request.authorization.password or ""
        return form.get("client_id", ""), form.get("client_secret", "")

    def _code_grant(self, form: dict[str, str]) -> Response:
        issued = self.codes.pop(form.get("code", ""), None)
        if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
            return self._error("invalid_grant", "Malformed auth code.", 70000)
        challenge = _b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if issued["code_challenge"] and challenge != issued["code_challenge"]:
            return self._error("invalid_grant", "PKCE verification failed.", 501481)
        grant = Grant(self.user, self.client_id, issued["scope"])
        grant_id = secrets.token_hex(8)
        self.grants[grant_id] = grant
        return self._issue(grant_id, grant, issued.get("nonce", ""), refresh=True)

    def _refresh_grant(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        for grant_id, grant in self.grants.items():
            if token in grant.refresh_tokens:
                if grant.revoked:
                    break
                if self.flavor == "microsoft":
                    grant.refresh_tokens.discard(token)  # Microsoft rotates refresh tokens
                return self._issue(grant_id, grant, "", refresh=self.flavor == "microsoft")
        if self.flavor == "google":
            return self._error("invalid_grant", "Token has been expired or revoked.", 0)
        return self._error(
            "invalid_grant",
            "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth "
            "token is needed. The user might have changed or reset their password.",
            50173,
        )

    def _issue(self, grant_id: str, grant: Grant, nonce: str, *, refresh: bool) -> Response:
        access = "at-" + secrets.token_urlsafe(16)
        with self.lock:
            self.access_tokens[access] = (grant.user, time.time() + self.lifetime)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": grant.scope,
        }
        if refresh:
            body["refresh_token"] = "rt-" + secrets.token_urlsafe(16)
            grant.refresh_tokens.add(body["refresh_token"])
        if self.flavor == "microsoft":
            body.update(self._microsoft_identity(grant, nonce))
        return _json(body)

    def _microsoft_identity(self, grant: Grant, nonce: str) -> dict[str, Any]:
        """``id_token`` (unsigned: msal does not validate it) and ``client_info``, which msal
        turns into the cached account the silent refresh looks up."""
        uid, utid = "00000000-0000-0000-0000-0000000000aa", "11111111-0000-0000-0000-0000000000bb"
        now = int(time.time())
        claims = {
            "iss": f"{self.base}/{utid}/v2.0", "aud": self.client_id, "iat": now,
            "nbf": now, "exp": now + 3600, "oid": uid, "tid": utid, "sub": uid,
            "preferred_username": grant.user, "name": "Dr Martin", "nonce": nonce,
        }  # fmt: skip
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        id_token = f"{header}.{_b64(json.dumps(claims).encode())}."
        client_info = _b64(json.dumps({"uid": uid, "utid": utid}).encode())
        return {"id_token": id_token, "client_info": client_info, "ext_expires_in": self.lifetime}

    def _error(self, error: str, description: str, code: int, status: int = 400) -> Response:
        body: dict[str, Any] = {"error": error, "error_description": description}
        if self.flavor == "microsoft":
            body["error_description"] = (
                description if description.startswith("AADSTS") else f"AADSTS{code}: {description}"
            )
            body.update(
                error_codes=[code],
                timestamp=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                trace_id=secrets.token_hex(8),
                correlation_id=secrets.token_hex(8),
            )
        return _json(body, status)


def _form_post(action: str, fields: dict[str, str]) -> str:
    """The self-submitting page of ``response_mode=form_post`` (OAuth 2.0 Form Post)."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}"/>' for k, v in fields.items()
    )
    return (
        f'<html><body onload="document.forms[0].submit()"><form method="post" '
        f'action="{escape(action)}">{inputs}</form></body></html>'
    )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers or {}
    )
