"""The pipeline benchmark still runs (tiny input); its figures are not asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_pipeline_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import pipeline as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    bench.main(["--count", "300", "--keep", str(tmp_path), "--dispatch", "--alerts", "3"])
    out = capsys.readouterr().out
    assert "POST /campaigns: 202" in out
    assert "submit (campaign job): 300 accepted of 300" in out and "campaign done" in out
    assert "dispatch: 300 of 300 submitted over SMPP" in out
    assert "peak RSS" in out
