"""Campaigns: stored at once by the API, then submitted chunk by chunk by an RQ job.

``POST /campaigns`` makes every check that holds for all recipients alike (text or template,
sender, credit), then :func:`store` keeps the recipient list compressed in chunks and
:func:`enqueue` puts one job on the :data:`QUEUE` queue; the answer (202) does not wait for it.

The job (:func:`run_job`) submits one chunk per transaction through
:func:`hub.pipeline.submit_campaign_chunk`. Each transaction also advances the run's ``done``
counter after checking it still equals the chunk's number, so a chunk is submitted exactly
once even when two runs of the same campaign overlap, and a run that crashed resumes at the
first chunk that did not commit (:func:`resume` re-enqueues unfinished runs). Every message
also carries an idempotency key derived from the campaign id and the recipient's index
(:func:`key_for`), so no path can send one recipient twice. A job stops after
:data:`JOB_SLICE` seconds and enqueues its continuation, so that other jobs of the same worker
are never stuck behind a 100,000-recipient campaign.

The job runs on the general worker, not on the dispatcher: the dispatcher's queues
(``transactional`` and ``bulk``) carry message ids only, and an alert must never wait behind a
campaign being prepared.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import SmsRequest
from hub import pipeline
from hub.db import reading, transaction
from hub.models import Campaign, CampaignChunk, CampaignRun, utcnow
from hub.services import Services
from hub.submission import Call
from sms_core.errors import HubError

log = logging.getLogger(__name__)

QUEUE = "campaigns"
"""The RQ queue of campaign jobs (consumed by the ``worker`` role)."""

JOB = "hub.campaigns.run_job"

CHUNK_SIZE = 500
"""Recipients per stored chunk, and per pipeline transaction: the write lock a chunk holds
(mostly its INSERT) is what a single alert may wait for while a campaign runs."""

JOB_SLICE = 5.0
"""Seconds a job works before handing the rest of its campaign to a new job."""

CHUNK_PAUSE = 0.005
"""Seconds the job rests between two chunks, so that a single alert waiting for the database's
write turn gets it (see :class:`hub.db.WriterGate`)."""

JOB_TIMEOUT = 600
FAILURE_TTL = int(timedelta(days=7).total_seconds())

CONTENT_FIELDS = ("text", "template", "variables", "category", "sender", "send_at",
                  "callback_url", "transliterate")
"""What a campaign's run keeps of the send request (its recipients are stored apart)."""


def key_for(campaign_id: str, index: int) -> str:
    """The idempotency key of the campaign's ``index``-th recipient."""
    return f"{campaign_id}#{index}"


def store(session: Session, campaign_id: str, content: Mapping[str, Any],
          recipients: Sequence[str]) -> CampaignRun:
    """Keep ``recipients`` compressed in chunks and the send's ``content`` for the job."""
    chunks = 0
    for seq, start in enumerate(range(0, len(recipients), CHUNK_SIZE)):
        part = list(recipients[start:start + CHUNK_SIZE])
        session.add(CampaignChunk(campaign_id=campaign_id, seq=seq, count=len(part),
                                  recipients=zlib.compress(json.dumps(part).encode(), 1)))
        chunks += 1
    run = CampaignRun(campaign_id=campaign_id, chunk_size=CHUNK_SIZE, chunks=chunks,
                      content={k: content[k] for k in CONTENT_FIELDS if k in content})
    session.add(run)
    return run


def enqueue(services: Services, campaign_id: str) -> bool:
    """Put the campaign's job on its queue; False when there is no Redis or it failed."""
    if services.redis is None:
        return False
    try:
        services.queue(QUEUE).enqueue(JOB, campaign_id, job_timeout=JOB_TIMEOUT, result_ttl=0,
                                      failure_ttl=FAILURE_TTL)
    except RedisError:
        log.exception("could not enqueue campaign %s", campaign_id)
        return False
    return True


def run_job(campaign_id: str) -> bool:
    """RQ entry point: run a slice of the campaign, then enqueue the rest (True when done)."""
    from hub.callbacks.jobs import services as worker_services

    services = worker_services()
    finished = run(services, campaign_id, budget=JOB_SLICE)
    if not finished and not enqueue(services, campaign_id):
        finished = run(services, campaign_id)
    return finished


def run(services: Services, campaign_id: str, *, budget: float | None = None) -> bool:
    """Submit the campaign's chunks from the first one not yet done; True when all are.

    With ``budget`` (seconds) it returns False once the budget is spent and chunks remain.
    """
    began = time.monotonic()
    state = _begin(services, campaign_id)
    if state is None:
        return True
    try:
        call = pipeline.start_campaign(services, state.account_id, campaign_id)
        for seq in range(state.first, state.chunks):
            if seq > state.first:
                if budget is not None and time.monotonic() - began > budget:
                    return False
                time.sleep(CHUNK_PAUSE)
            _submit(services, call, campaign_id, state, seq)
    except HubError as exc:
        _finish(services, campaign_id, "failed", f"{exc.code}: {exc.message}")
        raise
    _finish(services, campaign_id, "done")
    return True


