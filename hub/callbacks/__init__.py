"""Outbound status callbacks of the hub, built on the ``webhooks`` library.

- :mod:`hub.callbacks.outbox`: events written in the transaction of the change they report.
- :mod:`hub.callbacks.store`: the database ``CallbackStore`` (ordering per message, claims).
- :mod:`hub.callbacks.endpoints`: per-account URL (SSRF-checked) and rotating secrets.
- :mod:`hub.callbacks.delivery`: the delivery pass (an RQ job on the ``callbacks`` queue).
- :mod:`hub.callbacks.jobs`: the RQ job functions.

Nothing is imported here on purpose: ``hub.states`` imports the outbox, and the outbox must not
pull the web or queue layers into every process that moves a message.
"""
