"""The sweeper puts back on its way whatever a crash or a lost Redis left behind."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update

from connectors.base import SmsRequest
from hub import ledger, pipeline, sweeper
from hub.db import transaction
from hub.models import Account, Message, utcnow
from hub.queues import DISPATCH_QUEUES
from hub.services import Services
from tests.hub.conftest import UNIT_PRICE


def queued(services: Services) -> list[str]:
    return [i for name in DISPATCH_QUEUES for job in services.queue(name).jobs
            for i in job.args[0]]


def submit(services: Services, account: Account, count: int, **kw: object) -> list[str]:
    requests = [SmsRequest(account="", to=f"+336{20000000 + i}", text="Bonjour", **kw)  # type: ignore[arg-type]
                for i in range(count)]
    return [r.message_id or "" for r in pipeline.submit(services, account, requests)]


def test_a_flushed_redis_is_refilled_once(services: Services, account: Account) -> None:
    ids = submit(services, account, 7)
    assert services.redis is not None
    services.redis.flushall()
    later = utcnow() + timedelta(seconds=services.settings.sweep_after + 1)
    assert sweeper.sweep(services, later).requeued == 7
    assert sorted(queued(services)) == sorted(ids)
    much_later = later + timedelta(seconds=services.settings.sweep_after + 1)
    assert sweeper.sweep(services, much_later).requeued == 0, "live jobs are not duplicated"


def test_recently_enqueued_work_is_left_alone(services: Services, account: Account) -> None:
    submit(services, account, 3)
    assert services.redis is not None
    services.redis.flushall()
    assert sweeper.sweep(services).requeued == 0


def test_due_scheduled_messages_are_promoted(services: Services, account: Account) -> None:
    when = utcnow() + timedelta(hours=2)
    ids = submit(services, account, 2, send_at=when)
    assert sweeper.sweep(services, when - timedelta(minutes=1)).promoted == 0
    assert sweeper.sweep(services, when + timedelta(seconds=1)).promoted == 2
    with services.sessions() as session:
        statuses = set(session.scalars(select(Message.status).where(Message.id.in_(ids))))
    assert statuses == {"accepted"}
    assert sorted(queued(services)) == sorted(ids)


def test_validity_elapsed_expires_or_fails_and_refunds(services: Services,
                                                       account: Account) -> None:
    sent, unsent = submit(services, account, 2)
    old = utcnow() - timedelta(hours=25)
    with transaction(services.sessions) as session:
        session.execute(update(Message).where(Message.id == sent)
                        .values(status="submitted", submitted_at=old))
        session.execute(update(Message).where(Message.id == unsent).values(accepted_at=old))
        ledger.settle(session, account.id, UNIT_PRICE, reference=sent)
    report = sweeper.sweep(services)
    assert (report.expired, report.abandoned) == (1, 1)
    with services.sessions() as session:
        assert session.get(Message, sent).status == "expired"  # type: ignore[union-attr]
        failed = session.get(Message, unsent)
        assert failed is not None and (failed.status, failed.reason) == (
            "failed", "validity_elapsed")
        assert ledger.balance(session, account.id) == Decimal(100) - UNIT_PRICE


def test_the_sweep_expires_packs_once_after_their_validity(services: Services,
                                                           account: Account) -> None:
    from hub.models import LedgerEntry, Pack

    bought = utcnow()
    with transaction(services.sessions) as session:
        pack = ledger.purchase(session, account, Decimal("3"), reference="old pack",
                               expires_at=bought + timedelta(days=2), now=bought)
        pack_id = pack.id
    assert services.redis is not None
    services.redis.delete(sweeper.EXPIRY_MARK)

    def expiries() -> list[tuple[Decimal, int | None]]:
        with services.sessions() as session:
            return [(e.amount, e.pack_id) for e in session.scalars(
                select(LedgerEntry).where(LedgerEntry.kind == "expiry",
                                          LedgerEntry.account_id == account.id))]

    assert sweeper.sweep(services, bought + timedelta(days=1)).credit_expired == 0
    assert expiries() == [], "not expired before its date"
    services.redis.delete(sweeper.EXPIRY_MARK)  # the hour since that run has passed
    after = bought + timedelta(days=3)
    report = sweeper.sweep(services, after)
    assert report.credit_expired == Decimal("3")
    assert sweeper.sweep(services, after + timedelta(minutes=5)).credit_expired == 0
    services.redis.delete(sweeper.EXPIRY_MARK)
    assert sweeper.sweep(services, after + timedelta(hours=2)).credit_expired == 0
    assert expiries() == [(Decimal("-3"), pack_id)]
    with services.sessions() as session:
        found = session.get(Pack, pack_id)
        assert found is not None and found.remaining == 0
        assert ledger.verify(session, account)


def test_pack_expiry_runs_at_most_once_an_hour_per_cluster(services: Services,
                                                           account: Account) -> None:
    assert services.redis is not None
    services.redis.delete(sweeper.EXPIRY_MARK)
    now = utcnow()
    sweeper.sweep(services, now)
    ttl = services.redis.ttl(sweeper.EXPIRY_MARK)
    assert 3500 < ttl <= 3600
    with transaction(services.sessions) as session:
        ledger.purchase(session, account, Decimal("2"), reference="short pack",
                        expires_at=now - timedelta(seconds=1), now=now - timedelta(days=1))
    assert sweeper.sweep(services, now).credit_expired == 0, "waits for the mark to expire"
    services.redis.delete(sweeper.EXPIRY_MARK)
    assert sweeper.sweep(services, now).credit_expired == Decimal("2")
