"""``/enzi/v0/accounts``: users, organizations, teams and memberships, as eNZi (UCP 3.1) has them.

Every ``{…NameOrID}`` path parameter takes a name or an id (``services.enzi_members``). An
account's e-mail address is shown only to system administrators and to the account itself. A
new password for one's own account needs the current one (``oldPassword``), given with the
password itself (not an access token); system administrators set other users' passwords without
it. Who may do what is eNZi's rule, written on each route: org admins are the organization's
owners, team admins the members a team marks so (``isAdmin`` of a team membership). Members
synced from LDAP (a team's ``memberSyncConfig``, an organization's ``adminMemberSyncConfig``)
are not added or removed by hand, as in eNZi. The bulk operations (``PATCH /accounts``) are in
``accounts_bulk`` below.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts
from moorage.auth.ldap import orgadmins, teams
from moorage.errors import InvalidInput, NoSuchMember
from moorage.http.api.accounts_bulk import BulkOperations, run_bulk
from moorage.http.api.common import MAX_PAGE, Admin, Db, SignedIn, next_page
from moorage.http.api.models.accounts import (
    Account,
    AccountPage,
    Member,
    MemberList,
    MemberTeam,
    MemberTeams,
    Team,
    TeamList,
)
from moorage.http.api.models.enzi_configs import BulkResults
from moorage.http.authn import client_source
from moorage.http.services import services
from moorage.services import enzi_members as em
from moorage.services.accounts import change_account, require_org_admin
from moorage.services.accounts import update_team as service_update_team

router = APIRouter(tags=["accounts"])
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


class NewAccount(BaseModel):
    """eNZi's ``forms.CreateAccount`` (``email``: Moorage's, for users)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str
    is_org: bool = Field(False, alias="isOrg")
    password: str | None = None
    full_name: str = Field("", alias="fullName")
    email: str = ""
    is_admin: bool = Field(False, alias="isAdmin")
    is_active: bool = Field(True, alias="isActive")
    search_ldap: bool = Field(False, alias="searchLDAP")


class AccountChanges(BaseModel):
    """eNZi's ``forms.UpdateAccount``, plus Moorage's ``email`` and ``password``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    full_name: str | None = Field(None, alias="fullName")
    email: str | None = None
    is_admin: bool | None = Field(None, alias="isAdmin")
    is_active: bool | None = Field(None, alias="isActive")
    password: str | None = None
    old_password: str | None = Field(None, alias="oldPassword")


class PasswordChange(BaseModel):
    """eNZi's ``forms.ChangePassword``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    old_password: str | None = Field(None, alias="oldPassword")
    new_password: str = Field(alias="newPassword")


class NewTeam(BaseModel):
    """eNZi's ``forms.CreateTeam``."""

    name: str
    description: str = ""


class TeamChange(BaseModel):
    """eNZi's ``forms.UpdateTeam``."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None


class Membership(BaseModel):
    """eNZi's ``forms.SetMembership``: ``isAdmin`` unchanged when omitted."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    is_admin: bool | None = Field(None, alias="isAdmin")


# ---- accounts ------------------------------------------------------------------------------


@router.post("/accounts", status_code=201)
async def create_account(request: Request, body: NewAccount, db: Db, principal: Admin) -> Account:
    """``searchLDAP``: the user is looked up with the LDAP user searches and created as an
    imported account (no password here: it signs in with its directory password)."""
    if body.search_ldap and not body.is_org:
        account = await services(request).ldap.import_user(
            body.name, full_name=body.full_name, is_admin=body.is_admin, is_active=body.is_active
        )
        return Account.seen_by(account, principal)
    if not body.is_org and body.password is None:
        raise InvalidInput("a user needs a password (or searchLDAP)")
    account = await accounts.create(
        db,
        name=body.name,
        is_org=body.is_org,
        password=body.password,
        full_name=body.full_name,
        email=body.email,
        is_admin=body.is_admin,
        is_active=body.is_active,
    )
    return await _counted(db, account, principal)


@router.patch("/accounts")
async def bulk_accounts(body: BulkOperations, db: Db, principal: Admin) -> BulkResults:
    """eNZi's bulk operations: each one's outcome, in the request's order."""
    return await run_bulk(db, principal, body)


