"""Jobs: the row, queueing one (on its own or in the caller's transaction), reading, paging,
cancelling and deleting jobs, and history compaction.

A job is one attempt: ``waiting → running → done | errored | canceled | worker_dead``. A retry is a
new row (``retry_from_id`` names the attempt before it, as DTR's ``retryFromID``), run no sooner
than its backoff allows (``moorage.queue.leases``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select, update

from moorage.db import job_tables as jt
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import InvalidInput, NotFound

FINISHED = ("done", "errored", "canceled", "worker_dead")


class NoSuchJob(NotFound):
    code, default_message = "NO_SUCH_JOB", "no such job"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    action: str
    status: str
    parameters: dict[str, Any]
    attempt: int
    max_attempts: int
    retry_from_id: str | None
    worker: str | None
    deadline_seconds: int | None
    cancel_requested: bool
    cron: bool
    error: str | None
    scheduled_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    updated_at: dt.datetime
    submitted_action: str | None = None  # DTR's name it was submitted with (``gc``)

    @property
    def name(self) -> str:
        """The action's name as it was submitted: what the API shows."""
        return self.submitted_action or self.action


def from_row(row: Any) -> Job:
    return Job(
        id=row.id,
        action=row.action,
        status=row.status,
        parameters=json.loads(row.parameters or "{}"),
        attempt=int(row.attempt),
        max_attempts=int(row.max_attempts),
        retry_from_id=row.retry_from_id,
        worker=row.worker,
        deadline_seconds=row.deadline_seconds,
        cancel_requested=bool(row.cancel_requested),
        cron=bool(row.cron),
        error=row.error,
        scheduled_at=as_utc(row.scheduled_at),
        started_at=as_utc(row.started_at) if row.started_at else None,
        ended_at=as_utc(row.ended_at) if row.ended_at else None,
        updated_at=as_utc(row.updated_at),
        submitted_action=row.submitted_action,
    )


COLUMNS = [c for c in jt.jobs.c if c.name != "seq"]


async def insert(
    conn: Connection,
    action: str,
    parameters: dict[str, Any],
    *,
    max_attempts: int,
    attempt: int = 1,
    retry_from_id: str | None = None,
    deadline_seconds: int | None = None,
    cron: bool = False,
    run_after: dt.datetime | None = None,
    submitted_action: str | None = None,
    scheduled_at: dt.datetime | None = None,
) -> str:
    """A waiting job row inside the caller's write transaction; returns its id. A job
    ``scheduled_at`` a later time runs no sooner than then."""
    now = utcnow()
    job_id = str(uuid.uuid4())
    await conn.execute(
        jt.jobs.insert().values(
            id=job_id,
            action=action,
            status="waiting",
            parameters=json.dumps(parameters),
            attempt=attempt,
            max_attempts=max_attempts,
            retry_from_id=retry_from_id,
            deadline_seconds=deadline_seconds,
            cron=cron,
            scheduled_at=scheduled_at or now,
            run_after=max(run_after or now, scheduled_at or now),
            updated_at=now,
            submitted_action=submitted_action,
        )
    )
    return job_id


async def enqueue(
    conn: Connection, action: str, parameters: dict[str, Any], *, max_attempts: int = 1
) -> str:
    """Queue a job inside the caller's write transaction (work that must exist exactly when
    the caller's change commits); returns its id."""
    return await insert(conn, action, parameters, max_attempts=max_attempts)


async def submit(
    db: Database,
    action: str,
    parameters: dict[str, Any] | None = None,
    *,
    retries: int = 0,
    deadline_seconds: int | None = None,
    submitted_action: str | None = None,
    scheduled_at: dt.datetime | None = None,
) -> Job:
    async with db.write() as conn:
        job_id = await insert(
            conn,
            action,
            parameters or {},
            max_attempts=retries + 1,
            deadline_seconds=deadline_seconds,
            submitted_action=submitted_action,
            scheduled_at=scheduled_at,
        )
    return await get(db, job_id)


