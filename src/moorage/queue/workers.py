"""The workers' heartbeats: who runs jobs, with what capacity, and who stopped answering."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc, utcnow


async def heartbeat(db: Database, worker: str, capacity: int, status: str = "running") -> None:
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            db.insert(jt.job_workers)
            .values(
                id=worker[:255], capacity=capacity, status=status, started_at=now, heartbeat_at=now
            )
            .on_conflict_do_update(
                index_elements=["id"],
                set_={"capacity": capacity, "status": status, "heartbeat_at": now},
            )
        )


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker as its heartbeats show it (``unreachable``: running, but silent too long)."""

    id: str
    status: str
    capacity: int
    running: int
    heartbeat_at: dt.datetime
    started_at: dt.datetime


async def listing(db: Database, *, stale_after: dt.timedelta) -> list[Worker]:
    now = utcnow()
    async with db.read() as conn:
        rows = list(await conn.execute(select(jt.job_workers).order_by(jt.job_workers.c.id)))
        busy = {
            r.worker: int(r.n)
            for r in await conn.execute(
                select(jt.jobs.c.worker, func.count().label("n"))
                .where(jt.jobs.c.status == "running")
                .group_by(jt.jobs.c.worker)
            )
        }
    out = []
    for r in rows:
        status = r.status
        if status == "running" and as_utc(r.heartbeat_at) < now - stale_after:
            status = "unreachable"
        out.append(
            Worker(
                id=r.id,
                status=status,
                capacity=int(r.capacity),
                running=busy.get(r.id, 0),
                heartbeat_at=as_utc(r.heartbeat_at),
                started_at=as_utc(r.started_at),
            )
        )
    return out


async def forget(db: Database, *, older_than: dt.timedelta) -> None:
    async with db.write() as conn:
        await conn.execute(
            delete(jt.job_workers).where(jt.job_workers.c.heartbeat_at < utcnow() - older_than)
        )
