"""``/api/v0/webhooks`` (DTR's webhooks), the hooks of a namespace and of a repository, and
``/api/v0/repositories/{ns}/{repo}/pruningPolicies``.

Who may manage a hook is DTR's rule (``webhooks.hooks.manage_refusal``, which also decides at
each delivery whether the creator still may): a system administrator any hook; an
administrator of a repository (404 for one the caller may not see) its hooks; an
administrator of a namespace (its user, an organization's owners, teams granted ``admin`` on
it) the namespace's hooks; global hooks (``key`` empty) and ``SCANNER_UPDATE_COMPLETED`` only
system administrators. ``GET /webhooks`` lists every hook to a system administrator and a
user's own hooks to anyone else, as DTR does. The HMAC secret (``authentication``, Moorage's)
is stored sealed and never returned. Endpoints must pass the address guard (public addresses,
or the networks of the site setting ``webhookAllowedNetworks``): a refused one is a 400 naming
the setting, at create, update and test alike, before anything is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.auth.secretbox import SecretBox
from moorage.errors import Denied, InvalidInput, NoSuchAccount
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.webhooks import (
    Delivery,
    PrunableTag,
    PruningPolicy,
    Webhook,
    WebhookTest,
)
from moorage.http.services import services
from moorage.registry import pruning
from moorage.services.access import namespace_level, repository_level
from moorage.webhooks import delivery, hooks
from moorage.webhooks.payloads import TYPE_ORDER

router = APIRouter(tags=["webhooks"])


class NewWebhook(BaseModel):
    """DTR's ``forms.Webhook`` (and Moorage's ``authentication``: the HMAC secret)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: str
    key: str = ""
    endpoint: str
    tls_cert: str | None = Field(default=None, alias="tlsCert")
    skip_tls_verification: bool = Field(default=False, alias="skipTLSVerification")
    authentication: str | None = None


class WebhookTestPayload(BaseModel):
    """DTR's ``forms.WebhookTestPayload``; Moorage also reads ``authentication`` (the secret to
    sign with) and an optional ``key`` (then the caller must be able to manage hooks on it)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: str
    endpoint: str
    key: str | None = None
    tls_cert: str | None = Field(default=None, alias="tlsCert")
    skip_tls_verification: bool = Field(default=False, alias="skipTLSVerification")
    authentication: str | None = None


class WebhookUpdate(BaseModel):
    """DTR's ``forms.WebhookUpdate`` ``{id, inactive, tlsCert, skipTLSVerification}``; Moorage
    also reads ``endpoint``, and (as it did) ``webhookID`` for ``id`` and ``active``."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(alias="webhookID")
    inactive: bool | None = None
    active: bool | None = None
    tls_cert: str | None = Field(default=None, alias="tlsCert")
    skip_tls_verification: bool | None = Field(default=None, alias="skipTLSVerification")
    endpoint: str | None = None


def _box(request: Request) -> SecretBox:
    return SecretBox.in_data_folder(services(request).settings.data)


async def _may_manage(db: Db, principal: Principal, key: str) -> None:
    """Raises unless the caller may manage webhooks on ``key`` (404 for a repository the
    caller may not even see)."""
    if not principal.is_admin and "/" in key:
        await repository_level(db, principal, key)
    why = await hooks.manage_refusal(db, principal, key)
    if why is not None:
        raise Denied(why)


def _normal_key(key: str) -> str:
    key = key.strip().strip("/")
    if key and (key.count("/") > 1 or not all(key.split("/"))):
        raise InvalidInput("key is a repository ns/repo, a namespace, or empty for everything")
    return key


def _webhook_type(value: str) -> str | None:
    if value == "any":
        return None
    if value not in TYPE_ORDER:
        raise InvalidInput(
            f"unknown webhook type {value!r}", detail={"types": ["any", *TYPE_ORDER]}
        )
    return value


