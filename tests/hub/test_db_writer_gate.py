"""The SQLite writer gate: write transactions take turns, a waiter gets in at once, no hang."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, String, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hub.db import make_engine, make_sessionmaker, reading, transaction, write_in_turns
from tests.hub.priority_writer import priority_writer_waiting, waiting_priority_writer


def _engine(path: Path, **kwargs: float) -> Engine:
    engine = make_engine(f"sqlite:///{path}", **kwargs)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS log (who TEXT, what TEXT, at REAL)")
    return engine


def _gate_held_elsewhere(path: Path) -> bool:
    import fcntl
    import os

    fd = os.open(f"{path}.writer", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_write_transaction_holds_the_gate_until_it_ends(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite3")
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        session.execute(text("INSERT INTO log VALUES ('a', 'w', 0)"))
        assert _gate_held_elsewhere(tmp_path / "db.sqlite3")
    assert not _gate_held_elsewhere(tmp_path / "db.sqlite3")
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session.execute(text("INSERT INTO log VALUES ('b', 'w', 0)"))
        raise RuntimeError("rolled back")
    assert not _gate_held_elsewhere(tmp_path / "db.sqlite3")
    with sessions() as session:  # a session closed without commit rolls back too
        session.execute(text("INSERT INTO log VALUES ('c', 'w', 0)"))
        assert _gate_held_elsewhere(tmp_path / "db.sqlite3")
    assert not _gate_held_elsewhere(tmp_path / "db.sqlite3")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT who FROM log").scalars().all() == ["a"]
    engine.dispose()


def test_reads_do_not_take_the_gate(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite3")
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as writer:
        writer.execute(text("INSERT INTO log VALUES ('a', 'w', 0)"))
        started = time.monotonic()
        with reading(sessions) as session:
            assert session.execute(text("SELECT count(*) FROM log")).scalar() == 0
        assert time.monotonic() - started < 0.5
    engine.dispose()


def test_threads_take_turns_and_a_waiter_gets_in_right_after_the_release(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite3")
    sessions = make_sessionmaker(engine)
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    waits: list[float] = []
    released = threading.Event()

    def hog() -> None:
        for _ in range(30):  # like a campaign job: rests a few ms between its transactions
            with transaction(sessions) as session:
                session.execute(text("INSERT INTO log VALUES ('hog', 'w', 0)"))
                time.sleep(0.01)
            released.set()
            time.sleep(0.005)

    def alert(n: int) -> None:
        released.wait()
        asked = time.monotonic()
        with transaction(sessions) as session:
            session.execute(text("INSERT INTO log VALUES (:who, 'w', 0)"), {"who": f"a{n}"})
            got = time.monotonic()  # the first statement began the transaction
            inside.append(f"alert{n}")
            if len(inside) > 1:
                overlaps.append(tuple(inside))
            time.sleep(0.002)
            inside.remove(f"alert{n}")
        waits.append(got - asked)

    threads = [threading.Thread(target=hog)] + [
        threading.Thread(target=alert, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not overlaps
    assert len(waits) == 5
    # each alert waits for at most the hog's current 10 ms transaction plus the ones of the
    # alerts ahead of it, never the hog's whole run of 30 transactions
    assert max(waits) < 0.2, waits
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM log").scalar() == 35
    engine.dispose()


def _writer(path: str, who: str, rounds: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_sessionmaker(engine)
    for _ in range(rounds):
        with transaction(sessions) as session:
            session.execute(text("SELECT 1"))  # begins the write transaction
            session.execute(text("INSERT INTO log VALUES (:who, 'begin', :at)"),
                            {"who": who, "at": time.time()})
            time.sleep(0.003)
            session.execute(text("INSERT INTO log VALUES (:who, 'end', :at)"),
                            {"who": who, "at": time.time()})
    engine.dispose()


def test_processes_never_overlap_their_write_sections(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    _engine(path).dispose()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), f"p{n}", 15)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT who, what, at FROM log ORDER BY rowid").all()
    engine.dispose()
    assert len(rows) == 90
    for first, second in zip(rows[0::2], rows[1::2], strict=True):
        assert (first.who, first.what, second.who, second.what) == (
            first.who, "begin", first.who, "end")  # each section is whole, in commit order
    sections = sorted((b.at, e.at) for b, e in zip(rows[0::2], rows[1::2], strict=True))
    for (_, end), (begin, _) in itertools.pairwise(sections):
        assert begin >= end  # no write section started before the previous one ended


def test_a_second_write_transaction_in_the_same_thread_times_out(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite3", lock_timeout=0.3)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as outer:
        outer.execute(text("INSERT INTO log VALUES ('a', 'w', 0)"))
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"), \
                transaction(sessions) as inner:
            inner.execute(text("INSERT INTO log VALUES ('b', 'w', 0)"))
        assert 0.3 <= time.monotonic() - started < 3
    with engine.connect() as conn:  # the outer one committed; the gate is free again
        assert conn.exec_driver_sql("SELECT who FROM log").scalars().all() == ["a"]
    with transaction(sessions) as session:
        session.execute(text("INSERT INTO log VALUES ('c', 'w', 0)"))
    engine.dispose()


def test_an_invalidated_connection_gives_the_gate_back(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite3")
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql("INSERT INTO log VALUES ('a', 'w', 0)")
    assert _gate_held_elsewhere(tmp_path / "db.sqlite3")
    conn.invalidate()
    assert not _gate_held_elsewhere(tmp_path / "db.sqlite3")
    conn.rollback()
    conn.close()
    with engine.begin() as again:
        again.exec_driver_sql("INSERT INTO log VALUES ('b', 'w', 0)")
    engine.dispose()


def test_memory_databases_have_no_gate() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    engine.dispose()


def _hog(path: str, stop: multiprocessing.synchronize.Event, hold: float) -> None:
    """A bulk writer: one write transaction after another, back to back."""
    sessions = make_sessionmaker(make_engine(f"sqlite:///{path}"))
    while not stop.is_set():
        with transaction(sessions) as session:
            session.execute(text("INSERT INTO log VALUES ('hog', 'w', 0)"))
            time.sleep(hold)


def _priority_waits(path: str, priority: bool, tries: int,
                    waits: multiprocessing.queues.Queue[float]) -> None:  # fmt: skip
    from hub import db

    db.prioritise_writes(priority)
    sessions = make_sessionmaker(make_engine(f"sqlite:///{path}"))
    for _ in range(tries):
        time.sleep(0.03)
        started = time.monotonic()
        with transaction(sessions) as session:  # the first statement takes the gate
            session.execute(text("INSERT INTO log VALUES ('alert', 'w', 0)"))
            waits.put(time.monotonic() - started)


@pytest.mark.parametrize("priority", [True, False])
def test_a_priority_writer_waits_for_one_bulk_transaction_at_most(tmp_path: Path,
                                                                 priority: bool) -> None:
    """A bulk writer that begins again as soon as it commits keeps a plain writer out for
    many of its transactions; a priority writer gets the very next turn."""
    path = tmp_path / "db.sqlite3"
    _engine(path).dispose()
    context = multiprocessing.get_context("spawn")
    stop, waits = context.Event(), context.Queue()
    hog = context.Process(target=_hog, args=(str(path), stop, 0.05))
    hog.start()
    try:
        time.sleep(1.0)  # the hog is writing
        alert = context.Process(target=_priority_waits, args=(str(path), priority, 12, waits))
        alert.start()
        alert.join(60)
        measured = sorted(waits.get(timeout=5) for _ in range(12))
    finally:
        stop.set()
        hog.join(10)
    assert hog.exitcode == 0 and alert.exitcode == 0
    with make_engine(f"sqlite:///{path}").connect() as conn:
        hog_rows = conn.exec_driver_sql("SELECT count(*) FROM log WHERE who = 'hog'").scalar()
    assert (hog_rows or 0) > 20, "the bulk writer was not writing"
    if priority:
        assert measured[-1] < 0.15, measured  # one 50 ms transaction, and scheduling slack
    else:
        assert measured[-1] > 0.15, measured  # the control: starved past several of them


def _committed(path: Path) -> list[str]:
    """What another connection reads (a plain read: it never waits for the writer)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [what for (what,) in conn.execute("SELECT what FROM log ORDER BY rowid")]


