"""``ldapsync``: one LDAP sync as a job of the job runner.

The periodic sync is the ``ldapsync`` cron, whose schedule follows the LDAP settings
(``moorage.auth.ldap.config.sync_schedule``: ``@every`` exactly ``syncIntervalSeconds``; no cron
while LDAP or the periodic sync is off): ``schedule`` puts it in step after every change of the
settings and when a serving process starts (a cron already on that schedule keeps its phase).
The runner's crons fire once per tick across replicas, so one replica runs each sync, and a
scheduled one never piles on the previous (nor on any other sync still running). "Sync now"
(``queue``) records a ``waiting`` sync, queues its job in the same transaction, and ``wait``
follows it to its end. The job's log tells the sync's steps; its record stays in ``ldap_syncs``
(``moorage.auth.ldap.records``) for the API and the UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from moorage.auth.ldap import records, sync
from moorage.auth.ldap.config import LdapConfig, load_config, sync_schedule
from moorage.auth.ldap.directory import open_directory
from moorage.auth.secretbox import SecretBox
from moorage.db.engine import Database
from moorage.errors import InvalidInput
from moorage.jobs.context import JobContext
from moorage.queue import crons, jobs

ACTION = "ldapsync"
WAIT_POLL = 0.1  # seconds between two looks at a queued sync


async def run(ctx: JobContext) -> None:
    db = ctx.db
    stored = await load_config(db)
    sync_id = ctx.parameters.get("syncID")
    if not stored.config.enabled:
        await ctx.log("LDAP is not enabled: nothing to sync")
        if isinstance(sync_id, int):
            result = records.SyncResult(job_id=ctx.job.id)
            result.error("LDAP is not enabled")
            await records.finish(db, sync_id, "failed", result)
        return
    if isinstance(sync_id, int):
        again = ctx.job.attempt > 1  # a retry after an interruption runs it again
        if not await records.start(db, sync_id, ctx.worker, ctx.job.id, again=again):
            await ctx.log(f"LDAP sync {sync_id} has already finished")
            return
    else:
        async with db.write() as conn:
            if ctx.job.cron and await records.running_elsewhere(conn):
                sync_id = None
            else:
                sync_id = await records.insert(
                    conn,
                    "scheduled" if ctx.job.cron else "manual",
                    runner=ctx.worker,
                    job_id=ctx.job.id,
                )
        if sync_id is None:
            await ctx.log("another LDAP sync is running: this one is skipped")
            return
    box = SecretBox.in_data_folder(ctx.registry.settings.data)
    await sync.run(db, open_directory(stored, box), sync_id, job_id=ctx.job.id, note=ctx.log)


async def queue(db: Database) -> int:
    """Sync now: a ``waiting`` sync record and its job, in one transaction; returns its id."""
    stored = await load_config(db)
    if not stored.config.enabled:
        raise InvalidInput("LDAP is not enabled")
    async with db.write() as conn:
        sync_id = await records.insert(conn, "manual", status="waiting")
        job_id = await jobs.enqueue(conn, ACTION, {"syncID": sync_id})
        await records.set_job(conn, sync_id, job_id)
    return sync_id


async def wait(db: Database, sync_id: int, seconds: float) -> records.SyncRecord:
    """The sync's record once it has finished, or as it stands after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        record = await records.get_sync(db, sync_id)
        if record.finished or time.monotonic() >= deadline:
            return record
        job_id = record.result.job_id
        if job_id and (await jobs.get(db, job_id)).status in ("canceled", "done", "errored"):
            return await records.get_sync(db, sync_id)
        await asyncio.sleep(WAIT_POLL)


async def schedule(db: Database, config: LdapConfig | None = None) -> str | None:
    """Put the ``ldapsync`` cron in step with the settings; returns its schedule (None: off).
    A cron already on the right expression is left alone (its next run is not pushed back)."""
    if config is None:
        config = (await load_config(db)).config
    wanted = sync_schedule(config)
    try:
        current: str | None = (await crons.get(db, ACTION)).schedule
    except crons.NoSuchCron:
        current = None
    if wanted == current:
        return wanted
    if wanted is None:
        with contextlib.suppress(crons.NoSuchCron):
            await crons.remove(db, ACTION)
    else:
        await crons.put(db, crons.Cron(action=ACTION, schedule=wanted))
    return wanted
