"""The account's appointment-reminder plan: ``GET|PUT|DELETE /subscription``.

The subscription belongs to the paying account (:mod:`hub.plans`): a sub-account's key reads its
parent's plan, and only the paying account's key changes or cancels it (403 ``payer_only``).
The first ``PUT`` starts the plan's 30-day free trial; see :func:`hub.plans.choose` for changes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from hub import plans
from hub.accounts import ForbiddenError, NotFoundError
from hub.api.auth import current_account, require_api_key
from hub.api.context import unit_of_work
from hub.api.openapi import ApiPart, operation, problems, ref, reply
from hub.api.validation import validated_body
from hub.models import Account
from sms_core import plans as plan_table

blueprint = Blueprint("subscription", __name__)

_MONEY_OR_NULL = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$"}
_TIME_OR_NULL = {"type": ["string", "null"]}
SUBSCRIPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["account_id", "plan", "cycle", "status", "trial_ends_at", "period_start",
                 "period_end", "fee", "currency", "pending", "calendars_allowed",
                 "calendars_used"],
    "properties": {
        "account_id": {"type": "string", "description": "The paying account"},
        "plan": {"enum": [*plan_table.PLANS, None]},
        "cycle": {"enum": [*plan_table.CYCLES, None]},
        "status": {"enum": ["none", "trial", "active", "cancelled"]},
        "trial_ends_at": _TIME_OR_NULL, "period_start": _TIME_OR_NULL,
        "period_end": _TIME_OR_NULL,
        "fee": _MONEY_OR_NULL, "currency": {"type": "string"},
        "pending": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
        "calendars_allowed": {"type": "integer", "minimum": 0},
        "calendars_used": {"type": "integer", "minimum": 0},
        "prorata": {"type": "string", "pattern": r"^\d+(\.\d+)?$",
                    "description": "PUT only: what this change added to the next invoice"},
    },
}
SUBSCRIPTION_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["plan"],
    "properties": {"plan": {"enum": list(plan_table.PLANS)},
                   "cycle": {"enum": list(plan_table.CYCLES)}},
}


def _payer(account: Account) -> str:
    if account.parent_id is not None:
        raise ForbiddenError(f"the plan belongs to the paying account {account.parent_id}",
                             code="payer_only")
    return account.id


@blueprint.get("/subscription")
@require_api_key
def get_subscription() -> ResponseReturnValue:
    with unit_of_work() as session:
        return plans.describe(session, current_account().id)


@blueprint.put("/subscription")
@require_api_key
def put_subscription() -> ResponseReturnValue:
    """Subscribe (201, trial starts) or change plan/cycle (200)."""
    data = validated_body(SUBSCRIPTION_REQUEST)
    with unit_of_work() as session:
        payer = _payer(current_account())
        row = plans.subscription(session, payer)
        cycle = data.get("cycle") or (row.cycle if row is not None else "monthly")
        _, extra, created = plans.choose(session, payer, data["plan"], cycle)
        document = {**plans.describe(session, payer), "prorata": format(extra, "f")}
    return document, 201 if created else 200


@blueprint.delete("/subscription")
@require_api_key
def delete_subscription() -> ResponseReturnValue:
    """Cancel: no new calendar; the period already invoiced is not refunded."""
    with unit_of_work() as session:
        payer = _payer(current_account())
        row = plans.subscription(session, payer)
        if row is None or row.status == "cancelled":
            raise NotFoundError("no subscription to cancel", code="no_subscription")
        plans.cancel(session, payer)
        return plans.describe(session, payer)


PART = ApiPart(
    blueprint=blueprint,
    paths={"/subscription": {
        "get": operation(
            "The paying account's reminder plan, its period and calendars allowed/used",
            {"200": reply("The subscription (status none when there is none)",
                          ref("Subscription"))}),
        "put": operation(
            "Subscribe to a reminder plan (30-day trial) or change plan or billing cycle",
            {"200": reply("The changed subscription", ref("Subscription")),
             "201": reply("The new subscription, in its trial", ref("Subscription")),
             **problems(400, 402, 409, 415, 422)},
            request=ref("SubscriptionRequest")),
        "delete": operation(
            "Cancel the reminder plan (no refund of the current period)",
            {"200": reply("The cancelled subscription", ref("Subscription")),
             **problems(402, 404)}),
    }},
    schemas={"Subscription": SUBSCRIPTION_SCHEMA, "SubscriptionRequest": SUBSCRIPTION_REQUEST},
)
