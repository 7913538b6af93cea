"""The database handle: read and write transactions over SQLAlchemy Core.

PostgreSQL goes through the async engine (asyncpg) at READ COMMITTED.

SQLite, the embedded default, runs in WAL mode through the standard ``sqlite3``
driver, executed inline on the event loop: an indexed SQLite read takes tens of
microseconds, several times less than handing each statement to a worker thread
(aiosqlite measured about six times slower per query here). Readers never wait in
WAL mode. Writers are serialized inside the process by a lock; the step that may
wait on another process (``BEGIN IMMEDIATE`` taking the write lock) runs in a thread of
the handle's own, so the loop never blocks on another process's transaction, and
``close`` can wait until that thread is done with its connection.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import datetime as dt
import os
import zlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection as SyncConnection
from sqlalchemy import CursorResult, Engine, Executable, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RootTransaction, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.schema import Table

from moorage.background import wait_out
from moorage.errors import ConfigError, DatabaseUnavailable


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def async_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        return str(u.set(drivername="sqlite+aiosqlite"))
    if u.drivername in ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ConfigError(f"unsupported database URL scheme {u.drivername!r}")


def sync_url(url: str) -> str:
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return str(u.set(drivername="sqlite"))
    if u.drivername.startswith("postgres"):
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigError(f"unsupported database URL scheme {u.drivername!r}")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and for in-memory SQLite)."""
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def create_private_file(path: Path) -> None:
    """Create ``path`` (mode 0600) if it does not exist, so whatever opens it later (SQLite,
    which gives its -wal and -shm files the database file's mode) starts from a private file."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    options = conn.get_execution_options()
    if options.get("moorage_write", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif not options.get("moorage_autocommit", False):
        conn.exec_driver_sql("BEGIN")


class Connection(abc.ABC):
    """A connection inside a transaction, whichever database runs it."""

    @abc.abstractmethod
    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        """Run one statement (``parameters``: a dict, or a list of dicts for executemany)."""


class _AsyncConnection(Connection):
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return await self._conn.execute(statement, parameters)


class _InlineConnection(Connection):
    __slots__ = ("_conn",)

    def __init__(self, conn: SyncConnection) -> None:
        self._conn = conn

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)


async def _thread_done(work: list[concurrent.futures.Future[Any]]) -> None:
    """Wait until the thread's work has ended (``wait_out``); its outcome stays on ``work``."""
    waiting = [asyncio.wrap_future(f) for f in work]
    try:
        await wait_out(waiting)
    finally:
        for f in waiting:
            if f.done() and not f.cancelled():
                f.exception()  # read from ``work`` by the caller, not lost


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = make_url(url).drivername.startswith("sqlite")
        self._write_lock = asyncio.Lock()
        self._closed = False
        # The one thread that runs SQLite's BEGIN IMMEDIATE (writes are one at a time), made
        # on the first write; ``close`` waits for it before any connection is closed.
        self._begin_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._beginning: set[concurrent.futures.Future[Any]] = set()
        self._async: AsyncEngine | None = None
        self._sync: Engine | None = None
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None and path.parent.is_dir():
                create_private_file(path)
            self._sync = create_engine(
                sync_url(url),
                connect_args={"check_same_thread": False},
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
            event.listen(self._sync, "begin", _sqlite_begin)
        else:
            self._async = create_async_engine(
                async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    def pool_status(self) -> tuple[int, int] | None:
        """This process's connection pool: (connections it keeps, connections checked out now);
        None when the engine has no queue pool. Two counters read, no I/O (the metrics)."""
        engine = self._sync if self._sync is not None else None
        if engine is None and self._async is not None:
            engine = self._async.sync_engine
        pool = engine.pool if engine is not None else None
        if not isinstance(pool, QueuePool):
            return None
        return pool.size(), pool.checkedout()

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _check_open(self) -> None:
        if self._closed:
            # A programming error, not a domain one: work that outlived its owner.
            raise RuntimeError(f"database {self.safe_url} used after close()")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        self._check_open()
        if self._sync is not None:
            # Reads run in autocommit: no BEGIN/COMMIT round trips; each SELECT sees one
            # consistent WAL snapshot, which is what every read here needs.
            with self._sync.connect() as conn:
                conn.execution_options(moorage_autocommit=True)
                yield _InlineConnection(conn)
            return
        async with self._pg_transaction() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        self._check_open()
        if self._sync is None:
            async with self._pg_transaction() as conn:
                yield conn
            return
        async with self._write_lock:
            self._check_open()  # closed while this write waited for the lock
            with self._sync.connect() as conn:
                conn.execution_options(moorage_write=True)
                transaction = await self._begin(conn)  # BEGIN IMMEDIATE may wait
                try:
                    yield _InlineConnection(conn)
                except BaseException:
                    transaction.rollback()
                    raise
                # Holding the write lock, a WAL commit appends to the log (no fsync at
                # synchronous=NORMAL): quick enough to run here.
                transaction.commit()

    @asynccontextmanager
    async def _pg_transaction(self) -> AsyncIterator[Connection]:
        """A PostgreSQL transaction (committed when the block ends without error). A server
        that cannot be reached, or a connection cut under the transaction, is
        ``DatabaseUnavailable`` (503): the pool reconnects on the next request
        (``pool_pre_ping``)."""
        assert self._async is not None
        try:
            async with AsyncExitStack() as stack:
                try:
                    aconn = await stack.enter_async_context(self._async.connect())
                    await stack.enter_async_context(aconn.begin())
                except (DBAPIError, OSError) as exc:
                    raise DatabaseUnavailable() from exc
                yield _AsyncConnection(aconn)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable() from exc
            raise

    def insert(self, table: Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing/do_update``."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    async def serialize(self, conn: Connection, name: str) -> None:
        """Inside a write transaction: wait until no other transaction holding the same ``name``
        is open, so a check-then-insert (the first start's signing key and administrator) runs
        once across replicas. PostgreSQL: a transaction-scoped advisory lock; SQLite's write
        transactions are already one at a time (BEGIN IMMEDIATE)."""
        if not self.is_sqlite:
            key = zlib.crc32(name.encode()) | (0x6D6F << 32)  # "mo": Moorage's own key space
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    async def check_health(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def _begin(self, conn: SyncConnection) -> RootTransaction:
        """``conn.begin()`` in the BEGIN thread. Cancelled while it waits, the thread still
        owns the connection: wait for it (through further cancellations: BEGIN ends within
        ``busy_timeout``) and roll back, so the pool never gets a connection another thread
        is using, or one left inside a transaction, and ``close`` never closes one under a
        running statement (which crashed the process)."""
        if self._begin_thread is None:
            self._begin_thread = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="moorage-sqlite-begin"
            )
        work = self._begin_thread.submit(conn.begin)
        self._beginning.add(work)
        work.add_done_callback(self._beginning.discard)
        try:
            return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            if not work.cancel():  # it had started: wait for it, then undo it
                try:
                    await _thread_done([work])
                finally:
                    if work.done() and work.exception() is None:
                        work.result().rollback()
            raise

    async def close(self, grace: float = 30.0) -> None:
        """Dispose of the connections once the write in progress has ended (waiting up to
        ``grace``) and no BEGIN is running in the thread; any use after this raises (work
        that outlived the app would otherwise open new connections)."""
        self._closed = True
        if self._sync is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._write_lock.acquire(), grace)
                self._write_lock.release()
        if self._beginning:  # a BEGIN whose write never came back: it ends first, whatever
            await _thread_done(list(self._beginning))
        if self._begin_thread is not None:
            self._begin_thread.shutdown(wait=True)  # idle by now: its thread ends at once
            self._begin_thread = None
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            self._sync.dispose()
