"""Team access, as DTR 2.7 serves it: teams' grants on an organization's repository
(``/repositories/{ns}/{repo}/teamAccess``) and on its whole namespace
(``/repositoryNamespaces/{ns}/teamAccess``), and the access queries
(``/accounts/{user}/repositoryAccess/{ns}/{repo}``, ``/accounts/{org}/teams/{team}/
repositoryAccess``).

Lists page as DTR's do (``pageStart``: the id of the first record, a team's for team lists, a
repository's for a team's repositories; ``pageSize``; ``count=true`` → ``X-Resource-Count``;
``X-Next-Page-Start`` while there is more). They are short, so a page is cut from the whole
list here rather than in SQL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level, Principal, RepositoryFacts
from moorage.errors import (
    Denied,
    InvalidInput,
    NoSuchAccount,
    NoSuchNamespaceTeamAccess,
    NoSuchTeam,
)
from moorage.http.api.common import (
    Count,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    next_page,
    resource_count,
)
from moorage.http.api.models.accounts import Account
from moorage.http.api.models.repositories import Repository
from moorage.http.api.models.team_access import (
    DtrTeam,
    NamespaceTeamAccess,
    NamespaceTeamAccessList,
    RepositoryAccess,
    RepositoryTeamAccessGrant,
    RepositoryTeamAccessList,
    TeamAccess,
    TeamRepositoryAccessList,
    UserRepositoryAccess,
)
from moorage.registry import repositories
from moorage.services.access import (
    namespace_level,
    namespace_types,
    repository_level,
    teams_of_caller,
)

router = APIRouter(tags=["repositories"])
T = TypeVar("T")


class AccessLevel(BaseModel):
    """DTR's ``forms.Access``."""

    model_config = ConfigDict(populate_by_name=True)

    access_level: str = Field(alias="accessLevel")


def _level(value: str) -> Level:
    try:
        return Level.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), detail={"accessLevel": value}) from exc


def _page(
    items: Sequence[T], key: Callable[[T], str], start: str | None, size: int, response: Response
) -> list[T]:
    """The page of ``items`` from the one whose id (``key``) is ``start``; none when no item
    has that id. Sets ``X-Next-Page-Start``."""
    at = 0
    if start:
        at = next((i for i, item in enumerate(items) if key(item) == start), len(items))
    page = list(items[at : at + size])
    if at + size < len(items):
        next_page(response, key(items[at + size]))
    return page


async def _access_list(
    db: Db, principal: Principal, found: list[grants.TeamGrant]
) -> list[TeamAccess]:
    mine = await teams_of_caller(db, principal, {g.team.id for g in found})
    return [
        TeamAccess(
            access_level=g.level.label,
            team=DtrTeam.of(g.team, caller_is_member=g.team.id in mine),
        )
        for g in found
    ]


async def _team(db: Db, principal: Principal, team: accounts.Team) -> DtrTeam:
    mine = await teams_of_caller(db, principal, {team.id})
    return DtrTeam.of(team, caller_is_member=team.id in mine)


async def _repository(db: Db, repo: repositories.RepositoryDetails) -> Repository:
    types = await namespace_types(db, {repo.namespace})
    return Repository.of(repo, types[repo.namespace])


async def _repository_admin(
    db: Db, principal: Principal, name: str
) -> repositories.RepositoryDetails:
    """The repository, for its administrators; 404 for who may not see it, 403 for who may
    see it but not administer it."""
    level, details = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied("only repository administrators may do this")
    return details


async def _owned_by_org(db: Db, namespace: str) -> None:
    async with db.read() as conn:
        owner = await accounts.find(conn, namespace)
    if owner is None or not owner.is_org:
        raise InvalidInput(
            "the repository is not owned by an organization", detail={"namespace": namespace}
        )


# ---- team access on a repository -----------------------------------------------------------


