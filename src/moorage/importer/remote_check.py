"""Whether a remote registry answers ``/v2/`` with the given credentials, and what they may
do on one of its repositories (DTR's ``POST /api/v0/remote/registry``).

With a token service (DTR, Moorage, Docker Hub, distribution with token auth) the permissions
are what the remote grants in the token for ``repository:<repo>:pull,push``. A registry that
takes Basic credentials directly (distribution with htpasswd) grants an authenticated caller
everything, so read and write are both whether it lets us list the repository's tags.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from moorage.errors import InvalidInput
from moorage.importer.registry_client import RegistryClient
from moorage.importer.transport import (
    Credentials,
    RegistryAuth,
    RemoteUnreachable,
    base_url,
    make_client,
    token_claims,
)
from moorage.remote import outbound


class RemotePermissionsInvalid(InvalidInput):
    """DTR's refusal when the remote does not accept the credentials."""

    code, default_message = (
        "REMOTE_REGISTRY_INVALID_PERMISSIONS",
        "Remote user not authorized to access the requested resource.",
    )


@dataclass(frozen=True, slots=True)
class RemoteAccess:
    registry_type: str  # "dtr" when the remote has DTR's API (Moorage too), else "v2"
    read: bool
    write: bool


def _granted(token: str, repo: str) -> set[str]:
    access = token_claims(token).get("access")
    actions: set[str] = set()
    if isinstance(access, list):
        for entry in access:
            if isinstance(entry, dict) and entry.get("name") == repo:
                actions.update(str(a) for a in entry.get("actions") or [])
    return actions


async def registry_type(http: httpx.AsyncClient) -> str:
    """``dtr`` when the registry also has DTR's ``/api/v0`` (DTR, MSR, Moorage), else ``v2``."""
    try:
        r = await http.get("/api/v0/repositories", params={"pageSize": 1})
    except httpx.HTTPError:
        return "v2"
    typed = r.headers.get("Content-Type", "").startswith("application/json")
    try:
        listed = typed and r.status_code == 200 and "repositories" in r.json()
    except ValueError:
        listed = False
    return "dtr" if listed else "v2"


async def check_remote(
    host: str,
    repository: str,
    credentials: Credentials,
    guard: outbound.Guard,
    *,
    ca_pem: str = "",
    skip_verify: bool = False,
    proxies: outbound.Proxies | None = None,
) -> RemoteAccess:
    """Raises TargetRefused (the guard), RemoteUnreachable, or RemotePermissionsInvalid."""
    repo = repository.strip().strip("/")
    if not repo or " " in repo:
        raise InvalidInput("remoteRepository must name a repository (namespace/name)")
    async with make_client(
        base_url(host), credentials, guard, ca_pem=ca_pem, skip_verify=skip_verify, proxies=proxies
    ) as http:
        client = RegistryClient(http, "remote")
        ping = await client.ping()
        if ping.status_code == 401:
            raise RemotePermissionsInvalid(detail={"host": host, "status": 401})
        if ping.status_code != 200:
            raise RemoteUnreachable(
                f"the remote's /v2/ answered {ping.status_code}, not a registry's 200",
                detail={"host": host, "status": ping.status_code},
            )
        auth = http.auth
        assert isinstance(auth, RegistryAuth)
        r = await http.get(
            f"/v2/{repo}/tags/list",
            extensions={"scope": f"repository:{repo}:pull,push"},
        )
        if r.status_code == 401 and not auth.last_token:
            raise RemotePermissionsInvalid(detail={"host": host, "status": 401})
        kind = await registry_type(http)
        if auth.last_token:
            granted = _granted(auth.last_token, repo)
            return RemoteAccess(kind, "pull" in granted, "push" in granted)
        readable = r.status_code == 200
        return RemoteAccess(kind, readable, readable)
