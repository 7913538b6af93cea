"""The scan summary of each manifest on a page of a repository's tags (DTR's ``vuln_summary``
on ``/api/v0/repositories/{ns}/{repo}/tags``), read in ONE statement for the whole page.

A manifest that is an image is summarised by its own scan. One that is an index (manifest list)
is summarised by its platforms' images (the first ``MAX_PLATFORMS``, nested indexes left out),
as the web UI words it: a failed scan first (its platform named in the reason), then a scan
under way, then the worst platform's counts per level; ``partly_scanned`` when some platforms
have no scan yet. ``has_foreign_layers`` comes from the stored references of each image (a
Docker foreign or OCI non-distributable layer). A manifest never queued is ``not_scanned`` with
zero counts and no completion time, never "0 vulnerabilities found".

The caller has checked that the principal may see the repository; nothing here decides access.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, and_, exists, func, literal_column, select, union_all

from moorage.db import scan_result_tables as sr
from moorage.db import scan_tables as st
from moorage.db import tables as t
from moorage.db.engine import Database, as_utc
from moorage.oci import mediatypes as mt
from moorage.oci.manifest import DOCKER_FOREIGN_LAYERS
from moorage.scanning.report_targets import MAX_PLATFORMS
from moorage.scanning.reports import NOT_SCANNED, Counts

PARTLY_SCANNED = "partly_scanned"  # an index some of whose platforms have no scan yet
_INDEXES = sorted(mt.INDEXES)
_FOREIGN = sorted(DOCKER_FOREIGN_LAYERS)


@dataclass(frozen=True, slots=True)
class TagScan:
    """What a tags list shows of one manifest's scan (an index's: its platforms' combined)."""

    manifest_digest: str
    status: str  # scanned | queued | scanning | failed | not_scanned | partly_scanned
    reason: str | None  # why a scan failed
    counts: Counts
    completed_at: dt.datetime | None  # the last platform's check completion
    should_rescan: bool  # a failed scan, or one matched against an older database
    has_foreign_layers: bool
    platforms: int  # image manifests summarised: 1 for an image, an index's platforms
    scanned: int  # of which have a completed scan


@dataclass(frozen=True, slots=True)
class _Image:
    platform: str
    status: str
    reason: str | None
    counts: Counts
    completed_at: dt.datetime | None
    stale: bool
    foreign: bool


def _query(repository_id: int, digests: list[str]) -> Any:
    m, refs = t.manifests, t.manifest_references
    child = t.manifests.alias("child")
    in_repository = and_(m.c.repository_id == repository_id, m.c.digest.in_(digests))
    images = select(
        m.c.digest.label("head"),
        m.c.digest.label("image"),
        literal_column("-1", Integer).label("position"),
        m.c.id.label("image_id"),
        literal_column("''", String).label("platform_os"),
        literal_column("''", String).label("platform_arch"),
        literal_column("''", String).label("platform_variant"),
    ).where(in_repository, m.c.media_type.not_in(_INDEXES))
    platforms = (
        select(
            m.c.digest.label("head"),
            refs.c.child_digest.label("image"),
            refs.c.position,
            child.c.id.label("image_id"),
            refs.c.platform_os,
            refs.c.platform_arch,
            refs.c.platform_variant,
        )
        .select_from(
            m.join(refs, and_(refs.c.parent_id == m.c.id, refs.c.child_kind == "manifest")).join(
                child,
                and_(child.c.repository_id == repository_id, child.c.digest == refs.c.child_digest),
            )
        )
        .where(
            in_repository,
            m.c.media_type.in_(_INDEXES),
            refs.c.media_type.not_in(_INDEXES),
            refs.c.position < MAX_PLATFORMS,
        )
    )
    u = union_all(images, platforms).subquery("summarised")
    layer = t.manifest_references.alias("layer")
    foreign = exists().where(
        layer.c.parent_id == u.c.image_id,
        layer.c.child_kind == "blob",
        layer.c.media_type.in_(_FOREIGN),
    )
    s, status = sr.image_scans, st.vuln_db_status
    current = select(status.c.generation).where(status.c.id == 1).scalar_subquery()
    return (
        select(
            u.c.head,
            u.c.position,
            u.c.platform_os,
            u.c.platform_arch,
            u.c.platform_variant,
            foreign.label("foreign"),
            s.c.status,
            s.c.reason,
            s.c.critical,
            s.c.major,
            s.c.minor,
            s.c.vulndb_generation,
            s.c.completed_at,
            func.coalesce(current, 0).label("current_generation"),
        )
        .select_from(u.outerjoin(s, s.c.manifest_digest == u.c.image))
        .order_by(u.c.head, u.c.position)
    )


def _image(row: Any) -> _Image:
    platform = "/".join(p for p in (row.platform_os, row.platform_arch, row.platform_variant) if p)
    foreign = bool(row.foreign)
    if row.status is None:
        return _Image(platform, NOT_SCANNED, None, Counts(), None, False, foreign)
    scanned = row.status == "scanned"
    counts = Counts(int(row.critical), int(row.major), int(row.minor)) if scanned else Counts()
    stale = row.status == "failed" or (
        scanned and int(row.vulndb_generation or 0) < int(row.current_generation)
    )
    completed = as_utc(row.completed_at) if row.completed_at is not None else None
    return _Image(platform, row.status, row.reason, counts, completed, stale, foreign)


def _combined(digest: str, images: list[_Image]) -> TagScan:
    """One image's summary, or an index's platforms' (failure, then a scan under way, then the
    worst counts per level of the scanned platforms)."""
    scanned = [i for i in images if i.status == "scanned"]
    completed = [i.completed_at for i in images if i.completed_at is not None]
    status, reason, counts = NOT_SCANNED, None, Counts()
    for pending in ("failed", "scanning", "queued"):
        hit = next((i for i in images if i.status == pending), None)
        if hit is not None:
            status, reason = pending, hit.reason
            if hit.reason and len(images) > 1 and hit.platform:
                reason = f"{hit.platform}: {hit.reason}"
            break
    else:
        if scanned:
            status = "scanned" if len(scanned) == len(images) else PARTLY_SCANNED
            counts = Counts(
                max(i.counts.critical for i in scanned),
                max(i.counts.major for i in scanned),
                max(i.counts.minor for i in scanned),
            )
    return TagScan(
        manifest_digest=digest,
        status=status,
        reason=reason,
        counts=counts,
        completed_at=max(completed) if completed else None,
        should_rescan=any(i.stale for i in images),
        has_foreign_layers=any(i.foreign for i in images),
        platforms=len(images),
        scanned=len(scanned),
    )


async def tag_scans(db: Database, repository_id: int, digests: Iterable[str]) -> dict[str, TagScan]:
    """The summary of each of ``digests`` (manifests of the repository ``repository_id``): one
    statement, whatever the number of digests (at most a page of them) or platforms. A digest
    the repository does not hold, or an index none of whose platforms it holds, answers
    ``not_scanned`` with nothing counted."""
    wanted = sorted(set(digests))
    found: dict[str, list[_Image]] = defaultdict(list)
    if wanted:
        async with db.read() as conn:
            for row in await conn.execute(_query(repository_id, wanted)):
                found[row.head].append(_image(row))
    return {digest: _combined(digest, found.get(digest, [])) for digest in wanted}
