"""``/api/v0/repositories/{ns}/{repo}/pullPolicy`` and
``/api/v0/repositoryNamespaces/{ns}/pullPolicy``: what manifest pulls of a repository, or of
every repository of a namespace, require (``services.pull_policy``; Moorage's own, in DTR's
naming style).

Read by whoever may see the repository (anonymous callers too, for a public one) or, for a
namespace, by any signed-in caller; a repository's ``GET`` answers the policy in force, its own
or its namespace's (``scope`` tells which), 404 ``NO_SUCH_PULL_POLICY`` when none. Set and
removed only by administrators of the repository (or namespace), as its signature trust is
(``signatures.py``): a repository the caller may not see answers 404 as a missing one; below
admin, 403. A body with an unknown field or a value out of range is 400 ``INVALID_JSON``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.db.engine import Database, utcnow
from moorage.errors import Denied, NoSuchAccount
from moorage.http.api.common import Caller, Db, SignedIn
from moorage.http.api.models.pull_policy import NewPullPolicy, PullPolicy
from moorage.services import pull_policy
from moorage.services.access import namespace_level, repository_level
from moorage.trust.signatures import trust_stores
from moorage.trust.signatures.trust_stores import REPOSITORY, Scope

router = APIRouter(tags=["pullPolicy"])

REPO = "/repositories/{namespace}/{repo}/pullPolicy"
NAMESPACE = "/repositoryNamespaces/{namespace}/pullPolicy"


async def _repository(
    db: Database, principal: Principal, namespace: str, repo: str, *, change: bool
) -> Scope:
    name = f"{namespace}/{repo}"
    level, details = await repository_level(db, principal, name)
    if change and level < Level.ADMIN:
        raise Denied(f"only administrators of {name} may change its pull policy")
    return Scope(REPOSITORY, name, details.id)


async def _namespace(db: Database, principal: Principal, namespace: str, *, change: bool) -> Scope:
    scope = await trust_stores.namespace_scope(db, namespace)
    if scope is None:
        raise NoSuchAccount(detail={"name": namespace})
    if change and await namespace_level(db, principal, namespace) < Level.ADMIN:
        raise Denied(f"only administrators of {namespace} may change its pull policy")
    return scope


async def _set(db: Database, scope: Scope, body: NewPullPolicy, principal: Principal) -> PullPolicy:
    policy = await pull_policy.put(
        db,
        scope,
        require_signature=body.require_signature,
        max_severity=body.max_severity,
        mode=body.mode,
        by=principal.name,
        now=utcnow(),
    )
    return PullPolicy.of(policy)


@router.get(REPO)
async def get_repository_pull_policy(
    namespace: str, repo: str, db: Db, principal: Caller
) -> PullPolicy:
    """The policy in force for the repository: its own, else its namespace's."""
    scope = await _repository(db, principal, namespace, repo, change=False)
    found = await pull_policy.get(db, scope)
    if found is None:
        inherited = await trust_stores.namespace_scope(db, namespace)
        found = await pull_policy.get(db, inherited) if inherited is not None else None
    if found is None:
        raise pull_policy.NoSuchPullPolicy(detail={"repository": scope.name})
    return PullPolicy.of(found)


@router.put(REPO)
async def set_repository_pull_policy(
    namespace: str, repo: str, body: NewPullPolicy, db: Db, principal: SignedIn
) -> PullPolicy:
    """Set the repository's own policy (it wins over its namespace's, even when it sets no
    rule)."""
    scope = await _repository(db, principal, namespace, repo, change=True)
    return await _set(db, scope, body, principal)


@router.delete(REPO, status_code=204)
async def remove_repository_pull_policy(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> Response:
    """Remove the repository's own policy (its namespace's then applies, if any)."""
    scope = await _repository(db, principal, namespace, repo, change=True)
    await pull_policy.remove(db, scope)
    return Response(status_code=204)


@router.get(NAMESPACE)
async def get_namespace_pull_policy(namespace: str, db: Db, principal: SignedIn) -> PullPolicy:
    scope = await _namespace(db, principal, namespace, change=False)
    found = await pull_policy.get(db, scope)
    if found is None:
        raise pull_policy.NoSuchPullPolicy(detail={"namespace": namespace})
    return PullPolicy.of(found)


@router.put(NAMESPACE)
async def set_namespace_pull_policy(
    namespace: str, body: NewPullPolicy, db: Db, principal: SignedIn
) -> PullPolicy:
    scope = await _namespace(db, principal, namespace, change=True)
    return await _set(db, scope, body, principal)


@router.delete(NAMESPACE, status_code=204)
async def remove_namespace_pull_policy(namespace: str, db: Db, principal: SignedIn) -> Response:
    scope = await _namespace(db, principal, namespace, change=True)
    await pull_policy.remove(db, scope)
    return Response(status_code=204)
