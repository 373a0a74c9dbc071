"""Database engine, sessions and migrations (SQLite and PostgreSQL through SQLAlchemy 2).

SQLite gets WAL, foreign keys and a busy timeout so that web, workers and dispatcher can share
one file; writers take the lock up front (``BEGIN IMMEDIATE``) so that two transactions never
both read a balance and then fail to upgrade their lock. Read-only work uses :func:`reading`,
which begins a deferred transaction: in WAL mode it reads a snapshot without ever taking the
write lock, so polling the API or loading a batch never makes a writer wait.

SQLite's own busy handler is not fair: a connection waiting for the write lock sleeps with a
growing back-off (up to 100 ms between tries), so a writer that commits and begins again at
once (a campaign job) can keep a single alert waiting for seconds. For a database file, write
transactions therefore first take a writer gate (:class:`WriterGate`, an ``flock`` on
``<file>.writer``) with short, capped tries; the holder releases it right after its commit or
rollback, so a waiter gets in within a couple of milliseconds. Every DBAPI connection has its
own descriptor, so threads of one process exclude each other as processes do.

Interactive processes (the web app, the alerts dispatcher) call :func:`prioritise_writes`: while
one of their writers waits for the gate it holds a shared lock on ``<file>.writer.priority``, and
the other writers (campaign jobs, bulk dispatch) step aside while that lock is held, so a single
alert waits for at most the write transaction already under way, never for a stream of them.
Bulk transactions also give way in their middle (:func:`giving_way`, :func:`write_in_turns`):
at its next statement, a bulk writer rolls back the work under way (a slice, a campaign chunk)
and does it again after the alert.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.checkpoints import AUTOCHECKPOINT_PAGES, Checkpointer

T = TypeVar("T")
R = TypeVar("R")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "smshub_read_only"
"""Execution option marking a connection whose transaction only reads (see :func:`reading`)."""

LOCK_TIMEOUT = 30.0
"""Seconds a writer waits for SQLite's write lock (busy timeout) and for the writer gate."""

GATE_FIRST_WAIT = 0.0002
GATE_MAX_WAIT = 0.002
"""The writer gate's tries: the first pause, doubled up to this cap (seconds)."""

TURN_SLICE = 250
"""Items a bulk writer writes between two checks for a waiting priority writer
(:func:`write_in_turns`)."""

ROWS_PER_STATEMENT = 100
"""Rows of one executemany of :func:`insert_many` and :func:`update_each` on SQLite: a longer
write is several, and a bulk writer gives way to a waiting priority writer between two (an
executemany of 2,000 rows took 40 ms on a busy 2-core machine, as long as the alert waited)."""

GIVE_WAY_LIMIT = 10
"""Times one slice or chunk of bulk work gives way (:func:`giving_way`) before it is written
without giving way: priority writers that kept coming cannot starve it."""

_GATE = "smshub_writer_gate"
"""Key of a connection's gate state in its pool record's ``info``."""

_YIELDING = "smshub_gives_way"
"""Key, in a connection's pool record ``info``, set while its statements may give way
(:func:`giving_way`)."""

_priority = False
"""Whether this process's writers go before the others (see :func:`prioritise_writes`)."""


def prioritise_writes(on: bool = True) -> None:
    """Make this process's SQLite writers pass before those of non-priority processes."""
    global _priority
    _priority = on


def write_priority() -> bool:
    """Whether this process's writers pass first (:func:`prioritise_writes`)."""
    return _priority


