"""Crons (DTR's schedules): one per action, its schedule, and firing the due ones.

A schedule is a cron expression (croniter's: five fields, or six with seconds first as DTR's
robfig/cron writes them) or ``@every <duration>`` (robfig/cron's fixed interval: ``@every 15m``,
``@every 1h30m``, ``@every 3600s``; the duration is parsed by ``durationpy``, Go's units and also
``d`` and ``w``). An ``@every`` cron's first run is one interval after it is put; each later one
is the previous firing plus the interval (the first such time still ahead when a runner pass
comes late), computed from the stored ``next_run``, so every replica keeps the same phase. The
interval is whole seconds, at least ``MIN_EVERY`` and at most ``MAX_EVERY``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import durationpy
from croniter import croniter
from sqlalchemy import and_, delete, func, or_, select, true, update

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import InvalidInput, NotFound

EVERY = "@every"
MIN_EVERY = dt.timedelta(seconds=1)
MAX_EVERY = dt.timedelta(days=366)
MAX_SCHEDULE = 255  # characters (the column's size)


class NoSuchCron(NotFound):
    code, default_message = "NO_SUCH_CRON", "no such cron"


def _seconds_first(expression: str) -> bool:
    return len(expression.split()) == 6


def _refuse(message: str, expression: str) -> InvalidInput:
    return InvalidInput(message, detail={"schedule": expression[:MAX_SCHEDULE]})


def _parse_every(expression: str) -> dt.timedelta:
    """The interval of a (whitespace-normalized) ``@every`` expression; InvalidInput otherwise."""
    text = expression.removeprefix(EVERY).strip()
    shape = f"{EVERY} needs one duration such as 15m, 1h30m or 3600s"
    if not text or " " in text:
        raise _refuse(shape, expression)
    try:
        period = durationpy.from_str(text)
    except ValueError as exc:
        raise _refuse(shape, expression) from exc
    if period <= dt.timedelta(0):
        raise _refuse(f"{EVERY} needs a duration greater than zero", expression)
    seconds = round(period.total_seconds(), 3)  # (durationpy adds in floats)
    if not MIN_EVERY.total_seconds() <= seconds <= MAX_EVERY.total_seconds():
        raise _refuse(
            f"{EVERY} needs a duration from {durationpy.to_str(MIN_EVERY)} "
            f"to {durationpy.to_str(MAX_EVERY)}",
            expression,
        )
    if seconds != int(seconds):
        raise _refuse(f"{EVERY} needs a whole number of seconds", expression)
    return dt.timedelta(seconds=int(seconds))


def validate(expression: str) -> str:
    """The expression with its whitespace normalized; InvalidInput when it is not a schedule."""
    expression = " ".join(expression.split())
    if len(expression) > MAX_SCHEDULE:
        raise _refuse(f"schedule must be at most {MAX_SCHEDULE} characters", expression)
    if expression == EVERY or expression.startswith(EVERY + " "):
        _parse_every(expression)
        return expression
    fields = len(expression.split())
    if fields not in (5, 6) or not croniter.is_valid(
        expression, second_at_beginning=_seconds_first(expression)
    ):
        raise _refuse(
            f"schedule must be a cron expression of 5 fields, or 6 with seconds first, "
            f"or {EVERY} <duration>",
            expression,
        )
    return expression


def interval(expression: str) -> dt.timedelta | None:
    """The fixed interval of an ``@every`` schedule; None for a cron expression."""
    expression = " ".join(expression.split())
    if expression == EVERY or expression.startswith(EVERY + " "):
        return _parse_every(expression)
    return None


def every(period: dt.timedelta) -> str:
    """The ``@every`` schedule of a fixed interval (validated: whole seconds, in range)."""
    return validate(f"{EVERY} {durationpy.to_str(period)}")


def next_run(expression: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` the schedule names (UTC); for ``@every``,
    ``after`` plus the interval."""
    period = interval(expression)
    if period is not None:
        return after + period
    it = croniter(expression, after, second_at_beginning=_seconds_first(expression))
    nxt: dt.datetime = it.get_next(dt.datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=dt.UTC)


def following(expression: str, fired: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The run after the one due at ``fired``, strictly after ``now``: for ``@every``,
    ``fired`` plus as many intervals as it takes (the phase never drifts, however late the
    pass that fires it); for a cron expression, its first time after ``now``."""
    period = interval(expression)
    if period is None:
        return next_run(expression, now)
    late = max(now - fired, dt.timedelta(0))
    return fired + period * (late // period + 1)


@dataclass(frozen=True, slots=True)
class Cron:
    action: str
    schedule: str
    parameters: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    deadline_seconds: int | None = None
    next_run: dt.datetime | None = None
    last_job_id: str | None = None
    id: str = ""  # DTR's cron id (a UUID), given when it is first put
    submitted_action: str | None = None  # DTR's name it was put with (``gc``)

    @property
    def name(self) -> str:
        """The action's name as it was put: what the API shows."""
        return self.submitted_action or self.action


def _cron(row: Any) -> Cron:
    return Cron(
        action=row.action,
        schedule=row.schedule,
        parameters=json.loads(row.parameters or "{}"),
        retries=int(row.retries),
        deadline_seconds=row.deadline_seconds,
        next_run=as_utc(row.next_run),
        last_job_id=row.last_job_id,
        id=row.id or "",
        submitted_action=row.submitted_action,
    )


async def put(db: Database, cron: Cron) -> Cron:
    """Create or replace the action's cron (its id stays); its next run is computed from
    now."""
    schedule = validate(cron.schedule)
    now = utcnow()
    values = {
        "schedule": schedule,
        "parameters": json.dumps(cron.parameters),
        "retries": cron.retries,
        "deadline_seconds": cron.deadline_seconds,
        "next_run": next_run(schedule, now),
        "updated_at": now,
        "submitted_action": cron.submitted_action,
    }
    async with db.write() as conn:
        await conn.execute(
            db.insert(jt.crons)
            .values(action=cron.action, created_at=now, id=str(uuid.uuid4()), **values)
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
    happen in one write transaction guarded by the ``next_run`` that was due, so one process
    fires each run, however many replicas pass at once."""
    now = utcnow()
    async with db.read() as conn:
        due = [
            (r.next_run, _cron(r))
            for r in await conn.execute(select(jt.crons).where(jt.crons.c.next_run <= now))
        ]
    fired: list[str] = []
    for seen, cron in due:
        assert cron.next_run is not None
        async with db.write() as conn:
            job_id = str(uuid.uuid4())
            # Guarded by the ``next_run`` read above: the one process that moves it fires.
            moved = await conn.execute(
                update(jt.crons)
                .where(and_(jt.crons.c.action == cron.action, jt.crons.c.next_run == seen))
                .values(next_run=following(cron.schedule, cron.next_run, now), updated_at=now)
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
                    submitted_action=cron.submitted_action,
                )
            )
            await conn.execute(
                update(jt.crons).where(jt.crons.c.action == cron.action).values(last_job_id=job_id)
            )
            fired.append(job_id)
    return fired
