"""``/enzi/v0/accounts``: users, organizations, teams and memberships (DTR took these from enzi).

An account's e-mail address is shown only to system administrators and to the account itself.
A new password for one's own account needs the current one (``oldPassword``), given with the
password itself (not an access token); system administrators set other users' passwords
without it."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts
from moorage.errors import Denied, InvalidInput, NoSuchMember
from moorage.http.api.common import (
    MAX_PAGE,
    Admin,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    next_page,
)
from moorage.http.api.models.accounts import (
    Account,
    AccountPage,
    MemberTeam,
    MemberTeams,
    OrgMember,
    OrgMemberList,
    Team,
    TeamList,
    TeamMember,
    TeamMemberList,
)
from moorage.http.authn import client_source
from moorage.http.services import services
from moorage.services.accounts import change_account, require_org_admin, resolve_account
from moorage.services.accounts import update_team as service_update_team

router = APIRouter(tags=["accounts"])


class NewAccount(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str
    is_org: bool = Field(False, alias="isOrg")
    password: str | None = None
    full_name: str = Field("", alias="fullName")
    email: str = ""
    is_admin: bool = Field(False, alias="isAdmin")
    is_active: bool = Field(True, alias="isActive")


class AccountChanges(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    full_name: str | None = Field(None, alias="fullName")
    email: str | None = None
    is_admin: bool | None = Field(None, alias="isAdmin")
    is_active: bool | None = Field(None, alias="isActive")
    password: str | None = None
    old_password: str | None = Field(None, alias="oldPassword")


class PasswordChange(BaseModel):
    """eNZi's ``changePassword`` form."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    old_password: str | None = Field(None, alias="oldPassword")
    new_password: str = Field(alias="newPassword")


class NewTeam(BaseModel):
    name: str
    description: str = ""


class TeamChange(BaseModel):
    """eNZi's ``forms.UpdateTeam``."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None


class Membership(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    is_admin: bool = Field(False, alias="isAdmin")
    is_public: bool = Field(True, alias="isPublicMember")


@router.post("/accounts", status_code=201)
async def create_account(body: NewAccount, db: Db, principal: Admin) -> Account:
    if not body.is_org and body.password is None:
        raise InvalidInput("a user needs a password")
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
    return Account.seen_by(account, principal)


@router.get("/accounts")
async def list_accounts(
    db: Db,
    principal: SignedIn,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    start: str | None = None,
    limit: int | None = Query(None, ge=1, le=MAX_PAGE),
    filter: str = Query(
        "all",
        pattern="^(all|users|orgs|admins|non-admins|active-users|inactive-users)$",
    ),
) -> AccountPage:
    rows, nxt = await accounts.list_accounts(
        db, start=page_start or start, limit=limit or page_size, kind=filter
    )
    next_page(response, nxt)
    users, orgs = await accounts.account_counts(db)
    return AccountPage(
        accounts=[await _counted(db, a, principal) for a in rows],
        next_page_start=nxt or "",
        users_count=users,
        orgs_count=orgs,
        resource_count=users + orgs,
    )


async def _counted(db: Db, account: accounts.Account, principal: SignedIn) -> Account:
    """The account as ``principal`` sees it, an organization with eNZi's counts."""
    wire = Account.seen_by(account, principal)
    if not account.is_org:
        return wire
    members, teams = await accounts.org_counts(db, account.id)
    return wire.model_copy(update={"members_count": members, "teams_count": teams})


@router.get("/accounts/{name}")
async def get_account(name: str, db: Db, principal: SignedIn) -> Account:
    """eNZi's ``{accountNameOrID}``: a name first, then an id."""
    return await _counted(db, await resolve_account(db, name), principal)


@router.patch("/accounts/{name}")
async def update_account(
    request: Request, name: str, body: AccountChanges, db: Db, principal: SignedIn
) -> Account:
    changes = body.model_dump(by_alias=True, exclude_none=True)
    current = changes.pop("oldPassword", None)
    account = await change_account(
        db,
        principal,
        name,
        changes,
        authenticator=services(request).authenticator,
        current_password=current,
        source=client_source(request),
    )
    return Account.seen_by(account, principal)


@router.post("/accounts/{name}/changePassword")
async def change_password(
    request: Request, name: str, body: PasswordChange, db: Db, principal: SignedIn
) -> Account:
    account = await change_account(
        db,
        principal,
        name,
        {"password": body.new_password},
        authenticator=services(request).authenticator,
        current_password=body.old_password,
        source=client_source(request),
    )
    return Account.seen_by(account, principal)


@router.delete("/accounts/{name}", status_code=204)
async def delete_account(name: str, db: Db, principal: Admin) -> Response:
    if principal.name == name:
        raise InvalidInput("administrators cannot delete their own account")
    await accounts.remove(db, name)
    return Response(status_code=204)


# ---- organization members ------------------------------------------------------------------


