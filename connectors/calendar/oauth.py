"""OAuth 2.0 authorization-code flows and token refresh for Google and Microsoft.

Google goes through authlib's ``OAuth2Session`` (PKCE, ``access_type=offline`` and
``prompt=consent`` so that Google hands out a refresh token every time the user connects).
Microsoft goes through msal's ``ConfidentialClientApplication`` auth-code flow (PKCE built in);
msal keeps tokens in its own cache, which is serialised into the connection's encrypted token
document so that each connection refreshes with its own refresh token.

A refused refresh (``invalid_grant``: consent revoked, password changed, token expired) raises
:class:`~sms_core.errors.ConnectorAuthError` with ``code="invalid_grant"``; the connector turns
that into ``needs_reauth``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msal
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from sms_core.errors import ConnectorAuthError, UpstreamError

from .models import Tokens

GOOGLE_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
MICROSOFT_SCOPES = ("Calendars.Read",)
"""msal adds ``openid profile offline_access`` itself (offline_access gives the refresh token)."""


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """The application's registration at the provider."""

    client_id: str
    client_secret: str
    redirect_uri: str


class GoogleOAuth:
    """Google's authorization-code flow with PKCE, and refresh, through authlib."""

    def __init__(
        self,
        client: OAuthClient,
        *,
        authorize_url: str,
        token_url: str,
        scopes: tuple[str, ...] = GOOGLE_SCOPES,
        verify: bool | str = True,
        timeout: float = 20.0,
    ) -> None:
        self.client = client
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.scopes = scopes
        self.verify = verify
        self.timeout = timeout

    def _session(self, **kwargs: Any) -> OAuth2Session:
        session = OAuth2Session(
            self.client.client_id,
            self.client.client_secret,
            scope=" ".join(self.scopes),
            redirect_uri=self.client.redirect_uri,
            code_challenge_method="S256",
            **kwargs,
        )
        return session

    def begin(self, state: str, code_verifier: str) -> str:
        """The URL to send the user to."""
        url, _ = self._session().create_authorization_url(
            self.authorize_url,
            state=state,
            code_verifier=code_verifier,
            access_type="offline",
            prompt="consent",
            include_granted_scopes="true",
        )
        return str(url)

    def complete(self, callback_url: str, state: str, code_verifier: str, now: float) -> Tokens:
        """Exchange the code of the redirect back to us for tokens."""
        session = self._session(state=state)
        try:
            token = session.fetch_token(
                self.token_url,
                authorization_response=callback_url,
                code_verifier=code_verifier,
                timeout=self.timeout,
                verify=self.verify,
            )
        except OAuthError as exc:
            raise _auth_error(exc) from exc
        return _tokens(token, now)

    def refresh(self, tokens: Tokens, now: float) -> Tokens:
        """New access token from the refresh token (Google keeps the refresh token unchanged)."""
        if not tokens.refresh_token:
            raise ConnectorAuthError("no refresh token: reconnect", code="invalid_grant")
        try:
            token = self._session().refresh_token(
                self.token_url,
                refresh_token=tokens.refresh_token,
                timeout=self.timeout,
                verify=self.verify,
            )
        except OAuthError as exc:
            raise _auth_error(exc) from exc
        except requests.RequestException as exc:
            raise UpstreamError(f"Google token endpoint unreachable: {exc}") from exc
        refreshed = _tokens(token, now)
        if refreshed.refresh_token is None:
            refreshed = Tokens(refreshed.access_token, tokens.refresh_token, refreshed.expires_at)
        return refreshed


class MicrosoftOAuth:
    """Microsoft identity platform through msal, one token cache per connection.

    One msal application serves every connection (building one costs an OpenID discovery
    request); each call loads the connection's cache into it under a lock and saves it back.
    """

    def __init__(
        self,
        client: OAuthClient,
        *,
        authority: str,
        http_client: requests.Session | None = None,
        scopes: tuple[str, ...] = MICROSOFT_SCOPES,
        validate_authority: bool = True,
    ) -> None:
        self.client = client
        self.scopes = list(scopes)
        self._cache = msal.SerializableTokenCache()
        self._lock = threading.Lock()
        self._app = msal.ConfidentialClientApplication(
            client.client_id,
            client_credential=client.client_secret,
            authority=authority,
            validate_authority=validate_authority,
            instance_discovery=None if validate_authority else False,
            token_cache=self._cache,
            http_client=http_client or requests.Session(),
        )

    def begin(self) -> dict[str, Any]:
        """msal's flow dict (state, PKCE verifier, nonce, ``auth_uri``) to keep until the
        callback; ``flow["auth_uri"]`` is the URL to send the user to."""
        flow: dict[str, Any] = self._app.initiate_auth_code_flow(
            self.scopes,
            redirect_uri=self.client.redirect_uri,
            prompt="select_account",
            response_mode="form_post",
        )
        return flow

    def complete(self, flow: dict[str, Any], query: Mapping[str, str], now: float) -> Tokens:
        with self._lock:
            self._cache.deserialize("{}")
            result = self._app.acquire_token_by_auth_code_flow(flow, dict(query))
            if "access_token" not in result:
                raise _msal_error(result)
            return self._tokens(result, now)

    def refresh(self, tokens: Tokens, now: float, *, force: bool = False) -> Tokens:
        """An access token from the connection's cache, refreshed by msal when needed."""
        with self._lock:
            self._cache.deserialize(tokens.msal_cache or "{}")
            accounts = self._app.get_accounts()
            account = next(
                (a for a in accounts if a.get("home_account_id") == tokens.account_id), None
            )
            if account is None:
                raise ConnectorAuthError("no Microsoft account in cache", code="invalid_grant")
            try:
                result = self._app.acquire_token_silent_with_error(
                    self.scopes, account, force_refresh=force
                )
            except requests.RequestException as exc:
                raise UpstreamError(f"Microsoft token endpoint unreachable: {exc}") from exc
            if not result or "access_token" not in result:
                raise _msal_error(result or {"error": "invalid_grant"})
            return self._tokens(result, now, account_id=tokens.account_id)

    def _tokens(self, result: dict[str, Any], now: float, account_id: str | None = None) -> Tokens:
        if account_id is None:
            accounts = self._app.get_accounts()
            account_id = accounts[0]["home_account_id"] if accounts else None
        return Tokens(
            access_token=result["access_token"],
            expires_at=now + float(result.get("expires_in", 3600)),
            msal_cache=self._cache.serialize(),
            account_id=account_id,
        )


def _tokens(token: Mapping[str, Any], now: float) -> Tokens:
    if "expires_in" in token:
        expires_at = now + float(token["expires_in"])
    else:
        expires_at = float(token.get("expires_at") or now + 3600)
    return Tokens(
        access_token=str(token["access_token"]),
        refresh_token=token.get("refresh_token"),
        expires_at=expires_at,
    )


def _auth_error(exc: OAuthError) -> ConnectorAuthError:
    code = "invalid_grant" if exc.error == "invalid_grant" else "oauth_error"
    return ConnectorAuthError(f"{exc.error}: {exc.description}", code=code)


def _msal_error(result: Mapping[str, Any]) -> ConnectorAuthError:
    """msal reports errors as dicts: ``error``, ``error_description`` (``AADSTS…``)."""
    error = str(result.get("error", "invalid_grant"))
    description = str(result.get("error_description", ""))
    code = "invalid_grant" if error in ("invalid_grant", "interaction_required") else "oauth_error"
    return ConnectorAuthError(
        f"{error}: {description}".strip(": "), code=code, aadsts=result.get("error_codes", [])
    )
