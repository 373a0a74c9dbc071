"""Settings of the calendar connector (``SMSHUB_CALENDAR_...`` in the hub's config)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class CalendarSettings:
    """Every value has a production default; tests point the URLs at local fakes."""

    google_client_id: str = ""
    """OAuth client of the Google Cloud project; empty disables Google."""
    google_client_secret: str = ""
    google_redirect_uri: str = ""
    google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_api_url: str = "https://www.googleapis.com/calendar/v3/"
    """The ``api_endpoint`` google-api-python-client sends requests to (ends with a slash)."""
    google_push_url: str = ""
    """Public HTTPS URL of the hub's Google push endpoint; empty: periodic sync only."""
    google_channel_ttl: timedelta = timedelta(days=7)

    microsoft_client_id: str = ""
    """Application (client) id of the Entra app registration; empty disables Microsoft."""
    microsoft_client_secret: str = ""
    microsoft_redirect_uri: str = ""
    microsoft_authority: str = "https://login.microsoftonline.com/common"
    microsoft_validate_authority: bool = True
    """False for an authority msal does not know (a private cloud, or a fake in tests)."""
    graph_url: str = "https://graph.microsoft.com/v1.0"
    graph_push_url: str = ""
    """Public HTTPS URL of the hub's Graph notification endpoint; empty: periodic sync only."""
    graph_subscription_lifetime: timedelta = timedelta(minutes=4230)
    """Graph caps Outlook event subscriptions; 4,230 minutes is accepted by every tenant."""

    renew_margin: timedelta = timedelta(hours=12)
    """Push channels and subscriptions expiring within this margin are renewed."""
    lookahead: timedelta = timedelta(days=60)
    """Graph calendar views are bounded: events up to this far ahead are synced."""
    default_time_zone: str = "Europe/Paris"
    """Zone of calendars whose provider gives none (Graph calendars carry no zone)."""
    ca_bundle: str | None = None
    """CA file to trust instead of the system's (private PKI, tests)."""
    timeout: float = 20.0
