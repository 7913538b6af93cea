"""Cross-repository blob mount (``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>``).

Under token auth a mount needs the source's pull scope in the token, so, as distribution does,
the 401 challenge names ``repository:<from>:pull`` beside the target's scope (space-separated
in one ``scope`` value), and a bearer token that was never asked about the source gets 401
``insufficient_scope`` naming both; docker and containers/image then fetch a token for both
and mount. A token that was asked and refused, or a source without the blob, falls back to a
normal upload (202), as the specification allows.
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request

from moorage.errors import MoorageError, Unauthorized
from moorage.http.authz import authorize
from moorage.http.scopes import CHALLENGE_EXTRA, Access
from moorage.http.services import services
from moorage.oci.digest import Digest
from moorage.oci.names import validate_name
from moorage.registry import blobs
from moorage.registry.context import RegistryContext


def source_of(request: Request, name: str) -> str | None:
    """The mount's valid ``from`` repository other than ``name``; the challenge will name it."""
    source = request.query_params.get("from")
    if request.query_params.get("mount") is None or not source or source == name:
        return None
    try:
        validate_name(source)
    except MoorageError:
        return None
    request.scope[CHALLENGE_EXTRA] = [Access.repository(source, "pull")]
    return source


async def require_source_in_token(request: Request, target: Access, source: str) -> None:
    """Refuse (401 ``insufficient_scope``) a bearer token without an answer for ``source``."""
    authorizer = services(request).authorizer
    _, token_access = await authorizer.principal(request)
    if token_access is None:
        return
    if any(
        isinstance(entry, dict)
        and entry.get("type") == "repository"
        and entry.get("name") == source
        for entry in token_access
    ):
        return
    raise Unauthorized(
        "the token does not cover the mount's source repository",
        detail={"scope": f"repository:{source}:pull"},
        challenge=authorizer.challenge(request, target, "insufficient_scope"),
    )


async def try_mount(
    request: Request, ctx: RegistryContext, name: str, digest: Digest, source: str | None
) -> blobs.BlobInfo | None:
    """Link ``digest`` into ``name`` from ``source`` (or, without one, from any repository the
    caller may pull that holds it); None when no candidate can give it."""
    candidates = [source] if source else await blobs.holders(ctx, digest)
    for candidate in candidates:
        with contextlib.suppress(MoorageError):
            validate_name(candidate)
            await authorize(request, Access.repository(candidate, "pull"))
            mounted = await blobs.mount(ctx, name, digest, candidate)
            if mounted is not None:
                return mounted
    return None
