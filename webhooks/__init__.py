"""Inbound HTTP from operators and providers (verified), outbound signed status callbacks."""
