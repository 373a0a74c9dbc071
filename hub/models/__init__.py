"""The hub's tables. Each module holds one family; this package imports them all so that
``Base.metadata`` is complete for migrations."""

from hub.models.account import Account, ApiKey, User
from hub.models.base import Base, utcnow
from hub.models.message import FINAL_STATES, STATES, Campaign, IdempotencyRecord, Message
from hub.models.optout import OptOut

__all__ = [
    "FINAL_STATES", "STATES", "Account", "ApiKey", "Base", "Campaign", "IdempotencyRecord",
    "Message", "OptOut", "User", "utcnow",
]
