from __future__ import annotations

import threading

from hub.ids import new_id, ulid


def test_ids_sort_in_creation_order_even_within_one_millisecond() -> None:
    made = [ulid(now_ms=1_700_000_000_000) for _ in range(1000)]
    assert made == sorted(made)
    assert len(set(made)) == 1000


def test_a_clock_going_back_keeps_ids_increasing() -> None:
    first = ulid(now_ms=1_600_000_000_000)
    assert ulid(now_ms=1_599_999_999_000) > first


def test_ids_are_unique_across_threads() -> None:
    out: list[str] = []

    def make() -> None:
        out.extend(new_id("msg") for _ in range(2000))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 8000
    assert all(i.startswith("msg_") and len(i) == 30 for i in out)
