"""The calendar connector's store on the hub's database.

:class:`DatabaseStore` implements :class:`connectors.calendar.store.CalendarStore` with the same
semantics as the connector's ``InMemoryStore`` (its reference). Each method is one short
transaction, so a sync running in a worker and a push handled by the web process see each
other's writes; the reminders table (primary key = idempotency key) and the pipeline's own
idempotency keys make a change seen twice produce one message.

The connector hands the store token documents already encrypted by its cipher; the store adds
its own encryption for the two secrets it is given in clear (push secrets) and for nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.calendar.models import (
    Calendar,
    Connection,
    Reminder,
    ReminderRule,
    Skip,
)
from hub.crypto import SecretBox
from hub.db import transaction
from hub.models import utcnow
from hub.models.calendar import (
    CalendarAuthorization,
    CalendarConnection,
    CalendarReminder,
    CalendarRow,
    CalendarRule,
    CalendarSkip,
)

PENDING_LIFETIME = timedelta(minutes=10)
"""How long a user may take on the provider's consent page before the flow is forgotten."""


class DatabaseStore:
    """A :class:`~connectors.calendar.store.CalendarStore` on SQLAlchemy sessions."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.clock = clock

    # -- connections and tokens ----------------------------------------------------------------
    def save_connection(self, connection: Connection) -> None:
        with transaction(self.sessions) as session:
            row = session.get(CalendarConnection, connection.id)
            if row is None:
                row = CalendarConnection(id=connection.id, account_id=connection.account,
                                         provider=connection.provider)
                session.add(row)
            row.status, row.user = connection.status, connection.user

    def get_connection(self, connection_id: str) -> Connection | None:
        with self.sessions() as session:
            row = session.get(CalendarConnection, connection_id)
            return _connection(row) if row else None

    def connections(self, account: str | None = None) -> list[Connection]:
        """Every connection, or one account's (the protocol calls it without an account)."""
        query = select(CalendarConnection).order_by(CalendarConnection.created_at)
        if account is not None:
            query = query.where(CalendarConnection.account_id == account)
        with self.sessions() as session:
            return [_connection(row) for row in session.scalars(query)]

    def save_tokens(self, connection_id: str, ciphertext: bytes) -> None:
        self._set_tokens(connection_id, ciphertext.decode("ascii"))

    def load_tokens(self, connection_id: str) -> bytes | None:
        with self.sessions() as session:
            row = session.get(CalendarConnection, connection_id)
            return row.tokens.encode("ascii") if row and row.tokens else None

    def delete_tokens(self, connection_id: str) -> None:
        self._set_tokens(connection_id, None)

    def _set_tokens(self, connection_id: str, value: str | None) -> None:
        with transaction(self.sessions) as session:
            row = session.get(CalendarConnection, connection_id)
            if row is None:
                raise KeyError(f"unknown connection {connection_id}")
            row.tokens = value

    # -- pending authorisations ----------------------------------------------------------------
    def save_pending(self, state: str, ciphertext: bytes) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            session.execute(delete(CalendarAuthorization)
                            .where(CalendarAuthorization.expires_at <= now))
            session.add(CalendarAuthorization(state=state, flow=ciphertext.decode("ascii"),
                                              expires_at=now + PENDING_LIFETIME))

    def pop_pending(self, state: str) -> bytes | None:
        """The flow of ``state``, once: a replayed or late callback finds nothing."""
        with transaction(self.sessions) as session:
            row = session.get(CalendarAuthorization, state)
            if row is None:
                return None
            session.delete(row)
            return row.flow.encode("ascii") if row.expires_at > self.clock() else None

    # -- calendars -----------------------------------------------------------------------------
    def save_calendar(self, calendar: Calendar) -> None:
        with transaction(self.sessions) as session:
            row = session.get(CalendarRow, calendar.id)
            if row is None:
                row = CalendarRow(id=calendar.id, connection_id=calendar.connection_id,
                                  provider_id=calendar.provider_id)
                session.add(row)
            row.name, row.time_zone, row.selected = (calendar.name, calendar.time_zone,
                                                     calendar.selected)
            row.sync_state, row.window_end = calendar.sync_state, calendar.window_end
            row.push_id, row.push_resource = calendar.push_id, calendar.push_resource
            row.push_expires = calendar.push_expires
            row.push_secret = self.box.encrypt(calendar.push_secret) if calendar.push_secret \
                else None

    def get_calendar(self, calendar_id: str) -> Calendar | None:
        with self.sessions() as session:
            row = session.get(CalendarRow, calendar_id)
            return self._calendar(row) if row else None

    def calendars(self, connection_id: str) -> list[Calendar]:
        query = (select(CalendarRow).where(CalendarRow.connection_id == connection_id)
                 .order_by(CalendarRow.name, CalendarRow.id))
        with self.sessions() as session:
            return [self._calendar(row) for row in session.scalars(query)]

    def calendar_by_push_id(self, push_id: str) -> Calendar | None:
        with self.sessions() as session:
            row = session.scalar(select(CalendarRow).where(CalendarRow.push_id == push_id))
            return self._calendar(row) if row else None

    def selected_count(self, account: str) -> int:
        query = (select(func.count()).select_from(CalendarRow)
                 .join(CalendarConnection, CalendarConnection.id == CalendarRow.connection_id)
                 .where(CalendarConnection.account_id == account, CalendarRow.selected))
        with self.sessions() as session:
            return int(session.scalar(query) or 0)

    def _calendar(self, row: CalendarRow) -> Calendar:
        return Calendar(
            id=row.id, connection_id=row.connection_id, provider_id=row.provider_id,
            name=row.name, time_zone=row.time_zone, selected=row.selected,
            sync_state=row.sync_state, window_end=row.window_end, push_id=row.push_id,
            push_resource=row.push_resource, push_expires=row.push_expires,
            push_secret=self.box.decrypt(row.push_secret) if row.push_secret else None,
        )

    # -- rules ---------------------------------------------------------------------------------
    def save_rule(self, rule: ReminderRule) -> None:
        with transaction(self.sessions) as session:
            row = session.get(CalendarRule, rule.id)
            if row is None:
                row = CalendarRule(id=rule.id, calendar_id=rule.calendar_id)
                session.add(row)
            elif row.calendar_id != rule.calendar_id:
                raise ValueError(f"rule {rule.id} belongs to another calendar")
            _fill_rule(row, rule)

    def rules(self, calendar_id: str) -> list[ReminderRule]:
        query = (select(CalendarRule).where(CalendarRule.calendar_id == calendar_id)
                 .order_by(CalendarRule.offset_seconds.desc(), CalendarRule.id))
        with self.sessions() as session:
            return [_rule(row) for row in session.scalars(query)]

    def delete_rule(self, calendar_id: str, rule_id: str) -> bool:
        """Forget a rule (its pending reminders are retracted by the next full sync)."""
        with transaction(self.sessions) as session:
            gone = session.execute(delete(CalendarRule).where(
                CalendarRule.id == rule_id, CalendarRule.calendar_id == calendar_id))
            return bool(getattr(gone, "rowcount", 0))

    # -- reminders -----------------------------------------------------------------------------
    def save_reminder(self, reminder: Reminder) -> None:
        with transaction(self.sessions) as session:
            row = session.get(CalendarReminder, reminder.key)
            if row is None:
                row = CalendarReminder(key=reminder.key)
                session.add(row)
            for name in ("calendar_id", "event_id", "rule_id", "start", "send_at", "to",
                         "status", "message_id", "reason"):
                setattr(row, name, getattr(reminder, name))

    def reminders_for_event(self, calendar_id: str, event_id: str) -> list[Reminder]:
        return self._reminders(CalendarReminder.calendar_id == calendar_id,
                               CalendarReminder.event_id == event_id)

    def pending_reminders(self, calendar_ids: Iterable[str]) -> list[Reminder]:
        return self._reminders(CalendarReminder.calendar_id.in_(list(calendar_ids)),
                               CalendarReminder.status == "scheduled")

    def reminder_by_message(self, message_id: str) -> Reminder | None:
        found = self._reminders(CalendarReminder.message_id == message_id)
        return found[0] if found else None

    def upcoming(self, calendar_ids: Iterable[str], after: datetime,
                 limit: int = 500) -> list[Reminder]:
        """Scheduled reminders still to be sent, soonest first (the API's upcoming list)."""
        return self._reminders(CalendarReminder.calendar_id.in_(list(calendar_ids)),
                               CalendarReminder.status == "scheduled",
                               CalendarReminder.send_at > after, limit=limit)

    def _reminders(self, *where: Any, limit: int | None = None) -> list[Reminder]:
        query = select(CalendarReminder).where(*where).order_by(
            CalendarReminder.send_at, CalendarReminder.key).limit(limit)
        with self.sessions() as session:
            return [_reminder(row) for row in session.scalars(query)]

    # -- skipped events ------------------------------------------------------------------------
    def record_skip(self, skip: Skip) -> None:
        with transaction(self.sessions) as session:
            key = (skip.calendar_id, skip.event_id, skip.rule_id or "")
            row = session.get(CalendarSkip, key)
            if row is None:
                row = CalendarSkip(calendar_id=key[0], event_id=key[1], rule_id=key[2])
                session.add(row)
            row.reason, row.title, row.start = skip.reason, skip.title, skip.start

    def clear_skips(self, calendar_id: str, event_id: str) -> None:
        with transaction(self.sessions) as session:
            session.execute(delete(CalendarSkip).where(CalendarSkip.calendar_id == calendar_id,
                                                       CalendarSkip.event_id == event_id))

    def skips(self, calendar_id: str) -> list[Skip]:
        query = (select(CalendarSkip).where(CalendarSkip.calendar_id == calendar_id)
                 .order_by(CalendarSkip.start, CalendarSkip.event_id, CalendarSkip.rule_id))
        with self.sessions() as session:
            return [Skip(calendar_id=row.calendar_id, event_id=row.event_id, reason=row.reason,
                         rule_id=row.rule_id or None, title=row.title, start=row.start)
                    for row in session.scalars(query)]


