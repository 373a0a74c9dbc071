"""The one interface every operator driver implements (SMPP, HTTP, whatever comes next).

The dispatcher only ever talks to this protocol, so a route can move from one kind of operator
connection to another by changing its settings, never its callers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

from sms_core.dispatch.types import DeliveryReport, InboundSms, OutboundSms, SubmitOutcome

ReportCallback = Callable[[DeliveryReport], Awaitable[None] | None]
"""Called on the driver's event loop for each delivery report; may return an awaitable."""
InboundCallback = Callable[[InboundSms], Awaitable[None] | None]
"""Called on the driver's event loop for each reassembled MO message; may return an awaitable."""


@runtime_checkable
class Driver(Protocol):
    """A connection to one operator route.

    Lifecycle: the owner sets ``on_report`` / ``on_inbound``, awaits ``start()`` once, calls
    ``submit()`` concurrently as often as it likes (the driver applies its own window and rate),
    then awaits ``stop()``. ``start()`` never raises because the operator is down: the driver
    keeps reconnecting in the background and reports it through ``healthy``.
    """

    name: str
    on_report: ReportCallback | None
    on_inbound: InboundCallback | None

    @property
    def healthy(self) -> bool:
        """Whether a submit made now is expected to reach the operator."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, sms: OutboundSms) -> SubmitOutcome:
        """Send every part; never raises for operator trouble, the outcome tells."""
        ...


T = TypeVar("T")

DEFAULT_CAPACITY = 64
"""Submits assumed to be outstanding at once on a driver that does not say (no ``capacity``)."""


def capacity(driver: object) -> int:
    """Submits ``driver`` can have outstanding at once: its ``capacity`` when it has one."""
    return int(getattr(driver, "capacity", DEFAULT_CAPACITY))


async def deliver(callback: Callable[[T], Awaitable[None] | None] | None, item: T) -> None:
    """Hand ``item`` to an owner callback, awaiting it when it is a coroutine function."""
    if callback is None:
        return
    result = callback(item)
    if result is not None:
        await result
