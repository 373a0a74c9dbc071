"""benchmarks/smpp_loopback.py still runs on a tiny input and prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "smpp_loopback.py"), *args],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    assert "submit_sm:" in done.stdout and "receipts:" in done.stdout, done.stdout
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_loopback_benchmark_runs_tiny() -> None:
    figures = _run("--count", "50", "--window", "8")
    assert figures["count"] == 50 and figures["errors"] == 0
    assert figures["submits_per_second"] > 0 and figures["dlrs_per_second"] > 0


def test_loopback_benchmark_through_the_gate() -> None:
    figures = _run("--count", "20", "--gate")
    assert figures["gate"] is True and figures["errors"] == 0
