"""``/api/v0/repositories``, team access on repositories and namespaces, access queries, and
the removal of a whole namespace (``DELETE /api/v0/accounts/{namespace}[/repositories]``)."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level, Principal, RepositoryFacts
from moorage.errors import Denied, InvalidInput, NoSuchAccount, NoSuchRepository, NotFound
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
from moorage.http.api.models.accounts import Account, Team
from moorage.http.api.models.repositories import (
    NamespaceTeamAccess,
    NamespaceTeamAccessList,
    Repository,
    RepositoryAccess,
    RepositoryList,
    RepositoryTeamAccess,
    RepositoryTeamAccessList,
    TeamAccess,
    TeamRepositoryAccessList,
    UserRepositoryAccess,
)
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


class AccessLevel(BaseModel):
    access_level: str = Field(alias="accessLevel")


def _level(value: str) -> Level:
    try:
        return Level.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


async def _repository(db: Db, repo: repositories.RepositoryDetails) -> Repository:
    types = await namespace_types(db, {repo.namespace})
    return Repository.of(repo, types[repo.namespace])


async def _repositories(db: Db, repos: list[repositories.RepositoryDetails]) -> list[Repository]:
    types = await namespace_types(db, {r.namespace for r in repos})
    return [Repository.of(r, types[r.namespace]) for r in repos]


@router.get("/repositories")
async def list_repositories(
    db: Db,
    principal: Caller,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    with_count: Count = False,
) -> RepositoryList:
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
    async with db.read() as conn:
        owner = await accounts.find(conn, namespace)
    if owner is None:
        raise NoSuchAccount(f"no account named {namespace!r} to hold the repository")
    if await namespace_level(db, principal, namespace) < Level.READ_WRITE:
        raise Denied("you may not create repositories in this namespace")
    if "/" in body.name:
        raise InvalidInput("repository name must be a single path component")
    attrs = body.model_dump(exclude_none=True, exclude={"name"})
    repo = await repositories.create(db, f"{namespace}/{body.name}", attrs, principal.name)
    return await _repository(db, repo)


@router.get("/repositories/{namespace}/{repo}")
async def get_repository(namespace: str, repo: str, db: Db, principal: Caller) -> Repository:
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
    name = f"{namespace}/{repo}"
    await _admin_of(db, principal, name)
    updated = await repositories.modify(
        db, name, body.model_dump(exclude_none=True), principal.name
    )
    return await _repository(db, updated)


@router.delete("/repositories/{namespace}/{repo}", status_code=204)
async def delete_repository(namespace: str, repo: str, db: Db, principal: SignedIn) -> Response:
    name = f"{namespace}/{repo}"
    await _admin_of(db, principal, name)
    await repositories.remove(db, name, principal.name)
    return Response(status_code=204)


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


# ---- team access on a repository -----------------------------------------------------------


@router.get("/repositories/{namespace}/{repo}/teamAccess")
async def list_team_access(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> RepositoryTeamAccessList:
    details = await _admin_of(db, principal, f"{namespace}/{repo}")
    entries = await grants.repository_access_list(db, details.id)
    return RepositoryTeamAccessList(
        repository=await _repository(db, details),
        team_access_list=[
            TeamAccess(access_level=g.level.label, team=Team.of(g.team)) for g in entries
        ],
    )


@router.put("/repositories/{namespace}/{repo}/teamAccess/{team}")
async def grant_team_access(
    namespace: str, repo: str, team: str, body: AccessLevel, db: Db, principal: SignedIn
) -> RepositoryTeamAccess:
    details = await _admin_of(db, principal, f"{namespace}/{repo}")
    level = _level(body.access_level)
    granted = await grants.set_repository_access(
        db, details.id, namespace, team, level, principal.name
    )
    return RepositoryTeamAccess(
        access_level=level.label, team=Team.of(granted), repository=await _repository(db, details)
    )


@router.delete("/repositories/{namespace}/{repo}/teamAccess/{team}", status_code=204)
async def revoke_team_access(
    namespace: str, repo: str, team: str, db: Db, principal: SignedIn
) -> Response:
    details = await _admin_of(db, principal, f"{namespace}/{repo}")
    await grants.remove_repository_access(db, details.id, namespace, team, principal.name)
    return Response(status_code=204)


# ---- team access on a namespace ------------------------------------------------------------


async def _namespace_admin(db: Db, principal: Principal, namespace: str) -> accounts.Account:
    async with db.read() as conn:
        org = await accounts.require_org(conn, namespace)
    if await namespace_level(db, principal, namespace) < Level.ADMIN:
        raise Denied("only namespace administrators may do this")
    return org


@router.get("/repositoryNamespaces/{namespace}/teamAccess")
async def list_namespace_access(
    namespace: str, db: Db, principal: SignedIn
) -> NamespaceTeamAccessList:
    org = await _namespace_admin(db, principal, namespace)
    entries = await grants.namespace_access_list(db, namespace)
    return NamespaceTeamAccessList(
        namespace=Account.of(org),
        team_access_list=[
            TeamAccess(access_level=g.level.label, team=Team.of(g.team)) for g in entries
        ],
    )


@router.get("/repositoryNamespaces/{namespace}/teamAccess/{team}")
async def get_namespace_access(
    namespace: str, team: str, db: Db, principal: SignedIn
) -> NamespaceTeamAccess:
    """One team's grant on the organization's namespace, for those DTR shows it to: namespace
    administrators (system admins, the org's owners) and members of that team. Others of the
    org get 403; a caller outside the org learns nothing of its teams (403 before the team is
    looked up). A team without a grant: 404."""
    async with db.read() as conn:
        org = await accounts.require_org(conn, namespace)
    is_admin = await namespace_level(db, principal, namespace) >= Level.ADMIN
    if not is_admin:
        members = {m.id for m, _ in await accounts.org_members(db, namespace)}
        if principal.account_id not in members:
            raise Denied("only members of the organization may ask about its teams")
    granted = await accounts.get_team(db, namespace, team)
    if not is_admin:
        members = {m.id for m in await accounts.team_members(db, namespace, team)}
        if principal.account_id not in members:
            raise Denied("only namespace administrators and members of the team may see this")
    found = [
        g for g in await grants.namespace_access_list(db, namespace) if g.team.id == granted.id
    ]
    if not found:
        raise NotFound(f"the team {team!r} has no access to the namespace {namespace!r}")
    return NamespaceTeamAccess(
        access_level=found[0].level.label, team=Team.of(granted), namespace=Account.of(org)
    )


@router.put("/repositoryNamespaces/{namespace}/teamAccess/{team}")
async def grant_namespace_access(
    namespace: str, team: str, body: AccessLevel, db: Db, principal: SignedIn
) -> NamespaceTeamAccess:
    org = await _namespace_admin(db, principal, namespace)
    level = _level(body.access_level)
    granted = await grants.set_namespace_access(db, namespace, team, level, principal.name)
    return NamespaceTeamAccess(
        access_level=level.label, team=Team.of(granted), namespace=Account.of(org)
    )


@router.delete("/repositoryNamespaces/{namespace}/teamAccess/{team}", status_code=204)
async def revoke_namespace_access(
    namespace: str, team: str, db: Db, principal: SignedIn
) -> Response:
    await _namespace_admin(db, principal, namespace)
    await grants.remove_namespace_access(db, namespace, team, principal.name)
    return Response(status_code=204)


# ---- what an account or team may do ---------------------------------------------------------


@router.get("/accounts/{user}/repositoryAccess/{namespace}/{repo}")
async def user_repository_access(
    user: str, namespace: str, repo: str, db: Db, principal: SignedIn
) -> UserRepositoryAccess:
    if not principal.is_admin and principal.name != user:
        raise Denied("only administrators may ask about other users")
    account = await accounts.get(db, user)
    if account.is_org:
        raise InvalidInput("repository access is asked for a user")
    subject = Principal(account.id, account.name, account.is_admin, "query")
    # The caller's own view first: a repository the caller may not see answers exactly as one
    # that does not exist (same 404, same body), whatever the queried user could do there.
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    facts = RepositoryFacts(details.name, details.namespace, details.id, details.visibility)
    level = await grants.level_on(db, subject, facts) if account.is_active else Level.NONE
    return UserRepositoryAccess(
        access_level=level.label,
        repository=await _repository(db, details),
        user=Account.of(account, with_email=True),  # the caller is an admin or this user
    )


@router.get("/accounts/{org}/teams/{team}/repositoryAccess")
async def team_repository_access(
    org: str, team: str, db: Db, principal: SignedIn
) -> TeamRepositoryAccessList:
    if not principal.is_admin and await namespace_level(db, principal, org) < Level.ADMIN:
        async with db.read() as conn:
            found = await accounts.require_team(conn, org, team)
        members = {m.id for m in await accounts.team_members(db, org, team)}
        if principal.account_id not in members:
            raise Denied("only the team's members and the organization's owners may ask")
        del found
    found_team = await accounts.get_team(db, org, team)
    levels = await grants.team_repository_access(db, org, team)
    repos = await repositories.by_ids(db, [rid for rid, _ in levels])
    wired = dict(zip(repos, await _repositories(db, list(repos.values())), strict=True))
    return TeamRepositoryAccessList(
        team=Team.of(found_team),
        repository_access_list=[
            RepositoryAccess(access_level=level.label, repository=wired[rid])
            for rid, level in levels
            if rid in wired
        ],
    )
