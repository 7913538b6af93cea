"""The job queue in SQL: jobs, their log lines, schedules (crons) and the workers' heartbeats.

A job is one attempt: ``waiting → running → done | errored | canceled | worker_dead``. A retry is a
new row (``retry_from_id`` names the attempt before it, as DTR's ``retryFromID``), run no sooner
than its backoff allows.

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
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, true, update

from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import Conflict, InvalidInput, NotFound
from moorage.jobs import schedules

STATUSES = ("waiting", "running", "done", "errored", "canceled", "worker_dead")
FINISHED = ("done", "errored", "canceled", "worker_dead")
# A job whose worker died runs again at least this many times in all, whatever its retries.
DEAD_ATTEMPTS = 3
BACKOFF_BASE = 2.0
BACKOFF_MAX = 300.0
MAX_LOG_LINE = 4000


class NoSuchJob(NotFound):
    code, default_message = "NO_SUCH_JOB", "no such job"


class NoSuchCron(NotFound):
    code, default_message = "NO_SUCH_CRON", "no such cron"


def backoff(attempt: int) -> dt.timedelta:
    """Wait before attempt ``attempt + 1``."""
    return dt.timedelta(seconds=min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempt - 1)))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


def _duration(seconds: int | None) -> str:
    return "" if not seconds else f"{seconds}s"


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

    def wire(self) -> dict[str, Any]:
        """DTR's job shape, plus the times and error Moorage records."""
        return {
            "id": self.id,
            "retryFromID": self.retry_from_id or "",
            "workerID": self.worker or "",
            "status": self.status,
            "scheduledAt": _iso(self.scheduled_at),
            "lastUpdated": _iso(self.updated_at),
            "startedAt": _iso(self.started_at),
            "endedAt": _iso(self.ended_at),
            "action": self.action,
            "retriesLeft": max(0, self.max_attempts - self.attempt),
            "retriesTotal": self.max_attempts - 1,
            "attempt": self.attempt,
            "capacityMap": {},
            "parameters": self.parameters,
            "deadline": _duration(self.deadline_seconds),
            "stopTimeout": "",
            "cancelRequested": self.cancel_requested,
            "cron": self.cron,
            "error": self.error or "",
        }


def _job(row: Any) -> Job:
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
    )


_JOB_COLUMNS = [c for c in t.jobs.c if c.name != "seq"]


async def _insert(
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
) -> str:
    now = utcnow()
    job_id = str(uuid.uuid4())
    await conn.execute(
        t.jobs.insert().values(
            id=job_id,
            action=action,
            status="waiting",
            parameters=json.dumps(parameters),
            attempt=attempt,
            max_attempts=max_attempts,
            retry_from_id=retry_from_id,
            deadline_seconds=deadline_seconds,
            cron=cron,
            scheduled_at=now,
            run_after=run_after or now,
            updated_at=now,
        )
    )
    return job_id


async def submit(
    db: Database,
    action: str,
    parameters: dict[str, Any] | None = None,
    *,
    retries: int = 0,
    deadline_seconds: int | None = None,
) -> Job:
    async with db.write() as conn:
        job_id = await _insert(
            conn,
            action,
            parameters or {},
            max_attempts=retries + 1,
            deadline_seconds=deadline_seconds,
        )
    return await get(db, job_id)


async def get(db: Database, job_id: str) -> Job:
    async with db.read() as conn:
        row = (await conn.execute(select(*_JOB_COLUMNS).where(t.jobs.c.id == job_id))).first()
    if row is None:
        raise NoSuchJob(detail={"id": job_id})
    return _job(row)


async def page(
    db: Database,
    *,
    action: str | None = None,
    worker: str | None = None,
    running: bool | None = None,
    start: str | None = None,
    limit: int = 100,
) -> tuple[list[Job], str | None]:
    """Newest first; ``start`` is the id of the first job of the page."""
    query = select(t.jobs.c.seq, *_JOB_COLUMNS)
    if action:
        query = query.where(t.jobs.c.action == action)
    if worker:
        query = query.where(t.jobs.c.worker == worker)
    if running is True:
        query = query.where(t.jobs.c.status == "running")
    elif running is False:
        query = query.where(t.jobs.c.status != "running")
    async with db.read() as conn:
        if start:
            seq = (await conn.execute(select(t.jobs.c.seq).where(t.jobs.c.id == start))).scalar()
            if seq is None:
                raise InvalidInput("pageStart names no job", detail={"pageStart": start[:100]})
            query = query.where(t.jobs.c.seq <= seq)
        rows = list(await conn.execute(query.order_by(t.jobs.c.seq.desc()).limit(limit + 1)))
    nxt = rows[limit].id if len(rows) > limit else None
    return [_job(r) for r in rows[:limit]], nxt


