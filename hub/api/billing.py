"""Billing in the API: the ledger, monthly statements, credits and price lists (admin).

``GET /balance`` lives in :mod:`hub.api.balance`; this part adds the history behind it. A
sub-account sees its parent's ledger entries that it spent itself, and the parent's statement.

``GET /accounts/<id>/billing`` shows the paying account's credit limit (post-paid) and
low-balance threshold to the account itself (a sub-account sees its parent's); ``PUT`` sets them,
for administrators only, on a paying account (a sub-account has none of its own: 409
``payer_only``).

``GET /ledger?format=csv`` is the downloadable consumption history (RULES.md § Billing): every
entry between ``from`` and ``to``, oldest first, streamed in chunks of :data:`CSV_CHUNK` rows
read one short transaction each, so that a year of history never sits in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import ledger, statements
from hub.accounts import NotFoundError
from hub.api import accounts as accounts_api
from hub.api.auth import current_account, require_admin, require_api_key
from hub.api.context import unit_of_work
from hub.api.openapi import ApiPart, operation, path_param, problems, query_param, ref, reply
from hub.api.problems import InvalidRequest
from hub.api.validation import validated_body
from hub.models import Account, Balance, LedgerEntry
from hub.pricing import export_prices, import_prices
from sms_core.errors import HubError

blueprint = Blueprint("billing", __name__)

MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "amount", "hold", "count", "reference", "created_at"],
    "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"}, "amount": MONEY, "hold": MONEY,
        "count": {"type": "integer"}, "reference": {"type": "string"},
        "reason": {"type": ["string", "null"]}, "country": {"type": ["string", "null"]},
        "route": {"type": ["string", "null"]}, "source": {"type": ["string", "null"]},
        "spender_id": {"type": ["string", "null"]}, "created_at": {"type": "string"},
    },
}
CREDITS_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["account_id", "amount"],
    "properties": {
        "account_id": {"type": "string", "minLength": 1},
        "amount": {"type": "string", "pattern": r"^\d+(\.\d{1,6})?$"},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "reference": {"type": "string", "minLength": 1, "maxLength": 96},
        "policy": {"enum": ["fixed", "rolling"]},
    },
}
BILLING_SETTINGS_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "credit_limit": {"type": "string", "pattern": r"^\d+(\.\d{1,6})?$",
                         "description": "How far below zero the account may spend (0: prepaid)"},
        "low_balance_threshold": {
            "type": ["string", "null"], "pattern": r"^-?\d+(\.\d{1,6})?$",
            "description": "Email the account once each time its credit falls below this "
                           "(null: never)"},
    },
}
BILLING_SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["account_id", "currency", "credit_limit", "low_balance_threshold", "balance",
                 "spendable"],
    "properties": {
        "account_id": {"type": "string", "description": "The paying account"},
        "currency": {"type": "string"}, "credit_limit": MONEY,
        "low_balance_threshold": {"type": ["string", "null"], "pattern": MONEY["pattern"]},
        "balance": MONEY, "spendable": MONEY,
    },
}
PAGE_MAX = 500
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
CSV_CHUNK = 1000
LEDGER_COLUMNS = ("id", "created_at", "kind", "amount", "hold", "count", "reference", "reason",
                  "country", "route", "source", "spender_id")


def entry_to_dict(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "kind": entry.kind, "amount": format(entry.amount, "f"),
        "hold": format(entry.hold, "f"), "count": entry.count, "reference": entry.reference,
        "reason": entry.reason, "country": entry.country, "route": entry.route,
        "source": entry.source, "spender_id": entry.spender_id,
        "created_at": entry.created_at.isoformat(),
    }


def _int_arg(name: str, default: int | None, maximum: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or (maximum is not None and not 1 <= int(raw) <= maximum):
        raise InvalidRequest(f"{name} must be an integer" + (f" 1–{maximum}" if maximum else ""),
                             code="invalid_query", field=name)
    return int(raw)


def _instant_arg(name: str) -> datetime | None:
    """``from``/``to``: an ISO date (whole days, ``to`` included) or an ISO date-time (UTC
    unless it has an offset; ``to`` excluded)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if name == "to" else start
        found = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO date or date-time", code="invalid_query",
                             field=name) from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _ledger_query(account: Account) -> Any:
    query = select(LedgerEntry).where(LedgerEntry.account_id == account.billing_account_id)
    if account.parent_id is not None:
        query = query.where(LedgerEntry.spender_id == account.id)
    start, end = _instant_arg("from"), _instant_arg("to")
    if start is not None:
        query = query.where(LedgerEntry.created_at >= start)
    if end is not None:
        query = query.where(LedgerEntry.created_at < end)
    return query


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _ledger_csv(query: Any) -> Iterator[str]:
    """The CSV text, chunk by chunk: each chunk is read by id in its own short transaction, so a
    slow download holds no transaction open (on SQLite every transaction takes the write lock)
    and keeps at most :data:`CSV_CHUNK` entries in memory."""
    yield _csv_line(list(LEDGER_COLUMNS))
    after = 0
    while True:
        with unit_of_work() as session:
            chunk = session.scalars(query.where(LedgerEntry.id > after)
                                    .order_by(LedgerEntry.id).limit(CSV_CHUNK)).all()
            if not chunk:
                return
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for entry in chunk:
                data = entry_to_dict(entry)
                writer.writerow(["" if data[c] is None else data[c] for c in LEDGER_COLUMNS])
            after = chunk[-1].id
        yield out.getvalue()
        if len(chunk) < CSV_CHUNK:
            return