@router.get("/accounts")
async def list_accounts(
    db: Db,
    principal: SignedIn,
    response: Response,
    start: str = "",
    limit: Limit = 10,
    filter: str = "all",
    order: str = "",
    contains: str = "",
) -> AccountPage:
    rows, nxt = await em.account_page(
        db, start=start, limit=limit, kind=filter, order=order, contains=contains
    )
    next_page(response, nxt)
    users, orgs = await accounts.account_counts(db)
    return AccountPage(
        accounts=[await _counted(db, a, principal) for a in rows],
        next_page_start=nxt,
        users_count=users,
        orgs_count=orgs,
        resource_count=users + orgs,
    )


async def _counted(db: Db, account: accounts.Account, principal: SignedIn) -> Account:
    """The account as ``principal`` sees it, an organization with eNZi's counts."""
    wire = Account.seen_by(account, principal)
    if not account.is_org:
        return wire
    members, team_count = await accounts.org_counts(db, account.id)
    return wire.model_copy(update={"members_count": members, "teams_count": team_count})


@router.get("/accounts/{accountNameOrID}")
async def get_account(accountNameOrID: str, db: Db, principal: SignedIn) -> Account:
    return await _counted(db, await em.resolve_account(db, accountNameOrID), principal)


@router.patch("/accounts/{accountNameOrID}")
async def update_account(
    request: Request, accountNameOrID: str, body: AccountChanges, db: Db, principal: SignedIn
) -> Account:
    """System administrators, the user itself, or (an organization's ``fullName``) its
    admins."""
    account = await em.resolve_account(db, accountNameOrID)
    changes = body.model_dump(by_alias=True, exclude_none=True)
    current = changes.pop("oldPassword", None)
    if account.is_org:
        if set(changes) - {"fullName"}:
            raise InvalidInput("an organization has only a fullName to change")
        if not principal.is_admin:
            await require_org_admin(db, principal, account.name)
        changed = await accounts.modify(db, account.name, changes)
        return await _counted(db, changed, principal)
    changed = await change_account(
        db,
        principal,
        account.name,
        changes,
        authenticator=services(request).authenticator,
        current_password=current,
        source=client_source(request),
    )
    return Account.seen_by(changed, principal)


@router.post("/accounts/{userNameOrID}/changePassword")
async def change_password(
    request: Request, userNameOrID: str, body: PasswordChange, db: Db, principal: SignedIn
) -> Account:
    user = await em.resolve_user(db, userNameOrID)
    account = await change_account(
        db,
        principal,
        user.name,
        {"password": body.new_password},
        authenticator=services(request).authenticator,
        current_password=body.old_password,
        source=client_source(request),
    )
    return Account.seen_by(account, principal)


@router.delete("/accounts/{accountNameOrID}", status_code=204)
async def delete_account(accountNameOrID: str, db: Db, principal: Admin) -> Response:
    account = await em.resolve_account(db, accountNameOrID)
    if principal.account_id == account.id:
        raise InvalidInput("administrators cannot delete their own account")
    await accounts.remove(db, account.name)
    return Response(status_code=204)


# ---- organization members ------------------------------------------------------------------


def _member(m: em.Membership, principal: SignedIn) -> Member:
    return Member(member=Account.seen_by(m.account, principal), is_admin=m.is_admin)


@router.get("/accounts/{orgNameOrID}/members")
async def list_members(
    orgNameOrID: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    filter: str = "all",
    start: str = "",
    limit: Limit = 10,
) -> MemberList:
    """System administrators and the organization's members; by user ID."""
    org = await em.resolve_org(db, orgNameOrID)
    await em.require_member(db, principal, org)
    found, nxt, total = await em.member_page(
        db, org=org, team=None, start=start, limit=limit, kind=filter
    )
    next_page(response, nxt)
    return MemberList(
        members=[_member(m, principal) for m in found], next_page_start=nxt, resource_count=total
    )


@router.get("/accounts/{orgNameOrID}/members/{memberNameOrID}")
async def get_member(orgNameOrID: str, memberNameOrID: str, db: Db, principal: SignedIn) -> Member:
    """System administrators, the organization's members and the user; 404 ``NO_SUCH_MEMBER``."""
    org = await em.resolve_org(db, orgNameOrID)
    user = await em.resolve_user(db, memberNameOrID)
    if principal.account_id != user.id:
        await em.require_member(db, principal, org)
    return _member(await em.membership(db, org, user), principal)


