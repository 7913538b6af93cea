"""``/api/v0/api_tokens``: access tokens usable as a password for docker login and the API,
as DTR 2.7 has them (Swagger tag ``api_tokens``).

The list is a bare array of ``responses.APIToken``, paged (``pageStart`` is a hashed token,
``X-Next-Page-Start`` the next one; ``count=true`` adds ``X-Resource-Count``), and holds both
kinds DTR's ``generatedBy`` names: ``manual`` (access tokens users made) and ``auto`` (the
refresh tokens docker logins made). ``POST`` answers 200 with ``responses.NewAPIToken``, the
only answer that ever carries a secret; the deletes answer 200 (DTR's codes).

Managing one's own tokens needs the password (Basic with the password, or the web UI signed in
with it): an access token may not list, create, change or revoke tokens, so a leaked one
cannot mint successors that outlive its revocation. System administrators manage other
users' tokens (``?username=``) with any of their credentials, and list everyone's (no
``username``, DTR's "all tokens if no user is specified") with their password, since that
list holds their own; nobody else sees them."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import access_tokens, accounts
from moorage.auth.access_tokens import NoSuchTokenOwner
from moorage.auth.credentials import require_own_credentials
from moorage.auth.levels import Principal
from moorage.errors import Denied, InvalidParameters, NoSuchAccount
from moorage.http.api.common import (
    Count,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    next_page,
    query_time,
    resource_count,
)
from moorage.http.api.models.tokens import ApiToken, NewApiToken

router = APIRouter(tags=["api_tokens"])

# DTR's ``generatedby`` (``user``: Moorage's earlier name for ``manual``, still read).
GENERATED_BY = {**access_tokens.KINDS_MADE, "user": (access_tokens.API,)}
MASS_DELETE_FILTERS = frozenset({"username", "usedbefore", "generatedby"})
EVERY = access_tokens.EVERY_KIND


class NewToken(BaseModel):
    """DTR's ``forms.CreateAPIToken``."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    token_label: str = Field("", alias="tokenLabel")


class TokenChanges(BaseModel):
    """DTR's ``forms.UpdateAPIToken``."""

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
    try:
        account = await accounts.get(db, name)
    except NoSuchAccount as exc:
        raise NoSuchTokenOwner(f"no user {name!r}", detail=exc.detail) from exc
    if account.is_org:  # DTR's ``username`` names a user: an organization is none
        raise NoSuchTokenOwner(f"{name!r} is an organization, not a user", detail={"name": name})
    _may_manage(principal, account.id)
    return account


async def _own_token(db: Db, principal: Principal, hashed: str) -> access_tokens.TokenInfo:
    info = await access_tokens.get(db, hashed, kinds=EVERY)
    _may_manage(principal, info.account_id)
    return info


def _user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


@router.get("/api_tokens")
async def list_tokens(
    db: Db,
    principal: SignedIn,
    response: Response,
    username: str | None = Query(None),
    page_start: PageStart = None,
    page_size: PageSize = 10,
    count: Count = False,
) -> list[ApiToken]:
    """DTR's ``GetAllAPITokensByUser``: the tokens of ``username``; without it, a system
    administrator's list holds every user's tokens ("all tokens if no user is specified") and
    anyone else's their own. Oldest first, paged by hashed token."""
    owner_id: int | None
    if username is None and principal.is_admin:
        require_own_credentials(principal)  # everyone's holds the caller's own: the password
        owner_id = None
    else:
        owner_id = (await _owner(db, principal, username)).id
    if page_start:
        first = await access_tokens.list_for(db, owner_id, kinds=EVERY, start=page_start, limit=1)
        if not first or first[0].hashed != page_start:
            raise InvalidParameters(
                "pageStart is not one of the listed tokens",
                detail={"pageStart": page_start[:64]},
            )
    found = await access_tokens.list_for(
        db, owner_id, kinds=EVERY, start=page_start or None, limit=page_size + 1
    )
    next_page(response, found[page_size].hashed if len(found) > page_size else None)
    if count:
        total = await access_tokens.count_for(db, owner_id, kinds=EVERY)
        resource_count(response, total)
    return [ApiToken.of(t) for t in found[:page_size]]


@router.post("/api_tokens")
async def create_token(
    body: NewToken,
    request: Request,
    db: Db,
    principal: SignedIn,
    username: str | None = Query(None),
) -> NewApiToken:
    owner = await _owner(db, principal, username)
    token, hashed = await access_tokens.issue(
        db,
        owner.id,
        kind=access_tokens.API,
        label=body.token_label,
        creator_ua=_user_agent(request),
    )
    made = ApiToken.of(await access_tokens.get(db, hashed))
    return NewApiToken(**dict(made), token=token)


@router.delete(
    "/api_tokens",
    response_class=Response,
    responses={200: {"description": "deleted (no body, as DTR)"}},
)
async def delete_tokens(
    request: Request,
    db: Db,
    principal: SignedIn,
    username: str | None = Query(None),
    usedbefore: str | None = Query(None),
    generatedby: str = Query(access_tokens.AUTO),
) -> Response:
    """DTR's mass delete: the tokens of ``username`` (default: the caller) made the
    ``generatedby`` way (``auto``, DTR's default: the refresh tokens of logins; ``manual``:
    access tokens) and, with ``usedbefore``, only those not used since then (a token never
    used counts from its creation). Every filter selects; one the server does not know is
    refused (400 INVALID_PARAMETERS), never ignored."""
    unknown = sorted(set(request.query_params) - MASS_DELETE_FILTERS)
    if unknown:
        raise InvalidParameters(
            f"unknown filter {unknown[0]!r}: use username, usedbefore and generatedby",
            detail={"unknown": unknown[:10]},
        )
    kinds = GENERATED_BY.get(generatedby)
    if kinds is None:
        raise InvalidParameters(
            "generatedby must be auto or manual", detail={"generatedby": generatedby[:64]}
        )
    used_before = query_time("usedbefore", usedbefore) if usedbefore is not None else None
    owner = await _owner(db, principal, username)
    await access_tokens.revoke_matching(db, owner.id, kinds=kinds, used_before=used_before)
    return Response(status_code=200)


@router.get("/api_tokens/{hashedtoken}")
async def get_token(hashedtoken: str, db: Db, principal: SignedIn) -> ApiToken:
    return ApiToken.of(await _own_token(db, principal, hashedtoken))


@router.patch("/api_tokens/{hashedtoken}")
async def update_token(
    hashedtoken: str, body: TokenChanges, db: Db, principal: SignedIn
) -> ApiToken:
    await _own_token(db, principal, hashedtoken)
    info = await access_tokens.modify(
        db, hashedtoken, label=body.token_label, is_active=body.is_active, kinds=EVERY
    )
    return ApiToken.of(info)


@router.delete(
    "/api_tokens/{hashedtoken}",
    response_class=Response,
    responses={200: {"description": "deleted (no body, as DTR)"}},
)
async def delete_token(hashedtoken: str, db: Db, principal: SignedIn) -> Response:
    await _own_token(db, principal, hashedtoken)
    await access_tokens.revoke(db, hashedtoken)
    return Response(status_code=200)