async def remove(db: Database, job_id: str) -> None:
    async with db.write() as conn:
        row = (await conn.execute(select(t.jobs.c.status).where(t.jobs.c.id == job_id))).first()
        if row is None:
            raise NoSuchJob(detail={"id": job_id})
        if row.status == "running":
            raise Conflict("a running job cannot be deleted; cancel it first")
        await conn.execute(delete(t.job_logs).where(t.job_logs.c.job_id == job_id))
        await conn.execute(delete(t.jobs).where(t.jobs.c.id == job_id))


async def cancel(db: Database, job_id: str) -> Job:
    """A waiting job is canceled at once; a running one when its worker next renews its lease."""
    now = utcnow()
    async with db.write() as conn:
        row = (await conn.execute(select(t.jobs.c.status).where(t.jobs.c.id == job_id))).first()
        if row is None:
            raise NoSuchJob(detail={"id": job_id})
        if row.status == "waiting":
            await conn.execute(
                update(t.jobs)
                .where(and_(t.jobs.c.id == job_id, t.jobs.c.status == "waiting"))
                .values(status="canceled", ended_at=now, updated_at=now, cancel_requested=True)
            )
        elif row.status == "running":
            await conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(cancel_requested=True, updated_at=now)
            )
    return await get(db, job_id)


# ---- logs ------------------------------------------------------------------------------------


async def append_log(db: Database, job_id: str, line: int, data: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            t.job_logs.insert().values(
                job_id=job_id, line=line, created_at=utcnow(), data=data[:MAX_LOG_LINE]
            )
        )


