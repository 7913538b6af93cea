"""``/enzi/v0/config/auth/ldap``: LDAP / Active Directory settings, sync now, sync results; and
``/enzi/v0/accounts/{org}/teams/{team}/memberSyncConfig``: a team's member sync (enzi's shapes),
read and set by the organization's owners and system administrators only.

The reader's password is write-only: GET answers ``readerPasswordSet`` instead. A PUT puts the
``ldapsync`` cron in step with the settings; "sync now" queues an ``ldapsync`` job and answers
the sync's record when the job has run it (202 with the record as it stands when that takes
longer than ``SYNC_WAIT`` seconds). The answers' shapes are in ``models/ldap.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from moorage.auth.ldap import records, teams
from moorage.auth.ldap.login import LdapService
from moorage.errors import InvalidInput
from moorage.http.api.common import Admin, Db, PageSize, SignedIn, next_page
from moorage.http.api.models.ldap import LdapSettings, LdapSync, LdapSyncPage, MemberSyncOpts
from moorage.http.services import services
from moorage.jobs import ldapsync
from moorage.services.accounts import require_org_admin

router = APIRouter(tags=["ldap"])
SYNC_WAIT = 120.0  # seconds "sync now" waits for the sync to finish


def ldap_service(request: Request) -> LdapService:
    return services(request).ldap


Service = Annotated[LdapService, Depends(ldap_service)]


@router.get("/config/auth/ldap")
async def get_ldap_config(service: Service, principal: Admin) -> LdapSettings:
    return LdapSettings.of(await service.config())


@router.put("/config/auth/ldap")
async def set_ldap_config(
    service: Service,
    principal: Admin,
    changes: Annotated[dict[str, Any], Body()],
) -> LdapSettings:
    stored = await service.configure(changes)
    await ldapsync.schedule(service.db, stored.config)
    return LdapSettings.of(stored)


@router.post(
    "/config/auth/ldap/sync",
    responses={202: {"model": LdapSync, "description": "The sync, still running"}},
)
async def sync_now(request: Request, response: Response, db: Db, principal: Admin) -> LdapSync:
    """Sync now: the sync's record once it has run (202: as it stands, still running)."""
    sync_id = await ldapsync.queue(db)
    services(request).poke_jobs()
    record = await ldapsync.wait(db, sync_id, SYNC_WAIT)
    if not record.finished:
        response.status_code = 202
    return LdapSync.of(record)


@router.get("/config/auth/ldap/sync")
async def list_syncs(
    response: Response,
    db: Db,
    principal: Admin,
    page_start: Annotated[str | None, Query(alias="pageStart")] = None,
    page_size: PageSize = 20,
) -> LdapSyncPage:
    start: int | None = None
    if page_start:
        if not page_start.isdigit():
            raise InvalidInput("pageStart is a sync id")
        start = int(page_start)
    rows, nxt = await records.list_syncs(db, start=start, limit=page_size)
    nxt_s = str(nxt) if nxt is not None else ""
    next_page(response, nxt_s)
    return LdapSyncPage(syncs=[LdapSync.of(r) for r in rows], next_page_start=nxt_s)


@router.get("/config/auth/ldap/sync/{sync_id}")
async def get_sync(sync_id: int, db: Db, principal: Admin) -> LdapSync:
    return LdapSync.of(await records.get_sync(db, sync_id))


@router.get("/accounts/{org}/teams/{team}/memberSyncConfig")
async def get_member_sync(org: str, team: str, db: Db, principal: SignedIn) -> MemberSyncOpts:
    """eNZi's rule: the team's admins, which here are the organization's owners and system
    administrators (a team membership carries no admin flag); the group DN and the filter say
    how the directory is laid out, so members and everyone else are refused."""
    await require_org_admin(db, principal, org)
    return MemberSyncOpts.of(await teams.get_member_sync(db, org, team))


@router.put("/accounts/{org}/teams/{team}/memberSyncConfig")
async def set_member_sync(
    org: str,
    team: str,
    db: Db,
    principal: SignedIn,
    changes: Annotated[dict[str, Any], Body()],
) -> MemberSyncOpts:
    await require_org_admin(db, principal, org)
    return MemberSyncOpts.of(await teams.set_member_sync(db, org, team, changes))
