"""Email to SMS: an SMTP receiver that turns authorised emails into SMS requests.

The hub builds :class:`EmailGateway` with :class:`EmailSettings`, an :class:`AccountDirectory`
(its accounts' authorised senders, address secrets and SMTP credentials), its submit function
and, for notices to senders, :class:`RelaySettings`.
"""

from connectors.email.directory import AccountDirectory, InMemoryDirectory
from connectors.email.gateway import EmailGateway
from connectors.email.settings import EmailAccount, EmailSettings, RelaySettings

__all__ = [
    "AccountDirectory",
    "EmailAccount",
    "EmailGateway",
    "EmailSettings",
    "InMemoryDirectory",
    "RelaySettings",
]