def _connection(row: CalendarConnection) -> Connection:
    return Connection(id=row.id, account=row.account_id, provider=cast(Any, row.provider),
                      status=cast(Any, row.status), user=row.user)


def _fill_rule(row: CalendarRule, rule: ReminderRule) -> None:
    row.offset_seconds = int(rule.offset.total_seconds())
    row.template, row.sender, row.category = rule.template, rule.sender, rule.category
    row.locale, row.region = rule.locale, rule.region
    row.window_start = rule.window[0].strftime("%H:%M") if rule.window else None
    row.window_end = rule.window[1].strftime("%H:%M") if rule.window else None
    row.all_numbers, row.send_late = rule.all_numbers, rule.send_late
    row.change_template = rule.change_template


def _rule(row: CalendarRule) -> ReminderRule:
    window = None
    if row.window_start and row.window_end:
        window = (time.fromisoformat(row.window_start), time.fromisoformat(row.window_end))
    return ReminderRule(
        id=row.id, calendar_id=row.calendar_id, offset=timedelta(seconds=row.offset_seconds),
        template=row.template, sender=row.sender, category=cast(Any, row.category),
        locale=row.locale, region=row.region, window=window, all_numbers=row.all_numbers,
        send_late=row.send_late, change_template=row.change_template,
    )


def _reminder(row: CalendarReminder) -> Reminder:
    return Reminder(key=row.key, calendar_id=row.calendar_id, event_id=row.event_id,
                    rule_id=row.rule_id, start=row.start, send_at=row.send_at, to=row.to,
                    status=cast(Any, row.status), message_id=row.message_id, reason=row.reason)
