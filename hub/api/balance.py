"""The account's credit balance (the paying account's: a sub-account shows its parent's)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from hub import ledger
from hub.api.auth import current_account, require_api_key
from hub.api.context import unit_of_work
from hub.api.openapi import ApiPart, operation, ref, reply

blueprint = Blueprint("balance", __name__)

BALANCE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["balance", "currency"],
    "properties": {"balance": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
                   "currency": {"type": "string"}},
}


@blueprint.get("/balance")
@require_api_key
def get_balance() -> ResponseReturnValue:
    account = current_account()
    with unit_of_work() as session:
        amount = ledger.balance(session, account.id)
    return {"balance": format(amount.normalize(), "f"), "currency": account.currency}


PART = ApiPart(
    blueprint=blueprint,
    paths={"/balance": {"get": operation(
        "Credits left, in the account currency",
        {"200": reply("The balance", ref("Balance"))},
    )}},
    schemas={"Balance": BALANCE_SCHEMA},
)
