"""The hub's tables. Each module holds one family; this package imports them all so that
``Base.metadata`` is complete for migrations."""

from hub.models.account import Account, ApiKey, User
from hub.models.base import Base, utcnow
from hub.models.calendar import (
    CalendarAuthorization,
    CalendarConnection,
    CalendarReminder,
    CalendarRow,
    CalendarRule,
    CalendarSkip,
)
from hub.models.callbacks import (
    CallbackAttempt,
    CallbackDeadLetter,
    CallbackEndpoint,
    CallbackEvent,
    CallbackQueueItem,
)
from hub.models.campaign import CampaignChunk, CampaignRun
from hub.models.connector import ConnectorEventRow, ConnectorStatusItem
from hub.models.dispatch import DeliveryReceipt, InboundMessage, MessagePart
from hub.models.email import EmailConfig, EmailNotice
from hub.models.ledger import Balance, LedgerEntry, Pack
from hub.models.message import FINAL_STATES, STATES, Campaign, IdempotencyRecord, Message
from hub.models.optout import OptOut
from hub.models.pricing import PriceRow
from hub.models.statement import Statement
from hub.models.subscription import Subscription

__all__ = [
    "FINAL_STATES", "STATES", "Account", "ApiKey", "Balance", "Base", "Campaign",
    "DeliveryReceipt", "EmailConfig", "EmailNotice", "IdempotencyRecord", "InboundMessage",
    "LedgerEntry", "Message",
    "MessagePart", "OptOut", "Pack", "PriceRow", "Statement", "Subscription", "User", "utcnow",
]
__all__ += ["CallbackAttempt", "CallbackDeadLetter", "CallbackEndpoint", "CallbackEvent",
            "CallbackQueueItem"]
__all__ += ["CalendarAuthorization", "CalendarConnection", "CalendarReminder", "CalendarRow",
            "CalendarRule", "CalendarSkip"]
__all__ += ["CampaignChunk", "CampaignRun"]
__all__ += ["ConnectorEventRow", "ConnectorStatusItem"]
