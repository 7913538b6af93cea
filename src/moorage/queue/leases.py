"""The worker's side of the queue: look for work, claim a job under a lease, renew it, record
the outcome (and queue the retry), and reap the jobs of workers that died.

Claim: one statement, ``UPDATE jobs SET status='running' … WHERE id = (SELECT id … WHERE
status='waiting' … LIMIT 1 FOR UPDATE SKIP LOCKED) AND status='waiting'``. On PostgreSQL the
sub-select skips rows another claimer holds; on SQLite (no row locks; ``FOR UPDATE`` is not
rendered) the statement runs inside the exclusive ``BEGIN IMMEDIATE`` write transaction, so no
two processes evaluate it at once. Either way exactly one worker gets each job.

A running job holds a lease its worker renews; a job whose lease ran out (its worker died) is
marked ``worker_dead`` and queued again (bounded attempts, backoff), in one write transaction,
so of several reapers one wins.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import job_tables as jt
from moorage.db.engine import Connection, Database, utcnow
from moorage.queue.job_logs import MAX_LOG_LINE
from moorage.queue.jobs import COLUMNS, Job, from_row, insert

# A job whose worker died runs again at least this many times in all, whatever its retries.
DEAD_ATTEMPTS = 3
BACKOFF_BASE = 2.0
BACKOFF_MAX = 300.0


def backoff(attempt: int) -> dt.timedelta:
    """Wait before attempt ``attempt + 1``."""
    return dt.timedelta(seconds=min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempt - 1)))


def _held(which: ColumnElement[bool], worker: str) -> ColumnElement[bool]:
    """The job ``which`` selects, while it is still running under ``worker``'s lease."""
    return and_(which, jt.jobs.c.worker == worker, jt.jobs.c.status == "running")


async def has_work(db: Database, actions: list[str]) -> bool:
    """A read first, so idle workers do not take the write lock every poll."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(jt.jobs.c.seq)
                .where(
                    and_(
                        jt.jobs.c.status == "waiting",
                        jt.jobs.c.run_after <= utcnow(),
                        jt.jobs.c.action.in_(actions),
                    )
                )
                .limit(1)
            )
        ).first()
    return row is not None


async def claim(db: Database, worker: str, lease: dt.timedelta, actions: list[str]) -> Job | None:
    """Take the oldest due waiting job whose action this worker knows; None when there is none."""
    now = utcnow()
    candidate = (
        select(jt.jobs.c.id)
        .where(
            and_(
                jt.jobs.c.status == "waiting",
                jt.jobs.c.run_after <= now,
                jt.jobs.c.action.in_(actions),
            )
        )
        .order_by(jt.jobs.c.run_after, jt.jobs.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(jt.jobs)
                .where(and_(jt.jobs.c.id == candidate, jt.jobs.c.status == "waiting"))
                .values(
                    status="running",
                    worker=worker[:255],
                    lease_until=now + lease,
                    started_at=now,
                    updated_at=now,
                )
                .returning(*COLUMNS)
            )
        ).first()
    return None if row is None else from_row(row)


async def renew(db: Database, job_id: str, worker: str, lease: dt.timedelta) -> str:
    """Extend the lease: ``ok``, ``cancel`` (cancellation asked) or ``lost`` (no longer ours)."""
    now = utcnow()
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(jt.jobs)
                .where(_held(jt.jobs.c.id == job_id, worker))
                .values(lease_until=now + lease, updated_at=now)
                .returning(jt.jobs.c.cancel_requested)
            )
        ).first()
    if row is None:
        return "lost"
    return "cancel" if row.cancel_requested else "ok"


async def held_state(db: Database, job_id: str, worker: str) -> str:
    """What ``renew`` would say, read without extending the lease (a read, no write lock):
    ``ok``, ``cancel`` or ``lost``. The runner looks between renewals, so a cancellation asked
    through the API stops the job within a second, not a third of the lease."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(jt.jobs.c.cancel_requested).where(_held(jt.jobs.c.id == job_id, worker))
            )
        ).first()
    if row is None:
        return "lost"
    return "cancel" if row.cancel_requested else "ok"


async def finish(
    db: Database,
    job: Job,
    worker: str,
    status: str,
    error: str | None = None,
    *,
    in_place: bool = False,
) -> str | None:
    """Record the outcome (only while the job is still this worker's); an errored job with
    attempts left is queued again after its backoff: as a new row, or with ``in_place`` as the
    same row (``waiting`` again, the next attempt number, the last error kept). Returns the id
    of the job that will run again, if any."""
    now = utcnow()
    if in_place and status == "errored" and job.attempt < job.max_attempts:
        async with db.write() as conn:
            again = await conn.execute(
                update(jt.jobs)
                .where(_held(jt.jobs.c.id == job.id, worker))
                .values(
                    status="waiting",
                    attempt=job.attempt + 1,
                    error=(error or None) and error[:MAX_LOG_LINE],
                    worker=None,
                    lease_until=None,
                    run_after=now + backoff(job.attempt),
                    updated_at=now,
                )
            )
        return job.id if again.rowcount else None
    async with db.write() as conn:
        done = await conn.execute(
            update(jt.jobs)
            .where(_held(jt.jobs.c.id == job.id, worker))
            .values(
                status=status,
                error=(error or None) and error[:MAX_LOG_LINE],
                ended_at=now,
                lease_until=None,
                updated_at=now,
            )
        )
        if done.rowcount == 0:
            return None
        limit = DEAD_ATTEMPTS if status == "worker_dead" else job.max_attempts
        if status in ("errored", "worker_dead") and job.attempt < max(limit, job.max_attempts):
            return await _retry(conn, job, now)
    return None


async def _retry(conn: Connection, job: Job, now: dt.datetime) -> str:
    return await insert(
        conn,
        job.action,
        job.parameters,
        max_attempts=job.max_attempts,
        attempt=job.attempt + 1,
        retry_from_id=job.id,
        deadline_seconds=job.deadline_seconds,
        cron=job.cron,
        run_after=now + backoff(job.attempt),
        submitted_action=job.submitted_action,
    )


async def reap(db: Database) -> list[str]:
    """Mark running jobs whose lease expired ``worker_dead`` and queue their retries."""
    now = utcnow()
    async with db.read() as conn:
        stale = (
            await conn.execute(
                select(func.count())
                .select_from(jt.jobs)
                .where(and_(jt.jobs.c.status == "running", jt.jobs.c.lease_until < now))
            )
        ).scalar_one()
    if not stale:
        return []
    async with db.write() as conn:
        rows = list(
            await conn.execute(
                update(jt.jobs)
                .where(and_(jt.jobs.c.status == "running", jt.jobs.c.lease_until < now))
                .values(
                    status="worker_dead",
                    error="the worker stopped renewing its lease",
                    ended_at=now,
                    lease_until=None,
                    updated_at=now,
                )
                .returning(*COLUMNS)
            )
        )
        for row in rows:
            job = from_row(row)
            if job.attempt < max(DEAD_ATTEMPTS, job.max_attempts):
                await _retry(conn, job, now)
    return [r.id for r in rows]
