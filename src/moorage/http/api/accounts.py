"""``/enzi/v0/accounts``: users, organizations, teams and memberships (DTR took these from enzi)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import access_tokens, accounts
from moorage.auth.levels import Level, Principal
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import (
    MAX_PAGE,
    Admin,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    namespace_level,
    paged,
)

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


class NewTeam(BaseModel):
    name: str
    description: str = ""


class Membership(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    is_admin: bool = Field(False, alias="isAdmin")
    is_public: bool = Field(True, alias="isPublicMember")


async def _org_admin(db: Db, principal: Principal, org: str) -> None:
    if await namespace_level(db, principal, org) < Level.ADMIN:
        raise Denied("only the organization's owners and system administrators may do this")


@router.post("/accounts", status_code=201)
async def create_account(body: NewAccount, db: Db, principal: Admin) -> dict[str, Any]:
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
    return account.wire()


@router.get("/accounts")
async def list_accounts(
    db: Db,
    principal: SignedIn,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    start: str | None = None,
    limit: int | None = Query(None, ge=1, le=MAX_PAGE),
    filter: str = Query("all", pattern="^(all|users|orgs)$"),
) -> Response:
    rows, nxt = await accounts.list_accounts(
        db, start=page_start or start, limit=limit or page_size, kind=filter
    )
    return paged({"accounts": [a.wire() for a in rows], "nextPageStart": nxt or ""}, nxt)


@router.get("/accounts/{name}")
async def get_account(name: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    return (await accounts.get(db, name)).wire()


@router.patch("/accounts/{name}")
async def update_account(
    name: str, body: AccountChanges, db: Db, principal: SignedIn
) -> dict[str, Any]:
    changes = body.model_dump(by_alias=True, exclude_none=True)
    return (await change_account(db, principal, name, changes)).wire()


async def change_account(
    db: Db, principal: Principal, name: str, changes: dict[str, Any]
) -> accounts.Account:
    """An account's changes, with the API's checks (shared with the web UI's user page)."""
    is_self = principal.name == name
    if not principal.is_admin and (not is_self or {"isAdmin", "isActive"} & set(changes)):
        raise Denied("only system administrators may change other accounts or admin status")
    account = await accounts.modify(db, name, changes)  # also ends the web UI sessions
    if changes.get("isActive") is False:
        # Deactivation ends every session: API tokens and the refresh tokens of docker logins.
        await access_tokens.revoke_all(db, account.id, (access_tokens.API, access_tokens.REFRESH))
    elif changes.get("password") is not None:
        # A new password ends the logins made with the old one.
        await access_tokens.revoke_all(db, account.id, (access_tokens.REFRESH,))
    return account


@router.delete("/accounts/{name}", status_code=204)
async def delete_account(name: str, db: Db, principal: Admin) -> Response:
    if principal.name == name:
        raise InvalidInput("administrators cannot delete their own account")
    await accounts.remove(db, name)
    return Response(status_code=204)


# ---- organization members ------------------------------------------------------------------


@router.get("/accounts/{org}/members")
async def list_members(org: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    members = await accounts.org_members(db, org)
    return {
        "members": [
            {"member": m.wire(), "isAdmin": owner, "isPublic": True} for m, owner in members
        ]
    }


@router.put("/accounts/{org}/members/{user}")
async def add_member(
    org: str, user: str, db: Db, principal: SignedIn, body: Membership | None = None
) -> dict[str, Any]:
    await _org_admin(db, principal, org)
    is_owner = body.is_admin if body else False
    await accounts.set_org_member(db, org, user, is_owner=is_owner)
    member = await accounts.get(db, user)
    return {"member": member.wire(), "isAdmin": is_owner, "isPublic": True}


@router.delete("/accounts/{org}/members/{user}", status_code=204)
async def remove_member(org: str, user: str, db: Db, principal: SignedIn) -> Response:
    await _org_admin(db, principal, org)
    await accounts.remove_org_member(db, org, user)
    return Response(status_code=204)


# ---- teams ---------------------------------------------------------------------------------


@router.get("/accounts/{org}/teams")
async def list_teams(org: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    return {"teams": [team.wire() for team in await accounts.list_teams(db, org)]}


@router.post("/accounts/{org}/teams", status_code=201)
async def create_team(org: str, body: NewTeam, db: Db, principal: SignedIn) -> dict[str, Any]:
    await _org_admin(db, principal, org)
    return (await accounts.create_team(db, org, body.name, body.description)).wire()


@router.get("/accounts/{org}/teams/{team}")
async def get_team(org: str, team: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    return (await accounts.get_team(db, org, team)).wire()


@router.delete("/accounts/{org}/teams/{team}", status_code=204)
async def delete_team(org: str, team: str, db: Db, principal: SignedIn) -> Response:
    await _org_admin(db, principal, org)
    await accounts.delete_team(db, org, team)
    return Response(status_code=204)


@router.get("/accounts/{org}/teams/{team}/members")
async def list_team_members(org: str, team: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    members = await accounts.team_members(db, org, team)
    return {"members": [{"member": m.wire(), "isAdmin": False} for m in members]}


@router.put("/accounts/{org}/teams/{team}/members/{user}")
async def add_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> dict[str, Any]:
    await _org_admin(db, principal, org)
    await accounts.add_team_member(db, org, team, user)
    return {"member": (await accounts.get(db, user)).wire(), "isAdmin": False}


@router.delete("/accounts/{org}/teams/{team}/members/{user}", status_code=204)
async def remove_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> Response:
    await _org_admin(db, principal, org)
    await accounts.remove_team_member(db, org, team, user)
    return Response(status_code=204)