async def logs(
    db: Database, job_id: str, *, start: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    async with db.read() as conn:
        if (await conn.execute(select(t.jobs.c.id).where(t.jobs.c.id == job_id))).first() is None:
            raise NoSuchJob(detail={"id": job_id})
        rows = await conn.execute(
            select(t.job_logs)
            .where(and_(t.job_logs.c.job_id == job_id, t.job_logs.c.line >= start))
            .order_by(t.job_logs.c.line)
            .limit(limit)
        )
        return [
            {"jobID": job_id, "lineNum": r.line, "ts": _iso(r.created_at), "data": r.data}
            for r in rows
        ]


# ---- the worker's side -----------------------------------------------------------------------


async def has_work(db: Database, actions: list[str]) -> bool:
    """A read first, so idle workers do not take the write lock every poll."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(t.jobs.c.seq)
                .where(
                    and_(
                        t.jobs.c.status == "waiting",
                        t.jobs.c.run_after <= utcnow(),
                        t.jobs.c.action.in_(actions),
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
        select(t.jobs.c.id)
        .where(
            and_(
                t.jobs.c.status == "waiting",
                t.jobs.c.run_after <= now,
                t.jobs.c.action.in_(actions),
            )
        )
        .order_by(t.jobs.c.run_after, t.jobs.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(t.jobs)
                .where(and_(t.jobs.c.id == candidate, t.jobs.c.status == "waiting"))
                .values(
                    status="running",
                    worker=worker[:255],
                    lease_until=now + lease,
                    started_at=now,
                    updated_at=now,
                )
                .returning(*_JOB_COLUMNS)
            )
        ).first()
    return None if row is None else _job(row)


async def renew(db: Database, job_id: str, worker: str, lease: dt.timedelta) -> str:
    """Extend the lease: ``ok``, ``cancel`` (cancellation asked) or ``lost`` (no longer ours)."""
    now = utcnow()
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(t.jobs)
                .where(
                    and_(
                        t.jobs.c.id == job_id,
                        t.jobs.c.worker == worker,
                        t.jobs.c.status == "running",
                    )
                )
                .values(lease_until=now + lease, updated_at=now)
                .returning(t.jobs.c.cancel_requested)
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
                update(t.jobs)
                .where(
                    and_(
                        t.jobs.c.id == job.id,
                        t.jobs.c.worker == worker,
                        t.jobs.c.status == "running",
                    )
                )
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
            update(t.jobs)
            .where(
                and_(t.jobs.c.id == job.id, t.jobs.c.worker == worker, t.jobs.c.status == "running")
            )
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


async def enqueue(
    conn: Connection, action: str, parameters: dict[str, Any], *, max_attempts: int = 1
) -> str:
    """Queue a job inside the caller's write transaction (work that must exist exactly when
    the caller's change commits); returns its id."""
    return await _insert(conn, action, parameters, max_attempts=max_attempts)


async def last_log_line(db: Database, job_id: str) -> int:
    async with db.read() as conn:
        found = (
            await conn.execute(
                select(func.max(t.job_logs.c.line)).where(t.job_logs.c.job_id == job_id)
            )
        ).scalar()
    return int(found or 0)


async def _retry(conn: Connection, job: Job, now: dt.datetime) -> str:
    return await _insert(
        conn,
        job.action,
        job.parameters,
        max_attempts=job.max_attempts,
        attempt=job.attempt + 1,
        retry_from_id=job.id,
        deadline_seconds=job.deadline_seconds,
        cron=job.cron,
        run_after=now + backoff(job.attempt),
    )


async def reap(db: Database) -> list[str]:
    """Mark running jobs whose lease expired ``worker_dead`` and queue their retries."""
    now = utcnow()
    async with db.read() as conn:
        stale = (
            await conn.execute(
                select(func.count())
                .select_from(t.jobs)
                .where(and_(t.jobs.c.status == "running", t.jobs.c.lease_until < now))
            )
        ).scalar_one()
    if not stale:
        return []
    async with db.write() as conn:
        rows = list(
            await conn.execute(
                update(t.jobs)
                .where(and_(t.jobs.c.status == "running", t.jobs.c.lease_until < now))
                .values(
                    status="worker_dead",
                    error="the worker stopped renewing its lease",
                    ended_at=now,
                    lease_until=None,
                    updated_at=now,
                )
                .returning(*_JOB_COLUMNS)
            )
        )
        for row in rows:
            job = _job(row)
            if job.attempt < max(DEAD_ATTEMPTS, job.max_attempts):
                await _retry(conn, job, now)
    return [r.id for r in rows]


async def compact(db: Database, *, max_age: dt.timedelta, keep: int) -> int:
    """Delete finished jobs older than ``max_age`` beyond the newest ``keep`` (jobHistory*)."""
    cutoff = utcnow() - max_age
    async with db.write() as conn:
        newest = (
            await conn.execute(select(t.jobs.c.seq).order_by(t.jobs.c.seq.desc()).offset(keep))
        ).first()
        if newest is None:
            return 0
        victims = select(t.jobs.c.id).where(
            and_(
                t.jobs.c.status.in_(FINISHED),
                t.jobs.c.ended_at < cutoff,
                t.jobs.c.seq <= newest.seq,
            )
        )
        await conn.execute(delete(t.job_logs).where(t.job_logs.c.job_id.in_(victims)))
        result = await conn.execute(
            delete(t.jobs).where(
                and_(
                    t.jobs.c.status.in_(FINISHED),
                    t.jobs.c.ended_at < cutoff,
                    t.jobs.c.seq <= newest.seq,
                )
            )
        )
    return int(result.rowcount)


# ---- workers ---------------------------------------------------------------------------------


async def heartbeat(db: Database, worker: str, capacity: int, status: str = "running") -> None:
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            db.insert(t.job_workers)
            .values(
                id=worker[:255], capacity=capacity, status=status, started_at=now, heartbeat_at=now
            )
            .on_conflict_do_update(
                index_elements=["id"],
                set_={"capacity": capacity, "status": status, "heartbeat_at": now},
            )
        )


async def workers(db: Database, *, stale_after: dt.timedelta) -> list[dict[str, Any]]:
    now = utcnow()
    async with db.read() as conn:
        rows = list(await conn.execute(select(t.job_workers).order_by(t.job_workers.c.id)))
        busy = {
            r.worker: int(r.n)
            for r in await conn.execute(
                select(t.jobs.c.worker, func.count().label("n"))
                .where(t.jobs.c.status == "running")
                .group_by(t.jobs.c.worker)
            )
        }
    out = []
    for r in rows:
        status = r.status
        if status == "running" and as_utc(r.heartbeat_at) < now - stale_after:
            status = "unreachable"
        out.append(
            {
                "id": r.id,
                "status": status,
                "capacityMap": {"any": int(r.capacity)},
                "running": busy.get(r.id, 0),
                "heartbeat": _iso(r.heartbeat_at),
                "upSince": _iso(r.started_at),
            }
        )
    return out


