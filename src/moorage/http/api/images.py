"""``/api/v0/repositories/{ns}/{repo}/tags`` and ``.../manifests``: what a repository holds.

A page of tags carries each manifest's ``vuln_summary``: one more statement per page
(``scanning.report_tags``), never one per tag; the manifests are parsed and their configs read
only with ``includeManifests=true`` (DTR's default is false). A single tag adds each image's
``components`` and ``licenses`` (two statements, ``scanning.report_queries``). Every tag
names its signatures (``signatures``, left out when there are none; docs/signatures.md), read
for the whole page in a fixed number of statements. Lists are paged
as DTR's: ``pageStart`` / ``pageSize``, ``X-Next-Page-Start`` for the next page, ``count=true``
adds ``X-Resource-Count``. DTR's ``domain`` (Notary's) is accepted and changes nothing: Moorage
keeps no Notary data (``inNotary`` is always false)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moorage.auth.levels import Level
from moorage.db.engine import utcnow
from moorage.errors import (
    Denied,
    InvalidDigest,
    InvalidInput,
    ManifestUnknown,
    NoSuchRef,
    NoSuchTag,
)
from moorage.http.api.common import (
    Caller,
    Count,
    Db,
    PageSize,
    PageStart,
    SignedIn,
    next_page,
    resource_count,
)
from moorage.http.api.models.images import (
    ManifestFound,
    ManifestList,
    TagEntry,
    TagList,
    summarised_digest,
)
from moorage.http.services import services
from moorage.oci.digest import is_digest
from moorage.registry import browse, indexes, manifests
from moorage.registry.browse import ImageDetails
from moorage.registry.context import RegistryContext
from moorage.scanning import report_queries, report_tags
from moorage.services.access import repository_level
from moorage.trust.signatures import view

router = APIRouter(tags=["tags"])

IncludeManifests = Annotated[bool, Query(alias="includeManifests")]
Domain = Annotated[str | None, Query(max_length=255)]  # DTR's Notary domain: accepted, unused
Platform = Annotated[str | None, Query(max_length=64)]


def _ctx(request: Request) -> RegistryContext:
    return services(request).registry


async def _tag_list(
    ctx: RegistryContext,
    repository: str,
    repository_id: int,
    found: list[TagEntry],
    *,
    inventories: bool = False,
) -> TagList:
    """The page with each entry's scan summary, read in one statement for the page, and the
    signature view of each tag's digest (``trust.signatures.view.signatures_of``: the same few
    statements for the whole page); for a single tag, each image's components and licences
    (two more)."""
    digests = [summarised_digest(row, image) for row, image in found]
    scans = await report_tags.tag_scans(ctx.db, repository_id, digests)
    held = await report_queries.inventories(ctx.db, digests) if inventories else None
    signed = await view.signatures_of(
        ctx, repository, repository_id, [row.digest for row, _ in found], utcnow()
    )
    return TagList.of(repository, found, scans, held, signed)


Row = TypeVar("Row", browse.TagRow, browse.ManifestRow)


async def _with_images(ctx: RegistryContext, rows: list[Row]) -> list[tuple[Row, ImageDetails]]:
    """Each row with its image's details (the page's configs read once each)."""
    configs = browse.ConfigCache(ctx)
    return [
        (
            row,
            await browse.image_details(
                configs, row.digest, row.media_type, row.payload, row.created_at
            ),
        )
        for row in rows
    ]


@router.get("/repositories/{namespace}/{repo}/tags")
async def list_tags(
    namespace: str,
    repo: str,
    request: Request,
    response: Response,
    db: Db,
    principal: Caller,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    include_manifests: IncludeManifests = False,
    count: Count = False,
    domain: Domain = None,
) -> TagList:
    """A page of tags ordered by name (DTR's ``responses.ListTag``). DTR lists ``manifest`` as
    required: with ``includeManifests=true`` the image's details, else what the tag's row
    knows (no manifest parsed, no config read)."""
    name = f"{namespace}/{repo}"
    _, details = await repository_level(db, principal, name)
    ctx = _ctx(request)
    rows, nxt = await browse.tag_page(ctx, details.id, start=page_start, limit=page_size)
    out: list[TagEntry] = (
        list(await _with_images(ctx, rows)) if include_manifests else [(row, None) for row in rows]
    )
    next_page(response, nxt)
    if count:
        resource_count(response, await browse.tag_count(ctx, details.id))
    return await _tag_list(ctx, name, details.id, out)


PLATFORM_PAGE = 100


@router.get("/repositories/{namespace}/{repo}/tags/{reference}")
async def get_tag(
    namespace: str,
    repo: str,
    reference: str,
    request: Request,
    response: Response,
    db: Db,
    principal: Caller,
    page_start: PageStart = None,
    page_size: PageSize = PLATFORM_PAGE,
    domain: Domain = None,
    os: Platform = None,
    arch: Platform = None,
) -> TagList:
    """The tag (or digest) with its image; for a manifest list one entry per platform, a page
    of ``pageSize`` (default 100) from ``pageStart`` (the index position that
    ``X-Next-Page-Start`` gave); DTR's ``os`` / ``arch`` keep only the page's platforms of that
    operating system / architecture. A digest answers for every tag naming it (the first
    ``browse.TAGS_PER_MANIFEST``, as DTR answers all), or once, named by the digest, when no
    tag names it. 404 ``NO_SUCH_REF`` (DTR's) when the repository holds no such tag or digest."""
    name = f"{namespace}/{repo}"
    _, details = await repository_level(db, principal, name)
    if page_start is not None and not page_start.isdigit():
        raise InvalidInput(
            "pageStart is the X-Next-Page-Start of the previous page",
            detail={"pageStart": page_start[:40]},
        )
    ctx = _ctx(request)
    try:
        row = await browse.tag(ctx, details.id, reference)
    except ManifestUnknown as exc:
        raise NoSuchRef(f"{name} has no tag or digest {reference[:128]!r}") from exc
    images, nxt = await indexes.platform_images(
        ctx,
        details.id,
        row,
        browse.ConfigCache(ctx),
        start=int(page_start or 0),
        limit=page_size,
    )
    images = [
        image
        for image in images
        if (os is None or image.os == os) and (arch is None or image.architecture == arch)
    ]
    named = [row]
    if is_digest(reference):
        named = await browse.tags_naming(ctx, details.id, row.digest) or named
    next_page(response, str(nxt) if nxt is not None else None)
    found: list[TagEntry] = [(tag, image) for tag in named for image in images]
    return await _tag_list(ctx, name, details.id, found, inventories=True)


@router.delete("/repositories/{namespace}/{repo}/tags/{tag}", status_code=204)
async def delete_tag(
    namespace: str,
    repo: str,
    tag: str,
    request: Request,
    db: Db,
    principal: SignedIn,
    domain: Domain = None,
) -> Response:
    name = f"{namespace}/{repo}"
    level, _ = await repository_level(db, principal, name)
    if level < Level.READ_WRITE:
        raise Denied("deleting a tag needs read-write access")
    if is_digest(tag):
        raise InvalidInput("name a tag, not a digest")
    try:
        await manifests.delete_reference(_ctx(request), name, tag, principal.name)
    except ManifestUnknown as exc:
        raise NoSuchTag(f"{name} has no tag {tag[:128]!r}") from exc
    return Response(status_code=204)


@router.get("/repositories/{namespace}/{repo}/manifests")
async def list_manifests(
    namespace: str,
    repo: str,
    request: Request,
    response: Response,
    db: Db,
    principal: Caller,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    count: Count = False,
) -> ManifestList:
    """A page of the repository's manifests ordered by digest (DTR's ``responses.Manifest``),
    with the tags naming each."""
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    ctx = _ctx(request)
    rows, nxt = await browse.manifest_page(ctx, details.id, start=page_start, limit=page_size)
    tags = await browse.tags_of(ctx, details.id, [r.digest for r in rows])
    found: list[ManifestFound] = await _with_images(ctx, rows)
    next_page(response, nxt)
    if count:
        resource_count(response, await browse.manifest_count(ctx, details.id))
    return ManifestList.of(found, tags)


@router.delete("/repositories/{namespace}/{repo}/manifests/{reference}", status_code=204)
async def delete_manifest(
    namespace: str, repo: str, reference: str, request: Request, db: Db, principal: SignedIn
) -> Response:
    """DTR's (deprecated) manifest deletion: the manifest a digest names, with its tags; 400
    ``INVALID_DIGEST`` for anything but a digest, 404 ``NO_SUCH_REF`` when the repository does
    not hold it (DTR's codes)."""
    name = f"{namespace}/{repo}"
    level, _ = await repository_level(db, principal, name)
    if level < Level.READ_WRITE:
        raise Denied("deleting a manifest needs read-write access")
    if not is_digest(reference):
        raise InvalidDigest("name a manifest by its digest", detail={"reference": reference[:80]})
    try:
        await manifests.delete_reference(_ctx(request), name, reference, principal.name)
    except ManifestUnknown as exc:
        raise NoSuchRef(f"{name} has no manifest {reference[:80]}") from exc
    return Response(status_code=204)
