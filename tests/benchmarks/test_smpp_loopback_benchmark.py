"""benchmarks/smpp_loopback.py still runs on a tiny input and prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "smpp_loopback.py"), *args],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    assert "submit_sm:" in done.stdout and "receipts:" in done.stdout, done.stdout
    figures: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_loopback_benchmark_measures_both_clients_on_a_tiny_input() -> None:
    figures = _run("--count", "50", "--window", "8")
    assert [f["client"] for f in figures] == ["session", "smpp34"]
    for one in figures:
        assert one["count"] == 50 and one["errors"] == 0
        assert one["submits_per_second"] > 0 and one["dlrs_per_second"] > 0


def test_loopback_benchmark_one_client() -> None:
    [figures] = _run("--count", "20", "--client", "session")
    assert figures["client"] == "session" and figures["errors"] == 0
