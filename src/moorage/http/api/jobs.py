"""DTR's jobrunner API (system administrators only): ``/api/v0/jobs``, ``/api/v0/crons``,
``/api/v0/workers``.

A deadline's Go duration is parsed by ``durationpy``; the one check written here is that the
text holds nothing but its terms (digits, a point, units), since ``durationpy`` skips over
whatever lies between two terms."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import durationpy
from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from moorage.errors import InvalidInput
from moorage.http.api.common import Admin, Db, PageSize, PageStart, next_page
from moorage.http.api.models.jobs import (
    Cron,
    CronList,
    Job,
    JobList,
    JobLogLine,
    Worker,
    WorkerList,
)
from moorage.http.services import services
from moorage.jobs.actions import KNOWN
from moorage.jobs.gc import validate as validate_gc
from moorage.jobs.scan import validate as validate_scan
from moorage.queue import crons, jobs, workers
from moorage.queue.job_logs import read as read_logs

router = APIRouter(tags=["jobs"])
WORKER_STALE = dt.timedelta(seconds=30)
MAX_DEADLINE = 2**31 - 1  # seconds: the deadline column is a 32-bit integer
# What a Go duration is written with: digits, a point, the units' letters (µ and μ of µs).
_DURATION_CHARACTERS = frozenset("0123456789.abcdefghijklmnopqrstuvwxyzµμ")


def _action(name: Any) -> str:
    if not isinstance(name, str) or name not in KNOWN:
        raise InvalidInput(
            "unknown action", detail={"action": str(name)[:64], "known": sorted(KNOWN)}
        )
    return name


def _parameters(action: str, value: Any) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidInput("parameters must be an object")
    if action == "onlinegc":
        validate_gc(value)
    validate_scan(action, value)
    return value


def _deadline(value: Any) -> int | None:
    """DTR writes durations as Go does (``30m``, ``1h30m``, ``90s``; parsed by ``durationpy``,
    which also takes fractions, ``ms`` and the like, and ``d`` and ``w``); plain seconds also do.
    The text must be nothing but terms of a number and a unit (``durationpy`` itself skips over
    what lies between its terms, as in ``1h 30m``), and come to whole seconds within the
    column's range; nothing, zero or ``0s`` is no deadline."""
    if not isinstance(value, bool) and value in (None, "", 0):
        return None
    refused = InvalidInput("deadline must be a duration like 30m or 1h", detail={"deadline": value})
    seconds: float
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value  # (an int: no float overflows on a huge one)
    elif isinstance(value, str):
        text = value.strip()
        if not text or not set(text) <= _DURATION_CHARACTERS:
            raise refused
        try:
            seconds = round(durationpy.from_str(text).total_seconds(), 3)  # (sums in floats)
        except ValueError as exc:
            raise refused from exc
        if seconds != int(seconds):
            raise InvalidInput(
                "deadline must be a whole number of seconds", detail={"deadline": value}
            )
    else:
        raise refused
    if seconds < 0:
        raise refused
    if seconds > MAX_DEADLINE:
        raise InvalidInput(
            f"deadline must be at most {MAX_DEADLINE} seconds", detail={"deadline": value}
        )
    return int(seconds) or None


def _retries(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or not 0 <= value <= 20:
        raise InvalidInput("retries must be an integer from 0 to 20")
    return value


def _running(value: str | None) -> bool | None:
    if value is None or value in ("", "any"):
        return None
    if value in ("true", "1", "running"):
        return True
    if value in ("false", "0", "stopped"):
        return False
    raise InvalidInput("running is true, false or any")


@router.get("/jobs")
async def list_jobs(
    db: Db,
    principal: Admin,
    response: Response,
    action: str | None = None,
    worker: str | None = None,
    running: str | None = None,
    page_start: PageStart = None,
    page_size: PageSize = 100,
) -> JobList:
    found, nxt = await jobs.page(
        db,
        action=action,
        worker=worker,
        running=_running(running),
        start=page_start,
        limit=page_size,
    )
    next_page(response, nxt)
    return JobList(jobs=[Job.of(j) for j in found])


@router.post("/jobs", status_code=202)
async def create_job(
    request: Request, db: Db, principal: Admin, body: Annotated[dict[str, Any], Body()]
) -> Job:
    action = _action(body.get("action"))
    job = await jobs.submit(
        db,
        action,
        _parameters(action, body.get("parameters")),
        retries=_retries(body.get("retries")),
        deadline_seconds=_deadline(body.get("deadline")),
    )
    services(request).poke_jobs()
    return Job.of(job)


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, db: Db, principal: Admin) -> Job:
    return Job.of(await jobs.get(db, job_id))


@router.delete("/jobs/{job_id}", status_code=204)
async def delete_job(job_id: str, db: Db, principal: Admin) -> Response:
    await jobs.remove(db, job_id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, db: Db, principal: Admin) -> Job:
    return Job.of(await jobs.cancel(db, job_id))


@router.get("/jobs/{job_id}/logs")
async def job_logs(
    job_id: str,
    db: Db,
    principal: Admin,
    start: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[JobLogLine]:
    return [JobLogLine.of(line) for line in await read_logs(db, job_id, start=start, limit=limit)]


@router.get("/crons")
async def list_crons(db: Db, principal: Admin) -> CronList:
    return CronList(crons=[Cron.of(c) for c in await crons.listing(db)])


@router.post("/crons", status_code=201)
async def set_cron(
    request: Request, db: Db, principal: Admin, body: Annotated[dict[str, Any], Body()]
) -> Cron:
    action = _action(body.get("action"))
    schedule = body.get("schedule")
    if not isinstance(schedule, str):
        raise InvalidInput("schedule must be a cron expression")
    cron = await crons.put(
        db,
        crons.Cron(
            action=action,
            schedule=schedule,
            parameters=_parameters(action, body.get("parameters")),
            retries=_retries(body.get("retries")),
            deadline_seconds=_deadline(body.get("deadline")),
        ),
    )
    services(request).poke_jobs()
    return Cron.of(cron)


@router.get("/crons/{action}")
async def get_cron(action: str, db: Db, principal: Admin) -> Cron:
    return Cron.of(await crons.get(db, action))


@router.delete("/crons/{action}", status_code=204)
async def delete_cron(action: str, db: Db, principal: Admin) -> Response:
    await crons.remove(db, action)
    return Response(status_code=204)


@router.get("/workers")
async def list_workers(db: Db, principal: Admin) -> WorkerList:
    found = await workers.listing(db, stale_after=WORKER_STALE)
    return WorkerList(workers=[Worker.of(w) for w in found])
