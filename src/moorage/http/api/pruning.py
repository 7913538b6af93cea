"""DTR's pruning policies (``/api/v0/repositories/{namespace}/{reponame}/pruningPolicies``):
list, create, replace, test (dry run), get, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.errors import Denied
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.pruning import PrunableTag, PruningPolicy
from moorage.registry import pruning
from moorage.services.access import repository_level

router = APIRouter(tags=["pruning"])


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = True
    rules: list[dict[str, Any]]


async def _repository_admin(db: Db, principal: Principal, name: str) -> int:
    level, repo = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied("only repository administrators may manage pruning policies")
    return int(repo.id)


@router.get("/repositories/{namespace}/{repo}/pruningPolicies")
async def list_policies(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> list[PruningPolicy]:
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    return [PruningPolicy.of(p) for p in await pruning.listing(db, int(details.id))]


@router.post("/repositories/{namespace}/{repo}/pruningPolicies", status_code=201)
async def create_policy(
    namespace: str, repo: str, body: PolicyBody, db: Db, principal: SignedIn
) -> PruningPolicy:
    repository_id = await _repository_admin(db, principal, f"{namespace}/{repo}")
    policy = await pruning.create(db, repository_id, body.enabled, pruning.parse_rules(body.rules))
    return PruningPolicy.of(policy)


@router.put("/repositories/{namespace}/{repo}/pruningPolicies")
async def replace_policies(
    namespace: str, repo: str, body: list[PolicyBody], db: Db, principal: SignedIn
) -> list[PruningPolicy]:
    repository_id = await _repository_admin(db, principal, f"{namespace}/{repo}")
    parsed = [(p.enabled, pruning.parse_rules(p.rules)) for p in body]
    await pruning.replace_all(db, repository_id, parsed)
    return [PruningPolicy.of(p) for p in await pruning.listing(db, repository_id)]


@router.post("/repositories/{namespace}/{repo}/pruningPolicies/test")
async def test_policy(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: Annotated[PolicyBody | None, Body()] = None,
) -> list[PrunableTag]:
    """Dry run: the tags the given policy (or, without a body, the stored policies and the tag
    limit) would prune now."""
    repository_id = await _repository_admin(db, principal, f"{namespace}/{repo}")
    policies = None
    if body is not None:
        rules = pruning.parse_rules(body.rules)
        policies = [pruning.Policy("test", repository_id, True, rules)]
    found = await pruning.plan(db, repository_id, policies, with_limit=body is None)
    return [PrunableTag.of(tag) for tag in found]


@router.get("/repositories/{namespace}/{repo}/pruningPolicies/{policy_id}")
async def get_policy(
    namespace: str, repo: str, policy_id: str, db: Db, principal: SignedIn
) -> PruningPolicy:
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    return PruningPolicy.of(await pruning.get(db, int(details.id), policy_id))


@router.put("/repositories/{namespace}/{repo}/pruningPolicies/{policy_id}")
async def update_policy(
    namespace: str, repo: str, policy_id: str, body: PolicyBody, db: Db, principal: SignedIn
) -> PruningPolicy:
    repository_id = await _repository_admin(db, principal, f"{namespace}/{repo}")
    rules = pruning.parse_rules(body.rules)
    return PruningPolicy.of(await pruning.update(db, repository_id, policy_id, body.enabled, rules))


@router.delete("/repositories/{namespace}/{repo}/pruningPolicies/{policy_id}", status_code=204)
async def delete_policy(
    namespace: str, repo: str, policy_id: str, db: Db, principal: SignedIn
) -> Response:
    repository_id = await _repository_admin(db, principal, f"{namespace}/{repo}")
    await pruning.remove(db, repository_id, policy_id)
    return Response(status_code=204)
