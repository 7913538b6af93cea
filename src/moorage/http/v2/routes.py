"""/v2 endpoints (OCI Distribution Specification 1.1, Docker Registry HTTP API v2).

Every handler states the access it needs (``authorize``) before touching anything,
validates the name by the specification's grammar, then calls the registry domain.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from moorage.errors import (
    BlobUploadInvalid,
    DigestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    MoorageError,
    PaginationNumberInvalid,
    SizeInvalid,
    Unsupported,
)
from moorage.events import store as events
from moorage.http.authz import authorize, visible
from moorage.http.errors import oci_error_response, unexpected_error_response
from moorage.http.headers import upload_headers
from moorage.http.scopes import BASE, CATALOG, Access
from moorage.http.services import services
from moorage.http.v2 import mounts, trust
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.oci.names import validate_name
from moorage.registry import blobs, listing, manifests, uploads
from moorage.registry.context import RegistryContext
from moorage.services import pull_policy

log = logging.getLogger("moorage.v2")

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
DEFAULT_CATALOG_PAGE = 1000
MAX_PAGE = 10000

Handler = Callable[[Request], Awaitable[Response]]
_ALL_METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]


class BlobFileResponse(FileResponse):
    chunk_size = 1024 * 1024


_BYTE_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _inverted_range(value: str | None) -> bool:
    """``bytes=500-0``: unsatisfiable (416) as the conformance suite expects; Starlette says 400."""
    match = _BYTE_RANGE.fullmatch(value.strip()) if value else None
    return match is not None and int(match[2]) < int(match[1])


def _ctx(request: Request) -> RegistryContext:
    return services(request).registry


def endpoint(methods: dict[str, Handler]) -> Handler:
    """Dispatch by method; map every error to the OCI envelope."""

    async def handle(request: Request) -> Response:
        handler = methods.get(request.method)
        head = request.method == "HEAD"
        try:
            if handler is None:
                refused = Unsupported(f"method {request.method} not allowed here")
                allow = {"Allow": ", ".join(sorted(methods))}
                response = oci_error_response(refused, head=head, headers=allow)
            else:
                response = await handler(request)
        except MoorageError as exc:
            response = oci_error_response(exc, head=head)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception as exc:
            response = unexpected_error_response(exc, head=head)
        response.headers.update(API_VERSION)
        return response

    return handle


def _name(request: Request) -> str:
    return validate_name(request.path_params["name"])


def _digest_param(value: str | None) -> Digest:
    if not value:
        raise DigestInvalid("digest parameter required")
    return Digest.parse(value)


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise SizeInvalid("malformed Content-Length")
    return int(raw)


def _page_size(request: Request, default: int | None) -> int | None:
    raw = request.query_params.get("n")
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except ValueError as exc:
        raise PaginationNumberInvalid(detail={"n": raw[:20]}) from exc
    if n < 0:
        raise PaginationNumberInvalid(detail={"n": n})
    return min(n, MAX_PAGE)


async def _actor(request: Request) -> str | None:
    """The caller's account name for events (the principal is cached by ``authorize``)."""
    principal, _ = await services(request).authorizer.principal(request)
    name: str | None = principal.name
    return name


# ---- base ----------------------------------------------------------------------------------


async def base(request: Request) -> Response:
    await authorize(request, BASE)
    return Response(b"{}", media_type="application/json")


# ---- blobs ---------------------------------------------------------------------------------


async def blob_get(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull"))
    digest = Digest.parse(request.path_params["digest"])
    ctx = _ctx(request)
    info = await blobs.stat(ctx, name, digest)
    headers = {
        "Docker-Content-Digest": str(digest),
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
        "Etag": f'"{digest}"',
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(info.size)
        return Response(b"", media_type="application/octet-stream", headers=headers)
    if _inverted_range(request.headers.get("range")):
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{info.size}"}
        )
    redirect = await ctx.storage.redirect_url(info.key)
    if redirect:
        return Response(status_code=307, headers={**headers, "Location": redirect})
    local = ctx.storage.local_path(info.key)
    if local is not None:
        return BlobFileResponse(local, media_type="application/octet-stream", headers=headers)
    headers["Content-Length"] = str(info.size)
    return StreamingResponse(
        ctx.storage.read(info.key), media_type="application/octet-stream", headers=headers
    )


async def blob_delete(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "delete"))
    digest = Digest.parse(request.path_params["digest"])
    await blobs.unlink(_ctx(request), name, digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest)})


# ---- uploads -------------------------------------------------------------------------------