@router.get("/accounts/{orgNameOrID}/members/{memberNameOrID}/teams")
async def list_member_teams(
    orgNameOrID: str,
    memberNameOrID: str,
    db: Db,
    principal: SignedIn,
    start: str = "",
    limit: Limit = 10,
) -> MemberTeams:
    """The member's teams in the organization, by team ID: system administrators and the
    organization's members (others get 403 before the user is looked up)."""
    org = await em.resolve_org(db, orgNameOrID)
    await em.require_member(db, principal, org)
    user = await em.resolve_user(db, memberNameOrID)
    await em.membership(db, org, user)
    found, nxt = await em.member_team_page(db, org, user, start=start, limit=limit)
    return MemberTeams(
        member_teams=[
            MemberTeam(team=Team.of(team, count), is_admin=admin) for team, admin, count in found
        ],
        next_page_start=nxt,
    )


@router.put("/accounts/{orgNameOrID}/members/{memberNameOrID}")
async def add_member(
    orgNameOrID: str,
    memberNameOrID: str,
    db: Db,
    principal: SignedIn,
    body: Membership | None = None,
) -> Member:
    """System administrators and org admins; an imported user of an organization whose admins
    are synced from LDAP is the sync's (400)."""
    org = await em.resolve_org(db, orgNameOrID)
    await require_org_admin(db, principal, org.name)
    user = await em.resolve_user(db, memberNameOrID)
    await _not_synced_admin(db, org, user)
    is_admin = body.is_admin if body is not None else None
    if is_admin is None:
        try:
            is_admin = (await em.membership(db, org, user)).is_admin
        except NoSuchMember:
            is_admin = False
    await accounts.set_org_member(db, org.name, user.name, is_owner=is_admin)
    return _member(await em.membership(db, org, user), principal)


async def _not_synced_admin(db: Db, org: accounts.Account, user: accounts.Account) -> None:
    if user.is_imported and (await orgadmins.get_admin_sync(db, org.name)).enable_sync:
        raise InvalidInput(
            "the organization's admins are synced from LDAP: an imported user's membership "
            "is the sync's (or its teams')",
            detail={"org": org.name, "user": user.name},
        )


@router.delete("/accounts/{orgNameOrID}/members/{memberNameOrID}", status_code=204)
async def remove_member(
    orgNameOrID: str, memberNameOrID: str, db: Db, principal: SignedIn
) -> Response:
    org = await em.resolve_org(db, orgNameOrID)
    await require_org_admin(db, principal, org.name)
    user = await em.resolve_user(db, memberNameOrID)
    await _not_synced_admin(db, org, user)
    await accounts.remove_org_member(db, org.name, user.name)
    return Response(status_code=204)


# ---- teams ---------------------------------------------------------------------------------


async def _team(
    db: Db, principal: SignedIn, org_ref: str, team_ref: str
) -> tuple[accounts.Account, accounts.Team]:
    """The organization and team of the path, for their members and system administrators."""
    org = await em.resolve_org(db, org_ref)
    await em.require_member(db, principal, org)
    return org, await em.resolve_team(db, org, team_ref)


async def _team_wire(db: Db, team: accounts.Team) -> Team:
    return Team.of(team, await em.team_members_count(db, team))


@router.get("/accounts/{orgNameOrID}/teams")
async def list_teams(
    orgNameOrID: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    start: str = "",
    limit: Limit = 10,
) -> TeamList:
    """System administrators and the organization's members; by name."""
    org = await em.resolve_org(db, orgNameOrID)
    await em.require_member(db, principal, org)
    found, nxt, total = await em.team_page(db, org, start=start, limit=limit)
    next_page(response, nxt)
    return TeamList(
        teams=[Team.of(team, count) for team, count in found],
        next_page_start=nxt,
        resource_count=total,
    )


@router.post("/accounts/{orgNameOrID}/teams", status_code=201)
async def create_team(orgNameOrID: str, body: NewTeam, db: Db, principal: SignedIn) -> Team:
    org = await em.resolve_org(db, orgNameOrID)
    await require_org_admin(db, principal, org.name)
    return Team.of(await accounts.create_team(db, org.name, body.name, body.description), 0)


