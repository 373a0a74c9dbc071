"""Campaigns: one send to up to 100,000 recipients, followed through its status counts.

``POST /campaigns`` makes the checks that hold for every recipient alike (the body, the text or
template, the sender, some credit), stores the campaign with its recipient list and answers
202 with the campaign's ``id`` at once; a job on the ``campaigns`` queue then submits the
recipients chunk by chunk (see :mod:`hub.campaigns`). Without Redis the campaign is submitted
before the answer. ``GET /campaigns/<id>`` shows the run's ``status`` (``accepted``, then
``running``, ``done`` or ``failed``), its ``progress`` and ``counts`` per message status.
Refused recipients are stored as ``refused`` messages so that, once done, the counts add up to
the number of distinct recipients.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import campaigns, pipeline
from hub.api import idempotency
from hub.api.auth import current_account, owned, require_api_key
from hub.api.context import read_only, services, unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, ref, reply
from hub.api.sending import RECIPIENT, requests_for, send_schema
from hub.api.shapes import iso
from hub.api.validation import validated_body
from hub.ids import new_id
from hub.models import Campaign, Message

blueprint = Blueprint("campaigns", __name__)

MAX_RECIPIENTS = 100_000

CAMPAIGN_REQUEST = send_schema(
    {"type": "array", "items": RECIPIENT, "minItems": 1, "maxItems": MAX_RECIPIENTS},
    extra={"name": {"type": "string", "maxLength": 200}},
)
CAMPAIGN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "status", "total", "created_at", "counts"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"type": "string"},
        "total": {"type": "integer", "description": "Recipients in the request"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                   "description": "Message status → number of messages"},
        "progress": {
            "type": "object", "required": ["processed", "total"],
            "properties": {"processed": {"type": "integer"}, "total": {"type": "integer"}},
            "description": "Recipients submitted to the pipeline so far",
        },
    },
}


def campaign_to_dict(session: Session, campaign: Campaign) -> dict[str, Any]:
    query = (select(Message.status, func.count()).where(Message.campaign_id == campaign.id)
             .group_by(Message.status))
    counts = {status: int(n) for status, n in session.execute(query)}
    return {"id": campaign.id, "name": campaign.name, "status": campaign.status,
            "total": campaign.total, "created_at": iso(campaign.created_at), "counts": counts,
            "progress": campaigns.progress(session, campaign.id, campaign.total)}


def _create(account_id: str, data: dict[str, Any]) -> str:
    """Store the campaign and its recipients (one transaction, a few dozen rows)."""
    recipients = data["to"]
    with unit_of_work() as session:
        campaign = Campaign(id=new_id("cmp"), account_id=account_id, name=data.get("name", ""),
                            total=len(recipients), status="accepted")
        session.add(campaign)
        session.flush()
        campaigns.store(session, campaign.id, data, recipients)
    return campaign.id


@blueprint.post("/campaigns")
@require_api_key
def create_campaign() -> ResponseReturnValue:
    data = validated_body(CAMPAIGN_REQUEST, bulk="to")
    account = current_account()
    key = idempotency.request_key()
    content = {k: v for k, v in data.items() if k not in ("name", "to")}
    [sample] = requests_for(account.id, content, [data["to"][0]], idempotency_key=None,
                            single=True)
    pipeline.check_campaign(services(), account.id, sample)

    def run() -> idempotency.Answer:
        campaign_id = _create(account.id, data)
        if not campaigns.enqueue(services(), campaign_id):
            campaigns.run(services(), campaign_id)
        with unit_of_work() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            return campaign_to_dict(session, campaign), 202

    body, status, headers = idempotency.once(account.id, key, data, run)
    headers["Location"] = f"/api/v1/campaigns/{body['id']}"
    return body, status, headers


@blueprint.get("/campaigns/<campaign_id>")
@require_api_key
def get_campaign(campaign_id: str) -> ResponseReturnValue:
    with read_only() as session:
        return campaign_to_dict(session, owned(session, Campaign, campaign_id, "campaign"))


PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/campaigns": {"post": operation(
            "Send one text to up to 100,000 recipients",
            {"202": reply("The campaign, stored; its recipients are submitted in the "
                          "background (see progress and counts)", ref("Campaign")),
             **problems(400, 402, 413, 415, 422)},
            request=ref("CampaignRequest"),
            parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "maxLength": idempotency.MAX_KEY}}],
        )},
        "/campaigns/{campaign_id}": {"get": operation(
            "A campaign and its message counts per status",
            {"200": reply("The campaign", ref("Campaign")), **problems(404)},
            parameters=[path_param("campaign_id", "A campaign id")],
        )},
    },
    schemas={"Campaign": CAMPAIGN_SCHEMA, "CampaignRequest": CAMPAIGN_REQUEST},
)