def _blob_created(name: str, info: blobs.BlobInfo) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{info.digest}",
            "Docker-Content-Digest": str(info.digest),
            "Content-Length": "0",
        },
    )


async def _start_upload(request: Request, ctx: RegistryContext, name: str) -> Response:
    """A new upload session, counted against the caller's account (its open-upload limit)."""
    principal, _ = await services(request).authorizer.principal(request)
    state = await uploads.start(ctx, name, principal.account_id, principal.name)
    return Response(status_code=202, headers={**upload_headers(state), "Content-Length": "0"})


async def upload_start(request: Request) -> Response:
    name = _name(request)
    ctx = _ctx(request)
    source = mounts.source_of(request, name)  # named in a 401 challenge beside the target
    target = Access.repository(name, "pull", "push")
    await authorize(request, target)
    if source is not None:
        await mounts.require_source_in_token(request, target, source)
    with events.acting(await _actor(request)):
        return await _upload_start(request, ctx, name)


async def _upload_start(request: Request, ctx: RegistryContext, name: str) -> Response:
    params = request.query_params
    mount = params.get("mount")
    if mount is not None:
        mounted = await mounts.try_mount(
            request, ctx, name, Digest.parse(mount), params.get("from")
        )
        if mounted is not None:
            return _blob_created(name, mounted)
        return await _start_upload(request, ctx, name)

    digest_param = params.get("digest")
    length = _content_length(request)
    if digest_param is None:
        if length:
            raise BlobUploadInvalid("a body needs the digest parameter (monolithic upload)")
        return await _start_upload(request, ctx, name)
    info = await uploads.monolithic(
        ctx, name, Digest.parse(digest_param), request.stream(), content_length=length
    )
    return _blob_created(name, info)