def make_engine(url: str, *, lock_timeout: float = LOCK_TIMEOUT, **kwargs: Any) -> Engine:
    """An engine with the per-backend settings smshub relies on."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        on_disk = bool(database) and database != ":memory:" and not str(database).startswith(
            "file:")
        if on_disk:
            Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": lock_timeout, "check_same_thread": False}, **kwargs
        )
        gate = WriterGate(f"{database}.writer", lock_timeout) if on_disk else None
        _tune_sqlite(engine, gate, lock_timeout,
                     Checkpointer(str(database)) if on_disk else None)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class WriterGate:
    """An inter-process, first-come-mostly-first-served gate in front of SQLite's write lock.

    ``acquire(info)`` takes an exclusive ``flock`` on the gate file through the descriptor kept
    in ``info`` (one per DBAPI connection), trying without blocking and pausing
    :data:`GATE_FIRST_WAIT` doubled up to :data:`GATE_MAX_WAIT` between tries; past
    ``timeout`` seconds it raises ``OperationalError`` (never an unbounded wait, even for a
    thread that opens a second write transaction while its first one holds the gate).
    """

    def __init__(self, path: str, timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    def acquire(self, info: dict[str, Any]) -> None:
        state = info.get(_GATE)
        if state is None:
            state = info[_GATE] = {
                "fd": os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600),
                "priority_fd": os.open(self.path + ".priority", os.O_RDWR | os.O_CREAT, 0o600),
                "held": False,
            }
        if state["held"]:
            return
        fd, priority_fd = state["fd"], state["priority_fd"]
        deadline = time.monotonic() + self.timeout
        wait = GATE_FIRST_WAIT
        if _priority:
            fcntl.flock(priority_fd, fcntl.LOCK_SH)  # "a priority writer is waiting"
        try:
            self._take(fd, priority_fd, deadline, wait)
        finally:
            if _priority:
                fcntl.flock(priority_fd, fcntl.LOCK_UN)
        state["held"] = True

    def _take(self, fd: int, priority_fd: int, deadline: float, wait: float) -> None:
        while True:
            try:
                if not _priority:  # step aside while a priority writer waits
                    fcntl.flock(priority_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(priority_fd, fcntl.LOCK_UN)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationalError(
                        "BEGIN IMMEDIATE", None,
                        sqlite3.OperationalError(
                            f"database is locked: no write turn within {self.timeout:g} s "
                            f"(writer gate {self.path})"),
                    ) from None
                time.sleep(wait)
                wait = min(wait * 2, GATE_MAX_WAIT)
                continue
            return

    @staticmethod
    def release(info: dict[str, Any]) -> None:
        state = info.get(_GATE)
        if state is not None and state["held"]:
            state["held"] = False
            fcntl.flock(state["fd"], fcntl.LOCK_UN)

    @staticmethod
    def wanted(info: dict[str, Any]) -> bool:
        """Whether a priority writer waits while this connection holds the gate."""
        state = info.get(_GATE)
        if not state or not state["held"]:
            return False
        try:
            fcntl.flock(state["priority_fd"], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(state["priority_fd"], fcntl.LOCK_UN)
        return False

    @staticmethod
    def held(info: dict[str, Any]) -> bool:
        state = info.get(_GATE)
        return bool(state and state["held"])

    @staticmethod
    def forget(info: dict[str, Any]) -> None:
        """Close the connection's descriptor (which also releases the gate)."""
        state = info.pop(_GATE, None)
        if state is not None:
            os.close(state["fd"])
            os.close(state["priority_fd"])