async def get(db: Database, job_id: str) -> Job:
    async with db.read() as conn:
        row = (await conn.execute(select(*COLUMNS).where(jt.jobs.c.id == job_id))).first()
    if row is None:
        raise NoSuchJob(detail={"id": job_id})
    return from_row(row)


async def page(
    db: Database,
    *,
    action: str | None = None,
    worker: str | None = None,
    running: bool | None = None,
    start: str | None = None,
    limit: int = 100,
    offset: int | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first; ``start`` is the id of the first job of the page (Moorage's
    ``pageStart``), or ``offset`` the number of jobs before it (DTR's ``start``)."""
    query = select(jt.jobs.c.seq, *COLUMNS)
    if action:
        query = query.where(jt.jobs.c.action == action)
    if worker:
        query = query.where(jt.jobs.c.worker == worker)
    if running is True:
        query = query.where(jt.jobs.c.status == "running")
    elif running is False:
        query = query.where(jt.jobs.c.status != "running")
    async with db.read() as conn:
        if start:
            seq = (await conn.execute(select(jt.jobs.c.seq).where(jt.jobs.c.id == start))).scalar()
            if seq is None:
                raise InvalidInput("pageStart names no job", detail={"pageStart": start[:100]})
            query = query.where(jt.jobs.c.seq <= seq)
        query = query.order_by(jt.jobs.c.seq.desc()).limit(limit + 1)
        if offset:
            query = query.offset(offset)
        rows = list(await conn.execute(query))
    nxt = rows[limit].id if len(rows) > limit else None
    return [from_row(r) for r in rows[:limit]], nxt


async def remove(db: Database, job_id: str) -> None:
    """Delete the job and its log (DTR's DELETE): a running one's worker finds its lease gone
    at its next renewal and stops the action, recording nothing."""
    async with db.write() as conn:
        row = (await conn.execute(select(jt.jobs.c.status).where(jt.jobs.c.id == job_id))).first()
        if row is None:
            raise NoSuchJob(detail={"id": job_id})
        await conn.execute(delete(jt.job_logs).where(jt.job_logs.c.job_id == job_id))
        await conn.execute(delete(jt.jobs).where(jt.jobs.c.id == job_id))


async def cancel(db: Database, job_id: str) -> Job:
    """A waiting job is canceled at once; a running one when its worker next renews its lease."""
    now = utcnow()
    async with db.write() as conn:
        row = (await conn.execute(select(jt.jobs.c.status).where(jt.jobs.c.id == job_id))).first()
        if row is None:
            raise NoSuchJob(detail={"id": job_id})
        if row.status == "waiting":
            await conn.execute(
                update(jt.jobs)
                .where(and_(jt.jobs.c.id == job_id, jt.jobs.c.status == "waiting"))
                .values(status="canceled", ended_at=now, updated_at=now, cancel_requested=True)
            )
        elif row.status == "running":
            await conn.execute(
                update(jt.jobs)
                .where(jt.jobs.c.id == job_id)
                .values(cancel_requested=True, updated_at=now)
            )
    return await get(db, job_id)


async def compact(db: Database, *, max_age: dt.timedelta, keep: int) -> int:
    """Delete finished jobs older than ``max_age`` beyond the newest ``keep`` (jobHistory*)."""
    cutoff = utcnow() - max_age
    async with db.write() as conn:
        newest = (
            await conn.execute(select(jt.jobs.c.seq).order_by(jt.jobs.c.seq.desc()).offset(keep))
        ).first()
        if newest is None:
            return 0
        victims = select(jt.jobs.c.id).where(
            and_(
                jt.jobs.c.status.in_(FINISHED),
                jt.jobs.c.ended_at < cutoff,
                jt.jobs.c.seq <= newest.seq,
            )
        )
        await conn.execute(delete(jt.job_logs).where(jt.job_logs.c.job_id.in_(victims)))
        result = await conn.execute(
            delete(jt.jobs).where(
                and_(
                    jt.jobs.c.status.in_(FINISHED),
                    jt.jobs.c.ended_at < cutoff,
                    jt.jobs.c.seq <= newest.seq,
                )
            )
        )
    return int(result.rowcount)
