"""Inbound HTTP from operators and providers (verified), outbound signed status callbacks.

Outbound, for each status change the hub wants a customer to hear about::

    event = make_event("message.delivered", {"message_id": ..., "status": ...})
    queue.push(f"{endpoint_id}:{message_id}", event.id)          # queue = CallbackQueue(store)
    for item in queue.due():                                     # in an RQ job
        attempt = deliver(url, event, secrets, session=session)  # session = safe_session()
        outcome = queue.record(item, attempt)                    # delivered / retry / dead

Inbound, register ``create_inbound_blueprint(resolve_route, sink, seen=redis_seen_store)``.
Callback URLs are checked with :func:`check_url` when registered and again on every connection.
"""

from .blueprint import create_inbound_blueprint
from .clock import Clock, ManualClock, utc_now
from .delivery import DeliveryAttempt, Endpoint, deliver
from .errors import (
    PayloadTooLargeError,
    UnresolvableHostError,
    UnsafeUrlError,
    VerificationError,
)
from .events import EVENT_TYPES, Event, make_event, parse_event
from .inbound import InboundRequest, RouteAuth, Verified, verify_request
from .ordering import (
    CallbackQueue,
    CallbackStore,
    MemoryCallbackStore,
    Outcome,
    QueuedCallback,
    process_due,
)
from .replay import MemorySeenStore, SeenStore
from .retry import RetryPolicy, next_attempt_at
from .signing import generate_secret, sign, verify
from .ssrf import CheckedUrl, check_url, safe_session

__all__ = [
    "EVENT_TYPES",
    "CallbackQueue",
    "CallbackStore",
    "CheckedUrl",
    "Clock",
    "DeliveryAttempt",
    "Endpoint",
    "Event",
    "InboundRequest",
    "ManualClock",
    "MemoryCallbackStore",
    "MemorySeenStore",
    "Outcome",
    "PayloadTooLargeError",
    "QueuedCallback",
    "RetryPolicy",
    "RouteAuth",
    "SeenStore",
    "UnresolvableHostError",
    "UnsafeUrlError",
    "VerificationError",
    "Verified",
    "check_url",
    "create_inbound_blueprint",
    "deliver",
    "generate_secret",
    "make_event",
    "next_attempt_at",
    "parse_event",
    "process_due",
    "safe_session",
    "sign",
    "utc_now",
    "verify",
    "verify_request",
]