@router.get("/accounts/{org}/members")
async def list_members(org: str, db: Db, principal: SignedIn) -> OrgMemberList:
    members = await accounts.org_members(db, org)
    return OrgMemberList(
        members=[
            OrgMember(member=Account.seen_by(m, principal), is_admin=owner) for m, owner in members
        ]
    )


@router.get("/accounts/{org}/members/{user}")
async def get_member(org: str, user: str, db: Db, principal: SignedIn) -> OrgMember:
    """One member of the organization (as in its member list); 404 ``NO_SUCH_MEMBER``."""
    for member, owner in await accounts.org_members(db, org):
        if member.name == user:
            return OrgMember(member=Account.seen_by(member, principal), is_admin=owner)
    raise NoSuchMember(f"{user!r} is not a member of {org!r}")


@router.get("/accounts/{org}/members/{user}/teams")
async def list_member_teams(org: str, user: str, db: Db, principal: SignedIn) -> MemberTeams:
    """The teams of the organization that ``user`` is in: for system administrators, the
    user and the organization's members (others get 403 before anything is looked up)."""
    members = {m.name: m for m, _ in await accounts.org_members(db, org)}
    if not principal.is_admin and principal.name not in members:
        raise Denied("only members of the organization may list its members' teams")
    if user not in members:
        raise NoSuchMember(f"{user!r} is not a member of {org!r}")
    found = [
        MemberTeam(team=Team.of(team))
        for team in await accounts.list_teams(db, org)
        if user in {m.name for m in await accounts.team_members(db, org, team.name)}
    ]
    return MemberTeams(member_teams=found, next_page_start="")


@router.put("/accounts/{org}/members/{user}")
async def add_member(
    org: str, user: str, db: Db, principal: SignedIn, body: Membership | None = None
) -> OrgMember:
    await require_org_admin(db, principal, org)
    is_owner = body.is_admin if body else False
    await accounts.set_org_member(db, org, user, is_owner=is_owner)
    member = await accounts.get(db, user)
    return OrgMember(member=Account.seen_by(member, principal), is_admin=is_owner)


@router.delete("/accounts/{org}/members/{user}", status_code=204)
async def remove_member(org: str, user: str, db: Db, principal: SignedIn) -> Response:
    await require_org_admin(db, principal, org)
    await accounts.remove_org_member(db, org, user)
    return Response(status_code=204)


# ---- teams ---------------------------------------------------------------------------------


@router.get("/accounts/{org}/teams")
async def list_teams(org: str, db: Db, principal: SignedIn) -> TeamList:
    return TeamList(teams=[Team.of(team) for team in await accounts.list_teams(db, org)])


@router.post("/accounts/{org}/teams", status_code=201)
async def create_team(org: str, body: NewTeam, db: Db, principal: SignedIn) -> Team:
    await require_org_admin(db, principal, org)
    return Team.of(await accounts.create_team(db, org, body.name, body.description))


@router.get("/accounts/{org}/teams/{team}")
async def get_team(org: str, team: str, db: Db, principal: SignedIn) -> Team:
    return Team.of(await accounts.get_team(db, org, team))


@router.patch("/accounts/{org}/teams/{team}")
async def update_team(org: str, team: str, body: TeamChange, db: Db, principal: SignedIn) -> Team:
    await require_org_admin(db, principal, org)
    changed = await service_update_team(db, org, team, name=body.name, description=body.description)
    return Team.of(changed)


@router.delete("/accounts/{org}/teams/{team}", status_code=204)
async def delete_team(org: str, team: str, db: Db, principal: SignedIn) -> Response:
    await require_org_admin(db, principal, org)
    await accounts.delete_team(db, org, team)
    return Response(status_code=204)


@router.get("/accounts/{org}/teams/{team}/members")
async def list_team_members(org: str, team: str, db: Db, principal: SignedIn) -> TeamMemberList:
    members = await accounts.team_members(db, org, team)
    return TeamMemberList(
        members=[TeamMember(member=Account.seen_by(m, principal)) for m in members]
    )


@router.get("/accounts/{org}/teams/{team}/members/{user}")
async def get_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> TeamMember:
    """One member of the team (as in its member list); 404 ``NO_SUCH_MEMBER``."""
    for member in await accounts.team_members(db, org, team):
        if member.name == user:
            return TeamMember(member=Account.seen_by(member, principal))
    raise NoSuchMember(f"{user!r} is not a member of the team {team!r} of {org!r}")


@router.put("/accounts/{org}/teams/{team}/members/{user}")
async def add_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> TeamMember:
    await require_org_admin(db, principal, org)
    await accounts.add_team_member(db, org, team, user)
    member = await accounts.get(db, user)
    return TeamMember(member=Account.seen_by(member, principal))


@router.delete("/accounts/{org}/teams/{team}/members/{user}", status_code=204)
async def remove_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> Response:
    await require_org_admin(db, principal, org)
    await accounts.remove_team_member(db, org, team, user)
    return Response(status_code=204)
