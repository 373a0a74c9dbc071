"""The dispatch benchmark runs end to end on a tiny count; loss and duplication are asserted,
rates are not (they depend on the machine)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_dispatch_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import dispatch as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    figures = bench.main(["--count", "200", "--keep", str(tmp_path), "--limit", "60"])
    assert figures.submitted == 200 and figures.receipts == 200
    assert figures.lost == 0 and figures.duplicated == 0 and figures.smsc_submits == 200
    assert sum(figures.statuses.values()) == 200 and "accepted" not in figures.statuses
    assert figures.raw_submits_per_second > 0
    assert "submitted end to end: 200" in capsys.readouterr().out
