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


def _bench_module():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import pipeline as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return bench


def test_runs_are_pooled_for_one_p99() -> None:
    """One slow alert in 200 is below the pooled p99, though it is its own run's p99."""
    bench = _bench_module()
    runs = [[0.010] * 99 + [0.500], [0.010] * 100]
    assert bench.pooled(runs, "submitted") == (
        "pooled over 2 runs: single alert POST /messages → submitted: p99 10 ms, median 10 ms "
        "over 200 alerts (p99 of each run: 495, 10 ms)")


def test_runs_need_fresh_hubs(tmp_path: Path) -> None:
    bench = _bench_module()
    with pytest.raises(SystemExit):
        bench.main(["--runs", "2", "--keep", str(tmp_path)])
