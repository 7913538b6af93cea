"""SBOM export and OpenVEX import under ``/api/v0/imagescan``.

- ``GET /imagescan/sbom/{namespace}/{reponame}/{reference}?format=cyclonedx|spdx``: the scanned
  image's SBOM as a download (pull access; a repository the caller may not see is a 404 like a
  missing one; an image without a finished scan is a 409 ``NOT_SCANNED``). A tag naming an index
  needs ``os`` and ``arch`` when it holds several platforms.
- ``POST .../{reference}/referrer?format=...``: the same document stored in the repository as an
  OCI referrer of the image (push access), listed by ``GET /v2/<name>/referrers/<digest>``.
- ``POST /imagescan/vex`` (an OpenVEX 0.2.0 document as the body, under the request gate's body
  limit), ``GET /imagescan/vex`` (``?id=`` for one document), ``DELETE /imagescan/vex?id=``:
  system administrators only, since statements name images of every repository.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moorage.auth.levels import Level
from moorage.errors import Denied, InvalidInput
from moorage.http.api.common import Admin, Caller, Db, SignedIn
from moorage.http.api.models.sbom import SBOM_SCHEMA, SbomReferrer, VexDocument, VexImport
from moorage.http.services import services
from moorage.registry import manifests
from moorage.scanning import report_targets, sbom, vex
from moorage.scanning.sbom_source import SbomTarget
from moorage.services.access import repository_level

router = APIRouter(tags=["imagescan"])

FormatParam = Annotated[sbom.Format, Query(alias="format")]
SBOM_PATH = "/imagescan/sbom/{namespace}/{reponame}/{reference}"
VEX_SCHEMA = {
    "type": "object",
    "required": ["@context", "@id", "author", "timestamp", "version", "statements"],
    "properties": {
        "@context": {"type": "string", "example": "https://openvex.dev/ns/v0.2.0"},
        "@id": {"type": "string"},
        "author": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "version": {"type": "integer", "minimum": 1},
        "statements": {"type": "array", "items": {"type": "object"}},
    },
}


def _registry_host(request: Request) -> str:
    public = services(request).settings.public_url
    if public:
        return public.split("://", 1)[-1].rstrip("/")
    return request.url.netloc


async def _target(
    request: Request,
    db: Db,
    principal: Caller,
    namespace: str,
    reponame: str,
    reference: str,
    os: str | None,
    arch: str | None,
    *,
    push: bool = False,
) -> SbomTarget:
    name = f"{namespace}/{reponame}"
    level, repo = await repository_level(db, principal, name)
    if push and level < Level.READ_WRITE:
        raise Denied("storing an SBOM beside an image needs read-write access")
    found = await report_targets.resolve(
        services(request).registry, repo, reference, os=os, arch=arch
    )
    if len(found) > 1:
        known = [t for t in found if t.os != "unknown"]  # attestations under an index
        found = known if known else found
    if len(found) > 1:
        platforms = sorted({t.platform for t in found})
        raise InvalidInput(
            f"{reference!r} names an index of several platforms: choose one with os and arch "
            f"({', '.join(platforms)})",
            detail={"platforms": platforms},
        )
    (image,) = found
    return SbomTarget(
        repository=name,
        digest=image.digest,
        tag=image.tag or None,
        registry_host=_registry_host(request),
    )


@router.get(
    SBOM_PATH,
    response_class=Response,
    responses={
        200: {
            "description": "the SBOM, as a download",
            "content": {
                "application/json": {"schema": SBOM_SCHEMA},
                sbom.Format.CYCLONEDX.media_type: {"schema": SBOM_SCHEMA["anyOf"][0]},
                sbom.Format.SPDX.media_type: {"schema": SBOM_SCHEMA["anyOf"][1]},
            },
        }
    },
)
async def export_sbom(
    namespace: str,
    reponame: str,
    reference: str,
    request: Request,
    db: Db,
    principal: Caller,
    fmt: FormatParam = sbom.Format.CYCLONEDX,
    os: str | None = None,
    arch: str | None = None,
) -> Response:
    """The image's SBOM (CycloneDX 1.5 or SPDX 2.3 JSON) from its last finished scan."""
    target = await _target(request, db, principal, namespace, reponame, reference, os, arch)
    document = await sbom.export(db, fmt, target)
    return Response(
        document.content,
        media_type=fmt.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{document.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(f"{SBOM_PATH}/referrer", status_code=201)
async def store_sbom_referrer(
    namespace: str,
    reponame: str,
    reference: str,
    request: Request,
    db: Db,
    principal: SignedIn,
    fmt: FormatParam = sbom.Format.CYCLONEDX,
    os: str | None = None,
    arch: str | None = None,
) -> SbomReferrer:
    """Store the image's SBOM beside it as an OCI artifact whose subject is the image."""
    target = await _target(
        request, db, principal, namespace, reponame, reference, os, arch, push=True
    )
    document = await sbom.export(db, fmt, target)
    ctx = services(request).registry
    subject = await manifests.get_child(ctx, target.repository, target.digest)
    if subject is None:  # deleted between the two reads
        raise InvalidInput("the image is no longer in the repository")
    stored = await sbom.store_referrer(ctx, document, subject, actor=principal.name)
    return SbomReferrer.of(target.repository, stored)


@router.post(
    "/imagescan/vex",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": VEX_SCHEMA}},
        }
    },
)
async def import_vex(request: Request, db: Db, principal: Admin) -> VexImport:
    """Import an OpenVEX 0.2.0 document (replacing an earlier one with the same ``@id``);
    ``not_affected`` and ``fixed`` statements suppress the findings they name."""
    outcome = await vex.import_document(db, await request.body(), principal.name or "admin")
    return VexImport.of(outcome)


@router.get("/imagescan/vex")
async def list_vex(
    db: Db, principal: Admin, document_id: Annotated[str | None, Query(alias="id")] = None
) -> list[VexDocument]:
    """The imported documents and their statements (one document with ``id``)."""
    async with db.read() as conn:
        rows = await vex.statements(conn, document_id)
    if document_id is not None and not rows:
        raise vex.NoSuchVexDocument(detail={"id": document_id[:200]})
    return VexDocument.group(rows)


@router.delete("/imagescan/vex", status_code=204)
async def delete_vex(
    db: Db, principal: Admin, document_id: Annotated[str, Query(alias="id", min_length=1)]
) -> Response:
    """Remove a document's statements; the findings they suppressed count again."""
    await vex.delete_document(db, document_id)
    return Response(status_code=204)
