"""Connectors: the tools users already live in, turned into SMS requests.

Each connector imports only :mod:`sms_core` and :mod:`connectors.base`; the hub hands it what it
needs (settings, an HTTP session, a submit function, a store) when it builds it.
"""
