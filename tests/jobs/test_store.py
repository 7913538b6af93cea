"""The job queue in-process on a real database: concurrent claimers get each job once, errors
are retried with backoff up to the attempts allowed, a due cron fires once however many
processes look, a dead worker's job is queued again, history compaction keeps what it must."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from moorage.config import Settings
from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.db.migrate import upgrade
from moorage.jobs import store
from moorage.jobs.actions import JobContext
from moorage.jobs.runner import JobRunner
from moorage.registry.context import RegistryContext
from moorage.storage.filesystem import FilesystemDriver

LEASE = dt.timedelta(seconds=30)


@pytest.fixture()
async def ctx(
    db_kind: str, database_factory: Callable[[], str | None], tmp_path: Path
) -> AsyncIterator[RegistryContext]:
    url = database_factory() or f"sqlite:///{tmp_path / 'moorage.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        yield RegistryContext(
            db=db, storage=FilesystemDriver(tmp_path / "storage"), settings=Settings(data=tmp_path)
        )
    finally:
        await db.close()


async def test_concurrent_claims_take_each_job_once(ctx: RegistryContext) -> None:
    db = ctx.db
    ids = {(await store.submit(db, "sleep")).id for _ in range(30)}
    others = [Database(db.url) for _ in range(3)]  # separate pools, as separate processes
    try:

        async def claimer(handle: Database, name: str) -> list[str]:
            got: list[str] = []
            while (job := await store.claim(handle, name, LEASE, ["sleep"])) is not None:
                got.append(job.id)
                await asyncio.sleep(0)
            return got

        results = await asyncio.gather(*(claimer(h, f"w{i}") for i, h in enumerate([db, *others])))
    finally:
        for h in others:
            await h.close()
    claimed = [job_id for got in results for job_id in got]
    assert sorted(claimed) == sorted(ids)
    assert await store.claim(db, "late", LEASE, ["sleep"]) is None
    assert await store.claim(db, "other", LEASE, ["onlinegc"]) is None


async def test_errors_are_retried_with_backoff(ctx: RegistryContext) -> None:
    calls: list[int] = []

    async def failing(jctx: JobContext) -> None:
        calls.append(jctx.job.attempt)
        await jctx.log("about to fail")
        raise RuntimeError("boom")

    runner = JobRunner(ctx, poll_seconds=0.05, actions={"fail": failing})
    original = store.BACKOFF_BASE
    store.BACKOFF_BASE = 0.2
    first = await store.submit(ctx.db, "fail", retries=2)
    runner.start()
    try:
        for _ in range(200):
            jobs, _ = await store.page(ctx.db, action="fail")
            if len(jobs) == 3 and all(j.status == "errored" for j in jobs):
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
        store.BACKOFF_BASE = original
    jobs, _ = await store.page(ctx.db, action="fail")
    assert [j.status for j in jobs] == ["errored"] * 3
    assert calls == [1, 2, 3]
    newest, middle, oldest = jobs
    assert oldest.id == first.id
    assert middle.retry_from_id == oldest.id and newest.retry_from_id == middle.id
    assert "RuntimeError: boom" in (oldest.error or "")
    assert middle.started_at and oldest.ended_at
    assert middle.started_at - oldest.ended_at >= dt.timedelta(seconds=0.15)  # backoff
    lines = [line["data"] for line in await store.logs(ctx.db, oldest.id)]
    assert "about to fail" in lines and lines[-1].startswith("errored")


async def test_dead_worker_job_is_queued_again(ctx: RegistryContext) -> None:
    job = await store.submit(ctx.db, "sleep")
    claimed = await store.claim(ctx.db, "gone", dt.timedelta(seconds=-1), ["sleep"])
    assert claimed is not None and claimed.id == job.id
    assert await store.renew(ctx.db, job.id, "someone-else", LEASE) == "lost"
    dead = await asyncio.gather(store.reap(ctx.db), store.reap(ctx.db))
    assert sorted(dead[0] + dead[1]) == [job.id]
    assert (await store.get(ctx.db, job.id)).status == "worker_dead"
    jobs, _ = await store.page(ctx.db, action="sleep")
    retry = jobs[0]
    assert retry.retry_from_id == job.id and retry.status == "waiting" and retry.attempt == 2
    # The old worker's late report changes nothing.
    assert await store.finish(ctx.db, claimed, "gone", "done") is None
    assert (await store.get(ctx.db, job.id)).status == "worker_dead"


async def test_due_cron_fires_once(ctx: RegistryContext) -> None:
    await store.set_cron(ctx.db, store.Cron(action="sleep", schedule="0 3 * * *"))
    async with ctx.db.write() as conn:
        await conn.execute(
            update(t.crons)
            .where(t.crons.c.action == "sleep")
            .values(next_run=utcnow() - dt.timedelta(seconds=1))
        )
    other = Database(ctx.db.url)
    try:
        fired = await asyncio.gather(
            store.fire_due_crons(ctx.db), store.fire_due_crons(other), store.fire_due_crons(ctx.db)
        )
    finally:
        await other.close()
    assert sum(len(f) for f in fired) == 1
    cron = await store.get_cron(ctx.db, "sleep")
    assert cron.next_run and cron.next_run > utcnow()
    assert cron.last_job_id == next(f for f in fired if f)[0]
    assert (await store.get(ctx.db, cron.last_job_id)).cron


async def test_history_compaction(ctx: RegistryContext) -> None:
    ids = [(await store.submit(ctx.db, "sleep")).id for _ in range(5)]
    old = utcnow() - dt.timedelta(days=40)
    async with ctx.db.write() as conn:
        await conn.execute(update(t.jobs).values(status="done", ended_at=old))
        await conn.execute(update(t.jobs).where(t.jobs.c.id == ids[0]).values(status="waiting"))
    for job_id in ids:
        await store.append_log(ctx.db, job_id, 1, "line")
    removed = await store.compact(ctx.db, max_age=dt.timedelta(days=30), keep=2)
    assert removed == 2  # ids[1], ids[2]: finished, old, beyond the newest two
    left = {j.id for j in (await store.page(ctx.db))[0]}
    assert left == {ids[0], ids[3], ids[4]}
