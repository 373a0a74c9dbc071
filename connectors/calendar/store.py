"""What the connector needs to remember, as a protocol the hub implements on its database.

:class:`InMemoryStore` is the reference implementation (tests, and the semantics the hub's
version must match). Tokens reach the store already encrypted by a :class:`TokenCipher`: the
store never sees a usable access or refresh token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from .models import Calendar, Connection, Reminder, ReminderRule, Skip


class TokenCipher(Protocol):
    """Symmetric encryption of token documents (the hub uses its secret key, e.g. Fernet)."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


PlanCheck = Callable[[str, int], bool]
"""``can_add_calendar(account_id, count)``: may the account have ``count`` selected calendars?
It returns False or raises ``BillingError(code="plan_limit")`` when the plan forbids it."""

CancelFn = Callable[[str], bool]
"""``cancel(idempotency_key)``: unschedule the hub message submitted with that key; True when it
was still pending and is now cancelled, False when it was already sent (or unknown)."""


class CalendarStore(Protocol):
    """Persistence of connections, calendars, rules, reminders and skip reasons.

    Every method is a small atomic operation; the hub may wrap a whole sync in one transaction.
    """

    def save_connection(self, connection: Connection) -> None: ...
    def get_connection(self, connection_id: str) -> Connection | None: ...
    def connections(self) -> list[Connection]: ...
    def save_tokens(self, connection_id: str, ciphertext: bytes) -> None: ...
    def load_tokens(self, connection_id: str) -> bytes | None: ...
    def delete_tokens(self, connection_id: str) -> None: ...
    def save_pending(self, state: str, ciphertext: bytes) -> None: ...
    def pop_pending(self, state: str) -> bytes | None: ...
    def save_calendar(self, calendar: Calendar) -> None: ...
    def get_calendar(self, calendar_id: str) -> Calendar | None: ...
    def calendars(self, connection_id: str) -> list[Calendar]: ...
    def calendar_by_push_id(self, push_id: str) -> Calendar | None: ...
    def selected_count(self, account: str) -> int: ...
    def save_rule(self, rule: ReminderRule) -> None: ...
    def rules(self, calendar_id: str) -> list[ReminderRule]: ...
    def save_reminder(self, reminder: Reminder) -> None: ...
    def reminders_for_event(self, calendar_id: str, event_id: str) -> list[Reminder]: ...
    def pending_reminders(self, calendar_ids: Iterable[str]) -> list[Reminder]: ...
    def reminder_by_message(self, message_id: str) -> Reminder | None: ...
    def record_skip(self, skip: Skip) -> None: ...
    def clear_skips(self, calendar_id: str, event_id: str) -> None: ...
    def skips(self, calendar_id: str) -> list[Skip]: ...


class InMemoryStore:
    """A :class:`CalendarStore` in dictionaries, safe for the threads of a test server."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._connections: dict[str, Connection] = {}
        self._tokens: dict[str, bytes] = {}
        self._pending: dict[str, bytes] = {}
        self._calendars: dict[str, Calendar] = {}
        self._rules: dict[str, ReminderRule] = {}
        self._reminders: dict[str, Reminder] = {}
        self._skips: dict[tuple[str, str, str | None], Skip] = {}

    def save_connection(self, connection: Connection) -> None:
        with self._lock:
            self._connections[connection.id] = replace(connection)

    def get_connection(self, connection_id: str) -> Connection | None:
        found = self._connections.get(connection_id)
        return replace(found) if found else None

    def connections(self) -> list[Connection]:
        return [replace(c) for c in self._connections.values()]

    def save_tokens(self, connection_id: str, ciphertext: bytes) -> None:
        self._tokens[connection_id] = ciphertext

    def load_tokens(self, connection_id: str) -> bytes | None:
        return self._tokens.get(connection_id)

    def delete_tokens(self, connection_id: str) -> None:
        self._tokens.pop(connection_id, None)

    def save_pending(self, state: str, ciphertext: bytes) -> None:
        self._pending[state] = ciphertext

    def pop_pending(self, state: str) -> bytes | None:
        return self._pending.pop(state, None)

    def save_calendar(self, calendar: Calendar) -> None:
        with self._lock:
            self._calendars[calendar.id] = replace(calendar)

    def get_calendar(self, calendar_id: str) -> Calendar | None:
        found = self._calendars.get(calendar_id)
        return replace(found) if found else None

    def calendars(self, connection_id: str) -> list[Calendar]:
        return [replace(c) for c in self._calendars.values() if c.connection_id == connection_id]

    def calendar_by_push_id(self, push_id: str) -> Calendar | None:
        found = next((c for c in self._calendars.values() if c.push_id == push_id), None)
        return replace(found) if found else None

    def selected_count(self, account: str) -> int:
        accounts = {c.id: c.account for c in self._connections.values()}
        return sum(
            1 for c in self._calendars.values()
            if c.selected and accounts.get(c.connection_id) == account
        )  # fmt: skip

    def save_rule(self, rule: ReminderRule) -> None:
        self._rules[rule.id] = rule

    def rules(self, calendar_id: str) -> list[ReminderRule]:
        return [r for r in self._rules.values() if r.calendar_id == calendar_id]

    def save_reminder(self, reminder: Reminder) -> None:
        with self._lock:
            self._reminders[reminder.key] = replace(reminder)

    def reminders_for_event(self, calendar_id: str, event_id: str) -> list[Reminder]:
        return [
            replace(r) for r in self._reminders.values()
            if r.calendar_id == calendar_id and r.event_id == event_id
        ]  # fmt: skip

    def pending_reminders(self, calendar_ids: Iterable[str]) -> list[Reminder]:
        wanted = set(calendar_ids)
        return [
            replace(r) for r in self._reminders.values()
            if r.calendar_id in wanted and r.status == "scheduled"
        ]  # fmt: skip

    def reminder_by_message(self, message_id: str) -> Reminder | None:
        found = next((r for r in self._reminders.values() if r.message_id == message_id), None)
        return replace(found) if found else None

    def record_skip(self, skip: Skip) -> None:
        with self._lock:
            self._skips[(skip.calendar_id, skip.event_id, skip.rule_id)] = skip

    def clear_skips(self, calendar_id: str, event_id: str) -> None:
        with self._lock:
            for key in [k for k in self._skips if k[:2] == (calendar_id, event_id)]:
                del self._skips[key]

    def skips(self, calendar_id: str) -> list[Skip]:
        return [s for s in self._skips.values() if s.calendar_id == calendar_id]

    def all_reminders(self) -> list[Reminder]:
        """Every reminder record (tests and debugging; not part of the protocol)."""
        return [replace(r) for r in self._reminders.values()]
