"""``/api/v0/index/autocomplete``: the search box (repositories the caller may pull, accounts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from moorage.auth import accounts, grants
from moorage.auth.levels import Principal
from moorage.http.api.common import Caller, Db, namespace_types, repository_wire
from moorage.registry import repositories, search
from moorage.registry.context import RegistryContext

router = APIRouter(tags=["search"])


def _account_wire(account: accounts.Account, principal: Principal) -> dict[str, Any]:
    """An account as the search box shows it: its e-mail only to system administrators and to
    the account itself."""
    return account.wire(with_email=principal.is_admin or principal.account_id == account.id)


@router.get("/index/autocomplete")
async def autocomplete(
    request: Request,
    db: Db,
    principal: Caller,
    query: Annotated[str, Query(min_length=1, max_length=255)],
    include_repositories: Annotated[bool, Query(alias="includeRepositories")] = True,
    include_accounts: Annotated[bool, Query(alias="includeAccounts")] = True,
    namespace: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    account_results: list[dict[str, Any]] = []
    repository_results: list[dict[str, Any]] = []
    if include_accounts and not principal.is_anonymous:
        account_results = [
            _account_wire(a, principal) for a in await accounts.search(db, query, limit)
        ]
    if include_repositories:
        ctx: RegistryContext = request.app.state.registry
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
        repository_results = [repository_wire(r, types[r.namespace]) for r in rows]
    return {"accountResults": account_results, "repositoryResults": repository_results}