def _tune_sqlite(engine: Engine, gate: WriterGate | None, lock_timeout: float,
                 checkpointer: Checkpointer | None) -> None:
    busy_ms = int(lock_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA temp_store=MEMORY")
        if checkpointer is not None:  # checkpoints run in the background (hub.checkpoints)
            cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _on_statement(conn: Any, *_: Any) -> None:
        _give_way_if_wanted(conn.connection.info)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        if gate is None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        info = conn.connection.info
        gate.acquire(info)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.release(info)
            raise

    if gate is None:
        return

    # SQLAlchemy fires "commit" and "rollback" just before it asks the driver to end the
    # transaction: end it here first, so that the gate opens only once the write lock is free
    # (the driver's own commit or rollback that follows finds no transaction and does nothing).
    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        # an invalidated connection gave its gate back already
        ended = not conn.invalidated and _end(conn.connection.dbapi_connection,
                                              conn.connection.info, "commit")
        if ended and checkpointer is not None:
            checkpointer.wrote()

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        if not conn.invalidated:
            _end(conn.connection.dbapi_connection, conn.connection.info, "rollback")

    @event.listens_for(engine.pool, "reset")
    def _on_reset(dbapi_conn: Any, record: Any, _state: Any) -> None:
        _end(dbapi_conn, record.info, "rollback")

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        WriterGate.forget(record.info)

    @event.listens_for(engine.pool, "close")
    def _on_close(_dbapi_conn: Any, record: Any) -> None:
        WriterGate.forget(record.info)


def _end(dbapi_conn: Any, info: dict[str, Any], how: str) -> bool:
    """End the write transaction that holds the gate, then open the gate; whether there was
    one."""
    if not WriterGate.held(info):
        return False
    try:
        if dbapi_conn is not None:
            getattr(dbapi_conn, how)()
    finally:
        WriterGate.release(info)
    return True


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def priority_waiting(session: Session) -> bool:
    """Whether a priority writer (:func:`prioritise_writes`) waits for the write turn that this
    session's transaction holds. Always False on PostgreSQL and for priority processes."""
    return may_give_way(session) and WriterGate.wanted(session.connection().connection.info)


class GiveWay(Exception):
    """Raised before a statement of a :func:`giving_way` block while a priority writer waits
    for the write turn: the caller rolls the block back and does it again after the waiter."""


def _give_way_if_wanted(info: dict[str, Any]) -> None:
    if info.get(_YIELDING) and not _priority and WriterGate.wanted(info):
        info[_YIELDING] = False  # the rollback that follows goes through
        raise GiveWay


def give_way_point(session: Session) -> None:
    """In a :func:`giving_way` block, give way here when a priority writer waits: before the
    Python work that prepares a large statement (its rows), not only at the statement."""
    if may_give_way(session):
        _give_way_if_wanted(session.connection().connection.info)


def may_give_way(session: Session) -> bool:
    """Whether this session's writes give way to priority writers (non-priority processes on
    SQLite)."""
    return not _priority and is_sqlite(session)


@contextmanager
def giving_way(session: Session) -> Iterator[None]:
    """Let the statements of this block give way to a priority writer (:class:`GiveWay`).

    A bulk writer that would otherwise keep an alert waiting until its transaction or slice
    ends stops at its next statement instead; it rolls the block back (its transaction, or the
    savepoint around it) and does it again once the alert has passed. For non-priority
    processes on a SQLite file; elsewhere the block runs as it is.
    """
    if not may_give_way(session):
        yield
        return
    info = session.connection().connection.info
    info[_YIELDING] = True
    try:
        yield
    finally:
        info[_YIELDING] = False


def write_in_turns(
    factory: sessionmaker[Session],
    items: Sequence[T],
    step: Callable[[Session, Sequence[T]], R],
    finish: Callable[[Session, list[R]], None] | None = None,
    *,
    size: int | None = None,
) -> list[R]:
    """Write ``items`` slice by slice, in one transaction unless a priority writer comes to wait.

    ``step`` writes one slice of at most ``size`` (default :data:`TURN_SLICE`) items and
    returns what it did. Between two slices, when a priority writer waits for the write turn
    (an alert, on SQLite), the transaction ends there: ``finish`` gets the results of the
    slices written in it, the transaction commits, the waiter goes, and the rest follows in a
    new transaction. A bulk write therefore keeps a waiting alert for one slice at most, not
    for the whole group, and costs a single transaction when nobody waits. Each transaction is
    complete in itself (its slices and their ``finish``). Returns every step's result, in order.
    A failure after a first transaction committed raises :class:`PartlyWritten`, which says how
    many items are stored; a failure in the first one raises as it came.

    A priority writer that comes to wait in the middle of a slice does not wait for its end:
    each slice runs in a savepoint and :func:`giving_way`, so at its next statement the slice
    is rolled back, the slices before it commit, and it is written again after the waiter (up
    to :data:`GIVE_WAY_LIMIT` times; then it is written without giving way, so the work always
    ends).
    """
    size = size or TURN_SLICE
    results: list[R] = []
    start = 0
    gave_way = 0
    while start < len(items):
        committed = start
        try:
            with transaction(factory) as session:
                done: list[R] = []
                while start < len(items):
                    part = items[start:start + size]
                    if gave_way >= GIVE_WAY_LIMIT or not may_give_way(session):
                        done.append(step(session, part))
                    else:
                        try:
                            with session.begin_nested(), giving_way(session):
                                done.append(step(session, part))
                        except GiveWay:
                            gave_way += 1
                            break
                    gave_way = 0
                    start += size
                    if start < len(items) and priority_waiting(session):
                        break
                if finish is not None and done:
                    finish(session, done)
        except Exception as exc:
            if committed:
                raise PartlyWritten(committed) from exc
            raise
        results.extend(done)
    return results


class PartlyWritten(Exception):
    """A :func:`write_in_turns` failed after some of its transactions committed: its first
    ``written`` items are stored, the others are not (the cause is chained)."""

    def __init__(self, written: int) -> None:
        super().__init__(f"the first {written} items were written before the failure")
        self.written = written


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only unit of work: never commits, and on SQLite never takes the write lock.

    Objects loaded here stay readable after the block (the session closes without expiring
    them). Writing through this session is a mistake: nothing is committed.
    """
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (all migration heads)."""
    command.upgrade(alembic_config(url), "heads")


def one_of(session: Session, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    """``column IN values`` with ``values`` bound as one parameter: a JSON array read by
    ``json_each`` on SQLite, an array on PostgreSQL.

    SQLAlchemy binds a list given to ``in_`` value by value (and an expanding parameter still
    renders one placeholder per value); for the hundreds of ids a dispatcher group moves, or
    the thousand numbers of a campaign chunk, that costs more than the database's own work."""
    if is_sqlite(session):
        listed = func.json_each(json.dumps(list(values)))
        return column.in_(select(literal_column("value")).select_from(listed))
    return column == any_(bindparam(None, list(values), type_=ARRAY(String())))


def one_of_text(session: Session, column: str, name: str,
                values: Collection[str]) -> tuple[str, BindParameter[Any]]:
    """:func:`one_of` for a ``text()`` query: the condition on ``column`` (SQL) and its
    parameter ``name``."""
    if is_sqlite(session):
        return (f"{column} IN (SELECT value FROM json_each(:{name}))",
                bindparam(name, json.dumps(list(values))))
    return f"{column} = ANY(:{name})", bindparam(name, list(values), type_=ARRAY(String()))


def insert_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``INSERT INTO table`` every row, as one executemany (every row carries the same columns).

    On SQLite the rows go to the driver as plain tuples, each column converted by its type
    only where the type converts, once per distinct value (a campaign chunk shares its instants,
    price and currency): SQLAlchemy's per-row parameter processing costs more than SQLite's own
    work for a row."""
    if not rows:
        return
    session.flush()  # pending ORM changes go first, as session.execute would have done
    give_way_point(session)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
           f"({', '.join(quote(name) for name in names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    columns: list[Sequence[Any]] = list(zip(*map(itemgetter(*names), rows), strict=True))
    for index, name in enumerate(names):
        process = _bind_processor(table, dialect, name)
        if process is not None:
            columns[index] = list(map(_memoized(process), columns[index]))
    _execute_many(connection, sql, list(zip(*columns, strict=True)))


def update_each(session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]],
                constants: Mapping[str, Any]) -> None:
    """``UPDATE table SET <the row's columns>, <constants> WHERE key = row[key]`` for every row,
    as one executemany (every row carries the same columns).

    On SQLite the rows go to the driver as plain tuples, converted by their column types only
    where a type converts (dates, JSON), and the constants once, as in :func:`insert_many`."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != key]
    session.flush()  # pending ORM changes go first, as session.execute would have done
    give_way_point(session)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        statement = (update(table).where(table.c[key] == bindparam(f"b_{key}"))
                     .values(**{name: bindparam(f"b_{name}") for name in columns}, **constants))
        session.execute(statement, [{f"b_{name}": value for name, value in row.items()}
                                    for row in rows])
        return
    quote = dialect.identifier_preparer.quote
    names = [*columns, *constants]
    sql = (f"UPDATE {dialect.identifier_preparer.format_table(table)} SET "
           f"{', '.join(f'{quote(name)} = ?' for name in names)} WHERE {quote(key)} = ?")
    processors = [_bind_processor(table, dialect, name) for name in [*columns, key]]
    fixed = [_converted(table, dialect, name, value) for name, value in constants.items()]
    params = []
    for row in rows:
        values = [row[name] if process is None else process(row[name])
                  for name, process in zip([*columns, key], processors, strict=True)]
        params.append((*values[:-1], *fixed, values[-1]))
    _execute_many(connection, sql, params)


def _execute_many(connection: Connection, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
    """``sql`` for every tuple of ``params``, :data:`ROWS_PER_STATEMENT` at a time: each
    executemany is a statement, before which a :func:`giving_way` block gives way."""
    for start in range(0, len(params), ROWS_PER_STATEMENT):
        connection.exec_driver_sql(sql, list(params[start:start + ROWS_PER_STATEMENT]))


def _bind_processor(table: Table, dialect: Any, name: str) -> Callable[[Any], Any] | None:
    """The driver-side conversion of column ``name`` (None when its values go as they are)."""
    return cast(Callable[[Any], Any] | None, table.c[name].type._cached_bind_processor(dialect))


def _converted(table: Table, dialect: Any, name: str, value: Any) -> Any:
    process = _bind_processor(table, dialect, name)
    return value if process is None else process(value)


_EMPTY = object()
"""Part of the memo key of an empty JSON document (most messages' metadata)."""


def _memoized(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its result per distinct value (and for empty JSON documents)."""
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            found = done[value] = process(value)
            return found
        except TypeError:  # unhashable: a JSON document, converted each time unless empty
            if value:
                return process(value)
            key = (_EMPTY, type(value))
            if key not in done:
                done[key] = process(value)
            return done[key]

    return convert


def unindexed(column: Any) -> ColumnElement[Any]:
    """``column`` as an expression no index can serve (``column || ''``), for a condition that
    must only filter the rows a key list already chose.

    SQLite has no statistics: given ``id IN (…500 ids…) AND status = 'delivered'`` it prefers
    the status index and reads every delivered message, a cost that grows with the table
    (tens of milliseconds per group at 100,000 messages). PostgreSQL reaches the same rows by
    primary key either way."""
    return column.concat("")


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
