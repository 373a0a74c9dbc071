"""Apply a batch of changed and removed events: submit new reminders, cancel stale ones.

The store remembers every reminder submitted (key, recipient, instant, state); the plan of
:mod:`.reminders` says what should exist now. The difference is what this module submits or
cancels, so applying the same batch twice — a push and the periodic sync seeing the same change —
does nothing the second time. The hub's idempotency keys are the second line of defence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from connectors.base import SmsRequest, SubmitFn

from .models import (
    SOURCES,
    Calendar,
    CalendarEvent,
    Connection,
    EventBatch,
    Reminder,
    ReminderRule,
)
from .reminders import Planned, base_key, change_notice, plan
from .store import CalendarStore, CancelFn


@dataclass(slots=True)
class SyncReport:
    """What one sync round did (returned to the hub's job, logged, shown on the dashboard)."""

    events: int = 0
    submitted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    skipped: int = 0
    full: bool = False


class ReminderSync:
    """Turns event batches into SMS requests and cancellations for one hub account."""

    def __init__(
        self,
        store: CalendarStore,
        submit: SubmitFn,
        cancel: CancelFn,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.submit = submit
        self.cancel = cancel
        self.clock = clock

    def apply(self, connection: Connection, calendar: Calendar, batch: EventBatch) -> SyncReport:
        """Bring the reminders of ``calendar`` in line with ``batch``."""
        now = self.clock()
        report = SyncReport(events=len(batch.changed), full=batch.full)
        rules = self.store.rules(calendar.id)
        wanted: list[Planned] = []
        for event in batch.changed:
            wanted.extend(self._event(calendar, event, rules, now, report))
        gone = set(batch.removed)
        if batch.full:
            gone |= self._missing(calendar, {e.id for e in batch.changed})
        for event_id in gone:
            self.store.clear_skips(calendar.id, event_id)
            for reminder in self.store.reminders_for_event(calendar.id, event_id):
                self._retract(reminder, now, report)
        self._submit(connection, calendar, wanted, report)
        return report

    def cancel_all(self, calendar_ids: Iterable[str]) -> list[str]:
        """Cancel every pending reminder of these calendars (revoked grant, disconnect)."""
        report = SyncReport()
        now = self.clock()
        for reminder in self.store.pending_reminders(calendar_ids):
            self._retract(reminder, now, report)
        return report.cancelled

    def _event(
        self,
        calendar: Calendar,
        event: CalendarEvent,
        rules: list[ReminderRule],
        now: datetime,
        report: SyncReport,
    ) -> list[Planned]:
        planned, skips = plan(event, rules, calendar, now)
        self.store.clear_skips(calendar.id, event.id)
        for skip in skips:
            self.store.record_skip(skip)
        report.skipped += bool(skips) and not planned
        existing = self.store.reminders_for_event(calendar.id, event.id)
        keys = {p.key for p in planned}
        for reminder in existing:
            if base_key(reminder.key) not in keys:
                self._retract(reminder, now, report)
        done = {base_key(r.key) for r in existing if r.status != "cancelled"}
        fresh = [_revived(p, existing) for p in planned if p.key not in done]
        return fresh + self._change_notices(calendar, event, rules, existing, now, done)

    def _change_notices(
        self,
        calendar: Calendar,
        event: CalendarEvent,
        rules: list[ReminderRule],
        existing: list[Reminder],
        now: datetime,
        done: set[str],
    ) -> list[Planned]:
        """Notices for rules whose reminder already went out for a start the event left."""
        if event.cancelled or event.start is None or event.start <= now:
            return []
        notices: list[Planned] = []
        for rule in rules:
            sent = [
                r for r in existing
                if r.rule_id == rule.id and r.status == "sent" and r.start != event.start
            ]  # fmt: skip
            for to in dict.fromkeys(r.to for r in sent):
                notice = change_notice(event, rule, calendar, now, to)
                if notice is not None and notice.key not in done:
                    notices.append(notice)
        return notices

    def _retract(self, reminder: Reminder, now: datetime, report: SyncReport) -> None:
        """Cancel a reminder that is no longer wanted; one whose time has come stays "sent"."""
        if reminder.status != "scheduled":
            return
        if reminder.send_at > now and self.cancel(reminder.key):
            reminder.status = "cancelled"
            report.cancelled.append(reminder.key)
        else:
            reminder.status = "sent"
        self.store.save_reminder(reminder)

    def _missing(self, calendar: Calendar, present: set[str]) -> set[str]:
        """Events with pending reminders that a full listing no longer contains."""
        pending = self.store.pending_reminders([calendar.id])
        return {r.event_id for r in pending if r.event_id not in present}

    def _submit(
        self,
        connection: Connection,
        calendar: Calendar,
        wanted: list[Planned],
        report: SyncReport,
    ) -> None:
        if not wanted:
            return
        requests = [self._request(connection, calendar, p) for p in wanted]
        results = self.submit(requests)
        for planned, result in zip(wanted, results, strict=True):
            self.store.save_reminder(
                Reminder(
                    key=planned.key,
                    calendar_id=calendar.id,
                    event_id=planned.event_id,
                    rule_id=planned.rule.id,
                    start=planned.start,
                    send_at=planned.send_at,
                    to=planned.to,
                    status="refused" if result.refused else "scheduled",
                    message_id=result.message_id,
                    reason=result.reason,
                )
            )
            if not result.refused:
                report.submitted.append(planned.key)

    @staticmethod
    def _request(connection: Connection, calendar: Calendar, planned: Planned) -> SmsRequest:
        return SmsRequest(
            account=connection.account,
            to=planned.to,
            text=planned.text,
            category=planned.rule.category,
            sender=planned.rule.sender,
            send_at=planned.send_at,
            idempotency_key=planned.key,
            source=SOURCES[connection.provider],
            metadata={
                "calendar_id": calendar.id,
                "event_id": planned.event_id,
                "rule_id": planned.rule.id,
            },
        )


def _revived(planned: Planned, existing: list[Reminder]) -> Planned:
    """``planned`` under a key the hub has not seen, when its own key was used and cancelled."""
    used = sum(1 for r in existing if base_key(r.key) == planned.key)
    return replace(planned, key=f"{planned.key}~{used}") if used else planned
