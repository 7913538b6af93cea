"""DTR's jobrunner API (system administrators only): ``/api/v0/jobs``, ``/api/v0/crons``,
``/api/v0/workers``.

An action is named as DTR names it or as Moorage does (``moorage.jobs.actions.resolve``: DTR's
actions Moorage lacks are refused, saying what it has instead); a job or cron keeps the name it
was submitted with.

A deadline's Go duration is parsed by ``durationpy``; the one check written here is that the
text holds nothing but its terms (digits, a point, units), since ``durationpy`` skips over
whatever lies between two terms."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import durationpy
from fastapi import APIRouter, Body, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.errors import InvalidInput
from moorage.http.api.common import MAX_PAGE, Admin, Db, PageStart, next_page
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
from moorage.jobs.actions import DTR_NAMES, KNOWN, resolve
from moorage.jobs.gc import validate as validate_gc
from moorage.jobs.runner import STOP_GRACE
from moorage.jobs.scan import validate as validate_scan
from moorage.queue import crons, jobs, workers
from moorage.queue.job_logs import read as read_logs
from moorage.queue.jobs import NoSuchJob

router = APIRouter(tags=["jobs"])
JobID = Annotated[str, Path(alias="jobID")]  # DTR's name of the path parameter
WORKER_STALE = dt.timedelta(seconds=30)
DTR_PAGE = 10  # DTR's ``limit`` when none is given
MAX_LOG_PAGE = 10000
STREAM_FOR = 3600.0  # seconds a log stream stays open at most
STREAM_POLL = 0.5
MAX_DEADLINE = 2**31 - 1  # seconds: the deadline column is a 32-bit integer
# What a Go duration is written with: digits, a point, the units' letters (µ and μ of µs).
_DURATION_CHARACTERS = frozenset("0123456789.abcdefghijklmnopqrstuvwxyzµμ")


def _action(name: Any) -> tuple[str, str | None]:
    """Moorage's action and the DTR name to keep (``resolve``)."""
    return resolve(name)


def _filter_action(name: str | None) -> str | None:
    """A list's ``action`` filter: Moorage's action of a known name (DTR's ``gc`` lists every
    ``onlinegc`` job), the name itself otherwise (no job has it); ``any`` or nothing: none."""
    if name is None or name in ("", "any"):
        return None
    return DTR_NAMES.get(name, name)


def _capacity_map(action: str, submitted: str | None, value: Any) -> None:
    """A job takes one unit of its action's capacity on a worker; DTR's form may say so (or
    nothing), and any other need is refused rather than ignored."""
    if value in (None, {}):
        return
    names = {action, submitted or action}
    if not isinstance(value, dict) or not (set(value) <= names and set(value.values()) == {1}):
        raise InvalidInput(
            "a Moorage job takes one unit of its action's capacity on a worker: capacityMap "
            "may only be empty or name its own action with 1",
            detail={"capacityMap": value if isinstance(value, dict) else str(value)[:100]},
        )


def _stop_timeout(value: Any) -> None:
    """Moorage gives every action the same moment to stop (``runner.STOP_GRACE``)."""
    if value not in (None, ""):
        raise InvalidInput(
            f"Moorage gives every job {STOP_GRACE:g}s to stop once asked; stopTimeout "
            "cannot be set",
            detail={"stopTimeout": str(value)[:100]},
        )


def _scheduled_at(value: Any) -> dt.datetime | None:
    """DTR's ``scheduledAt``: RFC 3339 with a zone, nothing or empty for now."""
    if value in (None, ""):
        return None
    refused = InvalidInput(
        "scheduledAt must be an RFC 3339 time such as 2026-12-02T13:00:00Z",
        detail={"scheduledAt": str(value)[:100]},
    )
    if not isinstance(value, str):
        raise refused
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise refused from exc
    if when.tzinfo is None:
        raise refused
    return when.astimezone(dt.UTC)


def _parameters(action: str, value: Any, *, scanning_enabled: bool = True) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidInput("parameters must be an object")
    if action == "onlinegc":
        validate_gc(value)
    validate_scan(action, value, scanning_enabled=scanning_enabled)
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
    start: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page_start: PageStart = None,
    page_size: Annotated[int | None, Query(alias="pageSize", ge=1, le=MAX_PAGE)] = None,
) -> JobList:
    """DTR's paging (``start``: how many of the newest jobs to skip, ``limit``: 10 unless
    told); Moorage's ``pageStart``/``pageSize`` (a job id, ``X-Next-Page-Start``) also do."""
    keyset = page_start is not None or page_size is not None
    if keyset and start is not None:
        raise InvalidInput("page with start and limit, or with pageStart and pageSize")
    found, nxt = await jobs.page(
        db,
        action=_filter_action(action),
        worker=None if worker in (None, "", "any") else worker,
        running=_running(running),
        start=page_start,
        limit=(page_size or limit or 100) if keyset else (limit or DTR_PAGE),
        offset=None if keyset else start,
    )
    if keyset:
        next_page(response, nxt)
    return JobList(jobs=[Job.of(j) for j in found])


@router.post("/jobs", status_code=202)
async def create_job(
    request: Request, db: Db, principal: Admin, body: Annotated[dict[str, Any], Body()]
) -> Job:
    """DTR's ``JobSubmission``: ``action`` (DTR's name or Moorage's), ``parameters``,
    ``retries``, ``deadline``, ``scheduledAt``; ``capacityMap`` and ``stopTimeout`` as far
    as Moorage has them."""
    action, submitted = _action(body.get("action"))
    _capacity_map(action, submitted, body.get("capacityMap"))
    _stop_timeout(body.get("stopTimeout"))
    scanning = (await site_settings.load(db)).scanning_enabled  # scan jobs refused when off
    job = await jobs.submit(
        db,
        action,
        _parameters(action, body.get("parameters"), scanning_enabled=scanning),
        retries=_retries(body.get("retries")),
        deadline_seconds=_deadline(body.get("deadline")),
        submitted_action=submitted,
        scheduled_at=_scheduled_at(body.get("scheduledAt")),
    )
    services(request).poke_jobs()
    return Job.of(job)


