"""benchmarks/encoding.py still runs, on a tiny input, and prints both contenders' figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATE = r"([\d,]+) msg/s"


def _run(count: int) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "encoding.py"), "--count", str(count),
         "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    return done.stdout


def test_benchmark_prints_sms_core_and_smsutil_throughput() -> None:
    out = _run(40)
    figures = {
        label: int(match.group(1).replace(",", ""))
        for label in ("transliteration off", "transliteration on", "smsutil split")
        if (match := re.search(re.escape(label) + r":\s+" + RATE, out))
    }
    assert set(figures) == {"transliteration off", "transliteration on", "smsutil split"}, out
    assert all(rate > 0 for rate in figures.values())
    assert re.search(r"speed-up over smsutil: [\d.]+x \(off\), [\d.]+x \(on\)", out)


def test_benchmark_texts_are_deterministic_and_mixed() -> None:
    first, second = _run(60).splitlines()[0], _run(60).splitlines()[0]
    assert first == second
    assert re.match(r"texts: 60, mean \d+ chars, GSM-7 [1-9]\d*, UCS-2 [1-9]\d*", first), first
