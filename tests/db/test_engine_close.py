"""The database handle never leaves a thread using a connection: a write cancelled (again and
again) while SQLite's ``BEGIN IMMEDIATE`` waits for another process ends only once that thread
is done, ``close`` leaves no statement running and no thread behind, and nothing can use the
handle afterwards (work that outlived its app would otherwise open new connections; a
connection closed under a running statement crashed a test worker)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from tests.db.statement_log import StatementLog


def begin_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("moorage-sqlite-begin")]


@dataclass
class Locked:
    db: Database  # one pooled connection, already made (in WAL mode)
    other: sqlite3.Connection  # another process's connection, holding the write lock

    async def write(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(text("SELECT 1"))


@pytest.fixture()
async def locked(tmp_path: Path) -> AsyncIterator[Locked]:
    path = tmp_path / "moorage.db"
    upgrade(f"sqlite:///{path}")
    held = Locked(
        Database(f"sqlite:///{path}", pool_size=1),
        sqlite3.connect(path, isolation_level=None, check_same_thread=False),
    )
    try:
        await held.write()
        held.other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        yield held
    finally:
        held.other.close()
        await held.db.close()


async def test_a_write_cancelled_twice_while_begin_waits_ends_with_its_thread(
    locked: Locked, statements: StatementLog
) -> None:
    db, other = locked.db, locked.other
    task = asyncio.create_task(locked.write())
    await asyncio.sleep(0.3)  # its BEGIN IMMEDIATE waits in the handle's thread
    assert statements.running() == 1
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # a second cancellation (a grace running out) must not cut the wait
    await asyncio.sleep(0.3)
    assert not task.done(), "the write ended while its thread still held the connection"
    released = time.monotonic()
    other.execute("COMMIT")
    done, _ = await asyncio.wait({task}, timeout=30)
    assert done and task.cancelled()
    assert statements.running() == 0  # BEGIN ended, and was rolled back
    assert "ROLLBACK" not in statements.since(released)  # by the connection, not SQL
    # The one pooled connection is whole and outside a transaction: another process can
    # write, and so can this one, again and again (a job cancelled mid-scan must not break
    # the database for the rest of the process).
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    for _ in range(3):
        async with db.write() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    await db.close()
    closed = time.monotonic()
    assert not begin_threads()
    await asyncio.sleep(0.1)
    assert statements.since(closed) == []


async def test_close_waits_for_a_begin_still_running_and_the_handle_refuses_work_after(
    locked: Locked, statements: StatementLog
) -> None:
    db, other = locked.db, locked.other
    task = asyncio.create_task(locked.write())
    await asyncio.sleep(0.3)
    assert statements.running() == 1
    # The app shuts down while the write waits: its owner cancels it and closes the handle;
    # the other process commits a moment later.
    task.cancel()
    threading.Timer(0.5, other.execute, ("COMMIT",)).start()
    started = time.monotonic()
    await db.close()
    closed = time.monotonic()
    assert closed - started >= 0.4, "close returned while BEGIN was still running"
    assert task.done() and task.cancelled()
    assert statements.running() == 0 and not begin_threads()
    await db.close()  # idempotent
    for use in (db.read, db.write):
        with pytest.raises(RuntimeError, match="used after close"):
            async with use():
                pass
    await asyncio.sleep(0.1)
    assert statements.since(closed) == []