@router.get("/jobs/{jobID}")
async def get_job(job_id: JobID, db: Db, principal: Admin) -> Job:
    return Job.of(await jobs.get(db, job_id))


@router.delete("/jobs/{jobID}", status_code=204)
async def delete_job(job_id: JobID, db: Db, principal: Admin) -> Response:
    """The job and its log go; a running job's worker stops it at its next lease renewal."""
    await jobs.remove(db, job_id)
    return Response(status_code=204)


@router.post("/jobs/{jobID}/cancel", status_code=204)
async def cancel_job(job_id: JobID, db: Db, principal: Admin) -> Response:
    await jobs.cancel(db, job_id)
    return Response(status_code=204)


@router.get("/jobs/{jobID}/logs", response_model=list[JobLogLine])
async def job_logs(
    job_id: JobID,
    db: Db,
    principal: Admin,
    offset: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=0, le=MAX_LOG_PAGE)] = 0,
    stream: bool = False,
    start: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """DTR's ``offset`` (the first line number), ``limit`` (0: every line) and ``stream``:
    the lines so far, then each new one as the job writes it, one JSON object a line, until
    the job ends (or ``STREAM_FOR`` passes). Moorage's ``start`` is ``offset``'s old name."""
    first = offset if offset is not None else (start or 0)
    if stream:
        await jobs.get(db, job_id)  # 404 before the answer starts
        return StreamingResponse(_stream(db, job_id, first), media_type="application/json")
    lines = await read_logs(db, job_id, start=first, limit=limit or MAX_LOG_PAGE)
    return Response(
        json.dumps([JobLogLine.of(line).model_dump(mode="json") for line in lines]),
        media_type="application/json",
    )


async def _stream(db: Database, job_id: str, line: int) -> AsyncIterator[bytes]:
    until = time.monotonic() + STREAM_FOR
    while True:
        try:
            ended = (await jobs.get(db, job_id)).status in jobs.FINISHED
            found = await read_logs(db, job_id, start=line, limit=MAX_LOG_PAGE)
        except NoSuchJob:
            return  # deleted meanwhile
        for entry in found:
            yield (JobLogLine.of(entry).model_dump_json() + "\n").encode()
            line = entry.line + 1
        if len(found) == MAX_LOG_PAGE:
            continue
        if ended or time.monotonic() > until:
            return
        await asyncio.sleep(STREAM_POLL)


def _cron_action(action: str) -> str:
    return _action(action)[0]


@router.get("/crons")
async def list_crons(db: Db, principal: Admin) -> CronList:
    return CronList(crons=[Cron.of(c) for c in await crons.listing(db)])


@router.post("/crons", status_code=202)
async def set_cron(
    request: Request, db: Db, principal: Admin, body: Annotated[dict[str, Any], Body()]
) -> Cron:
    """DTR's ``CronCreate``; one cron an action (DTR's ``gc`` and Moorage's ``onlinegc`` are
    one)."""
    action, submitted = _action(body.get("action"))
    _capacity_map(action, submitted, body.get("capacityMap"))
    _stop_timeout(body.get("stopTimeout"))
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
            submitted_action=submitted,
        ),
    )
    services(request).poke_jobs()
    return Cron.of(cron)


@router.get("/crons/{action}")
async def get_cron(action: str, db: Db, principal: Admin) -> Cron:
    return Cron.of(await crons.get(db, _cron_action(action)))


@router.delete("/crons/{action}", status_code=204)
async def delete_cron(action: str, db: Db, principal: Admin) -> Response:
    """The cron goes; the jobs it queued stay (DTR: they are not canceled)."""
    await crons.remove(db, _cron_action(action))
    return Response(status_code=204)


@router.get("/workers")
async def list_workers(db: Db, principal: Admin) -> WorkerList:
    found = await workers.listing(db, stale_after=WORKER_STALE)
    actions = sorted(KNOWN)
    return WorkerList(workers=[Worker.of(w, actions, WORKER_STALE) for w in found])


@router.post(
    "/workers/{id}/capacity",
    status_code=202,
    response_class=Response,
    responses={202: {"description": "success (no body)"}},
)
async def set_worker_capacity(
    request: Request,
    worker_id: Annotated[str, Path(alias="id")],
    db: Db,
    principal: Admin,
    body: Annotated[dict[str, Any], Body()],
) -> Response:
    """DTR's ``UpdateWorkerCapacity``: ``capacityMap``, action (DTR's name or Moorage's) →
    how many of its jobs the worker runs at once (0: none; at most the worker's total). The
    actions it leaves out run up to the worker's total; the worker applies the map at its next
    heartbeat."""
    given = body.get("capacityMap")
    if not isinstance(given, dict):
        raise InvalidInput("capacityMap must be an object: action → jobs at once")
    limits: dict[str, int] = {}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PAGE:
            raise InvalidInput(
                f"capacityMap values are whole numbers from 0 to {MAX_PAGE}",
                detail={"capacityMap": {str(name)[:64]: str(value)[:32]}},
            )
        limits[_action(name)[0]] = value
    await workers.set_capacity(db, worker_id, limits)
    services(request).poke_jobs()
    return Response(status_code=202)
