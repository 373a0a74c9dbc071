"""Appointment reminders from Google Calendar and Outlook (Microsoft Graph).

The connector reads, with the user's OAuth consent, the mobile numbers written in an event's
location, title or description and submits one reminder SMS per (event, rule, occurrence start,
number) through the hub's submit function, scheduled with ``send_at = start - offset``.

How the hub wires it
====================

Construction (once, in the connector registry)::

    CalendarConnector(
        settings,              # CalendarSettings from the SMSHUB_CALENDAR_* namespace
        store=...,             # a CalendarStore on the hub's database (see store.py)
        submit=...,            # SubmitFn: one batch of one account -> pipeline.submit(...)
        cancel=...,            # CancelFn: cancel(idempotency_key) -> bool (True: unscheduled)
        cipher=...,            # TokenCipher: encrypt/decrypt bytes (Fernet of the secret key)
        can_add_calendar=...,  # PlanCheck: (account_id, count) -> bool, or BillingError
        emit=...,              # EventSink: ConnectorEvent kind needs_reauth | disconnected
        session=None,          # optional requests.Session (proxies, CA); one is made otherwise
    )

What the hub implements
-----------------------
* :class:`~connectors.calendar.store.CalendarStore` — tables for connections, encrypted token
  blobs, pending authorisations (expire them after ~10 minutes), calendars, rules, reminders
  (unique on ``key``; looked up by event and by message id) and skip records.
  :class:`~connectors.calendar.store.InMemoryStore` is the reference semantics.
* ``cancel(idempotency_key)``: unschedule the message submitted with that key if it has not
  left yet (return True), else False. ``submit`` must honour idempotency keys per account.
* ``can_add_calendar(account_id, count)`` from the account's plan (SOLO 1, BUSINESS 2–5,
  ENTERPRISE 6–50).

What the hub calls
------------------
* Connect: ``url = begin_connect(account, "google" | "microsoft")``, redirect the user; on the
  OAuth redirect URI, ``complete_connect(full_callback_url) -> Connection`` (lists calendars).
  Then ``select_calendars(connection_id, [calendar ids])`` (plan check) and
  ``set_rules(calendar_id, [ReminderRule...])``. ``disconnect(connection_id)``.
* Push endpoints (public HTTPS, their URLs in ``google_push_url`` / ``graph_push_url``):

  - Google: ``webhooks.verifiers.verify_google_channel(headers, calendar.push_secret)``
    (look the calendar up with ``store.calendar_by_push_id(X-Goog-Channel-ID)``; the first
    ``sync`` message may arrive before the channel is stored — answer 200), then
    ``handle_push(headers)``; answer 200 quickly (enqueue the call on RQ in production).
  - Graph: if ``webhooks.verifiers.graph_validation_token(request.args)`` is set, echo it as
    ``text/plain`` with 200 (subscription handshake); otherwise
    ``verify_graph_notifications(body, client_states)`` and ``handle_push(headers, body)``,
    answering 202.
  - ``handle_push`` raises ``ConnectorError(code="push_rejected")`` for an unknown channel or a
    wrong secret: answer 403.

* Periodic jobs: ``sync_all()`` every 15 minutes (safety net for lost notifications; returns a
  report or an error per calendar), ``renew_push()`` every hour (opens missing channels and
  subscriptions, renews those expiring within ``renew_margin``).
* ``handle_status(message_id, status, data)`` for every status change of a message whose
  ``source`` is ``google_calendar`` or ``outlook_calendar``.
* ``skipped(calendar_id)`` lists events without SMS and why (``no_mobile_number``, ``all_day``,
  ``declined``, ``cancelled``, ``past``, ``reminder_time_passed``).

Errors: ``RateLimitedError.retry_after`` (429/throttling) — retry the job then; ``UpstreamError``
(5xx, network); ``ConnectorAuthError`` — the connector has already marked the connection
``needs_reauth``, cancelled its pending reminders and emitted the event.
"""

from .connector import CalendarConnector
from .models import Calendar, CalendarEvent, Connection, ReminderRule, Skip
from .settings import CalendarSettings
from .store import CalendarStore, InMemoryStore, TokenCipher

__all__ = [
    "Calendar",
    "CalendarConnector",
    "CalendarEvent",
    "CalendarSettings",
    "CalendarStore",
    "Connection",
    "InMemoryStore",
    "ReminderRule",
    "Skip",
    "TokenCipher",
]