class _Run(NamedTuple):
    account_id: str
    content: dict[str, Any]
    first: int
    chunks: int
    chunk_size: int


def _begin(services: Services, campaign_id: str) -> _Run | None:
    """The run's state, marking the campaign ``running`` on its first job. Its next jobs (one
    per :data:`JOB_SLICE`) only read: they neither wait for the write turn nor hold it."""
    with reading(services.sessions) as session:
        state, started = _run_of(session, campaign_id)
    if state is None or started:
        return state
    with transaction(services.sessions) as session:
        state, _ = _run_of(session, campaign_id, start=True)
    return state


def _run_of(session: Session, campaign_id: str, *, start: bool = False,
            ) -> tuple[_Run | None, bool]:
    """The run's state (None when there is nothing left to run) and whether it was started;
    ``start`` marks it started and the campaign ``running``."""
    campaign = session.get(Campaign, campaign_id)
    found = session.get(CampaignRun, campaign_id)
    if campaign is None or found is None or found.finished_at is not None:
        return None, False
    started = found.started_at is not None and campaign.status == "running"
    if start:
        found.started_at = found.started_at or utcnow()
        campaign.status = "running"
    return _Run(campaign.account_id, dict(found.content), found.done, found.chunks,
                found.chunk_size), started


def _submit(services: Services, call: Call, campaign_id: str, state: _Run, seq: int) -> None:
    with reading(services.sessions) as session:
        blob = session.scalar(select(CampaignChunk.recipients).where(
            CampaignChunk.campaign_id == campaign_id, CampaignChunk.seq == seq))
    assert blob is not None, f"campaign {campaign_id} lost its chunk {seq}"
    numbers: list[str] = json.loads(zlib.decompress(blob))
    requests = requests_for(campaign_id, state.content, numbers,
                            first_index=seq * state.chunk_size)
    pipeline.submit_campaign_chunk(services, call, requests,
                                   during=lambda session: _advance(session, campaign_id, seq))


def _advance(session: Session, campaign_id: str, seq: int) -> bool:
    """Claim chunk ``seq`` in the transaction that submits it (False: it is already done)."""
    found = session.get(CampaignRun, campaign_id, with_for_update=True, populate_existing=True)
    if found is None or found.done != seq:
        return False
    found.done = seq + 1
    return True


def _finish(services: Services, campaign_id: str, status: str, error: str | None = None) -> None:
    with transaction(services.sessions) as session:
        campaign = session.get(Campaign, campaign_id)
        found = session.get(CampaignRun, campaign_id)
        if campaign is None or found is None:
            return
        campaign.status = status
        found.error = error
        found.finished_at = utcnow()


NO_METADATA: Mapping[str, Any] = MappingProxyType({})
"""The metadata of every campaign request: one shared, read-only empty mapping."""


def requests_for(campaign_id: str, content: Mapping[str, Any], numbers: Sequence[str], *,
                 first_index: int) -> list[SmsRequest]:
    """The pipeline requests of one chunk; each recipient's key comes from its index."""
    raw_when = content.get("send_at")
    common: dict[str, Any] = {
        "account": "",
        "text": content.get("text"),
        "template": content.get("template"),
        "variables": dict(content.get("variables") or {}),
        "category": content.get("category") or "alert",
        "sender": content.get("sender"),
        "send_at": datetime.fromisoformat(raw_when) if raw_when else None,
        "callback_url": content.get("callback_url"),
        "transliterate": content.get("transliterate"),
        "source": "api",
        "metadata": NO_METADATA,
    }
    return [SmsRequest(to=to, idempotency_key=key_for(campaign_id, first_index + i), **common)
            for i, to in enumerate(numbers)]


def progress(session: Session, campaign_id: str, total: int) -> dict[str, int]:
    """Recipients processed so far (committed chunks) out of the total."""
    found = session.get(CampaignRun, campaign_id)
    if found is None:
        return {"processed": total, "total": total}
    return {"processed": min(found.done * found.chunk_size, total), "total": total}


def resume(services: Services) -> list[str]:
    """Enqueue every campaign whose run has not finished (after a crash or a lost job).

    A campaign that still has a job queued gets a second one: the extra run finds each chunk
    claimed and ends at once.
    """
    with reading(services.sessions) as session:
        ids = list(session.scalars(select(CampaignRun.campaign_id)
                                   .where(CampaignRun.finished_at.is_(None))))
    return [i for i in ids if enqueue(services, i)]
