"""Compliance rules every message goes through, gathered in one import.

The rules live in small modules named for what they hold; this module re-exports the names the
hub and connectors use, so callers write ``from sms_core.compliance import next_send_time``:

* :mod:`sms_core.send_windows` — categories, marketing hours, public holidays, time zones;
* :mod:`sms_core.optout` — STOP mentions in texts, STOP/START keywords in replies;
* :mod:`sms_core.sender_id` — sender ID (OADC) validation and protected-name lists;
* :mod:`sms_core.flood` — messages per recipient per hour, repeated identical texts;
* :mod:`sms_core.smishing` — links to denied domains.

All of it is pure: no clock, no store, no network. Callers pass ``now`` and history in.
"""

from __future__ import annotations

from sms_core.errors import ComplianceError
from sms_core.flood import DUPLICATE_WINDOW, MAX_PER_HOUR, SentEntry, check_flood, text_hash
from sms_core.optout import (
    SHORT_CODE_WORDING,
    START_KEYWORDS,
    STOP_KEYWORDS,
    classify_reply,
    ensure_stop_mention,
    has_stop_mention,
    link_wording,
    number_wording,
    short_code_wording,
)
from sms_core.send_windows import (
    CATEGORIES,
    COUNTRY_RULES,
    FRENCH_WEEK,
    SendingRules,
    default_rules,
    holiday_name,
    is_send_allowed,
    next_send_time,
    rules_for,
)
from sms_core.sender_id import (
    DEFAULT_AUTHORIZATION_REQUIRED,
    DEFAULT_FORBIDDEN,
    DEFAULT_POLICY,
    SENDER_RULES,
    SenderPolicy,
    SenderRules,
    validate_sender_id,
)
from sms_core.smishing import find_denied_urls


def check_category_for_route(category: str, route_quality: str) -> None:
    """Refuse marketing on an alert route (000 §6.12: alert routes carry no marketing)."""
    if category == "marketing" and route_quality == "alert":
        raise ComplianceError(
            "marketing messages may not be sent on an alert route", code="marketing_on_alert_route"
        )


__all__ = [
    "CATEGORIES",
    "COUNTRY_RULES",
    "DEFAULT_AUTHORIZATION_REQUIRED",
    "DEFAULT_FORBIDDEN",
    "DEFAULT_POLICY",
    "DUPLICATE_WINDOW",
    "FRENCH_WEEK",
    "MAX_PER_HOUR",
    "SENDER_RULES",
    "SHORT_CODE_WORDING",
    "START_KEYWORDS",
    "STOP_KEYWORDS",
    "ComplianceError",
    "SenderPolicy",
    "SenderRules",
    "SendingRules",
    "SentEntry",
    "check_category_for_route",
    "check_flood",
    "classify_reply",
    "default_rules",
    "ensure_stop_mention",
    "find_denied_urls",
    "has_stop_mention",
    "holiday_name",
    "is_send_allowed",
    "link_wording",
    "next_send_time",
    "number_wording",
    "rules_for",
    "short_code_wording",
    "text_hash",
    "validate_sender_id",
]
