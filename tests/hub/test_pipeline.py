"""The submit pipeline against a real database and an embedded Redis."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rq import Queue
from sqlalchemy import func, select

from connectors.base import SmsRequest
from hub import ledger, pipeline
from hub.db import transaction
from hub.models import Account, Message, OptOut
from hub.services import Services, build_services
from sms_core.errors import BillingError, HubError
from tests.hub.conftest import UNIT_PRICE, make_account
from tests.hub.priority_writer import waiting_priority_writer

MOBILE = "06 12 34 56 78"
MOBILE_E164 = "+33612345678"


def sms(to: str = MOBILE, text: str = "Votre rendez-vous est confirmé", **kw: object) -> SmsRequest:
    return SmsRequest(account="", to=to, text=text, **kw)  # type: ignore[arg-type]


def rows(services: Services) -> list[Message]:
    with services.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.created_at, Message.id)))


def queued_ids(services: Services, name: str) -> list[str]:
    ids: list[str] = []
    for job in services.queue(name).jobs:
        ids.extend(job.args[0])
    return ids


def test_an_alert_is_accepted_priced_stored_and_enqueued(services: Services,
                                                         account: Account) -> None:
    [result] = pipeline.submit(services, account, [sms()])
    assert (result.status, result.to, result.refused) == ("accepted", MOBILE_E164, False)
    [message] = rows(services)
    assert message.id == result.message_id
    assert (message.status, message.encoding, message.segments) == ("accepted", "GSM-7", 1)
    assert message.cost == UNIT_PRICE and message.country == "FR"
    assert message.accepted_at is not None and message.enqueued_at is not None
    assert queued_ids(services, "transactional") == [message.id]
    with services.sessions() as session:
        assert ledger.balance(session, account.id) == Decimal(100) - UNIT_PRICE


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (sms(to="not a number"), "invalid_number"),
        (sms(to="01 42 68 53 00"), "fixed_line"),
        (sms(to="+44 7400 123456"), "country_not_allowed"),
        (sms(sender="AB"), "sender_invalid"),
        (sms(text="x" * 500), "too_long"),
        (sms(text="   "), "text_empty"),
        (sms(category="newsletter"), "category_invalid"),  # type: ignore[arg-type]
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_refusals_carry_their_code_and_cost_nothing(services: Services, account: Account,
                                                    request_: SmsRequest, code: str) -> None:
    [result] = pipeline.submit(services, account, [request_])
    assert (result.status, result.code, result.message_id) == ("refused", code, None)
    assert result.reason
    assert rows(services) == []
    with services.sessions() as session:
        assert ledger.balance(session, account.id) == Decimal(100)


def test_opted_out_numbers_are_refused(services: Services, account: Account) -> None:
    with transaction(services.sessions) as session:
        session.add(OptOut(account_id=account.id, number=MOBILE_E164, source="sms"))
    [result] = pipeline.submit(services, account, [sms(category="marketing")])
    assert (result.status, result.code) == ("refused", "opted_out")


def test_allowed_countries_open_international_sending(services: Services) -> None:
    from tests.hub.conftest import seed_prices

    seed_prices(services)
    account = make_account(services, allowed_countries=["GB"])
    [result] = pipeline.submit(services, account, [sms(to="+44 7400 123456")])
    assert result.status == "accepted"
    assert rows(services)[0].country == "GB"


def test_a_multi_recipient_send_stores_refusals_and_merges_duplicates(
        services: Services, account: Account) -> None:
    results = pipeline.submit(services, account, [
        sms(), sms(to="+33 6 12 34 56 78"), sms(to="12"), sms(to="06 98 76 54 32"),
    ])
    first, dup, bad, other = results
    assert first.status == other.status == "accepted"
    assert dup.duplicate and dup.message_id == first.message_id
    assert bad.status == "refused" and bad.message_id is not None
    stored = {m.id: m for m in rows(services)}
    assert len(stored) == 3
    assert (stored[bad.message_id].status, stored[bad.message_id].cost) == ("refused", 0)
    assert stored[bad.message_id].reason == "invalid_number"
    with services.sessions() as session:
        assert ledger.balance(session, account.id) == Decimal(100) - 2 * UNIT_PRICE


def test_an_idempotency_key_sends_once_even_across_restarts(
        services: Services, account: Account) -> None:
    [first] = pipeline.submit(services, account, [sms(idempotency_key="evt-1:24h")])
    [again] = pipeline.submit(services, account, [sms(idempotency_key="evt-1:24h")])
    restarted = build_services(services.settings)
    try:
        [later] = pipeline.submit(restarted, account.id, [sms(idempotency_key="evt-1:24h")])
    finally:
        restarted.close()
    assert not first.duplicate and again.duplicate and later.duplicate
    assert first.message_id == again.message_id == later.message_id
    assert len(rows(services)) == 1
    assert queued_ids(services, "transactional") == [first.message_id]


def test_two_keys_to_one_number_are_two_messages(services: Services, account: Account) -> None:
    results = pipeline.submit(services, account, [
        sms(idempotency_key="a", text="Rappel A"), sms(idempotency_key="b", text="Rappel B"),
        sms(idempotency_key="a", text="Rappel A"),
    ])
    assert [r.duplicate for r in results] == [False, False, True]
    assert results[2].message_id == results[0].message_id
    assert len(rows(services)) == 2


def test_concurrent_submits_of_one_key_make_one_message(services: Services,
                                                        account: Account) -> None:
    barrier = threading.Barrier(4)
    found: list[str | None] = []

    def worker() -> None:
        barrier.wait()
        [result] = pipeline.submit(services, account.id, [sms(idempotency_key="order-7:paid")])
        found.append(result.message_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and None not in found
    assert len(rows(services)) == 1


def test_no_credit_at_all_raises_and_stores_nothing(services: Services) -> None:
    from tests.hub.conftest import seed_prices

    seed_prices(services)
    broke = make_account(services, credits=None)
    with pytest.raises(BillingError) as caught:
        pipeline.submit(services, broke, [sms(), sms(to="0698765432")])
    assert caught.value.code == "insufficient_credits"
    assert rows(services) == []


def test_a_campaign_is_cut_to_what_the_balance_covers(services: Services,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.hub.conftest import seed_prices

    seed_prices(services)
    poor = make_account(services, credits=UNIT_PRICE * 3)
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 2)
    numbers = [f"06 12 00 00 0{i}" for i in range(5)]
    results = pipeline.submit(services, poor, [sms(to=n) for n in numbers])
    assert [r.status for r in results] == ["accepted"] * 3 + ["refused"] * 2
    assert {r.code for r in results[3:]} == {"insufficient_credits"}
    with services.sessions() as session:
        assert ledger.balance(session, poor.id) == 0


def test_marketing_outside_hours_is_scheduled_with_a_stop_mention(
        services: Services, account: Account) -> None:
    paris = ZoneInfo("Europe/Paris")
    sunday_noon = datetime(2031, 6, 15, 12, 0, tzinfo=paris)
    assert sunday_noon.weekday() == 6
    [result] = pipeline.submit(services, account, [
        sms(category="marketing", text="Soldes -20%", send_at=sunday_noon),
    ])
    assert result.status == "scheduled"
    [message] = rows(services)
    assert message.send_at == datetime(2031, 6, 16, 8, 0, tzinfo=paris)
    assert "STOP" in message.text and message.text.startswith("Soldes -20%")
    assert message.enqueued_at is None and message.accepted_at is None
    scheduled = Queue("bulk", connection=services.redis).scheduled_job_registry
    assert len(scheduled.get_job_ids()) == 1


def test_flooding_and_repeated_texts_are_refused(services: Services, account: Account) -> None:
    texts = [f"Code {i}" for i in range(16)]
    results = pipeline.submit(services, account,
                              [sms(text=t, idempotency_key=t) for t in texts])
    assert [r.status for r in results[:15]] == ["accepted"] * 15
    assert (results[15].status, results[15].code) == ("refused", "flooding")
    [again] = pipeline.submit(services, account, [sms(to="0698765432", text="Salut")])
    [repeat] = pipeline.submit(services, account, [sms(to="0698765432", text="Salut")])
    assert again.status == "accepted"
    assert (repeat.status, repeat.code) == ("refused", "duplicate_text")


def test_the_flood_limit_is_the_account_s_own_when_it_sets_one(services: Services) -> None:
    from tests.hub.conftest import seed_prices

    seed_prices(services)
    strict = make_account(services, max_per_hour=2)
    texts = [f"Code {i}" for i in range(3)]
    results = pipeline.submit(services, strict, [sms(text=t, idempotency_key=t) for t in texts])
    assert [(r.status, r.code) for r in results] == [("accepted", None)] * 2 + [
        ("refused", "flooding")]
    hub_wide = services.settings.replace(flood_max_per_hour=1)
    other = make_account(services)
    first, second = pipeline.submit(
        replace(services, settings=hub_wide), other,
        [sms(text="Un", idempotency_key="a"), sms(text="Deux", idempotency_key="b")])
    assert (first.status, second.code) == ("accepted", "flooding")


def test_links_to_denied_domains_are_refused(services: Services) -> None:
    """The hub's deny list and the account's both apply, subdomains and disguises included;
    other links go."""
    from tests.hub.conftest import seed_prices

    seed_prices(services)
    account = make_account(services, denied_domains=["colis-suivi.example"])
    hub = replace(services, settings=services.settings.replace(denied_domains="bad.test, x.test"))
    texts = {
        "Votre colis : https://suivi.colis-suivi.example/abc": "url_denied",
        "Payez ici www.BAD.test/pay?x=1": "url_denied",
        "Connexion : https://ma-banque.fr@x.test/login": "url_denied",
        "RDV confirmé, infos sur https://garage-martin.fr/rdv": None,
    }
    results = pipeline.submit(hub, account, [
        sms(to=f"061234567{n}", text=text) for n, text in enumerate(texts)])
    assert [r.code for r in results] == list(texts.values())
    assert results[0].status == "refused" and "colis-suivi.example" in str(results[0].reason)
    [elsewhere] = pipeline.submit(services, make_account(services),
                                  [sms(text="Payez ici www.bad.test/pay")])
    assert elsewhere.status == "accepted"  # not on this hub's list, nor on the account's
    with pytest.raises(HubError) as refused:
        pipeline.check_campaign(hub, account.id, sms(text="https://bad.test/x"))
    assert refused.value.code == "url_denied"


def test_a_campaign_is_inserted_in_chunks_and_enqueued_in_batches(
        services: Services, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 40)
    numbers = [f"+336{10000000 + i}" for i in range(120)]
    results = pipeline.submit(services, account,
                              [sms(to=n, category="marketing", text="Hi") for n in numbers])
    ids = [r.message_id for r in results]
    assert all(r.status in {"accepted", "scheduled"} for r in results)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 120
    if results[0].status == "accepted":
        jobs = services.queue("bulk").jobs
        assert sorted(i for job in jobs for i in job.args[0]) == sorted(ids)
        assert max(len(job.args[0]) for job in jobs) == services.settings.bulk_batch_size


def test_message_to_dict_has_the_public_shape(services: Services, account: Account) -> None:
    [result] = pipeline.submit(services, account, [sms(text="Ça coûte 5 €")])
    with services.sessions() as session:
        message = session.get(Message, result.message_id)
        assert message is not None
        shown = pipeline.message_to_dict(message)
    assert shown["to"] == MOBILE_E164 and shown["cost"] == "0.05"
    assert shown["encoding"] == "UCS-2" or shown["encoding"] == "GSM-7"
    assert shown["created_at"].endswith("Z") and shown["status"] == "accepted"


def test_templates_are_rendered_per_recipient(services: Services, account: Account) -> None:
    results = pipeline.submit(services, account, [
        SmsRequest(account="", to=MOBILE, template="Bonjour {{ name }}", variables={"name": "Léa"}),
        SmsRequest(account="", to="0698765432", template="Bonjour {{ name", variables={}),
    ])
    assert results[0].status == "accepted"
    assert results[1].status == "refused" and results[1].code
    assert rows(services)[0].text == "Bonjour Léa"


def _meanwhile(monkeypatch: pytest.MonkeyPatch, change: object) -> list[int]:
    """Run ``change()`` once, right after the pipeline planned a chunk outside the write lock."""
    planned = pipeline._plan
    calls: list[int] = []

    def plan_then_change(session, call, requests):  # type: ignore[no-untyped-def]
        chunk = planned(session, call, requests)
        calls.append(1)
        if len(calls) == 1:
            change()  # type: ignore[operator]
        return chunk

    monkeypatch.setattr(pipeline, "_plan", plan_then_change)
    return calls


def test_an_opt_out_committed_while_the_chunk_was_planned_is_honoured(
        services: Services, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    def opt_out() -> None:
        with transaction(services.sessions) as session:
            session.add(OptOut(account_id=account.id, number=MOBILE_E164, source="sms"))

    calls = _meanwhile(monkeypatch, opt_out)
    results = pipeline.submit(services, account, [sms(), sms(to="0698765432")])
    assert [(r.status, r.code) for r in results] == [("refused", "opted_out"),
                                                     ("accepted", None)]
    assert len(calls) == 2  # planned again inside the write transaction
    with services.sessions() as session:
        assert ledger.balance(session, account.id) == Decimal(100) - UNIT_PRICE


def test_a_key_committed_while_the_chunk_was_planned_answers_the_first_message(
        services: Services, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    first: list[str | None] = []

    def concurrent_submit() -> None:
        [result] = pipeline.submit(services, account, [sms(idempotency_key="k1")])
        first.append(result.message_id)

    _meanwhile(monkeypatch, concurrent_submit)
    [result] = pipeline.submit(services, account, [sms(idempotency_key="k1")])
    assert result.duplicate and result.message_id == first[0]
    assert len(rows(services)) == 1


def test_a_message_stored_meanwhile_counts_for_the_flood_rules(
        services: Services, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    def same_text_meanwhile() -> None:
        [result] = pipeline.submit(services, account, [sms(text="Code 1234")])
        assert result.status == "accepted"

    _meanwhile(monkeypatch, same_text_meanwhile)
    [result] = pipeline.submit(services, account, [sms(text="Code 1234")])
    assert (result.status, result.code) == ("refused", "duplicate_text")
    assert len(rows(services)) == 1


def test_a_recheck_by_rowid_gives_up_when_the_marked_row_is_gone(
        services: Services, account: Account) -> None:
    from hub.refusals import added_since, high_water

    [first] = pipeline.submit(services, account, [sms(text="Un")])
    with services.sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("rowid marks are SQLite's")
        mark = high_water(session, "messages")
    [second] = pipeline.submit(services, account, [sms(to="0698765432", text="Deux")])
    with services.sessions() as session:
        assert added_since(session, "messages", mark, '"to", id', account.id) == [
            (second.to, second.message_id)]
    with transaction(services.sessions) as session:
        session.execute(Message.__table__.delete().where(Message.id == first.message_id))
    with services.sessions() as session:
        assert added_since(session, "messages", mark, '"to", id', account.id) is None


def test_a_campaign_chunk_reads_messages_by_number_and_by_rowid_only(
        services: Services, account: Account) -> None:
    """SQLite: what a chunk reads of the messages table is found through the (account, to)
    index or the rowid, never by walking the campaign's or the last hour's messages, so that
    a chunk costs the same at the end of a 100,000-recipient campaign as at its start."""
    from sqlalchemy import event

    from hub.models import Campaign

    engine = services.sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("the planner under test is SQLite's")
    with transaction(services.sessions) as session:
        session.add(Campaign(id="cmp_plan", account_id=account.id, total=40))
    call = pipeline.start_campaign(services, account, "cmp_plan")
    statements: list[tuple[str, object]] = []

    def seen(_conn: object, _cursor: object, statement: str, parameters: object,
             *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "messages" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for start in (0, 20):
            requests = [sms(to=f"+3361234{i:04d}", idempotency_key=f"cmp_plan#{i}")
                        for i in range(start, start + 20)]
            assert pipeline.submit_campaign_chunk(services, call, requests,
                                                  during=lambda _session: True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    plans = []
    with engine.connect() as connection:
        for statement, parameters in statements:
            if "LIMIT 1" in statement or "WHERE messages.id IN" in statement:
                continue  # the high-water mark (last rowid) and reads by primary key
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append([row[-1] for row in plan])
    steps = [step for plan in plans for step in plan if "messages" in step]
    assert any("ix_messages_account_to" in step for step in steps)
    assert any("INTEGER PRIMARY KEY (rowid>?)" in step for step in steps)
    for step in steps:
        assert "ix_messages_campaign_id" not in step and "ix_messages_account_created" not in step
        assert not step.startswith("SCAN messages"), step
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 40


def test_each_message_keeps_its_own_metadata(services: Services, account: Account) -> None:
    requests = [sms(to="0612345601", metadata={"order": "A1"}), sms(to="0612345602"),
                sms(to="0612345603", metadata={"order": "A3", "lines": [1, 2]}),
                sms(to="0612345604")]
    results = pipeline.submit(services, account, requests)
    by_id = {message.id: message.meta for message in rows(services)}
    assert [by_id[r.message_id] for r in results if r.message_id] == [
        {"order": "A1"}, {}, {"order": "A3", "lines": [1, 2]}, {}]


def test_a_campaign_chunk_gives_way_to_an_alert_and_is_written_once(
        services: Services, account: Account) -> None:
    """A priority writer (an alert) starts waiting while a campaign chunk's transaction runs:
    the chunk rolls back at its next statement, the alert goes first and sees none of it, then
    the chunk is written again: each message and its credit once."""
    import contextlib
    import sqlite3

    from sqlalchemy import make_url

    from hub.models import Campaign

    engine = services.sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("giving way is the SQLite writer gate's (PostgreSQL locks rows)")
    path = make_url(services.settings.effective_database_url).database
    with transaction(services.sessions) as session:
        session.add(Campaign(id="cmp_way", account_id=account.id, total=20))
    call = pipeline.start_campaign(services, account, "cmp_way")
    seen_by_alert: list[int] = []
    alerts: list[threading.Thread] = []
    claims: list[int] = []

    def seen() -> None:
        with contextlib.closing(sqlite3.connect(str(path))) as reader:
            seen_by_alert.append(reader.execute("SELECT count(*) FROM messages").fetchone()[0])

    def during(_session: object) -> bool:
        claims.append(1)
        if not alerts:
            alerts.append(waiting_priority_writer(str(path), seen))
        return True

    requests = [sms(to=f"+3361234{i:04d}", idempotency_key=f"cmp_way#{i}") for i in range(20)]
    counts = pipeline.submit_campaign_chunk(services, call, requests, during=during)
    alerts[0].join(10)
    assert counts == {"accepted": 20}
    assert len(claims) == 2  # rolled back once, then written
    assert seen_by_alert == [0]
    assert len(rows(services)) == 20
    with services.sessions() as session:
        assert ledger.spendable(session, account.id) == Decimal(100) - 20 * UNIT_PRICE


def test_a_chunk_trimmed_to_its_balance_is_planned_again_after_giving_way(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The balance covers 10 of the chunk's 20 messages. An alert comes to wait after the
    chunk was trimmed to it, in the transaction that then rolls back: the refusals decided on
    that balance go with it, the chunk is planned again and written once (10 accepted, 10
    refused, 10 reserved)."""
    from sqlalchemy import make_url

    from hub.models import Campaign

    engine = services.sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("giving way is the SQLite writer gate's (PostgreSQL locks rows)")
    from tests.hub.conftest import seed_prices

    seed_prices(services)
    account = make_account(services, credits=10 * UNIT_PRICE)
    path = make_url(services.settings.effective_database_url).database
    with transaction(services.sessions) as session:
        session.add(Campaign(id="cmp_trim", account_id=account.id, total=20))
    call = pipeline.start_campaign(services, account, "cmp_trim")
    alerts: list[threading.Thread] = []
    trimmed: list[bool] = []
    plans: list[int] = []
    real_insert, real_plan = pipeline._insert, pipeline._plan

    def insert(session: object, chunk: object) -> None:
        trimmed.append(chunk.trimmed)  # type: ignore[attr-defined]
        if not alerts:  # a priority writer starts waiting, and goes once in
            alerts.append(waiting_priority_writer(str(path), lambda: None))
        real_insert(session, chunk)  # type: ignore[arg-type]

    def plan(*args: object) -> object:
        plans.append(1)
        return real_plan(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_insert", insert)
    monkeypatch.setattr(pipeline, "_plan", plan)
    requests = [sms(to=f"+3361234{i:04d}", idempotency_key=f"cmp_trim#{i}") for i in range(20)]
    counts = pipeline.submit_campaign_chunk(services, call, requests, during=lambda _s: True)
    alerts[0].join(10)
    assert trimmed == [True, True]  # the rolled-back attempt, then the one that committed
    assert len(plans) == 2  # planned again after giving way
    assert counts == {"accepted": 10, "refused": 10}
    stored = rows(services)
    assert sorted(m.status for m in stored) == ["accepted"] * 10 + ["refused"] * 10
    with services.sessions() as session:
        assert ledger.spendable(session, account.id) == Decimal(0)
