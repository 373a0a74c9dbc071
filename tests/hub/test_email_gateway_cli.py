"""``smshub smtp`` as a process: it listens, turns an authorised email into an SMS, stops on
SIGTERM."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from hub.config import Settings
from hub.crypto import SecretBox
from hub.db import make_engine, make_sessionmaker, transaction
from hub.email.config import rotate_secret, update_config
from hub.models import Account, Message
from hub.services import build_services
from tests.hub.conftest import make_account, seed_prices
from tests.hub.email_fixtures import DOMAIN, email

SECRET_KEY = "smtp-process-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepared_account(database_url: str, tmp_path: Path) -> str:
    """A funded account allowing bob's garage, with an address secret; returns the secret."""
    services = build_services(Settings(data_dir=tmp_path, database_url=database_url,
                                       secret_key=SECRET_KEY))
    try:
        seed_prices(services)
        account = make_account(services)
        with transaction(services.sessions) as session:
            row = session.get(Account, account.id)
            assert row is not None
            update_config(session, row, {"senders": ["*@garage-martin.fr"]})
            return rotate_secret(session, row, SecretBox(SECRET_KEY))
    finally:
        services.close()


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if needle in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {needle!r} from smshub smtp (exit status {process.poll()})")


def test_smshub_smtp_accepts_an_email(database_url: str, tmp_path: Path) -> None:
    secret = prepared_account(database_url, tmp_path)
    port = free_port()
    env = {**os.environ, "SMSHUB_DATA_DIR": str(tmp_path), "SMSHUB_DATABASE_URL": database_url,
           "SMSHUB_SECRET_KEY": SECRET_KEY, "SMSHUB_SMTP_PORT": "1",
           "SMSHUB_EMAIL_DOMAIN": DOMAIN, "SMSHUB_REDIS_URL": ""}
    command = [sys.executable, "-m", "hub.cli", "smtp", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        line = wait_for_line(process, "smshub smtp listening on")
        assert f"127.0.0.1:{port}" in line
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("bob@garage-martin.fr", f"0612345678.{secret}@{DOMAIN}", email())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            [message] = session.scalars(select(Message)).all()
    finally:
        engine.dispose()
    assert (message.to, message.status, message.source) == ("+33612345678", "accepted", "email")
