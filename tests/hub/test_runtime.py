"""``smshub run`` end to end: embedded Redis and SQLite, children, first-start key, a message
through the API to the SMSC simulator, clean stop on SIGINT, same data on the next start."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

SMSHUB = [sys.executable, "-m", "hub.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Hub:
    """One ``smshub run`` subprocess and what it printed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSHUB_")}
        self.process = subprocess.Popen(
            [*SMSHUB, "run", "--data-dir", str(data_dir), "--port", str(self.port),
             "--smtp-port", str(_free_port()), "--smsc-port", str(_free_port())],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.stop_output()
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError("smshub run never became healthy")

    def stop_output(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=30)
        self.lines = out.splitlines()
        return out


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _create_account(data_dir: Path) -> str:
    made = subprocess.run([*SMSHUB, "account", "create", "Shop", "--credits", "10"],
                          env={**os.environ, "SMSHUB_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, check=True)
    return made.stdout.splitlines()[-1]


def _wait_status(hub: Hub, key: str, message_id: str, wanted: set[str]) -> str:
    deadline = time.monotonic() + 20
    status = ""
    while time.monotonic() < deadline:
        status = requests.get(f"{hub.url}/api/v1/messages/{message_id}",
                              headers={"Authorization": f"Bearer {key}"}, timeout=5).json()[
            "status"]
        if status in wanted:
            return status
        time.sleep(0.2)
    return status


def test_run_serves_sends_stops_cleanly_and_restarts_on_the_same_data(data_dir: Path) -> None:
    hub = Hub(data_dir)
    try:
        hub.wait_healthy()
        key = _create_account(data_dir)
        sent = requests.post(f"{hub.url}/api/v1/messages", json={"to": "+33612345678",
                                                                 "text": "Hello from run"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert sent.status_code == 201, sent.text
        status = _wait_status(hub, key, sent.json()["id"], {"submitted", "delivered"})
        assert status in {"submitted", "delivered"}
    finally:
        out = hub.stop_output()
    assert hub.process.returncode == 0, out
    first_key = re.search(r"^\s+(sk_\S+)$", out, re.M)
    assert first_key is not None, out
    pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", out)]
    assert len(pids) >= 3 and not any(_alive(p) for p in pids)
    socket_path = re.search(r"Redis: unix://(\S+)", out)
    assert socket_path is not None and not Path(socket_path.group(1)).exists()

    again = Hub(data_dir)
    try:
        again.wait_healthy()
        listed = requests.get(f"{again.url}/api/v1/messages",
                              headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert listed.status_code == 200 and len(listed.json()["data"]) == 1
        admin = requests.get(f"{again.url}/api/v1/accounts/me",
                             headers={"Authorization": f"Bearer {first_key.group(1)}"}, timeout=5)
        assert admin.status_code == 200 and admin.json()["is_admin"] is True
    finally:
        second = again.stop_output()
    assert again.process.returncode == 0
    assert "shown at the first start" in second and "sk_" not in second
