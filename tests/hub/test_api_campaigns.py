"""Campaigns and the opt-out list through the API."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from hub import campaigns, ledger, pipeline
from hub.callbacks import jobs
from hub.db import transaction
from hub.models import Campaign, CampaignChunk, Message
from tests.hub.apiclient import auth, count, make_app, new_account, seed_prices, sessions


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Flask:
    built = make_app(database_url, tmp_path)
    seed_prices(built)
    return built


@pytest.fixture
def key(app: Flask) -> str:
    return new_account(app, credits=Decimal(100))[1]


def _numbers(n: int) -> list[str]:
    return [f"+336{10000000 + i:08d}" for i in range(n)]


def test_a_campaign_is_accepted_and_counted_per_status(app: Flask, key: str) -> None:
    client = app.test_client()
    numbers = [*_numbers(300), "abc", _numbers(1)[0]]
    response = client.post("/api/v1/campaigns", json={"name": "Sale", "to": numbers,
                                                      "text": "Sale today"}, headers=auth(key))
    assert response.status_code == 202, response.json
    body = response.json
    assert body is not None and body["id"].startswith("cmp_")
    assert body["total"] == 302
    assert body["counts"] == {"accepted": 300, "refused": 1}
    assert response.headers["Location"] == f"/api/v1/campaigns/{body['id']}"
    again = client.get(f"/api/v1/campaigns/{body['id']}", headers=auth(key)).json
    assert again == body
    listed = client.get("/api/v1/messages", query_string={"campaign_id": body["id"],
                                                          "limit": 1000}, headers=auth(key)).json
    assert listed is not None and len(listed["data"]) == 301


def test_a_campaign_with_a_bad_template_or_no_credit_leaves_nothing(app: Flask, key: str) -> None:
    client = app.test_client()
    bad = client.post("/api/v1/campaigns", json={"to": _numbers(3), "template": "{{ x }}"},
                      headers=auth(key))
    assert bad.status_code == 422
    assert bad.json is not None and bad.json["code"] == "undefined_variable"
    _, broke = new_account(app, "Broke")
    poor = client.post("/api/v1/campaigns", json={"to": _numbers(3), "text": "hi"},
                       headers=auth(broke))
    assert poor.status_code == 402
    assert (count(app, Campaign), count(app, Message)) == (0, 0)


def test_campaigns_of_others_are_not_found(app: Flask, key: str) -> None:
    made = app.test_client().post("/api/v1/campaigns", json={"to": _numbers(1), "text": "x"},
                                  headers=auth(key)).json
    assert made is not None
    _, other = new_account(app, "Other")
    response = app.test_client().get(f"/api/v1/campaigns/{made['id']}", headers=auth(other))
    assert response.status_code == 404


def test_opt_outs_are_added_listed_honoured_and_removed(app: Flask, key: str) -> None:
    client = app.test_client()
    added = client.post("/api/v1/optouts", json={"number": "06 12 34 56 78"}, headers=auth(key))
    assert added.status_code == 201
    assert added.json is not None and added.json["number"] == "+33612345678"
    twice = client.post("/api/v1/optouts", json={"number": "+33612345678"}, headers=auth(key))
    assert twice.status_code == 200
    listed = client.get("/api/v1/optouts", headers=auth(key)).json
    assert listed is not None and [o["number"] for o in listed["data"]] == ["+33612345678"]
    refused = client.post("/api/v1/messages", json={"to": "+33612345678", "text": "hi"},
                          headers=auth(key))
    assert refused.status_code == 422
    assert refused.json is not None and refused.json["code"] == "opted_out"
    assert client.delete("/api/v1/optouts/+33612345678", headers=auth(key)).status_code == 204
    assert client.delete("/api/v1/optouts/+33612345678", headers=auth(key)).status_code == 404
    sent = client.post("/api/v1/messages", json={"to": "+33612345678", "text": "hi"},
                       headers=auth(key))
    assert sent.status_code == 201


def test_opt_out_pages_and_bad_numbers(app: Flask, key: str) -> None:
    client = app.test_client()
    for number in _numbers(5):
        assert client.post("/api/v1/optouts", json={"number": number},
                           headers=auth(key)).status_code == 201
    first = client.get("/api/v1/optouts", query_string={"limit": 3}, headers=auth(key)).json
    assert first is not None and len(first["data"]) == 3
    rest = client.get("/api/v1/optouts", query_string={"cursor": first["next_cursor"]},
                      headers=auth(key)).json
    assert rest is not None and len(rest["data"]) == 2 and rest["next_cursor"] is None
    bad = client.post("/api/v1/optouts", json={"number": "abc"}, headers=auth(key))
    assert bad.status_code == 422
    assert bad.json is not None and bad.json["code"] == "invalid_number"


@pytest.mark.parametrize(
    ("bad", "field"),
    [(5, "/to/7"), ("", "/to/7"), ("1" * 65, "/to/7"), (None, "/to/7")],
)
def test_a_bad_recipient_deep_in_a_campaign_is_named(
    app: Flask, key: str, bad: object, field: str
) -> None:
    numbers: list[object] = list(_numbers(10))
    numbers[7] = bad
    before = (count(app, Campaign), count(app, Message))
    response = app.test_client().post("/api/v1/campaigns", json={"to": numbers, "text": "x"},
                                      headers=auth(key))
    assert response.status_code == 422
    assert response.json is not None and response.json["field"] == field
    assert (count(app, Campaign), count(app, Message)) == before


@pytest.fixture
def queued_app(database_url: str, redis_url: str, tmp_path: Path) -> Flask:
    built = make_app(database_url, tmp_path, redis=Redis.from_url(redis_url))
    seed_prices(built)
    return built


def work(app: Flask) -> None:
    """What the ``worker`` role does: run the queued campaign jobs (and their continuations)."""
    services = app.extensions["smshub"]
    jobs.use(services)
    try:
        worker = SimpleWorker([services.queue(campaigns.QUEUE)], connection=services.redis)
        worker.work(burst=True)
    finally:
        jobs.use(None)


def test_a_campaign_is_answered_at_once_and_submitted_by_its_job(queued_app: Flask) -> None:
    _, key = new_account(queued_app, credits=Decimal(100))
    client = queued_app.test_client()
    numbers = [*_numbers(30), "abc", _numbers(1)[0]]
    response = client.post("/api/v1/campaigns", json={"to": numbers, "text": "Sale today"},
                           headers=auth(key))
    assert response.status_code == 202, response.json
    body = response.json
    assert body is not None
    assert (body["status"], body["counts"]) == ("accepted", {})
    assert body["progress"] == {"processed": 0, "total": 32}
    assert count(queued_app, Message) == 0
    work(queued_app)
    done = client.get(f"/api/v1/campaigns/{body['id']}", headers=auth(key)).json
    assert done is not None
    assert (done["status"], done["counts"]) == ("done", {"accepted": 30, "refused": 1})
    assert done["progress"] == {"processed": 32, "total": 32}
    services = queued_app.extensions["smshub"]
    queued = [i for job in services.queue("bulk").jobs for i in job.args[0]]
    assert len(queued) == 30 and services.queue("transactional").jobs == []


def test_a_large_campaign_runs_in_chunks_and_slices_with_duplicates_merged(
        queued_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "CHUNK_SIZE", 4)
    monkeypatch.setattr(campaigns, "JOB_SLICE", 0.0)
    _, key = new_account(queued_app, credits=Decimal(100))
    numbers = _numbers(10)
    recipients = [*numbers, numbers[0], "0" + numbers[3][3:], *numbers[5:7]]
    body = queued_app.test_client().post(
        "/api/v1/campaigns", json={"to": recipients, "template": "Bonjour {{ name }}",
                                   "variables": {"name": "Lou"}}, headers=auth(key)).json
    assert body is not None
    work(queued_app)
    with sessions(queued_app)() as session:
        rows = list(session.execute(select(Message.to, Message.idempotency_key, Message.text)
                                    .where(Message.campaign_id == body["id"])))
    assert sorted(to for to, _, _ in rows) == sorted(numbers)
    assert {key for _, key, _ in rows} == {f"{body['id']}#{i}" for i in range(10)}
    assert {text for _, _, text in rows} == {"Bonjour Lou"}


def test_a_campaign_run_resumes_after_a_crash_without_sending_twice(
        queued_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "CHUNK_SIZE", 5)
    account_id, key = new_account(queued_app, credits=Decimal(100))
    body = queued_app.test_client().post(
        "/api/v1/campaigns", json={"to": [*_numbers(18), "abc"], "text": "Promo"},
        headers=auth(key)).json
    assert body is not None
    services = queued_app.extensions["smshub"]
    real = pipeline.submit_campaign_chunk
    calls = []

    def crash_on_third(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "submit_campaign_chunk", crash_on_third)
    with pytest.raises(RuntimeError):
        campaigns.run(services, body["id"])
    assert count(queued_app, Message) == 10
    monkeypatch.setattr(pipeline, "submit_campaign_chunk", real)
    assert campaigns.resume(services) == [body["id"]]
    work(queued_app)
    assert campaigns.run(services, body["id"]) is True  # a late duplicate run: nothing to do
    with sessions(queued_app)() as session:
        statuses = list(session.scalars(select(Message.status)
                                        .where(Message.campaign_id == body["id"])))
        assert ledger.balance(session, account_id) == Decimal(100) - 18 * Decimal("0.05")
    assert sorted(statuses) == ["accepted"] * 18 + ["refused"]


def test_two_overlapping_runs_submit_each_chunk_once(queued_app: Flask,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "CHUNK_SIZE", 3)
    _, key = new_account(queued_app, credits=Decimal(100))
    body = queued_app.test_client().post(
        "/api/v1/campaigns", json={"to": _numbers(12), "text": "Promo"}, headers=auth(key)).json
    assert body is not None
    services = queued_app.extensions["smshub"]
    threads = [threading.Thread(target=campaigns.run, args=(services, body["id"]))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(queued_app, Message) == 12


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [({"text": "x" * 2000}, 422, "too_long"),
     ({"text": "hi", "sender": "AB"}, 422, "sender_invalid"),
     ({"text": "   "}, 422, "text_empty")],
)
def test_what_holds_for_every_recipient_is_checked_before_storing(
        queued_app: Flask, extra: dict[str, Any], status: int, code: str) -> None:
    _, key = new_account(queued_app, credits=Decimal(100))
    response = queued_app.test_client().post("/api/v1/campaigns",
                                              json={"to": _numbers(3), **extra},
                                              headers=auth(key))
    assert response.status_code == status, response.json
    assert response.json is not None and response.json["code"] == code
    assert (count(queued_app, Campaign), count(queued_app, CampaignChunk)) == (0, 0)


def test_a_post_paid_campaign_within_its_limit_is_accepted(queued_app: Flask) -> None:
    account_id, key = new_account(queued_app)
    with transaction(sessions(queued_app)) as session:
        ledger.set_credit_limit(session, account_id, Decimal("0.10"))
    body = queued_app.test_client().post(
        "/api/v1/campaigns", json={"to": _numbers(3), "text": "Promo"}, headers=auth(key)).json
    assert body is not None
    work(queued_app)
    done = queued_app.test_client().get(f"/api/v1/campaigns/{body['id']}", headers=auth(key)).json
    assert done is not None and done["counts"] == {"accepted": 2, "refused": 1}


def test_a_continuation_job_reads_the_run_without_the_write_turn(queued_app: Flask) -> None:
    """The first job marks the campaign running; a continuation (one per JOB_SLICE) only reads
    its run, so it begins at once while another transaction holds the write turn."""
    _, key = new_account(queued_app, credits=Decimal(100))
    body = queued_app.test_client().post(
        "/api/v1/campaigns", json={"to": _numbers(3), "text": "Promo"}, headers=auth(key)).json
    assert body is not None
    services = queued_app.extensions["smshub"]
    first = campaigns._begin(services, body["id"])
    assert first is not None and first.first == 0
    with sessions(queued_app)() as session:
        assert session.get(Campaign, body["id"]).status == "running"  # type: ignore[union-attr]
    began: list[campaigns._Run | None] = []
    with transaction(services.sessions) as holder:  # the write turn (and the rows) held
        holder.execute(select(Campaign).where(Campaign.id == body["id"]).with_for_update())
        holder.get(Campaign, body["id"]).name = "held"  # type: ignore[union-attr]
        holder.flush()
        thread = threading.Thread(target=lambda: began.append(
            campaigns._begin(services, body["id"])))
        thread.start()
        thread.join(5)
        assert not thread.is_alive(), "the continuation waited for the write turn"
    assert began == [first]
