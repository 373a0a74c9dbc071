"""Hub roles started for a benchmark the way ``smshub run`` starts them.

The same command (``python -m hub.cli <role>``) and the same environment
(:func:`hub.roles.child_environment`), so a benchmark measures the processes a deployment runs,
with their start-up choices (a dispatcher's queues, its write priority, its niceness).
Each child's output is appended to ``<log_dir>/<role>.log``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hub.config import Settings
from hub.roles import ROLES, child_environment
from hub.runtime import Supervisor


def start_role(settings: Settings, role: str, log_dir: Path, *, queues: str | None = None,
               **env: object) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start ``role`` against ``settings``; ``env`` adds settings by name
    (``smpp_window=50`` is ``SMSHUB_SMPP_WINDOW=50``). ``queues`` replaces the sending queues
    ``smshub run`` gives a dispatcher (the bulk one, beside its ``alerts`` dispatcher)."""
    environment = child_environment(settings)
    environment.update({f"SMSHUB_{name.upper()}": str(value) for name, value in env.items()})
    log_dir.mkdir(parents=True, exist_ok=True)
    command = Supervisor(settings).command(ROLES[role])
    if queues is not None:
        command = [*command[:command.index(role) + 1], "--queues", queues]
    with open(log_dir / f"{role}.log", "ab") as log:
        process = subprocess.Popen(command, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    return process


def stop_all(processes: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """SIGTERM every process (the roles wind down as under ``smshub run``), then wait."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout)
