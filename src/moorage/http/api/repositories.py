"""``/api/v0/repositories`` as DTR 2.7 serves it: list (all, one namespace), create, get,
patch, delete, ``scan/toggle`` (scan on push for every repository); and the removal of a whole
namespace (``DELETE /api/v0/accounts/{namespace}[/repositories]``). Team access and access
queries: ``team_access``.

Lists page by repository name: ``pageStart`` (the first repository's name; in a namespace
listing, without the namespace), ``pageSize``, ``X-Next-Page-Start`` while there is more,
``count=true`` → ``X-Resource-Count``; a caller sees only the repositories it may pull."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level, Principal
from moorage.errors import Denied, InvalidInput, NoSuchAccount, NoSuchRepository
from moorage.http.api.common import (
    Admin,
    Caller,
    Count,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    next_page,
    resource_count,
)
from moorage.http.api.models.repositories import Repository, RepositoryList
from moorage.registry import repositories
from moorage.services.access import namespace_level, namespace_types, repository_level
from moorage.services.accounts import require_org_admin

router = APIRouter(tags=["repositories"])


class RepositorySettings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    visibility: str | None = None
    shortDescription: str | None = None
    longDescription: str | None = None
    immutableTags: bool | None = None
    scanOnPush: bool | None = None
    enableManifestLists: bool | None = None
    tagLimit: int | None = None


class NewRepository(RepositorySettings):
    name: str


class ToggleScanOnPush(BaseModel):
    """DTR's ``forms.ToggleScanOnPush``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    scan_on_push: bool = Field(alias="scanOnPush", strict=True)


async def _repository(db: Db, repo: repositories.RepositoryDetails) -> Repository:
    types = await namespace_types(db, {repo.namespace})
    return Repository.of(repo, types[repo.namespace])


@router.get("/repositories")
@router.get("/repositories/", include_in_schema=False)  # as DTR clients ask (Go's)
async def list_repositories(
    db: Db,
    principal: Caller,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    with_count: Count = False,
) -> RepositoryList:
    """DTR's ``ListRepositories``: the repositories the caller may pull (anonymous callers:
    the public ones)."""
    visible = grants.visible_repositories(principal)
    rows, nxt = await repositories.page(
        db, visible=visible, namespace=None, start=page_start, limit=page_size
    )
    next_page(response, nxt)
    if with_count:
        resource_count(response, await repositories.count(db, visible=visible))
    return RepositoryList.of(rows, await namespace_types(db, {r.namespace for r in rows}))


@router.get("/repositories/{namespace}")
async def list_namespace(
    namespace: str,
    db: Db,
    principal: Caller,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    with_count: Count = False,
) -> RepositoryList:
    """DTR's ``ListNamespaceRepositories``: 404 ``NO_SUCH_ACCOUNT`` for no such namespace."""
    async with db.read() as conn:
        if await accounts.find(conn, namespace) is None:
            raise NoSuchAccount(detail={"name": namespace})
    visible = grants.visible_repositories(principal)
    if with_count:
        total = await repositories.count(db, visible=visible, namespace=namespace)
        resource_count(response, total)
    rows, nxt = await repositories.page(
        db,
        visible=visible,
        namespace=namespace,
        start=f"{namespace}/{page_start}" if page_start else None,
        limit=page_size,
    )
    next_start = nxt[len(namespace) + 1 :] if nxt else None
    next_page(response, next_start)
    return RepositoryList.of(rows, await namespace_types(db, {r.namespace for r in rows}))


@router.post("/repositories/{namespace}", status_code=201)
async def create_repository(
    namespace: str, body: NewRepository, db: Db, principal: SignedIn
) -> Repository:
    """DTR's ``CreateRepository``: for the namespace's administrators (the user, the org's
    owners, admin-level teams of the namespace, system admins); 404 ``NO_SUCH_ACCOUNT``, 400
    ``REPOSITORY_EXISTS``, 400 ``INVALID_REPOSITORY_VISIBILITY``."""
    async with db.read() as conn:
        owner = await accounts.find(conn, namespace)
    if owner is None:
        raise NoSuchAccount(f"no account named {namespace!r} to hold the repository")
    if await namespace_level(db, principal, namespace) < Level.ADMIN:
        raise Denied("only the namespace's administrators may create repositories in it")
    if "/" in body.name:
        raise InvalidInput("repository name must be a single path component")
    attrs = body.model_dump(exclude_none=True, exclude={"name"})
    repo = await repositories.create(db, f"{namespace}/{body.name}", attrs, principal.name)
    return await _repository(db, repo)


