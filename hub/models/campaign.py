"""A campaign's recipients and its run: what the ``bulk`` job needs to submit it chunk by chunk.

``POST /campaigns`` stores the recipient list as it came, compressed, in :class:`CampaignChunk`
rows of :data:`hub.campaigns.CHUNK_SIZE` numbers (a few dozen rows for 100,000 recipients,
instead of one row each), and the send itself once in :class:`CampaignRun`. The job reads one
chunk at a time, so its memory does not depend on the campaign's size, and advances ``done`` in
the transaction that inserts the chunk's messages: a run that crashed resumes where it stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base, utcnow


class CampaignRun(Base):
    __tablename__ = "campaign_runs"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The send request without its recipients: text or template + variables, sender..."""
    chunk_size: Mapped[int]
    chunks: Mapped[int]
    done: Mapped[int] = mapped_column(default=0)
    """Chunks whose messages are committed."""
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CampaignChunk(Base):
    __tablename__ = "campaign_chunks"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    count: Mapped[int]
    recipients: Mapped[bytes] = mapped_column(LargeBinary)
    """zlib-compressed JSON list of the raw numbers, in request order."""


__all__ = ["CampaignChunk", "CampaignRun"]
