"""DTR's scan summaries and scan requests under ``/api/v0/imagescan``.

- ``GET scansummary/repositories/{ns}/{repo}/{reference}`` (a tag or a digest; an index gives one
  summary per platform, ``os``/``arch`` choose one) and the deprecated flat
  ``GET repositories/{ns}/{repo}/{tag}``: who may pull the repository (anonymous callers too, for
  a public one); a hidden repository answers as a missing one.
- ``POST scansummary/tags``: the counts of a list of images (``{"images": [{"name", "digest"}]}``);
  an image the caller may not see, or that does not exist, is left out of the answer.
- ``GET scansummary/{cve,component,layer,license}/{term}``: scanned images across every
  repository the signed-in caller may pull, a page at a time (``pageStart``/``pageSize``,
  ``X-Next-Page-Start``; ``count=true`` adds ``X-Resource-Count``).
- ``GET scansummary/repositories/{ns}/{repo}/{tag}/export``: the inventory with its findings as
  CSV (``Accept: text/csv``, DTR's default) or JSON (``Accept: application/json`` or
  ``?format=json``).
- ``POST scan/{ns}/{repo}/{tag}/{os}/{arch}``: queue a ``scan`` job for the image (read-write
  access to the repository); ``POST scan``: queue ``scanall`` (system administrators). While the
  site setting ``scanningEnabled`` is off both answer DTR's 400 ``SCANNING_NOT_ENABLED`` (after
  the caller's access is checked) and queue nothing; stored results stay readable.

A tag or digest the repository does not hold is DTR's 404 ``NO_SUCH_REF`` on
``scansummary/repositories/...`` and ``NO_SUCH_TAG`` on the others (as DTR's Swagger has them).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.errors import (
    Denied,
    InvalidInput,
    InvalidParameters,
    NoSuchRef,
    NoSuchTag,
    NotFound,
    RegistryError,
    ScanningNotEnabled,
)
from moorage.http.api.common import (
    Admin,
    AppServices,
    Caller,
    Count,
    PageStart,
    SignedIn,
    next_page,
    resource_count,
)
from moorage.http.api.models.jobs import Job
from moorage.http.api.models.scanning import (
    ExportRow,
    OldScanSummary,
    QueuedScans,
    ScanSummary,
    ThinScanSummaries,
    ThinScanSummary,
    old_summary,
    summary,
)
from moorage.http.services import Services
from moorage.registry.repositories import RepositoryDetails
from moorage.scanning import report_export, report_search, report_targets, reports, scan_requests
from moorage.scanning.layer_overrides import NoSuchLayer
from moorage.scanning.report_targets import ImageTarget
from moorage.services.access import repository_level

router = APIRouter(tags=["imagescan"])

MAX_SEARCH_PAGE = 100
MAX_IMAGES = 100  # images one POST scansummary/tags may ask about
SearchPageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_SEARCH_PAGE)]
Platform = Annotated[str | None, Query(max_length=64)]
# Leading characters a spreadsheet reads as a formula (CSV injection): such a cell gets a quote.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


async def _summaries(
    services: Services,
    principal: Principal,
    name: str,
    reference: str,
    *,
    os: str | None,
    arch: str | None,
) -> list[tuple[ImageTarget, reports.ScanReport]]:
    _, details = await repository_level(services.db, principal, name)
    targets = await report_targets.resolve(services.registry, details, reference, os=os, arch=arch)
    found = await reports.reports(services.db, [t.digest for t in targets])
    return [(target, found[target.digest]) for target in targets]


@router.get("/imagescan/scansummary/repositories/{namespace}/{reponame}/{reference}")
async def scan_summary(
    namespace: str,
    reponame: str,
    reference: str,
    services: AppServices,
    principal: Caller,
    scanstatus: bool = True,
    detailed: bool = True,
    os: Platform = None,
    arch: Platform = None,
) -> list[ScanSummary]:
    """The summary of a tag or digest: counts, status, completion, per-layer components with
    their vulnerabilities (``detailed=false``, a Moorage extra, leaves the layers out)."""
    try:
        found = await _summaries(
            services, principal, f"{namespace}/{reponame}", reference, os=os, arch=arch
        )
    except NoSuchTag as exc:
        raise NoSuchRef(exc.message, detail=exc.detail) from exc
    return [summary(target, report, detailed=detailed) for target, report in found]


@router.get("/imagescan/repositories/{namespace}/{reponame}/{tag}", deprecated=True)
async def old_scan_summary(
    namespace: str,
    reponame: str,
    tag: str,
    services: AppServices,
    principal: Caller,
    detailed: bool = True,
    os: Platform = None,
    arch: Platform = None,
) -> list[OldScanSummary]:
    """DTR's deprecated flat summary of a tag."""
    found = await _summaries(services, principal, f"{namespace}/{reponame}", tag, os=os, arch=arch)
    return [old_summary(target, report, detailed=detailed) for target, report in found]


class ImageRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=512)  # namespace/repository, or namespace/repository:tag
    digest: str = Field(default="", max_length=200)


class ImagesForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    images: list[ImageRef] = Field(max_length=MAX_IMAGES)


def _split(name: str) -> tuple[str, str]:
    """``ns/repo:tag`` → (``ns/repo``, ``tag``); the tag is empty when none is given."""
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    return repository, tag


@router.post("/imagescan/scansummary/tags")
async def scan_summaries(
    form: ImagesForm, services: AppServices, principal: SignedIn
) -> ThinScanSummaries:
    """Counts of several images, each named ``ns/repo:tag`` or ``ns/repo`` with a digest; the
    answer is keyed by the digest when one was given, else by the name."""
    wanted: dict[str, tuple[str, str]] = {}
    for image in form.images:
        repository, tag = _split(image.name.strip())
        reference = image.digest.strip() or tag
        if not repository or not reference:
            raise InvalidParameters(
                "each image is {name: ns/repo:tag} or {name: ns/repo, digest}",
                detail={"name": image.name[:200]},
            )
        wanted[image.digest.strip() or image.name.strip()] = (repository, reference)
    digests: dict[str, str] = {}
    for key, (repository, reference) in wanted.items():
        try:
            _, details = await repository_level(services.db, principal, repository)
            targets = await report_targets.resolve(services.registry, details, reference)
        except (NotFound, InvalidInput, RegistryError):
            continue  # hidden, missing or malformed: left out, as DTR leaves unknown images out
        if len(targets) == 1:
            digests[key] = targets[0].digest
    states = await reports.states(services.db, digests.values())
    return ThinScanSummaries(
        images={key: ThinScanSummary.of_state(states[d]) for key, d in digests.items()}
    )


async def _search(
    services: Services,
    response: Response,
    principal: Principal,
    query: report_search.Query,
    *,
    start: str | None,
    limit: int,
    count: bool,
) -> list[ScanSummary]:
    page = await report_search.search(
        services.db, principal, query, start=start, limit=limit, count=count
    )
    found = await reports.reports(services.db, [image.digest for image in page.images])
    next_page(response, page.next_start)
    if page.total is not None:
        resource_count(response, page.total)
    return [summary(image, found[image.digest], detailed=False) for image in page.images]


@router.get("/imagescan/scansummary/cve/{cve}")
async def images_by_cve(
    cve: str,
    services: AppServices,
    response: Response,
    principal: SignedIn,
    page_start: PageStart = None,
    page_size: SearchPageSize = 10,
    count: Count = False,
    scanstatus: bool = True,
) -> list[ScanSummary]:
    """Images a vulnerability affects, by any of its IDs (a CVE, or its DSA, USN, GHSA …)."""
    query = report_search.Query(report_search.By.CVE, cve)
    return await _search(
        services, response, principal, query, start=page_start, limit=page_size, count=count
    )


@router.get("/imagescan/scansummary/component/{component:path}")
async def images_by_component(
    component: str,
    services: AppServices,
    response: Response,
    principal: SignedIn,
    version: Annotated[str | None, Query(max_length=255)] = None,
    page_start: PageStart = None,
    page_size: SearchPageSize = 10,
    count: Count = False,
    scanstatus: bool = True,
) -> list[ScanSummary]:
    """Images holding a component (its package name; ``version`` narrows it)."""
    query = report_search.Query(report_search.By.COMPONENT, component, version or None)
    return await _search(
        services, response, principal, query, start=page_start, limit=page_size, count=count
    )


@router.get("/imagescan/scansummary/layer/{layerid}")
async def images_by_layer(
    layerid: str,
    services: AppServices,
    response: Response,
    principal: SignedIn,
    page_start: PageStart = None,
    page_size: SearchPageSize = 10,
    count: Count = False,
    scanstatus: bool = True,
) -> list[ScanSummary]:
    """Scanned images holding a layer; 404 ``NO_SUCH_LAYER`` when none the caller may see does."""
    query = report_search.Query(report_search.By.LAYER, layerid)
    found = await _search(
        services, response, principal, query, start=page_start, limit=page_size, count=count
    )
    if not found and page_start is None:
        raise NoSuchLayer(detail={"layer": layerid[:200]})
    return found


