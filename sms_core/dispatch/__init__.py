"""Operator drivers (SMPP, HTTP) behind one protocol, and the local SMSC simulator."""