def test_a_write_in_turns_is_one_transaction_when_nobody_waits(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    finished: list[list[str]] = []

    def step(session: Session, chunk: Sequence[str]) -> str:
        for item in chunk:
            session.execute(text("INSERT INTO log VALUES ('bulk', :w, 0)"), {"w": item})
        assert _committed(path) == []  # nothing committed before the end
        return "".join(chunk)

    items = list("abcdefg")
    results = write_in_turns(sessions, items, step,
                             lambda _, done: finished.append(list(done)), size=2)
    assert results == ["ab", "cd", "ef", "g"]
    assert finished == [["ab", "cd", "ef", "g"]]  # one transaction, one finish
    assert _committed(path) == items


def _waiting_priority_writer(path: Path, got_in: list[list[str]]) -> threading.Thread:
    """A priority writer that starts waiting now; once in, it notes what it reads and goes."""
    return waiting_priority_writer(path, lambda: got_in.append(_committed(path)))


def test_a_write_in_turns_lets_a_waiting_priority_writer_in_after_the_slice(
        tmp_path: Path) -> None:
    """A priority writer starts waiting during the first slice: the transaction ends there (its
    finish, its commit), the waiter goes, and the rest follows in a new transaction."""
    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    finished: list[list[str]] = []
    got_in: list[list[str]] = []
    waiters: list[threading.Thread] = []

    def step(session: Session, chunk: Sequence[str]) -> str:
        for item in chunk:
            session.execute(text("INSERT INTO log VALUES ('bulk', :w, 0)"), {"w": item})
        if not waiters:
            waiters.append(_waiting_priority_writer(path, got_in))
        return "".join(chunk)

    results = write_in_turns(sessions, list("abcde"), step,
                             lambda _, done: finished.append(list(done)), size=2)
    waiters[0].join(10)
    assert results == ["ab", "cd", "e"]
    assert finished == [["ab"], ["cd", "e"]]
    assert got_in == [["a", "b"]]  # the waiter went between the two transactions
    assert _committed(path) == list("abcde")


def test_a_priority_process_does_not_give_way_to_itself(tmp_path: Path) -> None:
    import os

    from hub import db

    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    waiting = priority_writer_waiting(path)
    db.prioritise_writes()  # restored after the test by the suite's fixture
    try:
        finished: list[list[int]] = []
        write_in_turns(sessions, [1, 2, 3], lambda _, chunk: len(chunk),
                       lambda _, done: finished.append(list(done)), size=1)
    finally:
        os.close(waiting)
    assert finished == [[1, 1, 1]]


def _bulk_in_turns(path: str, started: multiprocessing.synchronize.Event, slices: int,
                   pause: float, turns: bool) -> None:  # fmt: skip
    """A bulk writer whose group takes ``slices`` × ``pause`` seconds, in turns or not."""
    sessions = make_sessionmaker(make_engine(f"sqlite:///{path}"))

    def step(session: Session, chunk: Sequence[int]) -> None:
        session.execute(text("INSERT INTO log VALUES ('bulk', 'w', 0)"))
        started.set()
        time.sleep(pause)

    if turns:
        write_in_turns(sessions, list(range(slices)), step, size=1)
    else:
        with transaction(sessions) as session:
            for item in range(slices):
                step(session, [item])


def _alert_wait_beside(path: Path, bulk_writer: Callable[..., None], turns: bool) -> float:
    """How long an alert (a priority writer of another process) waits for the write turn
    once ``bulk_writer`` (its 10 units of 40 ms each, in turns or not) has begun writing."""
    _engine(path).dispose()
    context = multiprocessing.get_context("spawn")
    started, waits = context.Event(), context.Queue()
    bulk = context.Process(target=bulk_writer, args=(str(path), started, 10, 0.04, turns))
    bulk.start()
    try:
        assert started.wait(30)
        _priority_waits(str(path), True, 1, waits)
        waited: float = waits.get(timeout=5)
    finally:
        bulk.join(30)
    assert bulk.exitcode == 0
    return waited


@pytest.mark.parametrize("turns", [True, False])
def test_a_priority_writer_waits_for_one_slice_of_a_write_in_turns(tmp_path: Path,
                                                                  turns: bool) -> None:
    """Across processes: the alert waits for one 40 ms slice, not for the 400 ms group (the
    control writes the same group in one plain transaction)."""
    path = tmp_path / "db.sqlite3"
    waited = _alert_wait_beside(path, _bulk_in_turns, turns)
    if turns:
        assert waited < 0.2, waited  # the 30 ms pause, one slice and scheduling slack
    else:
        assert waited > 0.25, waited  # the control: the rest of the whole group


@pytest.mark.parametrize("failing_slice", [0, 2])
def test_a_write_in_turns_that_fails_says_how_much_it_wrote(tmp_path: Path,
                                                            failing_slice: int) -> None:
    """Every slice boundary finds a waiter here (a priority writer that keeps coming back), so
    each slice is a transaction: a failure after the first says how many items are stored."""
    from hub import db

    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    waiters: list[threading.Thread] = []
    got_in: list[list[str]] = []
    calls = itertools.count()

    def step(session: Session, chunk: Sequence[str]) -> None:
        if next(calls) == failing_slice:
            raise RuntimeError("disk on fire")
        for item in chunk:
            session.execute(text("INSERT INTO log VALUES ('bulk', :w, 0)"), {"w": item})
        waiters.append(_waiting_priority_writer(path, got_in))

    expected: type[Exception] = db.PartlyWritten if failing_slice else RuntimeError
    with pytest.raises(expected) as raised:
        write_in_turns(sessions, list("abcdef"), step, size=2)
    for waiter in waiters:
        waiter.join(10)
    assert _committed(path) == list("abcdef")[:2 * failing_slice]
    if failing_slice:
        assert isinstance(raised.value, db.PartlyWritten)
        assert raised.value.written == 4
        assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_slice_gives_way_at_its_next_statement_and_is_written_again(tmp_path: Path) -> None:
    """A priority writer starts waiting in the middle of a slice: at the slice's next statement
    the slice is rolled back, the slices before it commit, the waiter goes, then the slice is
    written again (without giving way a second time); every item is stored once."""
    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    finished: list[list[str]] = []
    got_in: list[list[str]] = []
    waiters: list[threading.Thread] = []
    calls: list[str] = []

    def step(session: Session, chunk: Sequence[str]) -> str:
        calls.append("".join(chunk))
        for item in chunk:
            session.execute(text("INSERT INTO log VALUES ('bulk', :w, 0)"), {"w": item})
            if item == "c" and not waiters:  # mid-slice
                waiters.append(_waiting_priority_writer(path, got_in))
        return "".join(chunk)

    results = write_in_turns(sessions, list("abcde"), step,
                             lambda _, done: finished.append(list(done)), size=2)
    waiters[0].join(10)
    assert calls == ["ab", "cd", "cd", "e"]  # the interrupted slice, written again
    assert results == ["ab", "cd", "e"]
    assert finished == [["ab"], ["cd", "e"]]
    assert got_in == [["a", "b"]]  # the first slice committed, nothing of the second
    assert _committed(path) == list("abcde")


def test_a_slice_gives_way_a_bounded_number_of_times(tmp_path: Path) -> None:
    """Priority writers that keep coming cannot starve a bulk writer: after giving way
    GIVE_WAY_LIMIT times, the slice is written whole, though a writer waits again meanwhile."""
    from hub.db import GIVE_WAY_LIMIT

    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    got_in: list[list[str]] = []
    waiters: list[threading.Thread] = []
    calls = itertools.count()

    def step(session: Session, chunk: Sequence[str]) -> str:
        call = next(calls)
        for item in chunk:
            session.execute(text("INSERT INTO log VALUES ('bulk', :w, 0)"), {"w": item})
            if item == "a" and call <= GIVE_WAY_LIMIT:
                waiters.append(_waiting_priority_writer(path, got_in))
                if waiters[1:]:  # one waiter at a time: the previous one has gone
                    waiters[-2].join(10)
        return "".join(chunk)

    assert write_in_turns(sessions, list("ab"), step, size=2) == ["ab"]
    for waiter in waiters:
        waiter.join(10)
    assert next(calls) == GIVE_WAY_LIMIT + 1  # interrupted each time, then written whole
    # each waiter went before the slice, but the last one, after it
    assert got_in == [[]] * GIVE_WAY_LIMIT + [["a", "b"]]
    assert _committed(path) == ["a", "b"]


def _bulk_statements(path: str, started: multiprocessing.synchronize.Event, statements: int,
                     pause: float, turns: bool) -> None:  # fmt: skip
    """A bulk writer whose single slice is ``statements`` statements ``pause`` seconds apart,
    written in turns or in one plain transaction."""
    sessions = make_sessionmaker(make_engine(f"sqlite:///{path}"))

    def step(session: Session, chunk: Sequence[int]) -> None:
        for _ in range(statements):
            session.execute(text("INSERT INTO log VALUES ('bulk', 'w', 0)"))
            started.set()
            time.sleep(pause)

    if turns:
        write_in_turns(sessions, [0], step)
    else:
        with transaction(sessions) as session:
            step(session, [0])


@pytest.mark.parametrize("turns", [True, False])
def test_a_priority_writer_waits_for_one_statement_of_a_slice(tmp_path: Path,
                                                              turns: bool) -> None:
    """Across processes: the alert waits for the bulk slice's next statement (40 ms apart), not
    for the 400 ms slice (the control writes it in one plain transaction)."""
    path = tmp_path / "db.sqlite3"
    waited = _alert_wait_beside(path, _bulk_statements, turns)
    if turns:
        assert waited < 0.2, waited  # one 40 ms pause and scheduling slack
    else:
        assert waited > 0.25, waited
    with make_engine(f"sqlite:///{path}").connect() as conn:
        bulk_rows = conn.exec_driver_sql("SELECT count(*) FROM log WHERE who = 'bulk'").scalar()
    assert bulk_rows == 10  # the slice that gave way was written again, once


def test_a_give_way_point_gives_way_only_in_a_giving_way_block(tmp_path: Path) -> None:
    """Before the rows of a large statement are built: inside a giving_way block, with a
    priority writer waiting, the point raises GiveWay (once: the rollback then goes through);
    outside a block, or with nobody waiting, it lets the work go on."""
    import os

    from hub.db import GiveWay, give_way_point, giving_way

    path = tmp_path / "db.sqlite3"
    sessions = make_sessionmaker(_engine(path))
    with sessions() as session, session.begin():
        session.execute(text("INSERT INTO log VALUES ('bulk', 'a', 0)"))
        with giving_way(session):
            give_way_point(session)  # nobody waits
        waiting = priority_writer_waiting(path)
        try:
            give_way_point(session)  # outside a block
            with pytest.raises(GiveWay), giving_way(session):
                give_way_point(session)
            session.execute(text("INSERT INTO log VALUES ('bulk', 'b', 0)"))  # goes through
        finally:
            os.close(waiting)
    assert _committed(path) == ["a", "b"]


@pytest.mark.parametrize("write", ["insert_many", "update_each"])
def test_a_long_executemany_gives_way_between_its_statements(tmp_path: Path, write: str) -> None:
    """insert_many and update_each write ROWS_PER_STATEMENT rows per statement: a priority
    writer that starts waiting during the first statement gets in before the second one, and
    the block rolls back whole."""
    import os

    from sqlalchemy import Column, Float, MetaData, Table
    from sqlalchemy import event as sa_event

    from hub import db

    path = tmp_path / "db.sqlite3"
    engine = _engine(path)
    log = Table("log", MetaData(), Column("who", String), Column("what", String),
                Column("at", Float))
    rows = [{"who": "bulk", "what": str(i), "at": 0.0} for i in range(db.ROWS_PER_STATEMENT * 3)]
    if write == "update_each":
        with engine.begin() as conn:
            conn.execute(log.insert(), rows)
    sessions = make_sessionmaker(engine)
    statements: list[int] = []
    waiting: list[int] = []

    @sa_event.listens_for(engine, "after_cursor_execute")
    def _counted(_conn: object, _cursor: object, statement: str, params: object, *_: object,
                 ) -> None:
        if statement.startswith(("INSERT INTO log", "UPDATE log")):
            statements.append(len(params))  # type: ignore[arg-type]
            if not waiting:  # a priority writer comes during the first statement
                waiting.append(priority_writer_waiting(path))

    try:
        with pytest.raises(db.GiveWay), sessions() as session, session.begin(), \
                db.giving_way(session):
            if write == "insert_many":
                db.insert_many(session, log, rows)
            else:
                db.update_each(session, log, "what", [{"what": r["what"]} for r in rows],
                               {"who": "changed"})
    finally:
        for fd in waiting:
            os.close(fd)
    assert statements == [db.ROWS_PER_STATEMENT]  # one statement, then it gave way
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT who, count(*) FROM log GROUP BY who").all()
    assert stored == ([] if write == "insert_many" else [("bulk", len(rows))])  # rolled back


def test_insert_many_and_update_each_write_every_row_in_statements_of_bounded_size(
        tmp_path: Path) -> None:
    """Outside a giving_way block, the statements follow one another: every row is written."""
    from sqlalchemy import Column, Float, MetaData, Table

    from hub import db

    engine = _engine(tmp_path / "db.sqlite3")
    log = Table("log", MetaData(), Column("who", String), Column("what", String),
                Column("at", Float))
    count = db.ROWS_PER_STATEMENT * 2 + 7
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        db.insert_many(session, log, [{"who": "bulk", "what": str(i), "at": float(i)}
                                      for i in range(count)])
        db.update_each(session, log, "what", [{"what": str(i), "at": float(i) * 2}
                                              for i in range(0, count, 2)], {"who": "even"})
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT who, what, at FROM log").all()
    assert len(stored) == count
    assert all((who, at) == (("even", int(what) * 2.0) if int(what) % 2 == 0
                             else ("bulk", float(what))) for who, what, at in stored)
