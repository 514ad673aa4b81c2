"""Database engine for a service: a SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, create_engine
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

_SQLITE_BEGIN = "lienganh_sqlite_begin"
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_BUSY_TIMEOUT_S = 30


def create_db_engine(url: str) -> Engine:
    """An engine tuned for several processes sharing one database (API + worker)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S}
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (below), which also makes SAVEPOINT work with pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL is kept in the file: the first connection to a new database sets it. While another
    process writes that file in its old journal mode (two processes creating one new store
    together), SQLite refuses the switch at once, without waiting in its busy handler: it is
    tried again until that write is over, as long as a busy connection would wait."""
    for attempt in Retrying(
        retry=retry_if_exception(_is_locked),
        wait=wait_fixed(0.05),
        stop=stop_after_delay(_BUSY_TIMEOUT_S),
        reraise=True,
    ):
        with attempt:
            cursor.execute("PRAGMA journal_mode=WAL")


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _begin(connection: Any) -> None:
    # A writing transaction takes the write lock at BEGIN (two processes upgrading read locks
    # would deadlock); readers begin deferred so they never block a writer (WAL).
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_tables(engine: Engine, tables: Sequence[type[SQLModel]]) -> None:
    """Create the service's own tables (idempotent)."""
    tables_ = [model.__table__ for model in tables]  # type: ignore[attr-defined]
    SQLModel.metadata.create_all(_writer(engine), tables=tables_)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One writing unit of work: commit on success, roll back on any error."""
    with (
        _write_lock(engine),
        Session(_writer(engine), expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


def _write_lock(engine: Engine) -> threading.Lock | nullcontext[None]:
    # SQLite has one writer at a time, and its busy handler waits by sleeping (up to 100 ms
    # a try): threads of one process queue on a lock instead, and only other processes
    # ever meet the busy handler.
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(str(engine.url), threading.Lock())


# ~40 MiB of 4 KiB pages: measured on a 20,000-row import, no faster at 20,000.
BULK_CHECKPOINT_PAGES = 10_000
BULK_CACHE_KIB = 64 * 1024


def checkpoint(engine: Engine) -> None:
    """Copy what SQLite's WAL holds into the database, beside any reader or writer (a
    PASSIVE checkpoint: it waits for none and copies what none still needs); nothing on
    another database. For a writer whose auto-checkpoint is off (`bulk_writing(pages=0)`),
    which then says when."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


@contextmanager
def bulk_writing(
    engine: Engine, pages: int = BULK_CHECKPOINT_PAGES, cache_kib: int = BULK_CACHE_KIB
) -> Iterator[None]:
    """While it lasts, the engine's SQLite connections checkpoint their WAL into the database
    once it holds `pages` pages, not SQLite's 1,000 (0: never; the writer calls `checkpoint`
    itself), and keep up to `cache_kib` of pages in their cache, not 2 MiB (nothing changes
    on PostgreSQL).

    For a long run of large writes (an import): a checkpoint copies each page the WAL holds
    once, however often it was written since the last, and syncs the file, so a WAL ten times
    as long (~40 MiB) copies and syncs far less; at the 1,000 pages a checkpoint was due every
    few batches. The cache keeps the pages of the indexes on keyed hashes at hand as they
    grow: each row lands on a page of its own in each. Connections get the settings when
    checked out (forked processes' new ones too) and their own back when checked in."""
    if engine.dialect.name != "sqlite":
        yield
        return
    settings = {"wal_autocheckpoint": int(pages), "cache_size": -int(cache_kib)}

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        record.info[_OWN_SETTINGS] = {
            name: cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in settings
        }
        for name, value in settings.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        own = record.info.pop(_OWN_SETTINGS, None)
        if own is not None and dbapi_connection is not None:
            for name, value in own.items():
                dbapi_connection.execute(f"PRAGMA {name}={int(value)}")

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        yield
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)


_OWN_SETTINGS = "lienganh_own_bulk_settings"


def _writer(engine: Engine) -> Engine:
    return engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})


def check_database(engine: Engine) -> None:
    """Readiness check: the database answers."""
    with engine.connect() as connection:
        connection.execute(text("select 1"))
