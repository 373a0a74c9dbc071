"""An HTTP session whose configured CA file is really used.

``requests`` lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's own ``verify``
(the environment is merged in as if it were a per-request argument). A deployment that sets
``ca_bundle`` for a private PKI, and the tests' self-signed fakes, need the opposite.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings


class PinnedCaSession(requests.Session):
    """A :class:`requests.Session` whose ``verify`` wins over the CA-bundle environment."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        super().__init__()
        if ca_bundle:
            self.verify = ca_bundle

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: MutableMapping[str, str] | None,
        stream: bool | None,
        verify: bool | str | None,
        cert: Any,
    ) -> _Settings:
        if verify is None or verify is True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)
