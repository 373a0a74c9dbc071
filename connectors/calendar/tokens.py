"""Token documents of connections: encrypted at rest, refreshed on demand.

A connection's tokens are one JSON document, encrypted by the hub's :class:`TokenCipher` before
they reach the store. :class:`TokenVault` hands out valid access tokens, refreshing them through
the provider's OAuth client when they are (about to be) expired or when the API said 401.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

from sms_core.errors import ConnectorAuthError

from .models import Tokens
from .store import CalendarStore, TokenCipher

if TYPE_CHECKING:
    from .oauth import GoogleOAuth, MicrosoftOAuth


class TokenVault:
    """Load, refresh and save the tokens of connections."""

    def __init__(
        self,
        store: CalendarStore,
        cipher: TokenCipher,
        google: GoogleOAuth | None,
        microsoft: MicrosoftOAuth | None,
        now: Callable[[], float],
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.google = google
        self.microsoft = microsoft
        self.now = now
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def save(self, connection_id: str, tokens: Tokens) -> None:
        plaintext = json.dumps(asdict(tokens)).encode()
        self.store.save_tokens(connection_id, self.cipher.encrypt(plaintext))

    def load(self, connection_id: str) -> Tokens:
        ciphertext = self.store.load_tokens(connection_id)
        if ciphertext is None:
            raise ConnectorAuthError("connection has no tokens", code="invalid_grant")
        return Tokens(**json.loads(self.cipher.decrypt(ciphertext)))

    def access_token(self, connection_id: str, provider: str, force: bool = False) -> str:
        """A valid access token; refreshes (and saves) when expired or ``force``.

        One lock per connection: two syncs of the same connection must not both spend the
        refresh token (Microsoft rotates it, so the second refresh would use a dead one).
        """
        with self._lock(connection_id):
            tokens = self.load(connection_id)
            now = self.now()
            if not force and not tokens.expired(now):
                return tokens.access_token
            tokens = self._refresh(provider, tokens, now, force)
            self.save(connection_id, tokens)
            return tokens.access_token

    def _refresh(self, provider: str, tokens: Tokens, now: float, force: bool) -> Tokens:
        if provider == "google" and self.google is not None:
            return self.google.refresh(tokens, now)
        if provider == "microsoft" and self.microsoft is not None:
            return self.microsoft.refresh(tokens, now, force=force)
        raise ConnectorAuthError(f"{provider} is not configured", code="provider_not_configured")

    def _lock(self, connection_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(connection_id, threading.Lock())
