"""Batched state moves: each message gets its own values, only allowed moves happen."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from connectors.base import SmsRequest
from hub import pipeline, states
from hub.config import Settings
from hub.crypto import SecretBox
from hub.db import transaction
from hub.models import (
    Account,
    CallbackEndpoint,
    CallbackEvent,
    ConnectorStatusItem,
    Message,
)
from hub.services import Services, build_services
from tests.hub.conftest import make_account, seed_prices


def _accepted(services: Services, account: Account, count: int) -> list[str]:
    requests = [SmsRequest(account="", to=f"+3361234{n:04d}", text="Rappel : RDV demain 10h")
                for n in range(count)]  # fmt: skip
    results = pipeline.submit(services, account, requests)
    assert {r.status for r in results} == {"accepted"}
    return [str(r.message_id) for r in results]


def test_move_each_writes_shared_and_per_message_values_and_skips_forbidden_moves(
    services: Services, account: Account
) -> None:
    ids = _accepted(services, account, 6)
    with transaction(services.sessions) as session:
        submitted = states.move_each(session, [
            {"id": ids[0], "operator_id": "op-0", "attempts": 1},
            {"id": ids[1], "operator_id": "op-1", "attempts": 1},
            {"id": ids[2], "operator_id": "op-2", "attempts": 1},
            {"id": ids[3], "operator_id": "op-3", "attempts": 1},
            {"id": ids[4], "operator_id": "op-4", "attempts": 2},
        ], "submitted", only_from=["accepted"])  # fmt: skip
    assert submitted == ids[:5]
    with transaction(services.sessions) as session:
        delivered = states.move_each(session, [{"id": ids[0]}, {"id": ids[1]}], "delivered",
                                     only_from=["submitted"])  # the same values: one UPDATE
        undeliverable = states.move_each(session, [
            {"id": ids[2], "reason": "UNDELIV"}, {"id": ids[3], "reason": "UNDELIV"},
            {"id": ids[4], "reason": "EXPIRED"},
            {"id": ids[5], "reason": "UNDELIV"},  # still accepted: may not be undeliverable
        ], "undeliverable", only_from=["submitted"])  # fmt: skip
    assert (delivered, undeliverable) == (ids[:2], ids[2:5])
    with services.sessions() as session:
        got = {m.id: m for m in session.query(Message).filter(Message.id.in_(ids))}
    assert [got[i].status for i in ids] == ["delivered"] * 2 + ["undeliverable"] * 3 + [
        "accepted"]
    assert [got[i].operator_id for i in ids] == ["op-0", "op-1", "op-2", "op-3", "op-4", None]
    assert [got[i].attempts for i in ids[:5]] == [1, 1, 1, 1, 2]
    assert [got[i].reason for i in ids] == [None, None, "UNDELIV", "UNDELIV", "EXPIRED", None]
    assert all(got[i].submitted_at is not None and got[i].done_at is not None for i in ids[:5])
    assert got[ids[5]].done_at is None


def test_moves_reach_messages_by_primary_key_on_sqlite(
    _sqlite_template: Path, redis_url: str, tmp_path: Path
) -> None:
    """SQLite keeps no statistics: a status condition next to the id list must not make it
    read every message in that state through the status index (a cost that grows with the
    table). Every statement of the moves, the callback outbox and the connectors' fan-out
    included, goes by the id list."""
    path = tmp_path / "plans.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    built = build_services(Settings(data_dir=tmp_path, database_url=f"sqlite:///{path}",
                                    redis_url=redis_url, secret_key="test"))
    try:
        seed_prices(built)
        ids = _accepted(built, make_account(built), 4)
        plans: list[tuple[str, str]] = []

        def explain(conn: Any, _cursor: Any, statement: str, parameters: Any,
                    _context: Any, executemany: bool) -> None:
            if "messages" not in statement or not statement.lstrip().startswith(
                    ("SELECT", "UPDATE", "INSERT")):
                return
            params = parameters[0] if executemany else parameters
            for row in conn.connection.dbapi_connection.execute(
                    "EXPLAIN QUERY PLAN " + statement, params):
                plans.append((" ".join(statement.split())[:120], str(row[-1])))

        engine = built.sessions.kw["bind"]
        event.listen(engine, "before_cursor_execute", explain)
        with transaction(built.sessions) as session:
            states.move_each(session, [{"id": i, "operator_id": f"op-{i}"} for i in ids],
                             "submitted", only_from=["accepted"])
            states.move_each(session, [{"id": i} for i in ids[:2]], "delivered",
                             only_from=["submitted"])
            states.move(session, ids[2:], "undeliverable", values={"reason": "UNDELIV"})
        event.remove(engine, "before_cursor_execute", explain)
    finally:
        built.close()
    assert any("USING INDEX sqlite_autoindex_messages_1" in plan for _, plan in plans)
    assert [(sql, plan) for sql, plan in plans if "ix_messages_status" in plan] == []


def test_move_each_reports_to_callbacks_and_connectors_only_what_concerns_them(
    services: Services,
) -> None:
    """A batched move records a callback event for the messages with a callback URL or whose
    account has an endpoint, and a connector status change for connector messages only."""
    seed_prices(services)
    listening, quiet = make_account(services), make_account(services)
    with transaction(services.sessions) as session:
        session.add(CallbackEndpoint(id="cbe_m", account_id=listening.id,
                                     url="https://example.org/hook",
                                     secret=SecretBox("test").encrypt("whsec_dGVzdHRlc3Q=")))
        session.add_all([
            Message(id="m_endpoint", account_id=listening.id, to="+33612345678", text="a",
                    status="accepted", encoding="GSM-7", segments=1, source="api"),
            Message(id="m_own_url", account_id=quiet.id, to="+33612345679", text="b",
                    status="accepted", encoding="GSM-7", segments=1, source="api",
                    callback_url="https://example.org/mine"),
            Message(id="m_calendar", account_id=quiet.id, to="+33612345670", text="c",
                    status="accepted", encoding="GSM-7", segments=1,
                    source="google_calendar"),
            Message(id="m_plain", account_id=quiet.id, to="+33612345671", text="d",
                    status="accepted", encoding="GSM-7", segments=1, source="api"),
        ])
    ids = ["m_endpoint", "m_own_url", "m_calendar", "m_plain"]
    with transaction(services.sessions) as session:
        moved = states.move_each(session, [{"id": i, "operator_id": f"op-{i}"} for i in ids],
                                 "submitted", only_from=["accepted"])
    assert moved == ids
    with services.sessions() as session:
        events = sorted(session.scalars(select(CallbackEvent.message_id)
                                        .where(CallbackEvent.type == "message.submitted")))
        changes = list(session.execute(select(ConnectorStatusItem.message_id,
                                              ConnectorStatusItem.status)))
    assert events == ["m_endpoint", "m_own_url"]
    assert changes == [("m_calendar", "submitted")]
