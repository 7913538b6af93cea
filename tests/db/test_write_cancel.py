"""A write transaction cancelled while its ``BEGIN IMMEDIATE`` waits (another process holds
SQLite's write lock) gives its connection back to the pool only once that thread is done, and
outside any transaction: the next write works (a job cancelled mid-scan must not break the
database for the rest of the process)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from moorage.db.engine import Database
from moorage.db.migrate import upgrade


async def test_a_write_cancelled_while_it_waits_leaves_a_clean_pool(tmp_path: Path) -> None:
    path = tmp_path / "moorage.db"
    upgrade(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}", pool_size=1)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:

        async def write() -> None:
            async with db.write() as conn:
                await conn.execute(text("SELECT 1"))

        await write()  # the pool's connection exists, in WAL mode
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction

        task = asyncio.create_task(write())
        await asyncio.sleep(0.3)  # its BEGIN IMMEDIATE now waits in a worker thread
        task.cancel()
        await asyncio.sleep(0.1)
        other.execute("COMMIT")
        done, _ = await asyncio.wait({task}, timeout=30)
        assert done and task.cancelled()
        for _ in range(3):  # the one pooled connection is whole and outside a transaction
            async with db.write() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        other.close()
        await db.close()
