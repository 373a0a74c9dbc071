"""The errors the webhooks package raises, as branches of the one tree in :mod:`sms_core.errors`.

::

    HubError
    ├── VerificationError     an inbound request that cannot be trusted (401):
    │                         signature_invalid, stale_request, replayed_request
    ├── UnsafeUrlError        a callback URL that points inside the network (422): unsafe_url
    └── PayloadTooLargeError  an event that cannot be shrunk under the size cap (422)

They live here rather than in ``sms_core.errors`` because only this package raises them; the hub
renders them like any other :class:`HubError` (``code``, ``status``, ``to_dict()``).
"""

from __future__ import annotations

from sms_core.errors import HubError

SIGNATURE_INVALID = "signature_invalid"
STALE_REQUEST = "stale_request"
REPLAYED_REQUEST = "replayed_request"


class VerificationError(HubError):
    """An inbound request failed authentication: forged, stale or replayed.

    ``code`` is one of ``signature_invalid`` (the default), ``stale_request`` or
    ``replayed_request``. The message never echoes the expected secret or signature.
    """

    code = SIGNATURE_INVALID
    status = 401


class UnsafeUrlError(HubError):
    """A URL the hub refuses to call: wrong scheme, or a host that resolves to a private,
    loopback, link-local, metadata or otherwise non-public address."""

    code = "unsafe_url"
    status = 422


class PayloadTooLargeError(HubError):
    """An outbound event whose envelope stays over the size cap even after truncation."""

    code = "payload_too_large"
    status = 422


class UnresolvableHostError(UnsafeUrlError):
    """The callback host has no address right now. Refused at registration; at delivery time
    it is a transient failure (DNS can come back), unlike an address that is forbidden."""

    code = "unresolvable_host"