@router.get("/accounts/{orgNameOrID}/teams/{teamNameOrID}")
async def get_team(orgNameOrID: str, teamNameOrID: str, db: Db, principal: SignedIn) -> Team:
    _, team = await _team(db, principal, orgNameOrID, teamNameOrID)
    return await _team_wire(db, team)


@router.patch("/accounts/{orgNameOrID}/teams/{teamNameOrID}")
async def update_team(
    orgNameOrID: str, teamNameOrID: str, body: TeamChange, db: Db, principal: SignedIn
) -> Team:
    """System administrators, org admins and the team's admins."""
    org, team = await _team(db, principal, orgNameOrID, teamNameOrID)
    await em.require_team_admin(db, principal, org, team)
    changed = await service_update_team(
        db, org.name, team.name, name=body.name, description=body.description
    )
    return await _team_wire(db, changed)


@router.delete("/accounts/{orgNameOrID}/teams/{teamNameOrID}", status_code=204)
async def delete_team(orgNameOrID: str, teamNameOrID: str, db: Db, principal: SignedIn) -> Response:
    org = await em.resolve_org(db, orgNameOrID)
    await require_org_admin(db, principal, org.name)
    team = await em.resolve_team(db, org, teamNameOrID)
    await accounts.delete_team(db, org.name, team.name)
    return Response(status_code=204)


@router.get("/accounts/{orgNameOrID}/teams/{teamNameOrID}/members")
async def list_team_members(
    orgNameOrID: str,
    teamNameOrID: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    filter: str = "all",
    start: str = "",
    limit: Limit = 10,
) -> MemberList:
    org, team = await _team(db, principal, orgNameOrID, teamNameOrID)
    found, nxt, total = await em.member_page(
        db, org=org, team=team, start=start, limit=limit, kind=filter
    )
    next_page(response, nxt)
    return MemberList(
        members=[_member(m, principal) for m in found], next_page_start=nxt, resource_count=total
    )


@router.get("/accounts/{orgNameOrID}/teams/{teamNameOrID}/members/{memberNameOrID}")
async def get_team_member(
    orgNameOrID: str, teamNameOrID: str, memberNameOrID: str, db: Db, principal: SignedIn
) -> Member:
    """One member of the team; 404 ``NO_SUCH_MEMBER``."""
    org, team = await _team(db, principal, orgNameOrID, teamNameOrID)
    user = await em.resolve_user(db, memberNameOrID)
    return _member(await em.membership(db, org, user, team), principal)


async def _not_synced_member(db: Db, team: accounts.Team, user: accounts.Account) -> None:
    if user.is_imported and (await teams.get_member_sync(db, team.org_name, team.name)).enable_sync:
        raise InvalidInput(
            "the team's members are synced from LDAP: an imported user's membership is the sync's",
            detail={"team": team.name, "user": user.name},
        )


@router.put("/accounts/{orgNameOrID}/teams/{teamNameOrID}/members/{memberNameOrID}")
async def add_team_member(
    orgNameOrID: str,
    teamNameOrID: str,
    memberNameOrID: str,
    db: Db,
    principal: SignedIn,
    body: Membership | None = None,
) -> Member:
    """System administrators, org admins and the team's admins; the user joins the
    organization too. ``isAdmin`` makes (or unmakes) the member a team admin."""
    org, team = await _team(db, principal, orgNameOrID, teamNameOrID)
    await em.require_team_admin(db, principal, org, team)
    user = await em.resolve_user(db, memberNameOrID)
    await _not_synced_member(db, team, user)
    await accounts.add_team_member(db, org.name, team.name, user.name)
    if body is not None and body.is_admin is not None:
        await em.set_team_admin(db, team, user, body.is_admin)
    return _member(await em.membership(db, org, user, team), principal)


@router.delete(
    "/accounts/{orgNameOrID}/teams/{teamNameOrID}/members/{memberNameOrID}", status_code=204
)
async def remove_team_member(
    orgNameOrID: str, teamNameOrID: str, memberNameOrID: str, db: Db, principal: SignedIn
) -> Response:
    org, team = await _team(db, principal, orgNameOrID, teamNameOrID)
    await em.require_team_admin(db, principal, org, team)
    user = await em.resolve_user(db, memberNameOrID)
    await _not_synced_member(db, team, user)
    await accounts.remove_team_member(db, org.name, team.name, user.name)
    return Response(status_code=204)
