"""The ``/api/v0`` endpoints of capabilities Moorage does not have yet (mirroring, promotion,
content caches): DTR's error envelope with 501.

Each route first does what DTR's description of it asks of the caller (signed in; sees the
repository; is its administrator; a system administrator for content caches), so a caller
learns nothing from a 501 that the real endpoint would have refused them: anonymous → 401,
a repository the caller may not see → 404 ``NO_SUCH_REPOSITORY``, too low a level → 403. Only
then ``501 NOT_IMPLEMENTED``. The OpenAPI document describes DTR's request and answer bodies
(``models/remote.py``) and the 501."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.errors import Denied, NotImplementedYet
from moorage.http.api.common import Admin, Db, SignedIn
from moorage.http.api.models.remote import (
    ContentCache,
    CreateContentCache,
    CreateMirroring,
    CreatePollMirroringPolicy,
    CreatePromotion,
    CreatePromotionPolicy,
    CreatePushMirroringPolicy,
    DeleteMirroringPolicyID,
    ErrorEnvelope,
    Mirroring,
    MirroringPolicy,
    PollMirroringPolicy,
    Promotion,
    PromotionPolicy,
    PushMirroringPolicy,
)
from moorage.services.access import repository_level

router = APIRouter(tags=["not_yet"])

REPO = "/repositories/{namespace}/{repo}"
NOT_YET: dict[int | str, dict[str, Any]] = {
    501: {"model": ErrorEnvelope, "description": "NOT_IMPLEMENTED: Moorage does not have this yet"}
}


def not_implemented(feature: str, operation: str) -> NoReturn:
    """DTR's envelope, 501, naming the feature and DTR's operation."""
    raise NotImplementedYet(
        f"{feature} is not implemented in Moorage yet",
        detail={"feature": feature, "operation": operation},
    )


def _answers(status: int, model: Any = None) -> dict[int | str, dict[str, Any]]:
    if model is None:
        return dict(NOT_YET)
    return {status: {"model": model, "description": "DTR's answer"}, **NOT_YET}


async def _level(db: Db, principal: Principal, namespace: str, repo: str, needed: Level) -> None:
    """404 when the caller may not see the repository, 403 below ``needed``."""
    level, _ = await repository_level(db, principal, f"{namespace}/{repo}")
    if level < needed:
        raise Denied(f"this needs {needed.label} access to {namespace}/{repo}")


# ---- mirroring policies (both kinds) --------------------------------------------------------

MIRRORING = "repository mirroring"


@router.get(
    f"{REPO}/mirroringPolicies", status_code=200, responses=_answers(200, list[MirroringPolicy])
)
async def list_mirroring_policies(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(MIRRORING, "ListRepoMirroringPolicies")


@router.delete(f"{REPO}/mirroringPolicies", status_code=204, responses=_answers(204))
async def delete_mirroring_policies(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: list[DeleteMirroringPolicyID] | None = None,
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "DeleteRepoMirroringPolicies")


@router.get(
    f"{REPO}/pollMirroringPolicies",
    status_code=200,
    responses=_answers(200, list[PollMirroringPolicy]),
)
async def list_poll_mirroring_policies(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(MIRRORING, "ListRepoPollMirroringPolicies")


@router.post(
    f"{REPO}/pollMirroringPolicies", status_code=201, responses=_answers(201, PollMirroringPolicy)
)
async def create_poll_mirroring_policy(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: CreatePollMirroringPolicy | None = None,
    initialEvaluation: bool = True,  # DTR's query parameter: evaluate the policy now
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "CreateRepoPollMirroringPolicy")


@router.get(
    f"{REPO}/pollMirroringPolicies/{{pollmirroringpolicyid}}",
    status_code=200,
    responses=_answers(200, PollMirroringPolicy),
)
async def get_poll_mirroring_policy(
    namespace: str, repo: str, pollmirroringpolicyid: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(MIRRORING, "GetRepoPollMirroringPolicy")


@router.put(
    f"{REPO}/pollMirroringPolicies/{{pollmirroringpolicyid}}",
    status_code=200,
    responses=_answers(200, PollMirroringPolicy),
)
async def update_poll_mirroring_policy(
    namespace: str,
    repo: str,
    pollmirroringpolicyid: str,
    db: Db,
    principal: SignedIn,
    body: CreatePollMirroringPolicy | None = None,
    initialEvaluation: bool = True,  # DTR's query parameter: evaluate the policy now
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "UpdateRepoPollMirroringPolicy")


@router.delete(
    f"{REPO}/pollMirroringPolicies/{{pollmirroringpolicyid}}",
    status_code=204,
    responses=_answers(204),
)
async def delete_poll_mirroring_policy(
    namespace: str, repo: str, pollmirroringpolicyid: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "DeleteRepoPollMirroringPolicy")


@router.get(
    f"{REPO}/pushMirroringPolicies",
    status_code=200,
    responses=_answers(200, list[PushMirroringPolicy]),
)
async def list_push_mirroring_policies(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(MIRRORING, "ListRepoPushMirroringPolicies")


@router.post(
    f"{REPO}/pushMirroringPolicies", status_code=201, responses=_answers(201, PushMirroringPolicy)
)
async def create_push_mirroring_policy(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: CreatePushMirroringPolicy | None = None,
    initialEvaluation: bool = True,  # DTR's query parameter: evaluate the policy now
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "CreateRepoPushMirroringPolicy")


@router.get(
    f"{REPO}/pushMirroringPolicies/{{pushmirroringpolicyid}}",
    status_code=200,
    responses=_answers(200, PushMirroringPolicy),
)
async def get_push_mirroring_policy(
    namespace: str, repo: str, pushmirroringpolicyid: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(MIRRORING, "GetRepoPushMirroringPolicy")


@router.put(
    f"{REPO}/pushMirroringPolicies/{{pushmirroringpolicyid}}",
    status_code=200,
    responses=_answers(200, PushMirroringPolicy),
)
async def update_push_mirroring_policy(
    namespace: str,
    repo: str,
    pushmirroringpolicyid: str,
    db: Db,
    principal: SignedIn,
    body: CreatePushMirroringPolicy | None = None,
    initialEvaluation: bool = True,  # DTR's query parameter: evaluate the policy now
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "UpdateRepoPushMirroringPolicy")


@router.delete(
    f"{REPO}/pushMirroringPolicies/{{pushmirroringpolicyid}}",
    status_code=204,
    responses=_answers(204),
)
async def delete_push_mirroring_policy(
    namespace: str, repo: str, pushmirroringpolicyid: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(MIRRORING, "DeleteRepoPushMirroringPolicy")


@router.post(
    f"{REPO}/tags/{{tag}}/pushMirroring", status_code=201, responses=_answers(201, Mirroring)
)
async def push_mirror_tag(
    namespace: str,
    repo: str,
    tag: str,
    db: Db,
    principal: SignedIn,
    body: CreateMirroring | None = None,
) -> Response:
    # DTR: read on the local repository (and write on the remote one, which is not checked
    # before the mirroring exists).
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(MIRRORING, "CreateRepoTagPushMirroring")


# ---- promotion ----------------------------------------------------------------------------

PROMOTION = "image promotion"


@router.get(
    f"{REPO}/promotionPolicies", status_code=200, responses=_answers(200, list[PromotionPolicy])
)
async def list_promotion_policies(
    namespace: str, repo: str, db: Db, principal: SignedIn, source: bool = True
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(PROMOTION, "ListRepoPromotionPolicies")


@router.post(f"{REPO}/promotionPolicies", status_code=201, responses=_answers(201, PromotionPolicy))
async def create_promotion_policy(
    namespace: str,
    repo: str,
    db: Db,
    principal: SignedIn,
    body: CreatePromotionPolicy | None = None,
    initialEvaluation: bool = True,  # DTR's query parameter: evaluate the policy now
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(PROMOTION, "CreateRepoPromotionPolicy")


@router.get(
    f"{REPO}/promotionPolicies/{{promotionpolicyid}}",
    status_code=200,
    responses=_answers(200, PromotionPolicy),
)
async def get_promotion_policy(
    namespace: str, repo: str, promotionpolicyid: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    return not_implemented(PROMOTION, "GetRepoPromotionPolicy")


@router.put(
    f"{REPO}/promotionPolicies/{{promotionpolicyid}}",
    status_code=200,
    responses=_answers(200, PromotionPolicy),
)
async def update_promotion_policy(
    namespace: str,
    repo: str,
    promotionpolicyid: str,
    db: Db,
    principal: SignedIn,
    body: CreatePromotionPolicy | None = None,
    initialEvaluation: bool = True,  # DTR's query parameter: evaluate the policy now
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(PROMOTION, "UpdateRepoPromotionPolicy")


@router.delete(
    f"{REPO}/promotionPolicies/{{promotionpolicyid}}", status_code=204, responses=_answers(204)
)
async def delete_promotion_policy(
    namespace: str, repo: str, promotionpolicyid: str, db: Db, principal: SignedIn
) -> Response:
    await _level(db, principal, namespace, repo, Level.ADMIN)
    return not_implemented(PROMOTION, "DeleteRepoPromotionPolicy")


@router.post(f"{REPO}/tags/{{tag}}/promotion", status_code=201, responses=_answers(201, Promotion))
async def promote_tag(
    namespace: str,
    repo: str,
    tag: str,
    db: Db,
    principal: SignedIn,
    body: CreatePromotion | None = None,
) -> Response:
    # DTR: read on the source; write on the target, checked here when the body names one.
    await _level(db, principal, namespace, repo, Level.READ_ONLY)
    if body is not None and body.targetRepository.count("/") == 1:
        target_ns, target_repo = body.targetRepository.split("/")
        await _level(db, principal, target_ns, target_repo, Level.READ_WRITE)
    return not_implemented(PROMOTION, "CreateRepoTagPromotion")


# ---- content caches -----------------------------------------------------------------------

CACHES = "content caches"


@router.get("/content_caches", status_code=200, responses=_answers(200, list[ContentCache]))
async def list_content_caches(principal: SignedIn) -> Response:
    return not_implemented(CACHES, "ListContentCaches")


@router.post("/content_caches", status_code=201, responses=_answers(201, ContentCache))
async def create_content_cache(
    principal: Admin, body: CreateContentCache | None = None
) -> Response:
    return not_implemented(CACHES, "CreateContentCache")


@router.get(
    "/content_caches/{contentcacheuuid}", status_code=200, responses=_answers(200, ContentCache)
)
async def get_content_cache(contentcacheuuid: str, principal: SignedIn) -> Response:
    return not_implemented(CACHES, "GetContentCache")


@router.delete("/content_caches/{contentcacheuuid}", status_code=204, responses=_answers(204))
async def delete_content_cache(contentcacheuuid: str, principal: Admin) -> Response:
    return not_implemented(CACHES, "DeleteContentCache")
