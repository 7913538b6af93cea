"""``vulndbupdate``: the online update of the vulnerability database as a job
(``moorage.scanning.vulndb.feed``), its downloads and import progress in the job's log.

The daily default cron (``schedules.DEFAULTS``) runs it; with the setting
``vulnerability_feed_scheduled`` off (air-gapped sites) the cron's runs log that and end. One
update at a time: ``queue`` (the API's "update now") hands back the waiting or running update job
instead of queueing a second; a job that starts while an older update job runs (the cron firing
during a manual update) ends at once saying so; and the import itself holds the database's update
lock, so an offline import at the same moment is refused rather than interleaved.
"""

from __future__ import annotations

import time

from sqlalchemy import and_, or_, select

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc
from moorage.jobs.context import JobContext
from moorage.queue import jobs
from moorage.scanning.vulndb import feed
from moorage.scanning.vulndb import status as vulndb_status
from moorage.scanning.vulndb.importer import ImportProgress

ACTION = "vulndbupdate"
LOG_EVERY = 2.0  # seconds between two progress lines


async def queue(db: Database) -> jobs.Job:
    """The update job: the one waiting or running, else a new one."""
    async with db.write() as conn:
        await db.serialize(conn, ACTION)
        row = (
            await conn.execute(
                select(jt.jobs.c.id)
                .where(
                    and_(
                        jt.jobs.c.action == ACTION,
                        or_(jt.jobs.c.status == "waiting", jt.jobs.c.status == "running"),
                    )
                )
                .order_by(jt.jobs.c.seq)
                .limit(1)
            )
        ).first()
        job_id = row.id if row is not None else await jobs.enqueue(conn, ACTION, {})
    return await jobs.get(db, job_id)


async def _older_update_running(ctx: JobContext) -> str | None:
    """The id of an update job running since before this one, if any."""
    mine = ctx.job.started_at
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(jt.jobs.c.id, jt.jobs.c.started_at).where(
                and_(
                    jt.jobs.c.action == ACTION,
                    jt.jobs.c.status == "running",
                    jt.jobs.c.id != ctx.job.id,
                )
            )
        )
        for row in rows:
            if mine is None or row.started_at is None:
                return str(row.id)
            if (as_utc(row.started_at), str(row.id)) < (mine, ctx.job.id):
                return str(row.id)
    return None


async def run(ctx: JobContext) -> None:
    settings = ctx.registry.settings
    if ctx.job.cron and not settings.vulnerability_feed_scheduled:
        await ctx.log(
            "scheduled online updates are off (vulnerability_feed_scheduled): nothing to do"
        )
        return
    other = await _older_update_running(ctx)
    if other is not None:
        await ctx.log(f"the update job {other} is running: this one ends")
        return
    current = await vulndb_status.read(ctx.db)
    if current.updating is not None:
        await ctx.log(f"an import is running ({current.updating.holder}): this update ends")
        return
    await ctx.log(
        f"online update from {feed.shown(settings.vulnerability_feed_url)} of "
        f"{len(settings.vulnerability_feed_ecosystems)} ecosystems: "
        + ", ".join(settings.vulnerability_feed_ecosystems)
    )
    last = 0.0

    async def progress(state: ImportProgress) -> None:
        nonlocal last
        if time.monotonic() - last < LOG_EVERY:
            return
        last = time.monotonic()
        c = state.counts
        await ctx.log(
            f"{state.phase}: {state.read} of {state.total} records read ({c.added} added, "
            f"{c.updated} updated, {c.unchanged} unchanged, {c.withdrawn} withdrawn)"
        )

    report = await feed.update_online(
        ctx.db,
        settings,
        holder=f"job {ctx.job.id}",
        note=ctx.log,
        progress=progress,
        should_stop=ctx.should_stop,
    )
    await ctx.log(report.summary())
