"""``/api/v0/index/autocomplete``: the search box (repositories the caller may pull, accounts);
``/api/v0/index/dockersearch``: what ``docker search`` shows (repositories the caller may pull)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from moorage.auth import accounts, grants
from moorage.http.api.common import Caller, Db
from moorage.http.api.models.accounts import Account
from moorage.http.api.models.images import DockerRepository, DockerSearch
from moorage.http.api.models.repositories import Autocomplete, Repository
from moorage.http.services import services
from moorage.registry import repositories, search
from moorage.services.access import namespace_types

router = APIRouter(tags=["search"])
AUTOCOMPLETE_LIMIT = 25  # DTR's default


@router.get("/index/autocomplete")
async def autocomplete(
    request: Request,
    db: Db,
    principal: Caller,
    query: Annotated[str, Query(min_length=1, max_length=255)],
    include_repositories: Annotated[bool, Query(alias="includeRepositories")] = True,
    include_accounts: Annotated[bool, Query(alias="includeAccounts")] = True,
    namespace: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = AUTOCOMPLETE_LIMIT,
) -> Autocomplete:
    account_results: list[Account] = []
    repository_results: list[Repository] = []
    if include_accounts and not principal.is_anonymous:
        account_results = [
            # the e-mail only to system administrators and to the account itself
            Account.seen_by(a, principal)
            for a in await accounts.search(db, query, limit)
        ]
    if include_repositories:
        ctx = services(request).registry
        ids = (
            await search.search_repositories(
                ctx,
                query,
                visible=grants.visible_repositories(principal),
                namespace=namespace,
                limit=limit,
            )
        ).ids
        found = await repositories.by_ids(db, ids)
        rows = [found[i] for i in ids if i in found]
        types = await namespace_types(db, {r.namespace for r in rows})
        repository_results = [Repository.of(r, types[r.namespace]) for r in rows]
    return Autocomplete(account_results=account_results, repository_results=repository_results)


DOCKER_SEARCH_LIMIT = 25  # the Docker CLI's own default for --limit


@router.get("/index/dockersearch")
async def docker_search(
    request: Request,
    db: Db,
    principal: Caller,
    q: Annotated[str, Query(max_length=255)],
    n: Annotated[int, Query(ge=1, le=100)] = DOCKER_SEARCH_LIMIT,
) -> DockerSearch:
    """Repositories whose name contains ``q``, only those the caller may pull; ``n`` (the
    Docker CLI's ``--limit``, a Moorage extra) caps ``results``, ``num_results`` counts all."""
    page = await search.search_repositories(
        services(request).registry,
        q,
        visible=grants.visible_repositories(principal),
        namespace=None,
        limit=n,
    )
    found = await repositories.by_ids(db, page.ids)
    rows = [found[i] for i in page.ids if i in found]
    return DockerSearch(
        num_results=page.total,
        query=q,
        results=[DockerRepository(name=r.name, description=r.short_description) for r in rows],
    )
