"""``Idempotency-Key`` for POST endpoints: a retried request gets the first answer, never a second
SMS.

The first answer to a key is stored (IdempotencyRecord) with a hash of the method, path and JSON
body. The same key with the same request replays it, status code included (header
``Idempotent-Replayed: true``); with a different request it is refused 422
``idempotency_mismatch``. Requests refused before anything was attempted (authentication, invalid
body, a whole-request error such as no credits at all) leave no record: they had no effect, and
the client may retry with the same key once the cause is fixed. The pipeline also receives one
derived key per recipient, so two concurrent requests with one key still send once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub.api.context import services, unit_of_work
from hub.api.problems import InvalidRequest
from hub.db import transaction
from hub.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY = 200
"""Room is left in the 255-character message key column for the per-recipient suffix."""

Answer = tuple[dict[str, Any], int]


def request_key() -> str | None:
    """The client's key, validated, or None."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise InvalidRequest(f"{HEADER} has 1 to {MAX_KEY} printable characters",
                             code="invalid_idempotency_key")
    return key


def fingerprint(body: Any) -> str:
    canonical = json.dumps([request.method, request.path, body], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _stored(account_id: str, key: str) -> IdempotencyRecord | None:
    with unit_of_work() as session:
        return session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key))


def _replay(record: IdempotencyRecord, digest: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    if record.request_hash != digest:
        raise InvalidRequest(
            f"this {HEADER} was used for a different request", code="idempotency_mismatch"
        )
    return dict(record.response), record.status_code, {"Idempotent-Replayed": "true"}


def once(
    account_id: str, key: str | None, body: Any, run: Callable[[], Answer]
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """``run()`` unless ``key`` already has an answer; (body, status, extra headers)."""
    if key is None:
        answer, status = run()
        return answer, status, {}
    digest = fingerprint(body)
    record = _stored(account_id, key)
    if record is not None:
        return _replay(record, digest)
    answer, status = run()
    try:
        with transaction(services().sessions) as session:
            session.add(IdempotencyRecord(account_id=account_id, key=key, request_hash=digest,
                                          status_code=status, response=answer))
    except IntegrityError:
        record = _stored(account_id, key)
        assert record is not None
        return _replay(record, digest)
    return answer, status, {}
