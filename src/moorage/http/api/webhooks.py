"""``/api/v0/webhooks`` (DTR's webhooks) and the hooks of a namespace and of a repository.

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

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.auth.secretbox import SecretBox
from moorage.errors import Denied, InvalidInput, NoSuchAccount
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.webhooks import (
    Delivery,
    Webhook,
    WebhookTest,
)
from moorage.http.services import services
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
    namespace = key.split("/")[0]
    if "/" in key and not await hooks.namespace_exists(db, namespace):
        raise NoSuchAccount(detail={"name": namespace})  # a repository's hook needs its namespace
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