@blueprint.get("/ledger")
@require_api_key
def get_ledger() -> ResponseReturnValue:
    """Newest first; ``before`` (an entry id) pages back, ``next`` gives the following page.

    ``format=csv``: the whole history in the range, oldest first, streamed as CSV.
    """
    account = current_account()
    wanted = request.args.get("format", "json")
    if wanted not in ("json", "csv"):
        raise InvalidRequest("format is json or csv", code="invalid_query", field="format")
    query = _ledger_query(account)
    if wanted == "csv":
        name = f"ledger-{account.id}.csv"
        return Response(stream_with_context(_ledger_csv(query)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    limit = _int_arg("limit", 100, PAGE_MAX) or 100
    before = _int_arg("before", None)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    with unit_of_work() as session:
        rows = session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit + 1)).all()
    data = [entry_to_dict(e) for e in rows[:limit]]
    return {"data": data, "next": data[-1]["id"] if len(rows) > limit else None}


@blueprint.get("/statements/<period>")
@require_api_key
def get_statement(period: str) -> ResponseReturnValue:
    """The month's statement as JSON, or CSV with ``?format=csv`` (``part=accounts``: usage per
    sub-account instead of the lines and fees)."""
    wanted = request.args.get("format", "json")
    if wanted not in ("json", "csv"):
        raise InvalidRequest("format is json or csv", code="invalid_query", field="format")
    part = request.args.get("part", "lines")
    if part not in ("lines", "accounts"):
        raise InvalidRequest("part is lines or accounts", code="invalid_query", field="part")
    with unit_of_work() as session:
        document = statements.get_statement(session, current_account().id, period)
    if wanted == "csv":
        suffix = "-accounts" if part == "accounts" else ""
        name = f"statement-{document['account_id']}-{period}{suffix}.csv"
        return Response(statements.statement_csv(document, part), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return document


@blueprint.post("/credits")
@require_api_key
def post_credits() -> ResponseReturnValue:
    """Add a pack of credits to an account (administrators only)."""
    require_admin()
    body = validated_body(CREDITS_REQUEST)
    with unit_of_work() as session:
        target = _target(session, body["account_id"])
        pack = ledger.purchase(session, target, body["amount"], currency=body.get("currency"),
                               reference=body.get("reference") or "api credits",
                               policy=body.get("policy", "fixed"))
        available = ledger.balance(session, target)
        return {"account_id": pack.account_id, "pack_id": pack.id,
                "amount": format(pack.amount, "f"),
                "expires_at": pack.expires_at.isoformat() if pack.expires_at else None,
                "balance": format(available, "f"), "currency": target.currency}, 201


def _target(session: Session, account_id: str) -> Account:
    found = session.get(Account, account_id)
    if found is None:
        raise NotFoundError(f"no account {account_id}")
    return found


class PayerOnly(HubError):
    code = "payer_only"
    status = 409


def _money(value: Any) -> str:
    return format(value.normalize(), "f") if value else "0"


def billing_settings(session: Session, account: Account) -> dict[str, Any]:
    """The paying account's credit limit and low-balance threshold, with its balance."""
    payer = account.billing_account_id
    row = session.get(Balance, payer, populate_existing=True)
    threshold = row.low_threshold if row is not None else None
    return {"account_id": payer, "currency": account.currency,
            "credit_limit": _money(row.credit_limit if row is not None else None),
            "low_balance_threshold": None if threshold is None else _money(threshold),
            "balance": _money(ledger.balance(session, payer)),
            "spendable": _money(ledger.spendable(session, payer))}


@blueprint.get("/accounts/<account_id>/billing")
@require_api_key
def get_billing_settings(account_id: str) -> ResponseReturnValue:
    with unit_of_work() as session:
        return billing_settings(session, accounts_api.target(session, account_id))


@blueprint.put("/accounts/<account_id>/billing")
@require_api_key
def put_billing_settings(account_id: str) -> ResponseReturnValue:
    """Set the credit limit and/or the low-balance threshold (administrators only)."""
    require_admin()
    body = validated_body(BILLING_SETTINGS_REQUEST)
    with unit_of_work() as session:
        account = accounts_api.target(session, account_id)
        if account.parent_id is not None:
            raise PayerOnly(f"{account.id} spends the credits of {account.parent_id}: set its "
                            "credit limit and threshold there")
        if "credit_limit" in body:
            ledger.set_credit_limit(session, account, body["credit_limit"])
        if "low_balance_threshold" in body:
            ledger.set_low_balance_threshold(session, account, body["low_balance_threshold"])
        return billing_settings(session, account)


@blueprint.get("/prices")
@require_api_key
def get_prices() -> ResponseReturnValue:
    """Every price list as CSV (administrators only)."""
    require_admin()
    with unit_of_work() as session:
        text = export_prices(session, request.args.get("price_list"))
    return Response(text, mimetype="text/csv")


@blueprint.put("/prices")
@require_api_key
def put_prices() -> ResponseReturnValue:
    """Import a price CSV: every row or none; a bad row is named in the problem (admin)."""
    require_admin()
    if request.mimetype != "text/csv":
        raise InvalidRequest("send the price list as text/csv", code="unsupported_media_type")
    text = request.get_data(as_text=True)
    with unit_of_work() as session:
        imported = import_prices(session, text)
    return {"imported": imported}


_ACCOUNT_ID = path_param("account_id", "An account id, or 'me' for the caller's account")

PART = ApiPart(
    blueprint=blueprint,
    paths={
        "/ledger": {"get": operation(
            "Ledger entries, newest first; or the consumption history as CSV",
            {"200": {"description": "A page of entries (JSON), or with format=csv every entry "
                                    "in the range, oldest first (columns: "
                                    + ", ".join(LEDGER_COLUMNS) + ")",
                     "content": {"application/json": {"schema": {
                         "type": "object", "properties": {
                             "data": {"type": "array", "items": ref("LedgerEntry")},
                             "next": {"type": ["integer", "null"]}}}},
                         **CSV_CONTENT}},
             **problems(422)},
            parameters=[query_param("limit", {"type": "integer", "maximum": PAGE_MAX},
                                    "Entries per page (100; JSON only)"),
                        query_param("before", {"type": "integer"},
                                    "Entries older than this id (JSON only)"),
                        query_param("format", {"enum": ["json", "csv"]}, "json or csv"),
                        query_param("from", {"type": "string"},
                                    "Entries at or after this ISO date or date-time"),
                        query_param("to", {"type": "string"},
                                    "Entries before this date-time, or up to this date included")],
        )},
        "/statements/{period}": {"get": operation(
            "Monthly statement (consumption per country, route and source)",
            {"200": {"description": "The statement (JSON, or CSV with format=csv)",
                     "content": {"application/json": {"schema": {"type": "object"}},
                                 **CSV_CONTENT}}, **problems(402, 422)},
            parameters=[path_param("period", "YYYY-MM"),
                        query_param("format", {"enum": ["json", "csv"]}, "json or csv"),
                        query_param("part", {"enum": ["lines", "accounts"]},
                                    "CSV: lines and fees (default), or usage per sub-account")],
        )},
        "/accounts/{account_id}/billing": {
            "get": operation(
                "The paying account's credit limit, low-balance threshold and balance",
                {"200": reply("Billing settings", ref("BillingSettings")), **problems(404)},
                parameters=[_ACCOUNT_ID]),
            "put": operation(
                "Set the credit limit (post-paid) and low-balance threshold (admin)",
                {"200": reply("Billing settings after the change", ref("BillingSettings")),
                 **problems(400, 402, 404, 409, 415, 422)},
                request=ref("BillingSettingsRequest"), parameters=[_ACCOUNT_ID]),
        },
        "/credits": {"post": operation(
            "Add a pack of credits to an account (admin)",
            {"201": reply("The pack", {"type": "object"}), **problems(400, 402, 404, 422)},
            request=ref("CreditsRequest"),
        )},
        "/prices": {
            "get": operation("Export price lists as CSV (admin)",
                             {"200": {"description": "CSV", "content": CSV_CONTENT}}),
            "put": {**operation("Import a price CSV, all rows or none (admin)",
                                {"200": reply("Rows imported", {"type": "object"}),
                                 **problems(402, 422)}),
                    "requestBody": {"required": True, "content": CSV_CONTENT}},
        },
    },
    schemas={"LedgerEntry": ENTRY_SCHEMA, "CreditsRequest": CREDITS_REQUEST,
             "BillingSettings": BILLING_SETTINGS_SCHEMA,
             "BillingSettingsRequest": BILLING_SETTINGS_REQUEST},
)
