"""``/enzi/v0/config/auth/ldap``: LDAP / Active Directory settings, sync now, sync results; and
``/enzi/v0/accounts/{org}/teams/{team}/memberSyncConfig``: a team's member sync (enzi's shapes).

The reader's password is write-only: GET answers ``readerPasswordSet`` instead. A PUT puts the
``ldapsync`` cron in step with the settings; "sync now" queues an ``ldapsync`` job and answers
the sync's record when the job has run it (202 with the record as it stands when that takes
longer than ``SYNC_WAIT`` seconds).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from moorage.auth.ldap import records, teams
from moorage.auth.ldap.config import StoredConfig
from moorage.auth.ldap.login import LdapService
from moorage.auth.levels import Level
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import Admin, Db, PageSize, SignedIn, paged
from moorage.jobs import ldapsync
from moorage.services.access import namespace_level

router = APIRouter(tags=["ldap"])
SYNC_WAIT = 120.0  # seconds "sync now" waits for the sync to finish


def ldap_service(request: Request) -> LdapService:
    service: LdapService = request.app.state.ldap
    return service


Service = Annotated[LdapService, Depends(ldap_service)]


def _wire(stored: StoredConfig) -> dict[str, Any]:
    return stored.config.wire(password_set=stored.sealed_password is not None)


@router.get("/config/auth/ldap")
async def get_ldap_config(service: Service, principal: Admin) -> dict[str, Any]:
    return _wire(await service.config())


@router.put("/config/auth/ldap")
async def set_ldap_config(
    service: Service,
    principal: Admin,
    changes: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    stored = await service.configure(changes)
    await ldapsync.schedule(service.db, stored.config)
    return _wire(stored)


@router.post("/config/auth/ldap/sync")
async def sync_now(request: Request, db: Db, principal: Admin) -> Response:
    sync_id = await ldapsync.queue(db)
    runner = getattr(request.app.state, "job_runner", None)
    if runner is not None:
        runner.poke()
    record = await ldapsync.wait(db, sync_id, SYNC_WAIT)
    status = 200 if record["status"] in records.FINISHED else 202
    return JSONResponse(record, status_code=status)


@router.get("/config/auth/ldap/sync")
async def list_syncs(
    db: Db,
    principal: Admin,
    page_start: Annotated[str | None, Query(alias="pageStart")] = None,
    page_size: PageSize = 20,
) -> Response:
    start: int | None = None
    if page_start:
        if not page_start.isdigit():
            raise InvalidInput("pageStart is a sync id")
        start = int(page_start)
    rows, nxt = await records.list_syncs(db, start=start, limit=page_size)
    nxt_s = str(nxt) if nxt is not None else None
    return paged({"syncs": rows, "nextPageStart": nxt_s or ""}, nxt_s)


@router.get("/config/auth/ldap/sync/{sync_id}")
async def get_sync(sync_id: int, db: Db, principal: Admin) -> dict[str, Any]:
    return await records.get_sync(db, sync_id)


@router.get("/accounts/{org}/teams/{team}/memberSyncConfig")
async def get_member_sync(org: str, team: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    return (await teams.get_member_sync(db, org, team)).wire()


@router.put("/accounts/{org}/teams/{team}/memberSyncConfig")
async def set_member_sync(
    org: str,
    team: str,
    db: Db,
    principal: SignedIn,
    changes: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    if await namespace_level(db, principal, org) < Level.ADMIN:
        raise Denied("only the organization's owners and system administrators may do this")
    return (await teams.set_member_sync(db, org, team, changes)).wire()