@router.get("/webhooks")
async def list_webhooks(
    db: Db,
    principal: SignedIn,
    webhook_type: Annotated[str, Query(alias="webhookType")] = "any",
) -> list[Webhook]:
    """Every hook to a system administrator, the caller's own to anyone else (DTR)."""
    found = await hooks.listing(
        db,
        webhook_type=_webhook_type(webhook_type),
        author_id=None if principal.is_admin else principal.account_id,
    )
    return [Webhook.of(h) for h in found]


@router.post("/webhooks", status_code=201)
async def create_webhook(
    body: NewWebhook, request: Request, db: Db, principal: SignedIn
) -> Webhook:
    key = _normal_key(body.key)
    await _may_manage(db, principal, key)
    hook = await hooks.create(
        db,
        _box(request),
        event_type=body.type,
        key=key,
        endpoint=body.endpoint,
        tls_cert=body.tls_cert,
        secret=body.authentication,
        creator=principal,
        skip_tls_verification=body.skip_tls_verification,
    )
    return Webhook.of(hook)


@router.post("/webhooks/test")
async def test_webhook(
    body: WebhookTestPayload, request: Request, db: Db, principal: SignedIn
) -> WebhookTest:
    """DTR's test: its sample payload of the type, POSTed now (DTR's form has no ``key``: any
    signed-in user may test an endpoint the address guard allows)."""
    if body.key is not None:
        await _may_manage(db, principal, _normal_key(body.key))
    outcome = await delivery.send_test(
        db,
        event_type=body.type,
        endpoint=body.endpoint,
        tls_cert=body.tls_cert,
        secret=body.authentication,
        public_url=services(request).settings.public_url,
        skip_tls_verification=body.skip_tls_verification,
    )
    return WebhookTest.of(outcome)


@router.post("/webhooks/update")
async def update_webhook(body: WebhookUpdate, db: Db, principal: SignedIn) -> list[Webhook]:
    """DTR answers with an array: the updated hook."""
    hook = await hooks.get(db, body.id)
    await _may_manage(db, principal, hook.key)
    active = (not body.inactive) if body.inactive is not None else body.active
    updated = await hooks.modify(
        db,
        hook.id,
        endpoint=body.endpoint,
        active=active,
        tls_cert=body.tls_cert,
        skip_tls_verification=body.skip_tls_verification,
    )
    return [Webhook.of(updated)]


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: str, db: Db, principal: SignedIn) -> Webhook:
    hook = await hooks.get(db, webhook_id)
    await _may_manage(db, principal, hook.key)
    return Webhook.of(hook)


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, db: Db, principal: SignedIn) -> Response:
    hook = await hooks.get(db, webhook_id)
    await _may_manage(db, principal, hook.key)
    await hooks.remove(db, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries")
async def list_deliveries(webhook_id: str, db: Db, principal: SignedIn) -> list[Delivery]:
    hook = await hooks.get(db, webhook_id)
    await _may_manage(db, principal, hook.key)
    return [Delivery.of(d) for d in await delivery.history(db, webhook_id)]


@router.get("/accounts/{namespace}/webhooks")
async def list_namespace_webhooks(namespace: str, db: Db, principal: SignedIn) -> list[Webhook]:
    """DTR's ``ListNamespaceWebhooks``: the namespace's own hooks, to its administrators."""
    if not await hooks.namespace_exists(db, namespace):
        raise NoSuchAccount(detail={"name": namespace})
    if await namespace_level(db, principal, namespace) < Level.ADMIN:
        raise Denied("only administrators of the namespace may list its webhooks")
    return [Webhook.of(h) for h in await hooks.listing(db, key=namespace)]


@router.get("/repositories/{namespace}/{reponame}/webhooks")
async def list_repository_webhooks(
    namespace: str, reponame: str, db: Db, principal: SignedIn
) -> list[Webhook]:
    """DTR's ``ListRepoWebhooks``: every hook on the repository (whoever made it), to its
    administrators."""
    name = f"{namespace}/{reponame}"
    level, _ = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied("only repository administrators may list its webhooks")
    return [Webhook.of(h) for h in await hooks.listing(db, key=name)]


# ---- pruning policies ------------------------------------------------------------------------


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
