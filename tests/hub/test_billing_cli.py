"""Billing on the command line: credits, price lists, statements, ledger checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main

PRICES = (
    "country,route,operator,unit_price,currency,valid_from\nFR,standard,,0.045,EUR,2026-01-01\n"
)


def _account(runner: CliRunner, name: str = "Shop") -> str:
    created = runner.invoke(main, ["account", "create", name, "--json"])
    assert created.exit_code == 0, created.output
    return str(json.loads(created.output)["id"])


def test_credits_add_then_statement_and_verify(runner: CliRunner) -> None:
    account = _account(runner)
    added = runner.invoke(main, ["credits", "add", "Shop", "12.5"])
    assert added.exit_code == 0, added.output
    assert added.output.rstrip().endswith("balance 12.500000")
    doc = runner.invoke(main, ["statement", account, "2026-01"])
    assert json.loads(doc.output)["account_id"] == account
    csv = runner.invoke(main, ["statement", account, "2026-01", "--format", "csv"])
    assert csv.output.splitlines() == ["country,route,source,messages,amount", "total,,,0,0.000000"]
    assert runner.invoke(main, ["ledger", "verify"]).exit_code == 0
    assert runner.invoke(main, ["ledger", "expire"]).output.strip() == "expired 0"


@pytest.mark.parametrize(
    ("amount", "code"),
    [("0", "invalid_amount"), ("abc", "invalid_amount"), ("-3", "invalid_amount")],
)
def test_bad_credit_amounts_fail_cleanly(runner: CliRunner, amount: str, code: str) -> None:
    _account(runner)
    result = runner.invoke(main, ["credits", "add", "Shop", "--", amount])
    assert result.exit_code == 1 and f"({code})" in result.output


def test_prices_import_export(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "prices.csv"
    source.write_text(PRICES)
    assert runner.invoke(main, ["prices", "import", str(source)]).output == "imported 1 prices\n"
    exported = runner.invoke(main, ["prices", "export"]).output
    assert exported.splitlines()[1].startswith("FR,standard,,0.045000,EUR,")
    source.write_text(PRICES + "FR,standard,,x,EUR,2026-01-01\n")
    failed = runner.invoke(main, ["prices", "import", str(source)])
    assert failed.exit_code == 1 and "line 3" in failed.output
