"""Appointment reminders in the hub: the calendar connector on the hub's database and pipeline.

* :mod:`hub.calendars.store` — the connector's store on the hub's tables
  (:mod:`hub.models.calendar`), secrets encrypted at rest.
* :mod:`hub.calendars.wiring` — settings, submit, cancel (with refund), plan check, cipher.
* :mod:`hub.calendars.jobs` — the RQ jobs (sync, periodic sync, push renewal) and the
  scheduler hook that enqueues the periodic ones.
* :mod:`hub.calendars.cli` — ``smshub calendar ...``.

The REST API and the push endpoints are in :mod:`hub.api.calendar`; the connector instance comes
from the registry (:mod:`hub.registry`).
"""
