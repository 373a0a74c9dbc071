"""Campaigns: one send to up to 100,000 recipients, followed through its status counts.

``POST /campaigns`` stores the campaign, hands every recipient to the pipeline (which commits
chunk by chunk and queues the messages) and answers 202 with the campaign's ``id`` and its
counts: the messages then travel on their own. Refused recipients are stored as ``refused``
messages so that the counts add up to the number of distinct recipients.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub import pipeline
from hub.accounts import NotFoundError
from hub.api import idempotency
from hub.api.auth import current_account, require_api_key
from hub.api.context import services, unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, ref, reply
from hub.api.sending import RECIPIENT, requests_for, send_schema
from hub.api.shapes import iso
from hub.api.validation import validated_body
from hub.ids import new_id
from hub.models import Campaign, Message
from sms_core.errors import HubError

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
    },
}


def campaign_to_dict(session: Session, campaign: Campaign) -> dict[str, Any]:
    query = (select(Message.status, func.count()).where(Message.campaign_id == campaign.id)
             .group_by(Message.status))
    counts = {status: int(n) for status, n in session.execute(query)}
    return {"id": campaign.id, "name": campaign.name, "status": campaign.status,
            "total": campaign.total, "created_at": iso(campaign.created_at), "counts": counts}


def _create(account_id: str, name: str, total: int) -> str:
    with unit_of_work() as session:
        campaign = Campaign(id=new_id("cmp"), account_id=account_id, name=name, total=total,
                            status="accepted")
        session.add(campaign)
    return campaign.id


def _discard(campaign_id: str) -> None:
    """Remove a campaign whose submit was refused as a whole (it has no messages)."""
    with unit_of_work() as session:
        session.execute(delete(Message).where(Message.campaign_id == campaign_id))
        session.execute(delete(Campaign).where(Campaign.id == campaign_id))


@blueprint.post("/campaigns")
@require_api_key
def create_campaign() -> ResponseReturnValue:
    data = validated_body(CAMPAIGN_REQUEST, bulk="to")
    account = current_account()
    key = idempotency.request_key()
    content = {k: v for k, v in data.items() if k != "name"}
    sms = requests_for(account.id, content, list(data["to"]), idempotency_key=key, single=False)

    def run() -> idempotency.Answer:
        campaign_id = _create(account.id, data.get("name", ""), len(sms))
        try:
            pipeline.submit(services(), account.id, sms, campaign_id=campaign_id)
        except HubError:
            _discard(campaign_id)
            raise
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
    with unit_of_work() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.account_id != current_account().id:
            raise NotFoundError(f"no campaign {campaign_id}")
        return campaign_to_dict(session, campaign)


PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/campaigns": {"post": operation(
            "Send one text to up to 100,000 recipients",
            {"202": reply("The campaign, its messages queued", ref("Campaign")),
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
