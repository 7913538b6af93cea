"""A job's log lines: what a running action writes and what readers page through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import DateTime, String, Text, and_, exists, func, literal, select

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc, utcnow
from moorage.queue.jobs import NoSuchJob

MAX_LOG_LINE = 4000


async def append(db: Database, job_id: str, line: int, data: str) -> None:
    """One line of the job's log; none once the job is deleted (its action may still be
    stopping)."""
    values = select(
        literal(job_id, String),
        literal(line),
        literal(utcnow(), DateTime(timezone=True)),
        literal(data[:MAX_LOG_LINE], Text),
    ).where(exists().where(jt.jobs.c.id == job_id))
    async with db.write() as conn:
        await conn.execute(
            jt.job_logs.insert().from_select(["job_id", "line", "created_at", "data"], values)
        )


@dataclass(frozen=True, slots=True)
class LogLine:
    job_id: str
    line: int
    at: dt.datetime
    data: str


async def read(db: Database, job_id: str, *, start: int = 0, limit: int = 1000) -> list[LogLine]:
    async with db.read() as conn:
        if (await conn.execute(select(jt.jobs.c.id).where(jt.jobs.c.id == job_id))).first() is None:
            raise NoSuchJob(detail={"id": job_id})
        rows = await conn.execute(
            select(jt.job_logs)
            .where(and_(jt.job_logs.c.job_id == job_id, jt.job_logs.c.line >= start))
            .order_by(jt.job_logs.c.line)
            .limit(limit)
        )
        return [LogLine(job_id, r.line, as_utc(r.created_at), r.data) for r in rows]


async def last_line(db: Database, job_id: str) -> int:
    async with db.read() as conn:
        found = (
            await conn.execute(
                select(func.max(jt.job_logs.c.line)).where(jt.job_logs.c.job_id == job_id)
            )
        ).scalar()
    return int(found or 0)
