"""``/enzi/v0/config/auth/ldap``: LDAP / Active Directory settings, sync now, sync results; and
``/enzi/v0/accounts/{org}/teams/{team}/memberSyncConfig``: a team's member sync (enzi's shapes).

The reader's password is write-only: GET answers ``readerPasswordSet`` instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from moorage.auth import ldap
from moorage.auth.levels import Level
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import Admin, Db, PageSize, SignedIn, namespace_level, paged

router = APIRouter(tags=["ldap"])


def ldap_service(request: Request) -> ldap.LdapService:
    service: ldap.LdapService = request.app.state.ldap
    return service


Service = Annotated[ldap.LdapService, Depends(ldap_service)]


def _wire(stored: ldap.StoredConfig) -> dict[str, Any]:
    return stored.config.wire(password_set=stored.sealed_password is not None)


@router.get("/config/auth/ldap")
async def get_ldap_config(service: Service, principal: Admin) -> dict[str, Any]:
    return _wire(await service.config())


@router.put("/config/auth/ldap")
async def set_ldap_config(
    request: Request,
    service: Service,
    principal: Admin,
    changes: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    stored = await service.configure(changes)
    periodic: ldap.PeriodicSync | None = getattr(request.app.state, "ldap_periodic", None)
    if periodic is not None:
        periodic.poke()
    return _wire(stored)


@router.post("/config/auth/ldap/sync")
async def sync_now(service: Service, principal: Admin) -> dict[str, Any]:
    return await service.sync_now()


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
    rows, nxt = await ldap.list_syncs(db, start=start, limit=page_size)
    nxt_s = str(nxt) if nxt is not None else None
    return paged({"syncs": rows, "nextPageStart": nxt_s or ""}, nxt_s)


@router.get("/config/auth/ldap/sync/{sync_id}")
async def get_sync(sync_id: int, db: Db, principal: Admin) -> dict[str, Any]:
    return await ldap.get_sync(db, sync_id)


@router.get("/accounts/{org}/teams/{team}/memberSyncConfig")
async def get_member_sync(org: str, team: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    return (await ldap.get_member_sync(db, org, team)).wire()


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
    return (await ldap.set_member_sync(db, org, team, changes)).wire()
