"""Changing the deployment's secret key: former keys still decrypt, rotation rewrites them."""

from __future__ import annotations

from click.testing import CliRunner

from hub.cli import main
from hub.config import Settings
from hub.crypto import SecretBox, secret_box
from hub.db import transaction
from hub.ids import new_id
from hub.models import CallbackEndpoint
from hub.services import Services
from tests.hub.conftest import make_account


def _store_secret(services: Services, token: str) -> str:
    account = make_account(services, credits=None)
    endpoint_id = new_id("cbe")
    with transaction(services.sessions) as session:
        session.add(CallbackEndpoint(id=endpoint_id, account_id=account.id,
                                     url="https://example.org/cb", secret=token))
    return endpoint_id


def _stored(services: Services, endpoint_id: str) -> str:
    with services.sessions() as session:
        endpoint = session.get(CallbackEndpoint, endpoint_id)
        assert endpoint is not None
        return endpoint.secret


def test_previous_keys_decrypt_and_rotate_rewrites_under_the_new_key(
        settings: Settings, services: Services) -> None:
    endpoint_id = _store_secret(services, SecretBox("old key").encrypt("whsec_abc"))
    changed = settings.replace(secret_key="new key", previous_secret_keys="older, old key")
    assert secret_box(changed).decrypt(_stored(services, endpoint_id)) == "whsec_abc"

    result = CliRunner().invoke(main, ["secrets", "rotate", "--data-dir", str(settings.data_dir)],
                                env={"SMSHUB_DATABASE_URL": settings.database_url,
                                     "SMSHUB_SECRET_KEY": "new key",
                                     "SMSHUB_PREVIOUS_SECRET_KEYS": "old key"})
    assert result.exit_code == 0, result.output
    assert "1 stored secrets re-encrypted" in result.output
    assert SecretBox("new key").decrypt(_stored(services, endpoint_id)) == "whsec_abc"


def test_rotation_without_the_former_key_fails_and_changes_nothing(
        settings: Settings, services: Services) -> None:
    token = SecretBox("old key").encrypt("whsec_abc")
    endpoint_id = _store_secret(services, token)
    result = CliRunner().invoke(main, ["secrets", "rotate", "--data-dir", str(settings.data_dir)],
                                env={"SMSHUB_DATABASE_URL": settings.database_url,
                                     "SMSHUB_SECRET_KEY": "new key"})
    assert result.exit_code != 0
    assert "secret_undecryptable" in result.output
    assert _stored(services, endpoint_id) == token
