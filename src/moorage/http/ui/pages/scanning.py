"""The web UI's scanning: each tag's vulnerability summary in the tags list, an image's components
layer by layer with their vulnerabilities, the search for a vulnerability or a component across
the repositories the viewer may pull (``/scanning``), and the vulnerability database's status,
online update and file upload for system administrators (``/scanning/database``).

What the pages show comes from ``moorage.scanning.reports`` and ``report_search`` (the same
queries as ``/api/v0/imagescan``); the database's update from the same domain functions as
``PUT /api/v0/imagescan/scan/update``. The upload streams to a private file under the same limit
as the API's (the request gate knows the route); its CSRF token is the form's first field and is
checked before a byte of the file is written.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from moorage.errors import Denied, MoorageError
from moorage.http.file_upload import receive_file
from moorage.http.services import services
from moorage.http.ui.render import (
    Viewer,
    db_of,
    error_page,
    field,
    principal_of,
    render,
    see_other,
    session_viewer,
    system_admin,
)
from moorage.jobs import vulndb_update
from moorage.oci import mediatypes as mt
from moorage.queue import jobs
from moorage.registry import browse, indexes
from moorage.registry.context import RegistryContext
from moorage.scanning import report_search, reports
from moorage.scanning.report_targets import ImageTarget
from moorage.scanning.vulndb import status as vulndb_status
from moorage.scanning.vulndb.importer import import_archives

PLATFORMS_SHOWN = 20  # platforms of an index the tags list sums up
SEARCH_PAGE = 25
UPLOAD_FIELDS = ("file", "upload")
SEVERITIES = ("critical", "major", "minor", "unknown")


def advisory_url(vuln_id: str) -> str:
    """Where to read about an advisory: NVD for a CVE, GitHub for a GHSA, osv.dev otherwise."""
    safe = quote(vuln_id, safe="")
    if vuln_id.upper().startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{safe}"
    if vuln_id.upper().startswith("GHSA-"):
        return f"https://github.com/advisories/{safe}"
    return f"https://osv.dev/vulnerability/{safe}"


@dataclass(frozen=True, slots=True)
class Badge:
    """One tag's (or image's) vulnerability summary, as the pages word it."""

    status: str  # scanned | queued | scanning | failed | not_scanned | partly_scanned
    counts: reports.Counts
    reason: str = ""
    scanned: int = 1  # platforms scanned (an index)
    platforms: int = 1

    @property
    def text(self) -> str:
        if self.status == "failed":
            return f"scan failed: {self.reason}" if self.reason else "scan failed"
        if self.status in ("queued", "scanning"):
            return "scan queued" if self.status == "queued" else "scanning"
        if self.status == "not_scanned":
            return "not scanned"
        c = self.counts
        words = f"{c.critical} critical, {c.major} major, {c.minor} minor"
        if self.status == "partly_scanned":
            words += f" ({self.scanned} of {self.platforms} platforms scanned)"
        return words


def badge_of(state: reports.ScanState) -> Badge:
    return Badge(state.status, state.counts, state.reason or "")


def _combined(found: list[reports.ScanState]) -> Badge:
    """An index's badge: a failure or a scan under way first; else the worst platform's counts
    (per level, the most any platform has)."""
    if not found:
        return Badge("not_scanned", reports.Counts(), platforms=0, scanned=0)
    for status in ("failed", "scanning", "queued"):
        hit = next((s for s in found if s.status == status), None)
        if hit is not None:
            return Badge(status, reports.Counts(), hit.reason or "", platforms=len(found))
    scanned = [s for s in found if s.scanned]
    if not scanned:
        return Badge("not_scanned", reports.Counts(), platforms=len(found), scanned=0)
    counts = reports.Counts(
        max(s.counts.critical for s in scanned),
        max(s.counts.major for s in scanned),
        max(s.counts.minor for s in scanned),
    )
    status = "scanned" if len(scanned) == len(found) else "partly_scanned"
    return Badge(status, counts, scanned=len(scanned), platforms=len(found))


async def tag_badges(ctx: RegistryContext, rows: list[browse.TagRow]) -> dict[str, Badge]:
    """The vulnerability summary of each tag of a page of the tags list (artifacts have none)."""
    wanted: dict[str, list[str]] = {}
    for row in rows:
        if row.media_type in mt.INDEXES:
            children, _ = await indexes.index_children(
                ctx, row.manifest_id, start=0, limit=PLATFORMS_SHOWN
            )
            wanted[row.name] = [c.digest for c in children if c.media_type not in mt.INDEXES]
        else:
            wanted[row.name] = [row.digest]
    found = await reports.states(ctx.db, {d for digests in wanted.values() for d in digests})
    out: dict[str, Badge] = {}
    for row in rows:
        states = [found[d] for d in wanted[row.name]]
        if row.media_type in mt.INDEXES:
            out[row.name] = _combined(states)
        elif states:
            out[row.name] = badge_of(states[0])
    return out


def _finding_view(finding: reports.Finding) -> dict[str, Any]:
    return {
        "id": finding.vuln_id,
        "links": [(i, advisory_url(i)) for i in finding.ids],
        "severity": finding.severity,
        "cvss": "" if finding.cvss is None else f"{finding.cvss:.1f}",
        "fixed": finding.fixed_version or "",
        "status": finding.status or "",
        "summary": finding.summary or "",
        "suppressed": finding.suppressed,
        "reason": finding.suppression_reason or "",
    }


def report_view(report: reports.ScanReport) -> dict[str, Any]:
    """An image's scan for its page: the badge, and every layer with its components and their
    vulnerabilities (most severe first)."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    layers: list[dict[str, Any]] = []
    for layer in report.layers:
        components = []
        for c in layer.components:
            findings = sorted(c.findings, key=lambda f: (f.suppressed, rank.get(f.severity, 9)))
            components.append(
                {
                    "name": c.name,
                    "version": c.version,
                    "type": c.type,
                    "path": c.path,
                    "licenses": ", ".join(c.licenses),
                    "problem": c.match_problem or "",
                    "findings": [_finding_view(f) for f in findings],
                }
            )
        layers.append(
            {
                "index": layer.index + 1,
                "digest": layer.digest,
                "size": layer.size,
                "components": components,
            }
        )
    return {
        "badge": badge_of(report.state),
        "state": report.state,
        "layers": layers,
        "components": len(report.components),
    }


