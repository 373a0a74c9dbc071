"""The SMS domain: encoding, numbers, templates, compliance, billing and operator dispatch.

Everything here except :mod:`sms_core.dispatch` is pure (no I/O), so it can be used and tested
without a database, a queue or a network.
"""
