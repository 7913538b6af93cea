"""What every /api/v0 and /enzi/v0 route shares: who is asking, what they may do, paging, errors."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level, Principal, RepositoryFacts
from moorage.db.engine import Database
from moorage.errors import Denied, MoorageError, NoSuchRepository, Unauthorized
from moorage.http.authn import RbacAuthorizer
from moorage.registry import repositories

log = logging.getLogger("moorage.api")
MAX_PAGE = 1000


def error_response(exc: MoorageError) -> Response:
    entry: dict[str, Any] = {"code": exc.api_code or exc.code, "message": exc.message}
    if exc.detail is not None:
        entry["detail"] = exc.detail
    headers = dict(exc.headers)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="moorage"')
    return Response(
        json.dumps({"errors": [entry]}).encode(),
        status_code=exc.status,
        media_type="application/json",
        headers=headers,
    )


async def moorage_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MoorageError)
    return error_response(exc)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    body = {"errors": [{"code": "INVALID_JSON", "message": "invalid request", "detail": problems}]}
    return Response(json.dumps(body).encode(), status_code=400, media_type="application/json")


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.error("unhandled API error", exc_info=exc)
    return error_response(MoorageError("internal server error"))


def authorizer(request: Request) -> RbacAuthorizer:
    found: RbacAuthorizer = request.app.state.authorizer
    return found


def database(request: Request) -> Database:
    return authorizer(request).ctx_db


async def current_principal(request: Request) -> Principal:
    """The caller of an API route: Basic credentials (password or access token) or nobody; a
    registry bearer token is refused (401), whatever its scope."""
    return await authorizer(request).api_principal(request)


async def signed_in(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.is_anonymous:
        raise Unauthorized("sign in first")
    return principal


async def administrator(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    if not principal.is_admin:
        raise Denied("only system administrators may do this")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
SignedIn = Annotated[Principal, Depends(signed_in)]
Admin = Annotated[Principal, Depends(administrator)]
Db = Annotated[Database, Depends(database)]
PageStart = Annotated[str | None, Query(alias="pageStart")]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE)]


def paged(body: Any, next_start: str | None) -> Response:
    headers = {"X-Next-Page-Start": next_start} if next_start else {}
    return Response(json.dumps(body).encode(), media_type="application/json", headers=headers)


async def repository_level(db: Database, principal: Principal, name: str) -> tuple[Level, Any]:
    """The caller's level on an existing repository; 404 when it may not even see it."""
    try:
        repo = await repositories.details(db, name)
    except NoSuchRepository:
        raise
    facts = RepositoryFacts(name, repo.namespace, repo.id, repo.visibility)
    level = await grants.level_on(db, principal, facts)
    if level < Level.READ_ONLY:
        raise NoSuchRepository(detail={"name": name})
    return level, repo


async def namespace_level(db: Database, principal: Principal, namespace: str) -> Level:
    async with db.read() as conn:
        return await grants.namespace_level(conn, principal, namespace)


async def namespace_types(db: Database, namespaces: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    async with db.read() as conn:
        for ns in namespaces:
            account = await accounts.find(conn, ns)
            out[ns] = "organization" if account and account.is_org else "user"
    return out


def repository_wire(repo: repositories.RepositoryDetails, namespace_type: str) -> dict[str, Any]:
    return {
        "id": str(repo.id),
        "namespace": repo.namespace,
        "namespaceType": namespace_type,
        "name": repo.short_name,
        "shortDescription": repo.short_description,
        "longDescription": repo.long_description,
        "visibility": repo.visibility,
        "scanOnPush": repo.scan_on_push,
        "immutableTags": repo.immutable_tags,
        "enableManifestLists": repo.enable_manifest_lists,
        "tagLimit": repo.tag_limit,
        "pulls": repo.pulls,
        "pushes": repo.pushes,
    }
