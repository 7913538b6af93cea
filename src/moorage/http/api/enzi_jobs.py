"""``/enzi/v0/jobs``: eNZi's worker jobs, of which Moorage runs one kind, ``ldap-sync``.

UCP clients start a directory sync with ``POST /enzi/v0/jobs {"action": "ldap-sync"}``; it is
queued as the job runner's ``ldapsync`` job (``moorage.jobs.ldapsync``, with its sync record,
exactly as "sync now" does) and answered at once (202) as the job stands. ``GET /jobs`` lists
the LDAP sync jobs newest first, ``GET /jobs/{jobID}`` gives one. System administrators only.
UCP 3.1's Swagger lists no ``/jobs`` path (its eNZi part is ``/accounts``), so the answer's
shape (``models/enzi_configs.py::EnziJob``) is eNZi's worker job as its clients read it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from moorage.auth.ldap import records
from moorage.errors import InvalidInput
from moorage.http.api.common import Admin, Db
from moorage.http.api.models.enzi_configs import EnziJob, EnziJobs
from moorage.http.services import services
from moorage.jobs import ldapsync
from moorage.queue import jobs

router = APIRouter(tags=["jobs"])
ENZI_ACTIONS = {"ldap-sync": ldapsync.ACTION}


class NewJob(BaseModel):
    """eNZi's job form: the action to run."""

    model_config = ConfigDict(extra="forbid")

    action: str


def _wire(job: jobs.Job) -> EnziJob:
    return EnziJob(
        id=job.id,
        action="ldap-sync",
        worker_id=job.worker or "",
        status=job.status,
        scheduled_at=job.scheduled_at,
        last_updated=job.updated_at,
    )


@router.post("/jobs", status_code=202)
async def create_job(request: Request, body: NewJob, db: Db, principal: Admin) -> EnziJob:
    """Queue an LDAP sync (400 when LDAP is off or the action is not ``ldap-sync``)."""
    if body.action not in ENZI_ACTIONS:
        raise InvalidInput(
            "the only eNZi job action is ldap-sync", detail={"action": body.action[:100]}
        )
    sync_id = await ldapsync.queue(db)
    services(request).poke_jobs()
    record = await records.get_sync(db, sync_id)
    return _wire(await jobs.get(db, record.result.job_id))


@router.get("/jobs")
async def list_jobs(
    db: Db,
    principal: Admin,
    start: str = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> EnziJobs:
    """The LDAP sync jobs, newest first, from the job ``start`` (its id)."""
    found, nxt = await jobs.page(db, action=ldapsync.ACTION, start=start or None, limit=limit)
    return EnziJobs(jobs=[_wire(j) for j in found], next_page_start=nxt or "")


@router.get("/jobs/{jobID}")
async def get_job(jobID: str, db: Db, principal: Admin) -> EnziJob:
    job = await jobs.get(db, jobID)
    if job.action != ldapsync.ACTION:
        raise jobs.NoSuchJob(detail={"id": jobID})
    return _wire(job)
