"""Mobile-originated messages: decoding one deliver_sm and reassembling concatenated replies.

A customer's reply can arrive in several parts (a long answer, or one with an emoji that went
UCS-2); opt-out handling must see the whole text, so parts are held until all are there. Text
decoding is ``sms_core.encoding.decode_short_message`` (GSM-7 unpacked septets, UCS-2 BE,
Latin-1...), not a second copy of the alphabet tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sms_core import encoding
from sms_core.dispatch.types import ESM_CLASS_UDHI, InboundSms
from sms_core.errors import EncodingError

TLV_MESSAGE_PAYLOAD = 0x0424


@dataclass
class _Partial:
    total: int
    first_seen: float
    texts: dict[int, str] = field(default_factory=dict)


class MoAssembler:
    """Turns deliver_sm bodies into :class:`InboundSms`, holding parts until complete.

    Incomplete messages are dropped after ``max_age`` seconds: a handset never resends a lost
    part, and holding them forever would leak memory.
    """

    def __init__(self, max_age: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self.undecodable = 0
        self._clock = clock
        self._partials: dict[tuple[str, str, int, int], _Partial] = {}

    def feed(
        self,
        sender: str,
        recipient: str,
        short_message: bytes,
        data_coding: int,
        esm_class: int,
        tlvs: dict[int, bytes] | None = None,
        route: str = "",
    ) -> InboundSms | None:
        """The complete message once its last part arrives, else None."""
        body = short_message or (tlvs or {}).get(TLV_MESSAGE_PAYLOAD, b"")
        try:
            decoded = encoding.decode_short_message(
                body, data_coding, udhi=bool(esm_class & ESM_CLASS_UDHI)
            )
        except EncodingError:
            self.undecodable += 1
            return None
        if decoded.total <= 1 or decoded.reference is None:
            return _inbound(sender, recipient, decoded.text, route)
        return self._add_part(sender, recipient, decoded, route)

    def _add_part(
        self, sender: str, recipient: str, part: encoding.DecodedMessage, route: str
    ) -> InboundSms | None:
        self._expire()
        assert part.reference is not None
        key = (sender, recipient, part.reference, part.total)
        partial = self._partials.setdefault(key, _Partial(part.total, self._clock()))
        partial.texts[part.sequence] = part.text
        if len(partial.texts) < partial.total:
            return None
        del self._partials[key]
        text = "".join(partial.texts[seq] for seq in sorted(partial.texts))
        return _inbound(sender, recipient, text, route)

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, p in self._partials.items() if now - p.first_seen > self.max_age]:
            del self._partials[key]


def _inbound(sender: str, recipient: str, text: str, route: str) -> InboundSms:
    return InboundSms(
        sender=_e164(sender),
        recipient=recipient,
        text=text,
        received_at=datetime.now(UTC),
        operator_id=None,
        route=route,
    )


def _e164(address: str) -> str:
    """SMPP carries international numbers without the plus; the hub keys numbers in E.164."""
    return f"+{address}" if address.isdigit() and len(address) > 8 else address
