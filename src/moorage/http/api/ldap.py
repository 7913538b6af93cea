"""``/enzi/v0/config/auth/ldap``: LDAP / Active Directory settings, sync now, sync results; and
eNZi's options of an organization or team: ``adminMemberSyncConfig`` (the org's admins from
LDAP: system administrators and org admins), a team's ``memberSyncConfig`` and
``groupLinkConfig`` (SAML: stored, no effect yet) for system administrators, org admins and the
team's admins.

The reader's password is write-only: GET answers ``readerPasswordSet`` instead. A PUT puts the
``ldapsync`` cron in step with the settings; "sync now" queues an ``ldapsync`` job and answers
the sync's record when the job has run it (202 with the record as it stands when that takes
longer than ``SYNC_WAIT`` seconds). The answers' shapes are in ``models/ldap.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth.ldap import orgadmins, records, teams
from moorage.auth.ldap.login import LdapService
from moorage.errors import Denied, InvalidInput, NoSuchTeam
from moorage.http.api.common import Admin, Db, PageSize, SignedIn, next_page
from moorage.http.api.models.enzi_configs import GroupLinkOpts
from moorage.http.api.models.ldap import LdapSettings, LdapSync, LdapSyncPage, MemberSyncOpts
from moorage.http.services import services
from moorage.jobs import ldapsync
from moorage.services import enzi_members as em
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


# ---- eNZi's sync and link options of an organization or a team ----------------------------


@router.get("/accounts/{orgNameOrID}/adminMemberSyncConfig")
async def get_admin_sync(orgNameOrID: str, db: Db, principal: SignedIn) -> MemberSyncOpts:
    """The LDAP group (or search) whose users each sync makes the organization's admins: for
    system administrators and org admins."""
    org = await em.resolve_org(db, orgNameOrID)
    await require_org_admin(db, principal, org.name)
    return MemberSyncOpts.of(await orgadmins.get_admin_sync(db, org.name))


@router.put("/accounts/{orgNameOrID}/adminMemberSyncConfig")
async def set_admin_sync(
    orgNameOrID: str,
    db: Db,
    principal: SignedIn,
    changes: Annotated[dict[str, Any], Body()],
) -> MemberSyncOpts:
    org = await em.resolve_org(db, orgNameOrID)
    await require_org_admin(db, principal, org.name)
    return MemberSyncOpts.of(await orgadmins.set_admin_sync(db, org.name, _unignored(changes)))


def _unignored(changes: dict[str, Any]) -> dict[str, Any]:
    """eNZi's ``forms.MemberSyncOpts`` ignores ``groupMemberAttr`` unless
    ``selectGroupMembers`` is true: an empty one sent with a search sync (as eNZi's own UI
    sends it) keeps the stored attribute instead of failing its name check."""
    if changes.get("selectGroupMembers") is False and changes.get("groupMemberAttr") == "":
        return {key: value for key, value in changes.items() if key != "groupMemberAttr"}
    return changes


async def _managed_team(
    db: Db, principal: SignedIn, org_ref: str, team_ref: str
) -> tuple[Any, Any]:
    """eNZi's rule for a team's options: system administrators, org admins, the team's admins
    (the group DN and the filter say how the directory is laid out, so plain members and
    everyone else are refused)."""
    org = await em.resolve_org(db, org_ref)
    standing = await em.standing(db, principal, org)
    if not standing.member:
        raise Denied("only the team's and the organization's admins may do this")
    try:
        team = await em.resolve_team(db, org, team_ref)
    except NoSuchTeam:
        if not standing.org_admin:  # no probing for team names by those refused anyway
            raise Denied("only the team's and the organization's admins may do this") from None
        raise
    await em.require_team_admin(db, principal, org, team)
    return org, team


@router.get("/accounts/{orgNameOrID}/teams/{teamNameOrID}/memberSyncConfig")
async def get_member_sync(
    orgNameOrID: str, teamNameOrID: str, db: Db, principal: SignedIn
) -> MemberSyncOpts:
    org, team = await _managed_team(db, principal, orgNameOrID, teamNameOrID)
    return MemberSyncOpts.of(await teams.get_member_sync(db, org.name, team.name))


@router.put("/accounts/{orgNameOrID}/teams/{teamNameOrID}/memberSyncConfig")
async def set_member_sync(
    orgNameOrID: str,
    teamNameOrID: str,
    db: Db,
    principal: SignedIn,
    changes: Annotated[dict[str, Any], Body()],
) -> MemberSyncOpts:
    org, team = await _managed_team(db, principal, orgNameOrID, teamNameOrID)
    return MemberSyncOpts.of(
        await teams.set_member_sync(db, org.name, team.name, _unignored(changes))
    )


class GroupLinkForm(BaseModel):
    """eNZi's ``forms.GroupLinkOpts``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    enable_link: bool = Field(alias="enableLink")
    group_name: str = Field("", alias="groupName")


@router.get("/accounts/{orgNameOrID}/teams/{teamNameOrID}/groupLinkConfig")
async def get_group_link(
    orgNameOrID: str, teamNameOrID: str, db: Db, principal: SignedIn
) -> GroupLinkOpts:
    """A team's SAML group link: stored and answered; Moorage has no SAML, so it links
    nothing yet."""
    _, team = await _managed_team(db, principal, orgNameOrID, teamNameOrID)
    link = await em.get_group_link(db, team)
    return GroupLinkOpts(enable_link=link.enable_link, group_name=link.group_name)


@router.put("/accounts/{orgNameOrID}/teams/{teamNameOrID}/groupLinkConfig")
async def set_group_link(
    orgNameOrID: str, teamNameOrID: str, body: GroupLinkForm, db: Db, principal: SignedIn
) -> GroupLinkOpts:
    _, team = await _managed_team(db, principal, orgNameOrID, teamNameOrID)
    if body.enable_link and not body.group_name:
        raise InvalidInput("groupName is needed to link a team to a SAML group")
    link = await em.set_group_link(db, team, em.GroupLink(body.enable_link, body.group_name))
    return GroupLinkOpts(enable_link=link.enable_link, group_name=link.group_name)
