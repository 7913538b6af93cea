"""The event store on its own: compaction by age and count, the pull buffer's batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.db.migrate import upgrade
from moorage.events import store as events


@pytest.fixture()
async def db(
    db_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'e.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    upgrade(url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.close()


async def _count(db: Database, repository_id: int | None = None) -> int:
    query = select(func.count()).select_from(t.events)
    if repository_id is not None:
        query = query.where(t.events.c.repository_id == repository_id)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_compaction_by_age_and_count(db: Database) -> None:
    now = utcnow()
    async with db.write() as conn:
        for repo_id in (1, 2):
            for age in reversed(range(10)):  # oldest first, as they happen
                await events.record(
                    conn,
                    events.TAG_PUSH,
                    repository=f"ns/r{repo_id}",
                    repository_id=repo_id,
                    object_type=events.TAG,
                    object_id=f"t{age}",
                    actor="alice",
                    at=now - dt.timedelta(days=age, hours=1),
                )
    assert await events.compact(db, days=0, count=0) == 0
    assert await events.compact(db, days=5, count=0) == 10  # ages 5..9 of each repository
    assert await _count(db, 1) == 5
    assert await events.compact(db, days=0, count=2) == 6
    found, nxt = await events.page(
        db, visible=None, repository_id=1, filters=events.EventFilter(), start=None, limit=10
    )
    assert nxt is None
    assert [e.object_id for e in found] == ["t0", "t1"]  # the newest two
    assert await _count(db) == 4


async def test_pull_buffer_writes_in_batches(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(
            t.repositories.insert().values(name="ns/pulled", namespace="ns", created_at=utcnow())
        )
    buffer = events.PullBuffer(db, flush_interval=60, batch=3)
    digest = "sha256:" + "a" * 64
    for _ in range(7):
        buffer.pulled("ns/pulled", "latest", digest, None)
    buffer.pulled("ns/pulled", digest, digest, "bob")
    buffer.pulled("ns/unknown", "latest", digest, "bob")  # no such repository: dropped
    assert await _count(db) == 0
    assert await buffer.flush() == 9
    assert await _count(db) == 8
    found, _ = await events.page(
        db,
        visible=None,
        repository_id=None,
        filters=events.EventFilter(event_types=frozenset({events.MANIFEST_PULL})),
        start=None,
        limit=10,
    )
    assert [(e.actor, e.object_id, e.details) for e in found] == [
        ("bob", digest, {"digest": digest})
    ]
    assert await _counters(db, "ns/pulled") == (8, 0)
    buffer.start()
    buffer.pulled("ns/pulled", "latest", digest, None)
    await buffer.stop()  # flushes what is left
    assert await _count(db) == 9
    assert await _counters(db, "ns/pulled") == (9, 0)


async def _counters(db: Database, name: str) -> tuple[int, int]:
    query = select(t.repositories.c.pulls, t.repositories.c.pushes).where(
        t.repositories.c.name == name
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).one()
    return int(row.pulls), int(row.pushes)


async def test_pull_counts_are_one_update_per_repository_per_batch(db: Database) -> None:
    async with db.write() as conn:
        for name in ("ns/a", "ns/b", "ns/c"):
            await conn.execute(
                t.repositories.insert().values(name=name, namespace="ns", created_at=utcnow())
            )
    buffer = events.PullBuffer(db, flush_interval=60, batch=500)
    digest = "sha256:" + "b" * 64
    for name, times in (("ns/a", 5), ("ns/b", 2), ("ns/gone", 4)):
        for _ in range(times):
            buffer.pulled(name, "latest", digest, None)
    assert await buffer.flush() == 11
    assert await _counters(db, "ns/a") == (5, 0)
    assert await _counters(db, "ns/b") == (2, 0)
    assert await _counters(db, "ns/c") == (0, 0)
    async with db.write() as conn:
        await events.count_push(conn, 1)
    assert await _counters(db, "ns/a") == (5, 1)