@router.get("/repositories/{namespace}/{repo}/teamAccess")
async def list_team_access(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    with_count: Count = False,
) -> RepositoryTeamAccessList:
    """DTR's ``ListRepoTeamAccess``: for the repository's administrators."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    found = await grants.repository_access_list(db, details.id)
    if with_count:
        resource_count(response, len(found))
    page = _page(found, lambda g: str(g.team.id), page_start, page_size, response)
    return RepositoryTeamAccessList(
        repository=await _repository(db, details),
        team_access_list=await _access_list(db, principal, page),
    )


@router.put("/repositories/{namespace}/{repo}/teamAccess/{team}")
async def grant_team_access(
    namespace: str, repo: str, team: str, body: AccessLevel, db: Db, principal: SignedIn
) -> RepositoryTeamAccessGrant:
    """DTR's ``GrantRepoTeamAccess``: a team of the organization that owns the repository
    (400 for a user's repository; 404 ``NO_SUCH_TEAM``)."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    level = _level(body.access_level)
    await _owned_by_org(db, namespace)
    granted = await grants.set_repository_access(
        db, details.id, namespace, team, level, principal.name
    )
    return RepositoryTeamAccessGrant(
        repository=await _repository(db, details),
        team_access_list=await _access_list(
            db, principal, await grants.repository_access_list(db, details.id)
        ),
        access_level=level.label,
        team=await _team(db, principal, granted),
    )


@router.delete("/repositories/{namespace}/{repo}/teamAccess/{team}", status_code=204)
async def revoke_team_access(
    namespace: str, repo: str, team: str, db: Db, principal: SignedIn
) -> Response:
    """DTR's ``RevokeRepoTeamAccess``: 204 also when the team has no grant or there is no such
    team; 400 for a user's repository."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    await _owned_by_org(db, namespace)
    with contextlib.suppress(NoSuchTeam):
        await grants.remove_repository_access(db, details.id, namespace, team, principal.name)
    return Response(status_code=204)


# ---- team access on a namespace ------------------------------------------------------------


async def _organization(db: Db, namespace: str) -> accounts.Account:
    """The organization owning ``namespace``: 404 ``NO_SUCH_ACCOUNT`` when there is no such
    account, 400 when it is a user's."""
    async with db.read() as conn:
        owner = await accounts.find(conn, namespace)
    if owner is None:
        raise NoSuchAccount(detail={"name": namespace})
    if not owner.is_org:
        raise InvalidInput(
            "the namespace is not owned by an organization", detail={"namespace": namespace}
        )
    return owner


async def _is_namespace_admin(db: Db, principal: Principal, namespace: str) -> bool:
    return await namespace_level(db, principal, namespace) >= Level.ADMIN


async def _require_namespace_admin(db: Db, principal: Principal, namespace: str) -> None:
    await _organization(db, namespace)
    if not await _is_namespace_admin(db, principal, namespace):
        raise Denied("only namespace administrators may do this")


async def _is_org_member(db: Db, principal: Principal, org: str) -> bool:
    return principal.account_id in {m.id for m, _ in await accounts.org_members(db, org)}


@router.get("/repositoryNamespaces/{namespace}/teamAccess")
async def list_namespace_access(
    namespace: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    with_count: Count = False,
) -> NamespaceTeamAccessList:
    """DTR's ``ListRepoNamespaceTeamAccess``: for system admins and the organization's
    members."""
    await _organization(db, namespace)
    if not await _is_namespace_admin(db, principal, namespace) and not await _is_org_member(
        db, principal, namespace
    ):
        raise Denied("only members of the organization may see its teams' access")
    found = await grants.namespace_access_list(db, namespace)
    if with_count:
        resource_count(response, len(found))
    page = _page(found, lambda g: str(g.team.id), page_start, page_size, response)
    return NamespaceTeamAccessList(
        namespace=namespace, team_access_list=await _access_list(db, principal, page)
    )


@router.get("/repositoryNamespaces/{namespace}/teamAccess/{team}")
async def get_namespace_access(
    namespace: str, team: str, db: Db, principal: SignedIn
) -> NamespaceTeamAccess:
    """DTR's ``GetRepoNamespaceTeamAccess``: for namespace administrators (system admins, the
    org's owners, admin-level teams) and members of that team; others get 403 before the team
    is looked up (nothing learnt of its teams). A team without a grant: 404
    ``NO_SUCH_NAMESPACE_TEAM_ACCESS``."""
    await _organization(db, namespace)
    if not await _is_namespace_admin(db, principal, namespace):
        with contextlib.suppress(NoSuchTeam):
            members = {m.id for m in await accounts.team_members(db, namespace, team)}
            if principal.account_id in members:
                return await _namespace_grant(db, principal, namespace, team)
        raise Denied("only namespace administrators and members of the team may see this")
    return await _namespace_grant(db, principal, namespace, team)


async def _namespace_grant(
    db: Db, principal: Principal, namespace: str, team: str
) -> NamespaceTeamAccess:
    found_team = await accounts.get_team(db, namespace, team)
    found = [
        g for g in await grants.namespace_access_list(db, namespace) if g.team.id == found_team.id
    ]
    if not found:
        raise NoSuchNamespaceTeamAccess(detail={"namespace": namespace, "team": team})
    return NamespaceTeamAccess(
        access_level=found[0].level.label,
        team=await _team(db, principal, found_team),
        namespace=namespace,
    )


@router.put("/repositoryNamespaces/{namespace}/teamAccess/{team}")
async def grant_namespace_access(
    namespace: str, team: str, body: AccessLevel, db: Db, principal: SignedIn
) -> NamespaceTeamAccess:
    """DTR's ``GrantRepoNamespaceTeamAccess``: for namespace administrators; 404
    ``NO_SUCH_TEAM``."""
    await _require_namespace_admin(db, principal, namespace)
    level = _level(body.access_level)
    granted = await grants.set_namespace_access(db, namespace, team, level, principal.name)
    return NamespaceTeamAccess(
        access_level=level.label, team=await _team(db, principal, granted), namespace=namespace
    )


@router.delete("/repositoryNamespaces/{namespace}/teamAccess/{team}", status_code=204)
async def revoke_namespace_access(
    namespace: str, team: str, db: Db, principal: SignedIn
) -> Response:
    """DTR's ``RevokeRepoNamespaceTeamAccess``: 204 also when the team has no grant or there
    is no such team."""
    await _require_namespace_admin(db, principal, namespace)
    with contextlib.suppress(NoSuchTeam):
        await grants.remove_namespace_access(db, namespace, team, principal.name)
    return Response(status_code=204)


# ---- what an account or team may do ---------------------------------------------------------


@router.get("/accounts/{user}/repositoryAccess/{namespace}/{repo}")
async def user_repository_access(
    user: str, namespace: str, repo: str, db: Db, principal: SignedIn
) -> UserRepositoryAccess:
    """DTR's ``GetUserRepoAccess``: for the user in question and system admins."""
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
    org: str,
    team: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    with_count: Count = False,
) -> TeamRepositoryAccessList:
    """DTR's ``ListTeamRepoAccess``: for the organization's owners (and system admins and
    admin-level teams of the namespace) and the team's members; anyone else gets 403 whether
    or not the team exists."""
    if not await _is_namespace_admin(db, principal, org):
        try:
            members = {m.id for m in await accounts.team_members(db, org, team)}
        except (NoSuchTeam, NoSuchAccount):
            members = set()
        if principal.account_id not in members:
            raise Denied("only the team's members and the organization's owners may ask")
    found_team = await accounts.get_team(db, org, team)
    levels = await grants.team_repository_access(db, org, team)
    repos = await repositories.by_ids(db, [rid for rid, _ in levels])
    present = [(repos[rid], level) for rid, level in levels if rid in repos]
    if with_count:
        resource_count(response, len(present))
    page = _page(present, lambda p: str(p[0].id), page_start, page_size, response)
    types = await namespace_types(db, {r.namespace for r, _ in page})
    return TeamRepositoryAccessList(
        team=await _team(db, principal, found_team),
        repository_access_list=[
            RepositoryAccess(
                access_level=level.label, repository=Repository.of(r, types[r.namespace])
            )
            for r, level in page
        ],
    )
