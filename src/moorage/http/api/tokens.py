"""``/api/v0/api_tokens``: access tokens usable as a password for docker login and the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import access_tokens, accounts
from moorage.auth.levels import Principal
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import Db, SignedIn

router = APIRouter(tags=["access tokens"])


class NewToken(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    token_label: str = Field("", alias="tokenLabel")


class TokenChanges(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    token_label: str | None = Field(None, alias="tokenLabel")
    is_active: bool | None = Field(None, alias="isActive")


async def _owner(db: Db, principal: Principal, username: str | None) -> accounts.Account:
    name = username or principal.name
    if name != principal.name and not principal.is_admin:
        raise Denied("only administrators may manage other users' tokens")
    assert name is not None
    account = await accounts.get(db, name)
    if account.is_org:
        raise InvalidInput("organizations have no access tokens")
    return account


async def _own_token(db: Db, principal: Principal, hashed: str) -> access_tokens.TokenInfo:
    info = await access_tokens.get(db, hashed)
    if info.account_id != principal.account_id and not principal.is_admin:
        raise Denied("not your token")
    return info


@router.get("/api_tokens")
async def list_tokens(
    db: Db, principal: SignedIn, username: str | None = Query(None)
) -> dict[str, Any]:
    owner = await _owner(db, principal, username)
    return {"apiTokens": [t.wire() for t in await access_tokens.list_for(db, owner.id)]}


@router.post("/api_tokens", status_code=201)
async def create_token(
    body: NewToken, db: Db, principal: SignedIn, username: str | None = Query(None)
) -> dict[str, Any]:
    owner = await _owner(db, principal, username)
    token, hashed = await access_tokens.issue(
        db, owner.id, kind=access_tokens.API, label=body.token_label
    )
    return {**(await access_tokens.get(db, hashed)).wire(), "token": token}


@router.delete("/api_tokens", status_code=204)
async def delete_tokens(
    db: Db, principal: SignedIn, username: str | None = Query(None)
) -> Response:
    owner = await _owner(db, principal, username)
    await access_tokens.revoke_all(db, owner.id)
    return Response(status_code=204)


@router.patch("/api_tokens/{hashed}")
async def update_token(
    hashed: str, body: TokenChanges, db: Db, principal: SignedIn
) -> dict[str, Any]:
    await _own_token(db, principal, hashed)
    info = await access_tokens.modify(db, hashed, label=body.token_label, is_active=body.is_active)
    return info.wire()


@router.delete("/api_tokens/{hashed}", status_code=204)
async def delete_token(hashed: str, db: Db, principal: SignedIn) -> Response:
    await _own_token(db, principal, hashed)
    await access_tokens.revoke(db, hashed)
    return Response(status_code=204)
