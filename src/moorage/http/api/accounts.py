"""``/enzi/v0/accounts``: users, organizations, teams and memberships (DTR took these from enzi).

An account's e-mail address is shown only to system administrators and to the account itself.
A new password for one's own account needs the current one (``oldPassword``), given with the
password itself (not an access token); system administrators set other users' passwords
without it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts
from moorage.auth.credentials import Authenticator
from moorage.auth.levels import Level, Principal
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import (
    MAX_PAGE,
    Admin,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    authorizer,
    namespace_level,
    paged,
)
from moorage.http.authn import client_source

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


class Membership(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    is_admin: bool = Field(False, alias="isAdmin")
    is_public: bool = Field(True, alias="isPublicMember")


def account_wire(account: accounts.Account, principal: Principal) -> dict[str, Any]:
    """The account object as ``principal`` may see it (its e-mail: admins and itself)."""
    return account.wire(with_email=principal.is_admin or principal.account_id == account.id)


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
    return account_wire(account, principal)


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
    return paged(
        {"accounts": [account_wire(a, principal) for a in rows], "nextPageStart": nxt or ""}, nxt
    )


@router.get("/accounts/{name}")
async def get_account(name: str, db: Db, principal: SignedIn) -> dict[str, Any]:
    return account_wire(await accounts.get(db, name), principal)


@router.patch("/accounts/{name}")
async def update_account(
    request: Request, name: str, body: AccountChanges, db: Db, principal: SignedIn
) -> dict[str, Any]:
    changes = body.model_dump(by_alias=True, exclude_none=True)
    current = changes.pop("oldPassword", None)
    account = await change_account(
        db,
        principal,
        name,
        changes,
        authenticator=authorizer(request).authenticator,
        current_password=current,
        source=client_source(request),
    )
    return account_wire(account, principal)


@router.post("/accounts/{name}/changePassword")
async def change_password(
    request: Request, name: str, body: PasswordChange, db: Db, principal: SignedIn
) -> dict[str, Any]:
    account = await change_account(
        db,
        principal,
        name,
        {"password": body.new_password},
        authenticator=authorizer(request).authenticator,
        current_password=body.old_password,
        source=client_source(request),
    )
    return account_wire(account, principal)


async def change_account(
    db: Db,
    principal: Principal,
    name: str,
    changes: dict[str, Any],
    *,
    authenticator: Authenticator | None = None,
    current_password: str | None = None,
    source: str | None = None,
) -> accounts.Account:
    """An account's changes, with the API's checks (shared with the web UI's pages).

    A new password for the caller's own account needs ``current_password``, checked (and
    throttled) by ``authenticator`` against the password alone; a system administrator sets
    another user's password without it. ``accounts.modify`` ends, in its transaction, what a
    new password or a deactivation ends (sessions, refresh tokens, access tokens)."""
    is_self = principal.name == name
    if not principal.is_admin and (not is_self or {"isAdmin", "isActive"} & set(changes)):
        raise Denied("only system administrators may change other accounts or admin status")
    if changes.get("password") is not None and is_self:
        if authenticator is None:
            raise InvalidInput(
                "change your own password on your account page, with your current password"
            )
        await authenticator.confirm_password(principal, current_password or "", source=source)
    return await accounts.modify(db, name, changes)


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
            {"member": account_wire(m, principal), "isAdmin": owner, "isPublic": True}
            for m, owner in members
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
    return {"member": account_wire(member, principal), "isAdmin": is_owner, "isPublic": True}


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
    return {"members": [{"member": account_wire(m, principal), "isAdmin": False} for m in members]}


@router.put("/accounts/{org}/teams/{team}/members/{user}")
async def add_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> dict[str, Any]:
    await _org_admin(db, principal, org)
    await accounts.add_team_member(db, org, team, user)
    member = await accounts.get(db, user)
    return {"member": account_wire(member, principal), "isAdmin": False}


@router.delete("/accounts/{org}/teams/{team}/members/{user}", status_code=204)
async def remove_team_member(
    org: str, team: str, user: str, db: Db, principal: SignedIn
) -> Response:
    await _org_admin(db, principal, org)
    await accounts.remove_team_member(db, org, team, user)
    return Response(status_code=204)