async def upload_status(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull", "push"))
    state = await uploads.status(_ctx(request), name, request.path_params["uuid"])
    return Response(status_code=204, headers=upload_headers(state))


async def upload_patch(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull", "push"))
    raw_range = request.headers.get("content-range")
    content_range = uploads.parse_content_range(raw_range) if raw_range else None
    state = await uploads.append(
        _ctx(request),
        name,
        request.path_params["uuid"],
        request.stream(),
        content_range=content_range,
        content_length=_content_length(request),
    )
    return Response(status_code=202, headers={**upload_headers(state), "Content-Length": "0"})


async def upload_put(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull", "push"))
    ctx = _ctx(request)
    upload_id = request.path_params["uuid"]
    digest = _digest_param(request.query_params.get("digest"))
    length = _content_length(request)
    raw_range = request.headers.get("content-range")
    with events.acting(await _actor(request)):
        if length or request.headers.get("transfer-encoding", "").lower() == "chunked":
            info = await uploads.complete(
                ctx,
                name,
                upload_id,
                digest,
                request.stream(),
                content_range=uploads.parse_content_range(raw_range) if raw_range else None,
                content_length=length,
            )
        else:
            info = await uploads.finish(ctx, name, upload_id, digest)
    return _blob_created(name, info)


async def upload_delete(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull", "push"))
    await uploads.cancel(_ctx(request), name, request.path_params["uuid"])
    return Response(status_code=204)


# ---- manifests -----------------------------------------------------------------------------


def _accepted(request: Request) -> set[str]:
    accepted: set[str] = set()
    for value in request.headers.getlist("accept"):
        for part in value.split(","):
            media = part.split(";", 1)[0].strip().lower()
            if media:
                accepted.add(media)
    return accepted


def _manifest_response(request: Request, found: manifests.StoredManifest) -> Response:
    headers = {"Docker-Content-Digest": found.digest, "Etag": f'"{found.digest}"'}
    if found.subject:
        headers["OCI-Subject"] = found.subject
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(found.payload))
        return Response(b"", media_type=found.media_type, headers=headers)
    return Response(found.payload, media_type=found.media_type, headers=headers)


async def manifest_get(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull"))
    ctx = _ctx(request)
    reference = request.path_params["reference"]
    found = await manifests.get(ctx, name, reference)
    await pull_policy.enforce(ctx, name, reference, found, await _actor(request))
    if request.method == "GET":
        services(request).pulls.pulled(name, reference, found.digest, await _actor(request))
    accepted = _accepted(request)
    if accepted and "*/*" not in accepted and found.media_type not in accepted:
        if found.media_type in mt.INDEXES:
            child_digest = manifests.select_platform_child(found)
            child = await manifests.get_child(ctx, name, child_digest) if child_digest else None
            if child is not None and child.media_type in accepted:
                return _manifest_response(request, child)
        raise ManifestUnknown(
            f"manifest is {found.media_type}, which the client does not accept",
            detail={"reference": reference, "mediaType": found.media_type},
        )
    return _manifest_response(request, found)


async def _read_manifest_body(request: Request, limit: int) -> bytes:
    length = _content_length(request)
    if length is not None and length > limit:
        raise ManifestTooLarge(detail={"limit": limit, "size": length})
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ManifestTooLarge(detail={"limit": limit})
        chunks.append(chunk)
    body = b"".join(chunks)
    if length is not None and len(body) != length:
        raise SizeInvalid(detail={"expected": length, "received": len(body)})
    return body


async def manifest_put(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull", "push"))
    ctx = _ctx(request)
    reference = request.path_params["reference"]
    body = await _read_manifest_body(request, ctx.settings.max_manifest_bytes)
    result = await manifests.put(
        ctx,
        name,
        reference,
        body,
        request.headers.get("content-type"),
        await _actor(request),
        extra_tags=request.query_params.getlist("tag"),
    )
    headers = {
        "Location": f"/v2/{name}/manifests/{result.digest}",
        "Docker-Content-Digest": str(result.digest),
        "Content-Length": "0",
    }
    if result.subject:
        headers["OCI-Subject"] = result.subject
    if result.tags:  # the spec's OCI-Tag: every tag that now names the manifest
        headers["OCI-Tag"] = ", ".join(result.tags)
    return Response(status_code=201, headers=headers)


async def manifest_delete(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "delete"))
    await manifests.delete_reference(
        _ctx(request), name, request.path_params["reference"], await _actor(request)
    )
    return Response(status_code=202)


# ---- tags, catalog, referrers --------------------------------------------------------------


def _link(path: str, n: int, last: str) -> str:
    return f'<{path}?n={n}&last={quote(last, safe="")}>; rel="next"'


async def tags_list(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull"))
    n = _page_size(request, None)
    last = request.query_params.get("last")
    names, more = await listing.tags(_ctx(request), name, n, last)
    headers = {}
    if more and names and n is not None:
        headers["Link"] = _link(f"/v2/{name}/tags/list", n, names[-1])
    return _json({"name": name, "tags": names}, headers)


async def catalog(request: Request) -> Response:
    await authorize(request, CATALOG)
    n = _page_size(request, DEFAULT_CATALOG_PAGE)
    assert n is not None
    last = request.query_params.get("last")
    names, more = await listing.catalog(_ctx(request), n, last, await visible(request))
    headers = {}
    if more and names:
        headers["Link"] = _link("/v2/_catalog", n, names[-1])
    return _json({"repositories": names}, headers)


async def referrers(request: Request) -> Response:
    name = _name(request)
    await authorize(request, Access.repository(name, "pull"))
    digest = Digest.parse(request.path_params["digest"])
    artifact_type = request.query_params.get("artifactType")
    found = await listing.referrers(_ctx(request), name, str(digest), artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found}
    return _json(index, headers, media_type=mt.OCI_INDEX)


def _json(doc: Any, headers: dict[str, str], media_type: str = "application/json") -> Response:
    return Response(json.dumps(doc).encode(), media_type=media_type, headers=headers)


# ---- routing -------------------------------------------------------------------------------


def routes() -> list[Route]:
    def route(path: str, methods: dict[str, Handler]) -> Route:
        return Route(path, endpoint(methods), methods=_ALL_METHODS)

    return [
        *trust.routes(route),  # Notary (Docker Content Trust): /v2/<gun>/_trust/...
        route("/v2/", {"GET": base, "HEAD": base}),
        route("/v2", {"GET": base, "HEAD": base}),
        route("/v2/_catalog", {"GET": catalog}),
        route("/v2/{name:path}/tags/list", {"GET": tags_list}),
        route(
            "/v2/{name:path}/manifests/{reference}",
            {
                "GET": manifest_get,
                "HEAD": manifest_get,
                "PUT": manifest_put,
                "DELETE": manifest_delete,
            },
        ),
        route("/v2/{name:path}/blobs/uploads/", {"POST": upload_start}),
        route("/v2/{name:path}/blobs/uploads", {"POST": upload_start}),
        route(
            "/v2/{name:path}/blobs/uploads/{uuid}",
            {
                "GET": upload_status,
                "PATCH": upload_patch,
                "PUT": upload_put,
                "DELETE": upload_delete,
            },
        ),
        route(
            "/v2/{name:path}/blobs/{digest}",
            {"GET": blob_get, "HEAD": blob_get, "DELETE": blob_delete},
        ),
        route("/v2/{name:path}/referrers/{digest}", {"GET": referrers}),
    ]
