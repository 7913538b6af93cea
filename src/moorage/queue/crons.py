"""Crons (DTR's schedules): one per action, its cron expression, and firing the due ones.

Expressions are croniter's: five fields, or six with seconds first as DTR's (robfig/cron).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter
from sqlalchemy import and_, delete, func, or_, select, true, update

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import InvalidInput, NotFound


class NoSuchCron(NotFound):
    code, default_message = "NO_SUCH_CRON", "no such cron"


def _seconds_first(expression: str) -> bool:
    return len(expression.split()) == 6


def validate(expression: str) -> str:
    expression = " ".join(expression.split())
    fields = len(expression.split())
    if fields not in (5, 6) or not croniter.is_valid(
        expression, second_at_beginning=_seconds_first(expression)
    ):
        raise InvalidInput(
            "schedule must be a cron expression of 5 fields, or 6 with seconds first",
            detail={"schedule": expression[:255]},
        )
    return expression


def next_run(expression: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` the expression names (UTC)."""
    it = croniter(expression, after, second_at_beginning=_seconds_first(expression))
    nxt: dt.datetime = it.get_next(dt.datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Cron:
    action: str
    schedule: str
    parameters: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    deadline_seconds: int | None = None
    next_run: dt.datetime | None = None
    last_job_id: str | None = None


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


async def put(db: Database, cron: Cron) -> Cron:
    """Create or replace the action's cron; its next run is computed from now."""
    schedule = validate(cron.schedule)
    now = utcnow()
    values = {
        "schedule": schedule,
        "parameters": json.dumps(cron.parameters),
        "retries": cron.retries,
        "deadline_seconds": cron.deadline_seconds,
        "next_run": next_run(schedule, now),
        "updated_at": now,
    }
    async with db.write() as conn:
        await conn.execute(
            db.insert(jt.crons)
            .values(action=cron.action, created_at=now, **values)
            .on_conflict_do_update(index_elements=["action"], set_=values)
        )
    return await get(db, cron.action)


async def get(db: Database, action: str) -> Cron:
    async with db.read() as conn:
        row = (await conn.execute(select(jt.crons).where(jt.crons.c.action == action))).first()
    if row is None:
        raise NoSuchCron(detail={"action": action})
    return _cron(row)


async def listing(db: Database) -> list[Cron]:
    async with db.read() as conn:
        return [_cron(r) for r in await conn.execute(select(jt.crons).order_by(jt.crons.c.action))]


async def remove(db: Database, action: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(delete(jt.crons).where(jt.crons.c.action == action))
    if result.rowcount == 0:
        raise NoSuchCron(detail={"action": action})


async def fire_due(db: Database) -> list[str]:
    """Queue a job for every cron that is due. Moving ``next_run`` forward and inserting the job
    happen in one write transaction guarded by ``next_run <= now``, so one process fires each."""
    now = utcnow()
    async with db.read() as conn:
        due = [
            _cron(r) for r in await conn.execute(select(jt.crons).where(jt.crons.c.next_run <= now))
        ]
    fired: list[str] = []
    for cron in due:
        async with db.write() as conn:
            job_id = str(uuid.uuid4())
            moved = await conn.execute(
                update(jt.crons)
                .where(and_(jt.crons.c.action == cron.action, jt.crons.c.next_run <= now))
                .values(next_run=next_run(cron.schedule, now), updated_at=now)
            )
            if moved.rowcount == 0:
                continue
            # A scheduled job never piles up: skip when the previous one has not finished.
            busy = (
                await conn.execute(
                    select(func.count())
                    .select_from(jt.jobs)
                    .where(
                        and_(
                            jt.jobs.c.action == cron.action,
                            jt.jobs.c.cron == true(),
                            or_(jt.jobs.c.status == "waiting", jt.jobs.c.status == "running"),
                        )
                    )
                )
            ).scalar_one()
            if busy:
                continue
            await conn.execute(
                jt.jobs.insert().values(
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
                update(jt.crons).where(jt.crons.c.action == cron.action).values(last_job_id=job_id)
            )
            fired.append(job_id)
    return fired
