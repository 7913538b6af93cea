"""DTR's pruning policies (``/api/v0/repositories/{namespace}/{reponame}/pruningPolicies``):
list, create, test (dry run), get, update, delete, as DTR 2.7's API has them, plus Moorage's
PUT of the whole set and a bodiless test (the stored policies and the tag limit).

Readers of the repository list and get; its administrators create, update, delete and test.
A bad form is 400 ``INVALID_PRUNING_POLICY`` and stores nothing. The list and the test page as
DTR's do: ``pageStart`` (a policy id, a tag name: the first of the page), ``pageSize`` (10 by
default), ``X-Next-Page-Start`` for the next page, ``count=true`` → ``X-Resource-Count``.
``initialEvaluation`` (default true, as DTR's) queues a pruning run when a policy is created
or updated enabled. The form is read by hand (not a pydantic model) so that every malformed
body answers DTR's error code rather than a generic validation error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.errors import Denied, InvalidParameters, InvalidPruningPolicy
from moorage.http.api.common import Count, Db, PageStart, SignedIn, next_page, resource_count
from moorage.http.api.models.pruning import (
    CREATE_BODY,
    REPLACE_BODY,
    TEST_BODY,
    UPDATE_BODY,
    PruningPolicy,
    ThinTag,
)
from moorage.registry import pruning
from moorage.registry.repositories import RepositoryDetails
from moorage.scanning import pruning_facts
from moorage.services.access import repository_level

router = APIRouter(tags=["pruning"])

T = TypeVar("T")
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=1000)]
InitialEvaluation = Annotated[bool, Query(alias="initialEvaluation")]


def _form(body: Any, *, partial: bool) -> tuple[bool | None, list[pruning.Rule] | None]:
    """DTR's ``forms.CreatePruningPolicy`` (``partial``: ``forms.UpdatePruningPolicy``, every
    key optional). A create without ``enabled`` makes an enabled policy."""
    if not isinstance(body, dict):
        raise InvalidPruningPolicy("a pruning policy is an object {enabled, rules}")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidPruningPolicy("enabled is true or false")
    if "rules" not in body and partial:
        return enabled, None
    return (enabled if partial or enabled is not None else True), pruning.parse_rules(
        body.get("rules")
    )


def _page(
    items: Sequence[T],
    key: Callable[[T], str],
    response: Response,
    page_start: str | None,
    page_size: int,
    count: bool,
) -> list[T]:
    if count:
        resource_count(response, len(items))
    start = 0
    if page_start:
        keys = [key(item) for item in items]
        if page_start not in keys:
            raise InvalidParameters(
                "pageStart is the X-Next-Page-Start of the previous page",
                detail={"pageStart": page_start[:128]},
            )
        start = keys.index(page_start)
    page = list(items[start : start + page_size])
    if start + page_size < len(items):
        next_page(response, key(items[start + page_size]))
    return page


async def _repository_admin(db: Db, principal: Principal, name: str) -> RepositoryDetails:
    level, repo = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied("only repository administrators may manage pruning policies")
    return repo


@router.get("/repositories/{namespace}/{repo}/pruningPolicies")
async def list_policies(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    count: Count = False,
) -> list[PruningPolicy]:
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    policies = await pruning.listing(db, details.id)
    page = _page(policies, lambda p: p.id, response, page_start, page_size, count)
    return [PruningPolicy.of(p, details.name) for p in page]


@router.post(
    "/repositories/{namespace}/{repo}/pruningPolicies", status_code=201, openapi_extra=CREATE_BODY
)
async def create_policy(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: Annotated[Any, Body()] = None,
    initial_evaluation: InitialEvaluation = True,
) -> PruningPolicy:
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    enabled, rules = _form(body, partial=False)
    assert enabled is not None and rules is not None  # a create form has both
    policy = await pruning.create(db, details.id, enabled, rules, evaluate=initial_evaluation)
    return PruningPolicy.of(policy, details.name)


@router.put("/repositories/{namespace}/{repo}/pruningPolicies", openapi_extra=REPLACE_BODY)
async def replace_policies(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: Annotated[Any, Body()] = None,
) -> list[PruningPolicy]:
    """Moorage's: replace the whole set (a list of create forms); none stored if one is bad."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    if not isinstance(body, list):
        raise InvalidPruningPolicy("the body is a list of pruning policies")
    parsed: list[tuple[bool, list[pruning.Rule]]] = []
    for item in body:
        enabled, rules = _form(item, partial=False)
        assert enabled is not None and rules is not None
        parsed.append((enabled, rules))
    await pruning.replace_all(db, details.id, parsed)
    return [PruningPolicy.of(p, details.name) for p in await pruning.listing(db, details.id)]


@router.post("/repositories/{namespace}/{repo}/pruningPolicies/test", openapi_extra=TEST_BODY)
async def test_policy(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    response: Response,
    body: Annotated[Any, Body()] = None,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    count: Count = False,
) -> list[ThinTag]:
    """Dry run: the tags the given policy's rules (whatever its ``enabled``) would prune now,
    newest first; without a body (Moorage's), what the stored policies and the tag limit
    would."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    policies = None
    if body is not None:
        _, rules = _form(body, partial=False)
        assert rules is not None
        policies = [pruning.Policy("test", details.id, True, rules)]
    found = await pruning.plan(
        db, details.id, policies, with_limit=body is None, scan_facts=pruning_facts.load
    )
    page = _page(found, lambda tag: tag.name, response, page_start, page_size, count)
    return [ThinTag.of(tag) for tag in page]


@router.get("/repositories/{namespace}/{repo}/pruningPolicies/{policy_id}")
async def get_policy(
    namespace: str, repo: str, policy_id: str, db: Db, principal: SignedIn
) -> PruningPolicy:
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    return PruningPolicy.of(await pruning.get(db, details.id, policy_id), details.name)


@router.put(
    "/repositories/{namespace}/{repo}/pruningPolicies/{policy_id}", openapi_extra=UPDATE_BODY
)
async def update_policy(
    namespace: str,
    repo: str,
    policy_id: str,
    db: Db,
    principal: SignedIn,
    body: Annotated[Any, Body()] = None,
    initial_evaluation: InitialEvaluation = True,
) -> PruningPolicy:
    """DTR's ``forms.UpdatePruningPolicy``: ``enabled`` and ``rules`` each optional (a key left
    out keeps its value)."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    enabled, rules = _form(body, partial=True)
    policy = await pruning.update(
        db, details.id, policy_id, enabled, rules, evaluate=initial_evaluation
    )
    return PruningPolicy.of(policy, details.name)


@router.delete("/repositories/{namespace}/{repo}/pruningPolicies/{policy_id}", status_code=204)
async def delete_policy(
    namespace: str, repo: str, policy_id: str, db: Db, principal: SignedIn
) -> Response:
    """204 whether or not the repository had that policy, as DTR's ("success or pruning policy
    does not exist"); another repository's policy is never touched."""
    details = await _repository_admin(db, principal, f"{namespace}/{repo}")
    await pruning.remove(db, details.id, policy_id)
    return Response(status_code=204)
