"""``/api/v0/remote/registry``: check that a remote registry answers with the given
credentials.

Any signed-in user may ask (DTR: "any active user"), so the check goes through Moorage's
outbound guard like a webhook: only public addresses, or the networks an administrator lists in
the site setting ``webhookAllowedNetworks``; loopback, private ranges, metadata addresses and
``localhost`` are refused before any connection (400 ``TARGET_NOT_ALLOWED``), and so is a token
realm or redirect that points there. A user cannot probe the internal network with it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from moorage.db import site_settings
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.remote import RemoteRegistryCheck, RemoteRepositoryPermissions
from moorage.importer.remote_check import check_remote
from moorage.importer.transport import Credentials
from moorage.remote import outbound
from moorage.remote.addresses import parse_networks

router = APIRouter(tags=["remote"])
SETTING = "webhookAllowedNetworks"


class CreateRemoteRegistryCheck(BaseModel):
    """DTR's ``forms.CreateRemoteRegistryCheck``."""

    model_config = ConfigDict(extra="ignore")

    remote_host: str = Field(alias="remoteHost", min_length=1, max_length=2000)
    remote_repository: str = Field(alias="remoteRepository", min_length=1, max_length=512)
    remote_ca: str = Field(default="", alias="remoteCA", max_length=64 * 1024)
    skip_tls_verification: bool = Field(default=False, alias="skipTLSVerification")
    username: str = Field(default="", max_length=512)
    password: str = Field(default="", max_length=4096)
    auth_token: str = Field(default="", alias="authToken", max_length=4096)


@router.post(
    "/remote/registry",
    status_code=201,
    responses={400: {"description": "REMOTE_REGISTRY_INVALID_PERMISSIONS, TARGET_NOT_ALLOWED"}},
)
async def check_remote_registry(
    body: CreateRemoteRegistryCheck, db: Db, principal: SignedIn
) -> RemoteRegistryCheck:
    site = await site_settings.load(db)
    guard = outbound.Guard(allowed=parse_networks(site.webhook_allowed_networks), setting=SETTING)
    access = await check_remote(
        body.remote_host,
        body.remote_repository,
        Credentials(body.username, body.password or body.auth_token),
        guard,
        ca_pem=body.remote_ca,
        skip_verify=body.skip_tls_verification,
        proxies=outbound.Proxies(site.http_proxy, site.https_proxy, site.no_proxy),
    )
    return RemoteRegistryCheck(
        registry_type=access.registry_type,
        permissions=RemoteRepositoryPermissions(read=access.read, write=access.write),
    )
