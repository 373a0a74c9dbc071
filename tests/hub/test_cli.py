"""The smshub command line: accounts, keys, users, send, db upgrade, role availability."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hub import ledger
from hub.accounts import hash_key
from hub.cli import main
from hub.config import load_settings
from hub.db import make_engine, make_sessionmaker, transaction
from hub.models import Account, ApiKey, Message, User
from hub.models.pricing import PUBLIC, PriceRow


def _sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = load_settings(environ={}, data_dir=tmp_path).effective_database_url
    return make_sessionmaker(make_engine(url))


def test_account_create_prints_the_key_alone_on_the_last_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(main, ["account", "create", "Shop", "--credits", "12.5"])
    assert result.exit_code == 0, result.output
    key = result.output.splitlines()[-1]
    assert key.startswith("sk_") and " " not in key
    with _sessions(tmp_path)() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        assert row is not None
        account = session.get(Account, row.account_id)
        assert account is not None and account.name == "Shop"
        assert ledger.balance(session, account) == Decimal("12.5")


def test_account_create_json_and_list(runner: CliRunner, tmp_path: Path) -> None:
    made = runner.invoke(main, ["account", "create", "Shop", "--json", "--data-dir",
                                str(tmp_path / "other")])
    assert made.exit_code == 0, made.output
    data = json.loads(made.output)
    assert data["name"] == "Shop" and data["api_key"].startswith("sk_")
    assert data["credits"] is None
    listed = runner.invoke(main, ["account", "list", "--json", "--data-dir",
                                  str(tmp_path / "other")])
    assert [a["id"] for a in json.loads(listed.output)] == [data["id"]]
    assert json.loads(runner.invoke(main, ["account", "list", "--json"]).output) == []


@pytest.mark.parametrize("credits", ["-1", "abc", "0"])
def test_bad_credits_create_nothing(runner: CliRunner, credits: str) -> None:
    result = runner.invoke(main, ["account", "create", "Shop", "--credits", credits])
    assert result.exit_code == 2
    assert json.loads(runner.invoke(main, ["account", "list", "--json"]).output) == []


def test_apikey_and_user_create(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(main, ["account", "create", "Shop"])
    key = runner.invoke(main, ["apikey", "create", "Shop"]).output.splitlines()[-1]
    made = runner.invoke(main, ["user", "create", "Shop", "ada@example.org"],
                         env={"SMSHUB_NEW_PASSWORD": "a long password"})
    assert made.exit_code == 0, made.output
    missing = runner.invoke(main, ["apikey", "create", "Nobody"])
    assert missing.exit_code == 1 and "no account" in missing.output
    with _sessions(tmp_path)() as session:
        assert session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        assert session.scalar(select(User.email)) == "ada@example.org"


def test_send_submits_through_the_pipeline(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(main, ["account", "create", "Admin", "--admin", "--credits", "1"])
    with transaction(_sessions(tmp_path)) as session:
        session.add(PriceRow(price_list=PUBLIC, currency="EUR", country="*", route="premium",
                             unit_price=Decimal("0.1"), valid_from=datetime(2020, 1, 1,
                                                                            tzinfo=UTC)))
    result = runner.invoke(main, ["send", "--to", "0612345678", "--to", "abc", "--text", "hi"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["to"], r["status"]) for r in lines] == [("+33612345678", "accepted"),
                                                        ("abc", "refused")]
    with _sessions(tmp_path)() as session:
        assert session.scalar(select(Message.source).where(Message.status == "accepted")) == "cli"


def test_db_upgrade_and_missing_roles_explain_themselves(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    from hub import roles

    monkeypatch.setitem(roles.ROLES, "smtp", roles.Role("smtp", roles.run_smsc,
                                                         requires=("hub.no_such_module",)))
    from hub.cli import _role_command

    result = runner.invoke(_role_command("smtp"), [])
    assert result.exit_code == 1 and "hub.no_such_module" in result.output
