"""Reminder planning: who gets an SMS for an event, when, with which text — or why not.

Pure functions of (event, rules, calendar, now), so that sync only has to compare the plan with
what was already submitted. A reminder's idempotency key names the event, the rule, the
occurrence start (UTC) and the recipient: a moved event gets new keys, an edited one keeps them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sms_core.phone import extract_numbers
from sms_core.templates import render

from .models import Calendar, CalendarEvent, ReminderRule, Skip

PAST = "past"
CANCELLED = "cancelled"
DECLINED = "declined"
ALL_DAY = "all_day"
NO_NUMBER = "no_mobile_number"
TOO_LATE = "reminder_time_passed"
SKIP_REASONS = (PAST, CANCELLED, DECLINED, ALL_DAY, NO_NUMBER, TOO_LATE)
"""Every reason an event (or one rule of it) gets no SMS, as recorded in the store."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One SMS the plan wants: the key, recipient, instant and rendered text."""

    key: str
    event_id: str
    rule: ReminderRule
    to: str
    start: datetime
    send_at: datetime
    text: str


def reminder_key(event: CalendarEvent, rule_id: str, start: datetime, to: str) -> str:
    """``cal:<event digest>:<rule>:<start UTC>:<number>`` — stable across edits, new on a move.

    Provider event ids run to 150 characters (Graph), so the event part is a digest.
    """
    digest = hashlib.sha256(f"{event.calendar_id}\x1f{event.id}".encode()).hexdigest()[:20]
    return f"cal:{digest}:{rule_id}:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}:{to}"


def base_key(key: str) -> str:
    """The planned key of a stored one: a reminder re-planned after it was cancelled (the event
    moved away and back) is submitted as ``<key>~<n>``, since the hub's idempotency record of the
    cancelled message still holds ``<key>``."""
    return key.split("~", 1)[0]


def recipients(event: CalendarEvent, region: str) -> list[str]:
    """Mobile numbers written in the location, then the title, then the description (E.164)."""
    found: dict[str, None] = {}
    for text in (event.location, event.title, event.description):
        for number in extract_numbers(text or "", region):
            found.setdefault(number)
    return list(found)


def event_skip_reason(event: CalendarEvent, now: datetime) -> str | None:
    """Why no rule of this event can give an SMS, or None."""
    if event.cancelled:
        return CANCELLED
    if event.declined:
        return DECLINED
    if event.all_day or event.start is None:
        return ALL_DAY
    if event.start <= now:
        return PAST
    return None


def event_zone(event: CalendarEvent, calendar: Calendar) -> ZoneInfo:
    """The event's own zone when it names a known one, else the calendar's, else UTC."""
    for name in (event.time_zone, calendar.time_zone):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def variables(event: CalendarEvent, calendar: Calendar) -> dict[str, Any]:
    """What a template may use: ``title``, ``start``, ``end`` (aware, in the event's zone)…"""
    zone = event_zone(event, calendar)
    return {
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "organizer": event.organizer,
        "calendar": calendar.name,
        "start": event.start.astimezone(zone) if event.start else None,
        "end": event.end.astimezone(zone) if event.end else None,
        "time_zone": zone.key,
    }


def within_window(send_at: datetime, rule: ReminderRule, zone: ZoneInfo) -> datetime:
    """``send_at`` moved earlier, to the end of the previous sending window, when outside it."""
    if rule.window is None:
        return send_at
    opens, closes = rule.window
    local = send_at.astimezone(zone)
    if opens <= local.time() <= closes:
        return send_at
    day = local.date() if local.time() > closes else local.date() - timedelta(days=1)
    return datetime.combine(day, closes, tzinfo=zone).astimezone(UTC)


def plan(
    event: CalendarEvent, rules: Sequence[ReminderRule], calendar: Calendar, now: datetime
) -> tuple[list[Planned], list[Skip]]:
    """The SMS the event should get under ``rules``, and the skip records for what it should not."""
    reason = event_skip_reason(event, now)
    numbers = recipients(event, rules[0].region) if rules and reason is None else []
    if reason is None and rules and not numbers:
        reason = NO_NUMBER
    if reason is not None:
        return [], [_skip(event, reason)]
    planned: list[Planned] = []
    skips: list[Skip] = []
    for rule in rules:
        wanted = _plan_rule(event, rule, calendar, now, numbers)
        if wanted:
            planned.extend(wanted)
        else:
            skips.append(_skip(event, TOO_LATE, rule.id))
    return planned, skips


def _plan_rule(
    event: CalendarEvent,
    rule: ReminderRule,
    calendar: Calendar,
    now: datetime,
    numbers: list[str],
) -> list[Planned]:
    assert event.start is not None
    zone = event_zone(event, calendar)
    send_at = within_window(event.start.astimezone(UTC) - rule.offset, rule, zone)
    if send_at <= now:
        if not rule.send_late:
            return []
        send_at = now
    text = render(rule.template, variables(event, calendar), locale=rule.locale, tz=zone.key)
    targets = numbers if rule.all_numbers else numbers[:1]
    start = event.start
    return [
        Planned(reminder_key(event, rule.id, start, to), event.id, rule, to, start, send_at, text)
        for to in targets
    ]


def change_notice(
    event: CalendarEvent, rule: ReminderRule, calendar: Calendar, now: datetime, to: str
) -> Planned | None:
    """The "your appointment moved" SMS of a rule that asks for one, sent right away."""
    if rule.change_template is None or event.start is None:
        return None
    zone = event_zone(event, calendar)
    text = render(rule.change_template, variables(event, calendar), locale=rule.locale, tz=zone.key)
    key = reminder_key(event, f"{rule.id}:changed", event.start, to)
    return Planned(key, event.id, rule, to, event.start, now, text)


def _skip(event: CalendarEvent, reason: str, rule_id: str | None = None) -> Skip:
    return Skip(event.calendar_id, event.id, reason, rule_id, event.title, event.start)
