"""The job queue in-process on a real database: concurrent claimers get each job once, errors
are retried with backoff up to the attempts allowed, a due cron fires once however many
processes look, a dead worker's job is queued again, history compaction keeps what it must."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import update

from moorage.db import job_tables as jt
from moorage.db.engine import Database, utcnow
from moorage.jobs.context import JobContext
from moorage.jobs.runner import JobRunner
from moorage.queue import crons, job_logs, jobs, leases
from moorage.registry.context import RegistryContext

LEASE = dt.timedelta(seconds=30)


async def test_concurrent_claims_take_each_job_once(ctx: RegistryContext) -> None:
    db = ctx.db
    ids = {(await jobs.submit(db, "sleep")).id for _ in range(30)}
    others = [Database(db.url) for _ in range(3)]  # separate pools, as separate processes
    try:

        async def claimer(handle: Database, name: str) -> list[str]:
            got: list[str] = []
            while (job := await leases.claim(handle, name, LEASE, ["sleep"])) is not None:
                got.append(job.id)
                await asyncio.sleep(0)
            return got

        results = await asyncio.gather(*(claimer(h, f"w{i}") for i, h in enumerate([db, *others])))
    finally:
        for h in others:
            await h.close()
    claimed = [job_id for got in results for job_id in got]
    assert sorted(claimed) == sorted(ids)
    assert await leases.claim(db, "late", LEASE, ["sleep"]) is None
    assert await leases.claim(db, "other", LEASE, ["onlinegc"]) is None


async def test_errors_are_retried_with_backoff(ctx: RegistryContext) -> None:
    calls: list[int] = []

    async def failing(jctx: JobContext) -> None:
        calls.append(jctx.job.attempt)
        await jctx.log("about to fail")
        raise RuntimeError("boom")

    runner = JobRunner(ctx, poll_seconds=0.05, actions={"fail": failing})
    original = leases.BACKOFF_BASE
    leases.BACKOFF_BASE = 0.2
    first = await jobs.submit(ctx.db, "fail", retries=2)
    runner.start()
    try:
        for _ in range(200):
            found, _ = await jobs.page(ctx.db, action="fail")
            if len(found) == 3 and all(j.status == "errored" for j in found):
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
        leases.BACKOFF_BASE = original
    found, _ = await jobs.page(ctx.db, action="fail")
    assert [j.status for j in found] == ["errored"] * 3
    assert calls == [1, 2, 3]
    newest, middle, oldest = found
    assert oldest.id == first.id
    assert middle.retry_from_id == oldest.id and newest.retry_from_id == middle.id
    assert "RuntimeError: boom" in (oldest.error or "")
    assert middle.started_at and oldest.ended_at
    assert middle.started_at - oldest.ended_at >= dt.timedelta(seconds=0.15)  # backoff
    lines = [line.data for line in await job_logs.read(ctx.db, oldest.id)]
    assert "about to fail" in lines and lines[-1].startswith("errored")


async def test_dead_worker_job_is_queued_again(ctx: RegistryContext) -> None:
    job = await jobs.submit(ctx.db, "sleep")
    claimed = await leases.claim(ctx.db, "gone", dt.timedelta(seconds=-1), ["sleep"])
    assert claimed is not None and claimed.id == job.id
    assert await leases.renew(ctx.db, job.id, "someone-else", LEASE) == "lost"
    dead = await asyncio.gather(leases.reap(ctx.db), leases.reap(ctx.db))
    assert sorted(dead[0] + dead[1]) == [job.id]
    assert (await jobs.get(ctx.db, job.id)).status == "worker_dead"
    found, _ = await jobs.page(ctx.db, action="sleep")
    retry = found[0]
    assert retry.retry_from_id == job.id and retry.status == "waiting" and retry.attempt == 2
    # The old worker's late report changes nothing.
    assert await leases.finish(ctx.db, claimed, "gone", "done") is None
    assert (await jobs.get(ctx.db, job.id)).status == "worker_dead"


async def test_due_cron_fires_once(ctx: RegistryContext) -> None:
    await crons.put(ctx.db, crons.Cron(action="sleep", schedule="0 3 * * *"))
    async with ctx.db.write() as conn:
        await conn.execute(
            update(jt.crons)
            .where(jt.crons.c.action == "sleep")
            .values(next_run=utcnow() - dt.timedelta(seconds=1))
        )
    other = Database(ctx.db.url)
    try:
        fired = await asyncio.gather(
            crons.fire_due(ctx.db), crons.fire_due(other), crons.fire_due(ctx.db)
        )
    finally:
        await other.close()
    assert sum(len(f) for f in fired) == 1
    cron = await crons.get(ctx.db, "sleep")
    assert cron.next_run and cron.next_run > utcnow()
    assert cron.last_job_id == next(f for f in fired if f)[0]
    assert (await jobs.get(ctx.db, cron.last_job_id)).cron


async def test_history_compaction(ctx: RegistryContext) -> None:
    ids = [(await jobs.submit(ctx.db, "sleep")).id for _ in range(5)]
    old = utcnow() - dt.timedelta(days=40)
    async with ctx.db.write() as conn:
        await conn.execute(update(jt.jobs).values(status="done", ended_at=old))
        await conn.execute(update(jt.jobs).where(jt.jobs.c.id == ids[0]).values(status="waiting"))
    for job_id in ids:
        await job_logs.append(ctx.db, job_id, 1, "line")
    removed = await jobs.compact(ctx.db, max_age=dt.timedelta(days=30), keep=2)
    assert removed == 2  # ids[1], ids[2]: finished, old, beyond the newest two
    left = {j.id for j in (await jobs.page(ctx.db))[0]}
    assert left == {ids[0], ids[3], ids[4]}