@router.get("/imagescan/scansummary/license/{license:path}")
async def images_by_license(
    license: str,
    services: AppServices,
    response: Response,
    principal: SignedIn,
    page_start: PageStart = None,
    page_size: SearchPageSize = 10,
    count: Count = False,
    scanstatus: bool = True,
) -> list[ScanSummary]:
    """Images holding a component declared under a licence (an SPDX ID, case-insensitive)."""
    query = report_search.Query(report_search.By.LICENSE, license)
    return await _search(
        services, response, principal, query, start=page_start, limit=page_size, count=count
    )


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value


def _wants_json(request: Request, format: str | None) -> bool:
    if format is not None:
        if format.lower() not in ("csv", "json"):
            raise InvalidParameters("format is csv or json", detail={"format": format[:20]})
        return format.lower() == "json"
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/csv" not in accept


@router.get(
    "/imagescan/scansummary/repositories/{namespace}/{reponame}/{tag}/export",
    response_class=Response,
    responses={
        200: {
            "model": list[ExportRow],
            "description": "CSV (text/csv) or JSON rows: one per component and vulnerability",
            "content": {"text/csv": {}},
        }
    },
)
async def export_summary(
    namespace: str,
    reponame: str,
    tag: str,
    request: Request,
    services: AppServices,
    principal: Caller,
    format: Annotated[str | None, Query(max_length=8)] = None,
    scanstatus: bool = True,
    os: Platform = None,
    arch: Platform = None,
) -> Response:
    name = f"{namespace}/{reponame}"
    found = await _summaries(services, principal, name, tag, os=os, arch=arch)
    rows: list[dict[str, str]] = []
    for target, report in found:
        rows += report_export.export_rows(
            report, repository=name, tag=target.tag or tag, platform=target.platform
        )
    stem = _FILENAME_UNSAFE.sub("_", f"{namespace}-{reponame}-{tag}")[:120]
    if _wants_json(request, format):
        body = "[" + ",".join(ExportRow(**row).model_dump_json() for row in rows) + "]"
        media, suffix = "application/json", "json"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=report_export.EXPORT_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        body, media, suffix = out.getvalue(), "text/csv; charset=utf-8", "csv"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}-scan.{suffix}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---- scan requests -------------------------------------------------------------------------


async def _scanning_on(db: Database) -> None:
    if not (await site_settings.load(db)).scanning_enabled:
        raise ScanningNotEnabled("scanning is disabled: an administrator turns scanningEnabled on")


async def _writable(db: Database, principal: Principal, name: str) -> RepositoryDetails:
    level, details = await repository_level(db, principal, name)
    if level < Level.READ_WRITE:
        raise Denied("scanning an image needs read-write access to its repository")
    return details


@router.post("/imagescan/scan/{namespace}/{reponame}/{tag}/{os}/{arch}")
async def scan_image(
    namespace: str,
    reponame: str,
    tag: str,
    os: str,
    arch: str,
    services: AppServices,
    principal: SignedIn,
) -> QueuedScans:
    """Queue a scan of the tag's image for ``os``/``arch`` (each matching platform of an
    index); 404 ``NO_SUCH_TAG`` when the tag names no such image."""
    details = await _writable(services.db, principal, f"{namespace}/{reponame}")
    await _scanning_on(services.db)
    targets = await report_targets.resolve(services.registry, details, tag, os=os, arch=arch)
    queued = await scan_requests.queue_scans(services.db, targets)
    services.poke_jobs()
    return QueuedScans(jobs=[Job.of(job) for job in queued])


class ScanOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scan: bool = True  # read the layers again (cached inventories are kept otherwise)
    check: bool = True  # match against the vulnerability database in force


@router.post("/imagescan/scan")
async def scan_all(options: ScanOptions, services: AppServices, principal: Admin) -> QueuedScans:
    """Queue ``scanall``: a scan of every image manifest (system administrators)."""
    await _scanning_on(services.db)
    parameters = {"scan": options.scan, "check": options.check, "requestedBy": principal.name}
    job = await scan_requests.queue_scan_all(services.db, parameters)
    services.poke_jobs()
    return QueuedScans(jobs=[Job.of(job)])