async def forget_workers(db: Database, *, older_than: dt.timedelta) -> None:
    async with db.write() as conn:
        await conn.execute(
            delete(t.job_workers).where(t.job_workers.c.heartbeat_at < utcnow() - older_than)
        )


# ---- crons -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cron:
    action: str
    schedule: str
    parameters: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    deadline_seconds: int | None = None
    next_run: dt.datetime | None = None
    last_job_id: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "schedule": self.schedule,
            "retries": self.retries,
            "capacityMap": {},
            "parameters": self.parameters,
            "deadline": _duration(self.deadline_seconds),
            "stopTimeout": "",
            "nextRun": _iso(self.next_run),
            "lastJobID": self.last_job_id or "",
        }


def _cron(row: Any) -> Cron:
    return Cron(
        action=row.action,
        schedule=row.schedule,
        parameters=json.loads(row.parameters or "{}"),
        retries=int(row.retries),
        deadline_seconds=row.deadline_seconds,
        next_run=as_utc(row.next_run),
        last_job_id=row.last_job_id,
    )


async def set_cron(db: Database, cron: Cron) -> Cron:
    schedule = schedules.validate(cron.schedule)
    now = utcnow()
    values = {
        "schedule": schedule,
        "parameters": json.dumps(cron.parameters),
        "retries": cron.retries,
        "deadline_seconds": cron.deadline_seconds,
        "next_run": schedules.next_run(schedule, now),
        "updated_at": now,
    }
    async with db.write() as conn:
        await conn.execute(
            db.insert(t.crons)
            .values(action=cron.action, created_at=now, **values)
            .on_conflict_do_update(index_elements=["action"], set_=values)
        )
    return await get_cron(db, cron.action)


async def get_cron(db: Database, action: str) -> Cron:
    async with db.read() as conn:
        row = (await conn.execute(select(t.crons).where(t.crons.c.action == action))).first()
    if row is None:
        raise NoSuchCron(detail={"action": action})
    return _cron(row)


async def list_crons(db: Database) -> list[Cron]:
    async with db.read() as conn:
        return [_cron(r) for r in await conn.execute(select(t.crons).order_by(t.crons.c.action))]


async def delete_cron(db: Database, action: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(delete(t.crons).where(t.crons.c.action == action))
    if result.rowcount == 0:
        raise NoSuchCron(detail={"action": action})


async def fire_due_crons(db: Database) -> list[str]:
    """Queue a job for every cron that is due. Moving ``next_run`` forward and inserting the job
    happen in one write transaction guarded by ``next_run <= now``, so one process fires each."""
    now = utcnow()
    async with db.read() as conn:
        due = [
            _cron(r) for r in await conn.execute(select(t.crons).where(t.crons.c.next_run <= now))
        ]
    fired: list[str] = []
    for cron in due:
        async with db.write() as conn:
            job_id = str(uuid.uuid4())
            moved = await conn.execute(
                update(t.crons)
                .where(and_(t.crons.c.action == cron.action, t.crons.c.next_run <= now))
                .values(next_run=schedules.next_run(cron.schedule, now), updated_at=now)
            )
            if moved.rowcount == 0:
                continue
            # A scheduled job never piles up: skip when the previous one has not finished.
            busy = (
                await conn.execute(
                    select(func.count())
                    .select_from(t.jobs)
                    .where(
                        and_(
                            t.jobs.c.action == cron.action,
                            t.jobs.c.cron == true(),
                            or_(t.jobs.c.status == "waiting", t.jobs.c.status == "running"),
                        )
                    )
                )
            ).scalar_one()
            if busy:
                continue
            await conn.execute(
                t.jobs.insert().values(
                    id=job_id,
                    action=cron.action,
                    status="waiting",
                    parameters=json.dumps(cron.parameters),
                    attempt=1,
                    max_attempts=cron.retries + 1,
                    deadline_seconds=cron.deadline_seconds,
                    cron=True,
                    scheduled_at=now,
                    run_after=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                update(t.crons).where(t.crons.c.action == cron.action).values(last_job_id=job_id)
            )
            fired.append(job_id)
    return fired


async def next_cron_due(db: Database) -> dt.datetime | None:
    async with db.read() as conn:
        value = (await conn.execute(select(func.min(t.crons.c.next_run)))).scalar()
    return None if value is None else as_utc(value)