async def image_report(request: Request, digest: str) -> dict[str, Any]:
    return report_view(await reports.report(db_of(request), digest))


async def platform_badges(request: Request, digests: list[str]) -> dict[str, Badge]:
    found = await reports.states(db_of(request), digests)
    return {d: badge_of(s) for d, s in found.items()}


# ---- search --------------------------------------------------------------------------------

_KINDS = {"cve": report_search.By.CVE, "component": report_search.By.COMPONENT}


def _hits(image: ImageTarget, report: reports.ScanReport, query: report_search.Query) -> list[str]:
    """What of the image matched: the components a vulnerability affects, or the versions of the
    component."""
    if query.by is report_search.By.CVE:
        wanted = report_search.vulnerability_id(query.term)
        return sorted(
            {
                f"{c.name} {c.version}"
                + (f" (fixed in {f.fixed_version})" if f.fixed_version else "")
                for c, f in report.findings()
                if wanted in f.ids and not f.suppressed
            }
        )
    return sorted(
        {f"{c.name} {c.version}" for c in report.components if c.name == query.term.strip()}
    )


async def search(request: Request, viewer: Viewer) -> Response:
    """Images the viewer may see that a vulnerability affects or that hold a component."""
    term = request.query_params.get("q", "").strip()
    kind = request.query_params.get("by", "cve")
    if kind not in _KINDS:
        kind = "cve"
    version = request.query_params.get("version", "").strip()
    context: dict[str, Any] = {"q": term, "by": kind, "version": version, "results": None}
    if term:
        db = db_of(request)
        try:
            query = report_search.Query(_KINDS[kind], term, version or None)
            page = await report_search.search(
                db,
                principal_of(viewer),
                query,
                start=request.query_params.get("start") or None,
                limit=SEARCH_PAGE,
                count=True,
            )
        except MoorageError as exc:
            return render(
                request, viewer, "scanning.html", status=400, error=exc.message, **context
            )
        found = await reports.reports(db, [image.digest for image in page.images])
        context["results"] = [
            {
                "image": image,
                "badge": badge_of(found[image.digest].state),
                "hits": _hits(image, found[image.digest], query),
                "reference": image.tag or image.digest,
            }
            for image in page.images
        ]
        context["total"] = page.total
        if page.next_start:
            params = f"q={quote(term)}&by={kind}&start={quote(page.next_start)}"
            context["next_url"] = "?" + params + (f"&version={quote(version)}" if version else "")
    return render(request, viewer, "scanning.html", error="", **context)


# ---- the vulnerability database ------------------------------------------------------------


async def database(request: Request, viewer: Viewer) -> Response:
    """The database's status and update progress; POST ``action=update`` updates it online."""
    system_admin(viewer)
    db = db_of(request)
    if request.method == "POST":
        form = await request.form()
        if field(form, "action") != "update":
            return error_page(request, viewer, 400, "Unknown action.")
        job = await vulndb_update.queue(db)
        services(request).poke_jobs()
        return see_other(f"/jobs/{quote(job.id, safe='')}")
    updates, _ = await jobs.page(db, action=vulndb_update.ACTION, running=None, start=None, limit=5)
    return render(
        request,
        viewer,
        "scanning_database.html",
        status_=await vulndb_status.read(db),
        updates=updates,
        imported=request.query_params.get("imported", "")[:300],
        feed=services(request).settings.vulnerability_feed_url,
        max_bytes=services(request).settings.vulnerability_db_max_archive_bytes,
    )


def _incoming(data: Path) -> Path:
    folder = data / "vulndb" / "incoming"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4()}.zip"


async def upload(request: Request) -> Response:
    """``POST /scanning/database/upload``: an OSV zip archive imported as the offline database.
    The session and its administrator are checked before the body is read, the CSRF token (the
    form's first field) before the file is written; the file streams to disk."""
    viewer = await session_viewer(request)
    if viewer is None:
        return error_page(request, None, 403, "Your session has ended: sign in again.")
    if not viewer.principal.is_admin:
        return error_page(request, viewer, 403, "Only system administrators may do this.")

    def check_csrf(fields: Mapping[str, str]) -> None:
        token = fields.get("csrf", "")
        if not hmac.compare_digest(token.encode(), viewer.csrf.encode()):
            raise Denied("The form's CSRF token is missing or wrong.")

    settings = services(request).settings
    path = _incoming(settings.data)
    try:
        name = await receive_file(
            request,
            path,
            max_bytes=settings.vulnerability_db_max_archive_bytes,
            fields=UPLOAD_FIELDS,
            text_fields=("csrf",),
            before_file=check_csrf,
        )
        report = await import_archives(
            db_of(request),
            [path],
            source=f"file {name or 'upload'} from {viewer.name}",
            kind="offline",
            holder=f"upload by {viewer.name}",
            prune=False,
        )
    except MoorageError as exc:
        status = exc.status if 400 <= exc.status < 500 else 500
        return error_page(request, viewer, status, exc.message)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return see_other(f"/scanning/database?imported={quote(report.summary()[:300])}")