@router.get("/repositories/{namespace}/{repo}")
async def get_repository(namespace: str, repo: str, db: Db, principal: Caller) -> Repository:
    """DTR's ``GetRepository``: 404 ``NO_SUCH_REPOSITORY`` also for one the caller may not
    see."""
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    return await _repository(db, details)


async def _admin_of(db: Db, principal: Principal, name: str) -> repositories.RepositoryDetails:
    level, details = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied("only repository administrators may do this")
    return details


@router.patch("/repositories/{namespace}/{repo}")
async def update_repository(
    namespace: str, repo: str, body: RepositorySettings, db: Db, principal: SignedIn
) -> Repository:
    """DTR's ``PatchRepository`` (``forms.UpdateRepo``; what is left out stays): for the
    repository's administrators; the name cannot change (400)."""
    name = f"{namespace}/{repo}"
    await _admin_of(db, principal, name)
    updated = await repositories.modify(
        db, name, body.model_dump(exclude_none=True), principal.name
    )
    return await _repository(db, updated)


@router.delete("/repositories/{namespace}/{repo}", status_code=204)
async def delete_repository(
    namespace: str, repo: str, db: Db, principal: SignedIn, domain: str | None = None
) -> Response:
    """DTR's ``DeleteRepository``: 204 on success or when there is no such repository (so
    also for one the caller may not see: it is left alone); 403 for who sees it but does not
    administer it. ``domain`` (DTR's Notary host) is accepted and unused."""
    name = f"{namespace}/{repo}"
    try:
        await _admin_of(db, principal, name)
        await repositories.remove(db, name, principal.name)
    except NoSuchRepository:
        pass
    return Response(status_code=204)


@router.post(
    "/repositories/scan/toggle",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "scan on push toggled for all repositories (no body)"}},
)
async def toggle_scan_on_push(body: ToggleScanOnPush, db: Db, principal: Admin) -> Response:
    """DTR's ``ToggleAllRepositoriesScanOnPush``: ``scanOnPush`` of every repository set at
    once. Every repository means admin access to each, so: system administrators only."""
    await repositories.set_scan_on_push_everywhere(db, body.scan_on_push, principal.name)
    return Response(status_code=200)


# ---- a whole namespace -----------------------------------------------------------------------


async def _remove_all(db: Db, namespace: str, actor: str | None) -> None:
    for name in await repositories.names_in(db, namespace):
        with contextlib.suppress(NoSuchRepository):  # removed meanwhile
            await repositories.remove(db, name, actor)


@router.delete("/accounts/{namespace}", status_code=204)
async def delete_namespace(namespace: str, db: Db, principal: Admin) -> Response:
    """DTR: a user or an organization with all its repositories, for system administrators;
    204 also when there is no such account (bytes go to garbage collection)."""
    if principal.name == namespace:
        raise InvalidInput("administrators cannot delete their own account")
    await _remove_all(db, namespace, principal.name)
    with contextlib.suppress(NoSuchAccount):
        await accounts.remove(db, namespace)
    return Response(status_code=204)


@router.delete("/accounts/{namespace}/repositories", status_code=204)
async def delete_namespace_repositories(namespace: str, db: Db, principal: SignedIn) -> Response:
    """DTR's (deprecated) removal of every repository of a namespace: system administrators,
    the user in question, or the organization's owners; the account stays."""
    async with db.read() as conn:
        owner = await accounts.find(conn, namespace)
    if owner is None:
        raise NoSuchAccount(detail={"name": namespace})
    if owner.is_org:
        await require_org_admin(db, principal, namespace)
    elif not principal.is_admin and principal.name != namespace:
        raise Denied("only the user and system administrators may do this")
    await _remove_all(db, namespace, principal.name)
    return Response(status_code=204)
