"""``/api/v0/api_tokens``: access tokens usable as a password for docker login and the API.

Managing one's own tokens needs the password (Basic with the password, or the web UI signed in
with it): an access token may not list, create, change or revoke tokens, so a leaked one
cannot mint successors that outlive its revocation. System administrators manage other
users' tokens (``?username=``) with any of their credentials."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import access_tokens, accounts
from moorage.auth.credentials import require_own_credentials
from moorage.auth.levels import Principal
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.tokens import ApiToken, ApiTokenList, NewApiToken

router = APIRouter(tags=["access tokens"])

# DTR's ``generatedby``: tokens a user made (access tokens) or tokens logins made by
# themselves (the refresh tokens of docker logins).
GENERATED_BY = {"user": (access_tokens.API,), "auto": (access_tokens.REFRESH,)}
MASS_DELETE_FILTERS = frozenset({"username", "usedbefore", "generatedby"})


class NewToken(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    token_label: str = Field("", alias="tokenLabel")


class TokenChanges(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    token_label: str | None = Field(None, alias="tokenLabel")
    is_active: bool | None = Field(None, alias="isActive")


def _may_manage(principal: Principal, account_id: int) -> None:
    if account_id == principal.account_id:
        require_own_credentials(principal)
    elif not principal.is_admin:
        raise Denied("only administrators may manage other users' tokens")


async def _owner(db: Db, principal: Principal, username: str | None) -> accounts.Account:
    name = username or principal.name
    if name != principal.name and not principal.is_admin:
        raise Denied("only administrators may manage other users' tokens")
    assert name is not None
    account = await accounts.get(db, name)
    if account.is_org:
        raise InvalidInput("organizations have no access tokens")
    _may_manage(principal, account.id)
    return account


async def _own_token(db: Db, principal: Principal, hashed: str) -> access_tokens.TokenInfo:
    info = await access_tokens.get(db, hashed)
    if info.account_id != principal.account_id and not principal.is_admin:
        raise Denied("not your token")
    _may_manage(principal, info.account_id)
    return info


def parse_used_before(value: str) -> dt.datetime:
    """DTR's ``usedbefore``: an RFC 3339 date-time (or a date: its midnight, UTC)."""
    text = value.strip()
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            "usedbefore must be a date-time such as 2024-01-31T00:00:00Z",
            detail={"usedbefore": value[:64]},
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@router.get("/api_tokens")
async def list_tokens(
    db: Db, principal: SignedIn, username: str | None = Query(None)
) -> ApiTokenList:
    owner = await _owner(db, principal, username)
    found = await access_tokens.list_for(db, owner.id)
    return ApiTokenList(api_tokens=[ApiToken.of(t) for t in found])


@router.post("/api_tokens", status_code=201)
async def create_token(
    body: NewToken, db: Db, principal: SignedIn, username: str | None = Query(None)
) -> NewApiToken:
    owner = await _owner(db, principal, username)
    token, hashed = await access_tokens.issue(
        db, owner.id, kind=access_tokens.API, label=body.token_label
    )
    made = ApiToken.of(await access_tokens.get(db, hashed))
    return NewApiToken(**dict(made), token=token)


@router.delete("/api_tokens", status_code=204)
async def delete_tokens(
    request: Request,
    db: Db,
    principal: SignedIn,
    username: str | None = Query(None),
    usedbefore: str | None = Query(None),
    generatedby: str = Query("auto"),
) -> Response:
    """DTR's mass delete: the tokens of ``username`` (default: the caller) made the
    ``generatedby`` way (``auto``, DTR's default: the refresh tokens of logins; ``user``: access
    tokens) and, with ``usedbefore``, only those not used since then. Every filter selects;
    one the server does not know is refused (400), never ignored."""
    unknown = sorted(set(request.query_params) - MASS_DELETE_FILTERS)
    if unknown:
        raise InvalidInput(
            f"unknown filter {unknown[0]!r}: use username, usedbefore and generatedby",
            detail={"unknown": unknown[:10]},
        )
    kinds = GENERATED_BY.get(generatedby)
    if kinds is None:
        raise InvalidInput(
            "generatedby must be auto or user", detail={"generatedby": generatedby[:64]}
        )
    used_before = parse_used_before(usedbefore) if usedbefore is not None else None
    owner = await _owner(db, principal, username)
    await access_tokens.revoke_matching(db, owner.id, kinds=kinds, used_before=used_before)
    return Response(status_code=204)


@router.patch("/api_tokens/{hashed}")
async def update_token(hashed: str, body: TokenChanges, db: Db, principal: SignedIn) -> ApiToken:
    await _own_token(db, principal, hashed)
    info = await access_tokens.modify(db, hashed, label=body.token_label, is_active=body.is_active)
    return ApiToken.of(info)


@router.delete("/api_tokens/{hashed}", status_code=204)
async def delete_token(hashed: str, db: Db, principal: SignedIn) -> Response:
    await _own_token(db, principal, hashed)
    await access_tokens.revoke(db, hashed)
    return Response(status_code=204)
